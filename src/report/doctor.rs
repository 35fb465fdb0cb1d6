//! The `doctor` report: target, verdict, checklist, ranked findings, timeline, sources.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{RankedFinding, SCHEMA_VERSION, Status, Verdict, rank, status_of};
use crate::checks::{self, Ctx, Finding, Item, Kind, Phase, Severity};
use crate::evidence::{Part, RunEvidence, SourceRecord, Thresholds, ToolInfo};
use crate::fmt::{ago, count, human};

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
    let infra_what = match ctx.run().infrastructure_pid.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => crate::infra::parse(p, ctx.pool().and_then(|p| p.pool_type.as_deref())).describe(),
        None => format!("the run's infrastructure ({pool_type} pool)"),
    };
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
                        "{} of {} online; newest heartbeat {}",
                        online.len(),
                        count(workers.len(), "worker"),
                        ago(ctx.since(t))
                    ),
                ),
                None if workers.is_empty() => (Fail, "no worker has ever polled the pool".into()),
                None => (Fail, format!("all {} offline", count(workers.len(), "worker"))),
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
        Item::Concurrency => concurrency_facts(ctx),
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
            if pool_type == "process" && item == Item::ImagePull {
                return (NotApplicable, "process pools run no container image".into());
            }
            if started && item != Item::Permissions {
                return (Pass, "the run started, so its infrastructure came up".into());
            }
            (Unknown, format!("{infra_what} is not inspected: unstuck reads the Prefect API only"))
        }
        Item::Logs => match &ctx.ev.logs {
            Part::Ok { value } if value.is_empty() => (Pass, "the run has no log lines yet".into()),
            Part::Ok { value } => {
                (Pass, format!("{} read; no submission, API or import errors", count(value.len(), "log line")))
            }
            other => (Unknown, other.why_missing("the run's logs").unwrap_or_default()),
        },
        Item::PollFrequency | Item::DuplicatePollers if !phase.awaiting_start() => {
            (NotApplicable, "the run is past waiting for a worker".into())
        }
        Item::PollFrequency => {
            if ctx.workers().is_none() {
                return (Unknown, ctx.ev.workers.why_missing("the pool's workers").unwrap_or_default());
            }
            let online = ctx.online_workers();
            if online.is_empty() {
                return (NotApplicable, "no live worker to judge".into());
            }
            let mut beats: Vec<String> = online
                .iter()
                .map(|w| w.heartbeat_interval_seconds.map(|s| format!("{s}s")).unwrap_or_else(|| "?".into()))
                .collect();
            beats.sort();
            beats.dedup();
            let mut detail = format!("heartbeat interval {}", beats.join(", "));
            let observed: Vec<String> = checks::observed_poll_intervals(ctx)
                .into_iter()
                .filter_map(|(q, _, mean)| mean.map(|m| format!("queue '{q}' polled every {m:.1}s")))
                .collect();
            if observed.is_empty() {
                detail.push_str(" (poll rate not measured: --observe 30s measures it)");
            } else {
                detail.push_str(&format!("; observed: {}", observed.join(", ")));
            }
            (Pass, detail)
        }
        Item::DuplicatePollers => {
            if ctx.workers().is_none() {
                return (Unknown, ctx.ev.workers.why_missing("the pool's workers").unwrap_or_default());
            }
            let n = ctx.online_workers().len();
            let logs = if ctx.ev.logs.value().is_some() { "; no race in this run's logs" } else { "" };
            (Pass, format!("{} in the pool{logs}", count(n, "live worker")))
        }
    }
}

/// The limits that apply to the run and how full they are.
fn concurrency_facts(ctx: &Ctx<'_>) -> (ItemStatus, String) {
    use ItemStatus::*;
    let c = &ctx.ev.concurrency;
    let mut facts = Vec::new();
    let mut unknown = Vec::new();
    let usage = |limit: Option<u64>, active: Option<u64>, holders: &Part<Vec<crate::prefect::types::FlowRun>>| {
        limit.map(|l| (l, active.or(holders.value().map(|h| h.len() as u64))))
    };
    match ctx.pool() {
        Some(p) => match usage(p.concurrency_limit, p.active_slots, &c.pool_holders) {
            Some((l, Some(a))) => facts.push(format!("pool {a}/{l}")),
            Some((_, None)) => unknown.push(c.pool_holders.why_missing("the pool's slot holders").unwrap_or_default()),
            None => facts.push("pool unlimited".into()),
        },
        None if ctx.run().work_pool_name.is_some() => unknown.push("the work pool could not be read".into()),
        None => {}
    }
    if let Some(q) = ctx.queue() {
        match usage(q.concurrency_limit, q.active_slots, &c.queue_holders) {
            Some((l, Some(a))) => facts.push(format!("queue {a}/{l}")),
            Some((_, None)) => {
                unknown.push(c.queue_holders.why_missing("the queue's slot holders").unwrap_or_default())
            }
            None => facts.push("queue unlimited".into()),
        }
    }
    match ctx.ev.deployment.value().map(|d| d.global_concurrency_limit.as_ref()) {
        Some(Some(g)) => match (g.limit, g.active_slots) {
            (Some(l), Some(a)) => facts.push(format!("deployment {a}/{l}")),
            _ => facts.push("deployment limit unreadable".into()),
        },
        Some(None) if ctx.ev.server.flavor == crate::evidence::Flavor::V2 => {
            facts.push("deployment limits need Prefect 3".into())
        }
        Some(None) => facts.push("deployment unlimited".into()),
        None => {}
    }
    if !unknown.is_empty() {
        return (Unknown, unknown.join("; "));
    }
    let prefix = if ctx.phase().needs_poll() { "slots free" } else { "the run needs no new slot" };
    (Pass, format!("{prefix}: {}", facts.join(", ")))
}
