//! Prefect 2 agents (`prefect agent start`): they leave no worker records, so whether one is alive is
//! read from the queues' `last_polled`, which every agent poll updates (the foreman marks a queue
//! NOT_READY after 60 s without one).

use super::ctx::QUEUE_POLL_STALE;
use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Severity, sh};
use crate::fmt::{ago, human};
use crate::prefect::types::WorkQueue;

/// The pool Prefect 2 sends runs of deployments that name no work pool to.
pub const DEFAULT_AGENT_POOL: &str = "default-agent-pool";

pub const NONE: Check = Check {
    info: CheckInfo {
        id: "agent.none",
        title: "no agent polls the run's agent pool",
        kind: Kind::Cause,
        item: Item::WorkerAlive,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: for a Prefect 2 agent pool (type prefect-agent), looks at when each of its queues was last
polled. Agents poll every PREFECT_AGENT_QUERY_INTERVAL (15 s by default) and leave no worker records, so a
queue whose last poll is older than 60 s (or that was never polled) has no agent behind it.

Why it matters: Prefect's own playbook for runs stuck in Pending or Late starts with \"verify that the
agent process is running\". With no agent, nothing ever moves the run out of Scheduled; the UI shows the
run Late and nothing else.",
        remediation: &[
            "Start an agent for the run's queue: prefect agent start --pool <POOL> --work-queue <QUEUE>",
            "If an agent runs, check that it points at this API (PREFECT_API_URL) and is not stuck",
        ],
    },
    run: agent_none,
};

fn polled(ctx: &Ctx<'_>, q: &WorkQueue) -> String {
    match q.last_polled {
        Some(t) => format!("last polled {}", ago(ctx.since(t))),
        None => "never polled".to_string(),
    }
}

/// Queues of the pool an agent polled within the last 60 s.
pub fn live_queues<'a>(ctx: &Ctx<'a>) -> Vec<&'a WorkQueue> {
    ctx.ev
        .work_queues
        .value()
        .map(|all| all.iter().filter(|q| q.last_polled.is_some_and(|t| ctx.since(t) <= QUEUE_POLL_STALE)).collect())
        .unwrap_or_default()
}

/// The command that starts an agent for the run's queue.
pub fn start_agent(pool: &str, queue: &str) -> String {
    if pool == DEFAULT_AGENT_POOL {
        format!("prefect agent start --work-queue {}", sh(queue))
    } else {
        format!("prefect agent start --pool {} --work-queue {}", sh(pool), sh(queue))
    }
}

fn agent_none(ctx: &Ctx<'_>) -> Vec<Finding> {
    let (Some(pool), Some(all)) = (ctx.pool(), ctx.ev.work_queues.value()) else { return vec![] };
    if !ctx.is_agent_pool() || !ctx.phase().needs_poll() || pool.is_paused {
        return vec![];
    }
    if !live_queues(ctx).is_empty() {
        return vec![]; // queue.not-polled says which queue is left out
    }
    let queue = ctx.queue_name().unwrap_or("default");
    let ever = all.iter().filter_map(|q| q.last_polled).max();
    let detail = match ever {
        Some(t) => format!(
            "No queue of agent pool '{}' has been polled for {}: the agent that polled it last stopped (or lost \
             this API), and agents leave no other trace.",
            pool.name,
            human(ctx.since(t))
        ),
        None => format!(
            "No queue of agent pool '{}' has ever been polled: no agent was ever started for it (against this API).",
            pool.name
        ),
    };
    let mut f = Finding::new(&NONE.info, Severity::Critical, format!("No agent polls agent pool '{}'", pool.name))
        .detail(detail)
        .evidence_all(all.iter().take(10).map(|q| format!("queue '{}': {}", q.name, polled(ctx, q))))
        .fix(format!("Start an agent for the run's queue: {}", start_agent(&pool.name, queue)))
        .fix(
            "If an agent is running, check its PREFECT_API_URL points at this server and that its process is not hung",
        );
    if let Some(why) = default_pool_note(ctx) {
        f.detail.push_str(why);
    }
    if let Some(s) = ctx.pool_subject() {
        f = f.subject(s);
    }
    vec![f]
}

/// Said when the run is in default-agent-pool, where Prefect 2 puts the runs of deployments that name
/// no work pool (the server fills the name in, so the deployment cannot tell).
pub fn default_pool_note(ctx: &Ctx<'_>) -> Option<&'static str> {
    (ctx.pool_name() == Some(DEFAULT_AGENT_POOL)).then_some(
        " Prefect 2 puts the runs of deployments that name no work pool in default-agent-pool: an agent started \
         with --pool for another pool does not see them.",
    )
}

/// The longest common prefix of the names, cut back to a separator: the `--match` an agent polling
/// exactly these queues was probably started with.
pub fn match_prefix(names: &[&str]) -> Option<String> {
    let first = names.first()?;
    let mut len = first.len();
    for n in &names[1..] {
        len = len.min(first.bytes().zip(n.bytes()).take_while(|(a, b)| a == b).count());
    }
    let common = &first[..len];
    let cut = common.rfind(['-', '_', '.', '/']).map(|i| &common[..=i]).unwrap_or(common);
    (!cut.is_empty() && (names.len() > 1 || cut.len() < first.len())).then(|| cut.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;

    fn agent_pool(s: Scenario) -> Scenario {
        s.pool_type("prefect-agent").workers(vec![])
    }

    /// Never polled: no agent was ever started; the fix names the queue.
    #[test]
    fn never_polled() {
        let ev = agent_pool(Scenario::late(600)).queue(|q| q.last_polled = None).build();
        let f = findings(&ev, "agent.none");
        assert_eq!(f.len(), 1, "{:?}", all_findings(&ev));
        assert!(f[0].detail.contains("has ever been polled"), "{}", f[0].detail);
        assert_eq!(
            f[0].remediation[0],
            "Start an agent for the run's queue: prefect agent start --pool p --work-queue default"
        );
        assert!(findings(&ev, "worker.none").is_empty(), "agents leave no worker rows: not worker.none");
    }

    /// Polled once, long ago: the agent stopped; the evidence says when.
    #[test]
    fn stopped_agent() {
        let ev =
            agent_pool(Scenario::late(600)).queue(|q| q.last_polled = Some(crate::checks::testkit::ago(180))).build();
        let f = findings(&ev, "agent.none");
        assert_eq!(f.len(), 1);
        assert!(f[0].detail.contains("for 3m"), "{}", f[0].detail);
        assert_eq!(f[0].evidence, vec!["queue 'default': last polled 3m ago".to_string()]);
    }

    /// A queue polled 5 s ago: an agent is alive, no agent.none.
    #[test]
    fn live_agent() {
        let ev =
            agent_pool(Scenario::late(600)).queue(|q| q.last_polled = Some(crate::checks::testkit::ago(5))).build();
        assert!(findings(&ev, "agent.none").is_empty());
    }

    #[test]
    fn match_prefixes() {
        assert_eq!(match_prefix(&["prod-a", "prod-b"]).as_deref(), Some("prod-"));
        assert_eq!(match_prefix(&["prod-a"]).as_deref(), Some("prod-"));
        assert_eq!(match_prefix(&["etl"]), None);
        assert_eq!(match_prefix(&["a", "b"]), None);
    }
}
