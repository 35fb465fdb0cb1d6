//! The `doctor` report: target, verdict, checklist, ranked findings, timeline, sources.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{RankedFinding, SCHEMA_VERSION, Status, Verdict, rank, status_of};
use crate::checks::checklist::{ChecklistEntry, checklist};
use crate::checks::{self, Ctx, Kind, Phase, Severity};

pub use crate::checks::checklist::ItemStatus;
use crate::evidence::{RunEvidence, Source, SourceRecord, Thresholds, ToolInfo};
use crate::fmt::human;

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
    let mut findings = checks::run_all(&ctx);

    // A run that has not waited past its threshold is not stuck yet: what would block it is a risk.
    if ctx.phase().awaiting_start() && !ctx.is_stuck() {
        for f in findings.iter_mut().filter(|f| f.kind == Kind::Cause) {
            f.kind = Kind::Risk;
            f.severity = f.severity.max(Severity::Warning);
        }
    }
    let mut findings = rank(findings);
    let checklist = checklist(&ctx, &findings.iter().map(|f| &f.finding).collect::<Vec<_>>());

    // A symptom that is primary says what could not be checked.
    if let Some(top) = findings.first_mut() {
        if top.finding.info().is_some_and(|i| i.symptom) && top.finding.kind == Kind::Cause {
            // Items that could not be judged, grouped by the reason.
            let mut unchecked: Vec<(Vec<&str>, &str)> = Vec::new();
            for c in checklist.iter().filter(|c| c.status == ItemStatus::Unknown) {
                match unchecked.iter_mut().find(|(_, why)| *why == c.detail) {
                    Some((ids, _)) => ids.push(c.id),
                    None => unchecked.push((vec![c.id], &c.detail)),
                }
            }
            let unchecked: Vec<String> =
                unchecked.into_iter().map(|(ids, why)| format!("{} ({why})", ids.join(", "))).collect();
            if !unchecked.is_empty() {
                top.finding.detail.push_str(" Nothing checked explains it; not checked: ");
                top.finding.detail.push_str(&unchecked.join("; "));
                top.finding.detail.push('.');
            } else if let Some(text) = top.finding.info().map(|i| i.unexplained).filter(|t| !t.is_empty()) {
                top.finding.detail.push(' ');
                top.finding.detail.push_str(text);
            }
        }
    }

    let verdict = verdict(&ctx, &findings, &checklist);
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
        state: TargetState {
            state_type: run.state_type().map(|t| t.to_string()).unwrap_or_else(|| "UNKNOWN".into()),
            name: run.state_name(),
            since: ctx.state_since(),
            seconds: ctx.in_state_for().map(|d| d.as_secs()),
            message: run.state.as_ref().and_then(|s| s.message.clone()).filter(|m| !m.is_empty()),
        },
    }
}

fn verdict(ctx: &Ctx<'_>, findings: &[RankedFinding], checklist: &[ChecklistEntry]) -> Verdict {
    let primary = findings.first().map(|f| f.finding.id);
    let status = status_of(findings);
    let run = ctx.run();
    let state = run.state_name();
    let for_ = ctx.in_state_for().map(|d| format!(" for {}", human(d))).unwrap_or_default();
    match status {
        Status::Critical | Status::Warning => {
            Verdict { status, summary: findings.first().map(|f| f.finding.title.clone()).unwrap_or_default(), primary }
        }
        _ => {
            // Nothing blocks the run. If parts of the evidence are missing while it waits, say we
            // could not tell rather than "ok".
            let failed: Vec<String> = checklist
                .iter()
                .filter(|c| c.status == ItemStatus::Unknown && c.detail.contains("failed"))
                .map(|c| format!("{}: {}", c.id, c.detail))
                .collect();
            if ctx.is_stuck() && !failed.is_empty() {
                return Verdict {
                    status: Status::Unknown,
                    summary: format!(
                        "the run is {state}{for_}, and the evidence to explain it could not be read ({})",
                        failed.join("; ")
                    ),
                    primary: None,
                };
            }
            let summary = match ctx.phase() {
                Phase::Running => format!("the run is Running{for_}: it is not stuck"),
                Phase::Finished => format!("the run is {state} (finished{for_}): it is not stuck"),
                Phase::Paused => {
                    format!("the run is {state}{for_}: it waits for input or a resume, not for infrastructure")
                }
                Phase::Cancelling => format!("the run is Cancelling{for_}"),
                Phase::Pending => format!(
                    "the run is {state}{for_}, under the {} pending threshold: not stuck yet",
                    human(ctx.thresholds.pending)
                ),
                Phase::Waiting | Phase::AwaitingSlot => match ctx.lateness() {
                    Some(l) if l.is_negative() => {
                        format!("the run is {state}, due in {}: not late", human(l.unsigned_abs()))
                    }
                    Some(l) => format!(
                        "the run is {state}, {} past its scheduled time, under the {} late threshold: not stuck yet",
                        human(l.unsigned_abs()),
                        human(ctx.thresholds.late)
                    ),
                    None => format!("the run is {state}: not late"),
                },
                Phase::Unknown => format!("the run is in state {state}, which this version does not know"),
            };
            Verdict { status: Status::Ok, summary, primary: findings.first().map(|f| f.finding.id) }
        }
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
