//! The checklist of SPEC 6, judged from the findings and the evidence: each item fails or warns
//! through the findings of the checks that declare it, passes with the facts the evidence shows, or
//! says why it could not be judged. Renderers only lay it out.

use serde::Serialize;

use super::{self as checks, Ctx, Finding, Item, Kind, Phase};
use crate::evidence::Source;
use crate::fmt::{ago, count, human};

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

/// The checklist of SPEC 6: each item fails or warns through its findings, passes on evidence, or
/// says why it could not be judged.
/// `findings` are ranked, most likely cause first.
pub fn checklist(ctx: &Ctx<'_>, findings: &[&Finding]) -> Vec<ChecklistEntry> {
    Item::ALL
        .iter()
        .map(|&item| {
            let mine: Vec<&Finding> =
                findings.iter().copied().filter(|f| f.info().map(|i| i.item) == Some(item)).collect();
            let is_symptom = |f: &&&Finding| f.info().is_some_and(|i| i.symptom);
            let cause = mine.iter().find(|f| f.kind == Kind::Cause && !is_symptom(f));
            let symptom = mine.iter().find(|f| f.kind == Kind::Cause && is_symptom(f));
            let risk = mine.iter().find(|f| f.kind == Kind::Risk);
            // A deeper cause first; then what the evidence says, with risks as warnings; a symptom
            // only where the evidence cannot judge the item.
            let (status, detail) = match (cause, judged(ctx, item, findings)) {
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
/// How one backend judges a checklist item from its evidence when no finding decided it: `None` when
/// it has nothing to say about the item (its evidence is absent, or the item is not its own).
pub type ItemJudge = fn(&Ctx<'_>, Item, &[&Finding]) -> Option<(ItemStatus, String)>;

/// The backends' judges, most specific first: an infrastructure backend that read the pod or task
/// speaks before the Prefect API's view (which always answers, with "unknown" and why at worst). A new
/// backend adds its judge here.
pub static JUDGES: &[ItemJudge] = &[kubernetes, ecs, prefect];

fn judged(ctx: &Ctx<'_>, item: Item, findings: &[&Finding]) -> (ItemStatus, String) {
    JUDGES.iter().find_map(|judge| judge(ctx, item, findings)).unwrap_or((ItemStatus::Unknown, "not judged".into()))
}

/// What the run's Job and pods say of the infrastructure items, once a worker has claimed the run.
fn kubernetes(ctx: &Ctx<'_>, item: Item, findings: &[&Finding]) -> Option<(ItemStatus, String)> {
    let kube = ctx.ev.kubernetes.value()?;
    if ctx.phase().needs_poll() || !super::k8s::ITEMS.contains(&item) {
        return None;
    }
    let inputs = ctx.kube_inputs();
    let owned: Vec<Finding> = findings.iter().map(|f| (*f).clone()).collect();
    super::k8s::checklist(kube, &ctx.kube_view(&inputs), &owned)
        .into_iter()
        .find(|(i, _, _)| *i == item)
        .map(|(_, status, detail)| (status, detail))
}

/// What the run's ECS task says of the infrastructure items, once a worker has claimed the run.
fn ecs(ctx: &Ctx<'_>, item: Item, findings: &[&Finding]) -> Option<(ItemStatus, String)> {
    let ecs = ctx.ev.ecs.value()?;
    if ctx.phase().needs_poll() {
        return None;
    }
    let inputs = ctx.kube_inputs();
    let owned: Vec<Finding> = findings.iter().map(|f| (*f).clone()).collect();
    super::ecs::checklist(ecs, &ctx.ecs_view(&inputs), &owned)
        .into_iter()
        .find(|(i, _, _)| *i == item)
        .map(|(_, status, detail)| (status, detail))
}

/// The Prefect API's view of each item.
fn prefect(ctx: &Ctx<'_>, item: Item, findings: &[&Finding]) -> Option<(ItemStatus, String)> {
    Some(prefect_item(ctx, item, findings))
}

fn prefect_item(ctx: &Ctx<'_>, item: Item, findings: &[&Finding]) -> (ItemStatus, String) {
    use ItemStatus::*;
    let phase = ctx.phase();
    let pool_type = ctx.pool().and_then(|p| p.pool_type.clone()).unwrap_or_else(|| "unknown".into());
    let not_claimed = phase.needs_poll();
    let started = ctx.run().start_time.is_some() || matches!(phase, Phase::Running | Phase::Cancelling | Phase::Paused);
    let infra_what = match ctx.run().infrastructure_pid.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => crate::infra::parse(p, ctx.pool().and_then(|p| p.pool_type.as_deref())).describe(),
        None => format!("the run's infrastructure ({pool_type} pool)"),
    };
    let explained_by = |ids: &[&str]| findings.iter().find(|f| ids.contains(&f.id)).map(|f| f.id);
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
                let live = super::agent::live_queues(ctx);
                return match live.iter().filter_map(|q| q.last_polled).max() {
                    Some(t) => (
                        Pass,
                        format!(
                            "agents poll {} of the pool (agents leave no worker records); newest poll {}",
                            count(live.len(), "queue"),
                            ago(ctx.since(t))
                        ),
                    ),
                    None => (Fail, "no queue of the agent pool was polled in the last minute".into()),
                };
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
            if let Some(id) = explained_by(&["worker.none", "worker.offline", "agent.none"]) {
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
            if is_ecs_pool(ctx) {
                return (Unknown, ctx.ev.ecs.why_missing("ECS").unwrap_or_default());
            }
            match &ctx.ev.kubernetes {
                // Neither a Kubernetes nor an ECS run: nothing reads its infrastructure yet.
                Source::Skipped { .. } if !is_kube_pool(ctx) => (
                    Unknown,
                    format!("{infra_what} is not inspected: unstuck reads the Prefect API, Kubernetes and ECS only"),
                ),
                other => (Unknown, other.why_missing("Kubernetes").unwrap_or_default()),
            }
        }
        Item::Logs => {
            let containers = ctx.container_log_lines().len();
            let and_containers = if containers > 0 {
                format!(" and {}", count(containers, "container log line"))
            } else {
                String::new()
            };
            match &ctx.ev.logs {
                Source::Collected { value } if value.is_empty() && containers == 0 => {
                    (Pass, "the run has no log lines yet".into())
                }
                Source::Collected { value } => (
                    Pass,
                    format!(
                        "{}{and_containers} read; no submission, API or import errors",
                        count(value.len(), "log line")
                    ),
                ),
                other => (Unknown, other.why_missing("the run's logs").unwrap_or_default()),
            }
        }
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

fn is_ecs_pool(ctx: &Ctx<'_>) -> bool {
    ctx.pool().and_then(|p| p.pool_type.as_deref()).is_some_and(|t| t.starts_with("ecs"))
        || ctx
            .run()
            .infrastructure_pid
            .as_deref()
            .is_some_and(|p| matches!(crate::infra::parse(p, None), crate::infra::Infra::Ecs { .. }))
}

fn is_kube_pool(ctx: &Ctx<'_>) -> bool {
    ctx.pool().and_then(|p| p.pool_type.as_deref()).is_some_and(|t| t.starts_with("kubernetes"))
        || ctx
            .run()
            .infrastructure_pid
            .as_deref()
            .is_some_and(|p| matches!(crate::infra::parse(p, None), crate::infra::Infra::Kubernetes { .. }))
}

/// The limits that apply to the run and how full they are.
fn concurrency_facts(ctx: &Ctx<'_>) -> (ItemStatus, String) {
    use ItemStatus::*;
    let c = &ctx.ev.concurrency;
    let mut facts = Vec::new();
    let mut unknown = Vec::new();
    let usage = |limit: Option<u64>, active: Option<u64>, holders: &Source<Vec<crate::prefect::types::FlowRun>>| {
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
