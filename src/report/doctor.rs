//! The `doctor` report: target, verdict, checklist, ranked findings, timeline, sources.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::diagnosis::{Diagnosis, diagnose};
use super::{RankedFinding, SCHEMA_VERSION, Verdict};
use crate::checks::Ctx;
use crate::checks::checklist::ChecklistEntry;

pub use crate::checks::checklist::ItemStatus;
use crate::evidence::{RunEvidence, Source, SourceRecord, Thresholds, ToolInfo};

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub generated_at: Timestamp,
    pub target: Target,
    pub verdict: Verdict,
    pub checklist: Vec<ChecklistEntry>,
    pub findings: Vec<RankedFinding>,
    pub timeline: Vec<TimelineEntry>,
    pub sources: Vec<SourceRecord>,
    pub thresholds: ThresholdsOut,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub flow: Option<String>,
    pub deployment: Option<String>,
    pub work_pool: Option<String>,
    pub work_queue: Option<String>,
    /// Prefect 2: the deployment's infrastructure block, described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<String>,
    pub state: TargetState,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetState {
    #[serde(rename = "type")]
    pub state_type: String,
    pub name: String,
    pub since: Option<Timestamp>,
    pub seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    #[serde(rename = "type")]
    pub state_type: String,
    pub name: String,
    pub at: Option<Timestamp>,
    /// Time spent in this state (until the next one, or until now for the current state).
    pub seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ThresholdsOut {
    pub pending_seconds: u64,
    pub late_seconds: u64,
}

/// Builds the report for one run from its evidence.
pub fn build(
    ev: &RunEvidence,
    collected_at: Timestamp,
    thresholds: Thresholds,
    sources: &[SourceRecord],
) -> DoctorReport {
    let ctx = Ctx::new(ev, collected_at, thresholds);
    let Diagnosis { findings, checklist, verdict } = diagnose(&ctx);
    DoctorReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        generated_at: collected_at,
        target: target(&ctx),
        verdict,
        checklist,
        findings,
        timeline: timeline(&ctx),
        sources: sources.to_vec(),
        thresholds: ThresholdsOut {
            pending_seconds: thresholds.pending.as_secs(),
            late_seconds: thresholds.late.as_secs(),
        },
    }
}

fn target(ctx: &Ctx<'_>) -> Target {
    let run = ctx.run();
    Target {
        kind: "flow-run",
        id: run.id.clone(),
        name: run.name.clone(),
        flow: ctx.ev.flow.value().map(|f| f.name.clone()),
        deployment: match (&ctx.ev.deployment, &run.deployment_id) {
            (Source::NotFound, Some(id)) => Some(format!("{id} (deleted)")),
            (d, _) => d.value().map(|d| d.name.clone()),
        },
        work_pool: ctx.pool_name().map(str::to_string),
        work_queue: ctx.queue_name().map(str::to_string),
        infrastructure: ctx.ev.infra_block.value().map(|b| b.describe()),
        state: TargetState {
            state_type: run.state_type().map(|t| t.to_string()).unwrap_or_else(|| "UNKNOWN".into()),
            name: run.state_name(),
            since: ctx.state_since(),
            seconds: ctx.in_state_for().map(|d| d.as_secs()),
            message: run.state.as_ref().and_then(|s| s.message.clone()).filter(|m| !m.is_empty()),
        },
    }
}

fn timeline(ctx: &Ctx<'_>) -> Vec<TimelineEntry> {
    let mut states: Vec<_> = match &ctx.ev.states {
        Source::Collected { value } if !value.is_empty() => value.clone(),
        _ => ctx.run().state.clone().into_iter().collect(),
    };
    states.sort_by_key(|s| s.timestamp);
    let ends: Vec<Option<Timestamp>> =
        states.iter().skip(1).map(|s| s.timestamp).chain(std::iter::once(Some(ctx.now))).collect();
    states
        .iter()
        .zip(ends)
        .map(|(s, end)| TimelineEntry {
            state_type: s.state_type.to_string(),
            name: s.display_name(),
            at: s.timestamp,
            seconds: match (s.timestamp, end) {
                (Some(a), Some(b)) => Some(Duration::try_from(b.duration_since(a)).unwrap_or_default().as_secs()),
                _ => None,
            },
            message: s.message.clone().filter(|m| !m.is_empty()),
        })
        .collect()
}
