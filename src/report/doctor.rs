//! The `doctor` report: target, verdict, checklist, ranked findings, timeline, sources.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::fmt::{ago, human};
use super::{RankedFinding, SCHEMA_VERSION, Status, Verdict, rank, status_of};
use crate::checks::{self, Ctx, Finding, Item, Kind, Phase, Severity};
use crate::evidence::{Part, RunEvidence, SourceRecord, Thresholds, ToolInfo};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ItemStatus {
    #[serde(rename = "pass")]
    Pass,
    #[serde(rename = "warn")]
    Warn,
    #[serde(rename = "fail")]
    Fail,
    #[serde(rename = "unknown")]
    Unknown,
    #[serde(rename = "n/a")]
    NotApplicable,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChecklistEntry {
    pub id: &'static str,
    pub title: &'static str,
    pub status: ItemStatus,
    pub detail: String,
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
    let checklist = checklist(&ctx, &findings);

    // A symptom that is primary says what could not be checked.
    if let Some(top) = findings.first_mut() {
        if top.finding.info().is_some_and(|i| i.symptom) && top.finding.kind == Kind::Cause {
            let unchecked: Vec<String> = checklist
                .iter()
                .filter(|c| c.status == ItemStatus::Unknown)
                .map(|c| format!("{} ({})", c.id, c.detail))
                .collect();
            if !unchecked.is_empty() {
                top.finding.detail.push_str(" Nothing checked explains it; not checked: ");
                top.finding.detail.push_str(&unchecked.join("; "));
                top.finding.detail.push('.');
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
            (Part::NotFound, Some(id)) => Some(format!("{id} (deleted)")),
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
        Part::Ok { value } if !value.is_empty() => value.clone(),
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

/// The checklist of SPEC 6: each item fails or warns through its findings, passes on evidence, or
/// says why it could not be judged.
fn checklist(ctx: &Ctx<'_>, findings: &[RankedFinding]) -> Vec<ChecklistEntry> {
    Item::ALL
        .iter()
        .map(|&item| {
            let mine: Vec<&Finding> =
                findings.iter().map(|f| &f.finding).filter(|f| f.info().map(|i| i.item) == Some(item)).collect();
            let is_symptom = |f: &&&Finding| f.info().is_some_and(|i| i.symptom);
            let cause = mine.iter().find(|f| f.kind == Kind::Cause && !is_symptom(f));
            let symptom = mine.iter().find(|f| f.kind == Kind::Cause && is_symptom(f));
            let risk = mine.iter().find(|f| f.kind == Kind::Risk);
            // A deeper cause first; then what the evidence says, with risks as warnings; a symptom
            // only where the evidence cannot judge the item.
            let (status, detail) = match (cause, judge(ctx, item, findings)) {
                (Some(f), _) => (ItemStatus::Fail, f.title.clone()),
                (None, judged @ (ItemStatus::Fail, _)) => judged,
                (None, judged) => match (risk, symptom, judged.0) {
                    (Some(f), _, _) => (ItemStatus::Warn, f.title.clone()),
                    (None, Some(f), ItemStatus::Unknown) => (ItemStatus::Fail, f.title.clone()),
                    _ => judged,
                },
            };
            ChecklistEntry { id: item.id(), title: item.question(), status, detail }
        })
        .collect()
}

/// An item with no finding: pass with the facts, or unknown/n-a with the reason.
fn judge(ctx: &Ctx<'_>, item: Item, findings: &[RankedFinding]) -> (ItemStatus, String) {
    use ItemStatus::*;
    let phase = ctx.phase();
    let pool_type = ctx.pool().and_then(|p| p.pool_type.clone()).unwrap_or_else(|| "unknown".into());
    let not_claimed = phase.needs_poll();
    let started = ctx.run().start_time.is_some() || matches!(phase, Phase::Running | Phase::Cancelling | Phase::Paused);
    let infra_ref =
        ctx.run().infrastructure_pid.as_deref().map(|p| format!(" (infrastructure {p})")).unwrap_or_default();
    let explained_by = |ids: &[&str]| findings.iter().find(|f| ids.contains(&f.finding.id)).map(|f| f.finding.id);
    match item {
        Item::Api => (Pass, ctx.ev.server.describe()),
        Item::WorkerAlive => {
            if ctx.ev.work_pool.value().is_none() && ctx.run().work_pool_name.is_none() {
                return (NotApplicable, "the run is not in a work pool".into());
            }
            if !ctx.pool_needs_worker() {
                return (NotApplicable, format!("{pool_type} pools need no worker"));
            }
            if phase == Phase::Finished {
                return (NotApplicable, "the run has finished: it needs no worker any more".into());
            }
            if ctx.is_agent_pool() {
                return (NotApplicable, "agent pool: agents leave no worker records (see queue-polled)".into());
            }
            let Some(workers) = ctx.workers() else {
                return (Unknown, ctx.ev.workers.why_missing("the pool's workers").unwrap_or_default());
            };
            let online = ctx.online_workers();
            match online.iter().filter_map(|w| w.last_heartbeat_time).max() {
                Some(t) => (
                    Pass,
                    format!(
                        "{} of {} worker(s) online; newest heartbeat {}",
                        online.len(),
                        workers.len(),
                        ago(ctx.since(t))
                    ),
                ),
                None if workers.is_empty() => (Fail, "no worker has ever polled the pool".into()),
                None => (Fail, format!("all {} worker(s) offline", workers.len())),
            }
        }
        Item::QueuePolled => {
            if !not_claimed {
                return (NotApplicable, "the run already left its queue".into());
            }
            if let Some(id) = explained_by(&["worker.none", "worker.offline"]) {
                return (Fail, format!("nothing polls the pool (see {id})"));
            }
            let (Some(pool), Some(queue)) = (ctx.pool(), ctx.queue()) else {
                let why = ctx
                    .ev
                    .work_pool
                    .why_missing("the work pool")
                    .or_else(|| ctx.ev.work_queues.why_missing("the pool's queues"))
                    .unwrap_or_else(|| "the run's queue is not among its pool's queues".into());
                return (Unknown, why);
            };
            let polled = queue
                .last_polled
                .map(|t| format!("last polled {}", ago(ctx.since(t))))
                .unwrap_or_else(|| "never polled".into());
            let paused = if pool.is_paused || queue.is_paused { "paused" } else { "not paused" };
            (Pass, format!("queue '{}' {polled}; pool and queue {paused}", queue.name))
        }
        Item::Concurrency => {
            (Unknown, "slot holders of the pool, queue and deployment limits are not inspected by this version".into())
        }
        Item::Infrastructure => {
            let pid = ctx.run().infrastructure_pid.as_deref().filter(|p| !p.is_empty());
            let for_ = human(ctx.in_state_for().unwrap_or_default());
            if not_claimed {
                (NotApplicable, "no worker has claimed the run yet".into())
            } else if started {
                (
                    Pass,
                    format!("the run started{}", ctx.run().start_time.map(|t| format!(" at {t}")).unwrap_or_default()),
                )
            } else if ctx.is_stuck() {
                match pid {
                    Some(p) => {
                        (Fail, format!("infrastructure {p} was recorded, but the run has not started after {for_}"))
                    }
                    None => (Fail, format!("no infrastructure recorded after {for_} in {}", ctx.run().state_name())),
                }
            } else {
                match pid {
                    Some(p) => (Pass, format!("infrastructure recorded: {p}")),
                    None => (Pass, format!("{} for {for_}, under the threshold", ctx.run().state_name())),
                }
            }
        }
        Item::ImagePull | Item::Permissions | Item::Capacity => {
            if not_claimed {
                return (NotApplicable, "no infrastructure yet: the run has not been claimed".into());
            }
            if started && item != Item::Permissions {
                return (Pass, "the run started, so its infrastructure came up".into());
            }
            if pool_type == "process" && item == Item::ImagePull {
                return (NotApplicable, "process pools run no container image".into());
            }
            (
                Unknown,
                format!(
                    "needs the run's infrastructure{infra_ref} ({pool_type} pool), which this version does not inspect"
                ),
            )
        }
        Item::Logs => (Unknown, "flow-run and worker logs are not read by this version".into()),
        Item::PollFrequency | Item::DuplicatePollers => {
            (Unknown, "poll rates and concurrent pollers are not measured by this version".into())
        }
    }
}
