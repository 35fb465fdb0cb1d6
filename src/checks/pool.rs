//! Is the run's queue polled, and is anything paused? (`pool.paused`, `queue.paused`, `queue.not-polled`)

use super::ctx::QUEUE_POLL_STALE;
use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Severity, sh};
use crate::fmt::{ago, count, human};

pub const POOL_PAUSED: Check = Check {
    info: CheckInfo {
        id: "pool.paused",
        title: "the run's work pool is paused",
        kind: Kind::Cause,
        item: Item::QueuePolled,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: reads the run's work pool and reports it when it is paused.

Why it matters: a paused pool hands no runs to its workers, whatever their queues: Scheduled runs turn
Late and stay there, with no error anywhere. Pools get paused by hand during incidents or maintenance and
are easily forgotten.",
        remediation: &["Resume the pool: prefect work-pool resume <POOL>"],
    },
    run: pool_paused,
};

fn pool_paused(ctx: &Ctx<'_>) -> Vec<Finding> {
    let Some(pool) = ctx.pool() else { return vec![] };
    let paused = pool.is_paused || pool.status.as_deref() == Some("PAUSED");
    if !paused || !ctx.phase().needs_poll() {
        return vec![];
    }
    let mut f = Finding::new(&POOL_PAUSED.info, Severity::Critical, format!("Work pool '{}' is paused", pool.name))
        .detail(format!(
            "Work pool '{}' is paused: its workers get no runs from any of its queues until it is resumed.",
            pool.name
        ))
        .evidence(format!(
            "work pool '{}': is_paused={}, status {}",
            pool.name,
            pool.is_paused,
            pool.status.as_deref().unwrap_or("unknown")
        ))
        .fix(format!("Resume the pool: prefect work-pool resume {}", sh(&pool.name)));
    if let Some(s) = ctx.pool_subject() {
        f = f.subject(s);
    }
    vec![f]
}

pub const QUEUE_PAUSED: Check = Check {
    info: CheckInfo {
        id: "queue.paused",
        title: "the run's work queue is paused",
        kind: Kind::Cause,
        item: Item::QueuePolled,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: finds the run's work queue among its pool's queues and reports it when it is paused.

Why it matters: workers skip paused queues when they poll, so the run stays Scheduled and turns Late while
runs in the pool's other queues keep flowing: it looks like the worker is fine and only some runs hang.",
        remediation: &["Resume the queue: prefect work-queue resume <QUEUE> --pool <POOL>"],
    },
    run: queue_paused,
};

fn queue_paused(ctx: &Ctx<'_>) -> Vec<Finding> {
    let (Some(queue), Some(pool)) = (ctx.queue(), ctx.pool_name()) else { return vec![] };
    if !queue.is_paused || !ctx.phase().needs_poll() {
        return vec![];
    }
    let mut f = Finding::new(
        &QUEUE_PAUSED.info,
        Severity::Critical,
        format!("Work queue '{}' of pool '{pool}' is paused", queue.name),
    )
    .detail(format!(
        "The run waits in queue '{}', which is paused: workers skip it when they poll the pool.",
        queue.name
    ))
    .evidence(format!(
        "work queue '{}': is_paused=true, status {}",
        queue.name,
        queue.status.as_deref().unwrap_or("unknown")
    ))
    .fix(format!("Resume the queue: prefect work-queue resume {} --pool {}", sh(&queue.name), sh(pool)));
    if let Some(s) = ctx.queue_subject() {
        f = f.subject(s);
    }
    vec![f]
}

pub const QUEUE_NOT_POLLED: Check = Check {
    info: CheckInfo {
        id: "queue.not-polled",
        title: "live workers do not poll the run's queue",
        kind: Kind::Cause,
        item: Item::QueuePolled,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: when the pool has live workers, compares the run's queue's last poll time with now. Workers
poll every 10 s by default; a queue not polled for over a minute while workers heartbeat is not being
watched by any of them.

Why it matters: a worker started with --work-queue only polls the queues it names; a deployment that
sends its runs to another queue of the same pool is never picked up. The pool looks healthy (workers
online) and other queues' runs flow, which makes this hard to spot by hand.",
        remediation: &[
            "Start a worker that polls the queue: prefect worker start --pool <POOL> --work-queue <QUEUE>",
            "Or restart the existing worker without --work-queue so it polls every queue of the pool",
            "Or point the deployment at a queue the workers poll (work_queue_name in prefect.yaml)",
        ],
    },
    run: queue_not_polled,
};

fn queue_not_polled(ctx: &Ctx<'_>) -> Vec<Finding> {
    let (Some(queue), Some(pool), Some(all)) = (ctx.queue(), ctx.pool(), ctx.ev.work_queues.value()) else {
        return vec![];
    };
    if !ctx.phase().needs_poll() || queue.is_paused || pool.is_paused {
        return vec![];
    }
    if ctx.is_agent_pool() {
        return agent_queue_not_polled(ctx, queue, pool);
    }
    let online = ctx.online_workers();
    if online.is_empty() {
        return vec![]; // worker.none / worker.offline explain it
    }
    let stale = queue.last_polled.is_none_or(|t| ctx.since(t) > QUEUE_POLL_STALE);
    if !stale {
        return vec![];
    }
    let polled = |q: &crate::prefect::types::WorkQueue| match q.last_polled {
        Some(t) => format!("last polled {}", ago(ctx.since(t))),
        None => "never polled".to_string(),
    };
    let watched: Vec<String> = all
        .iter()
        .filter(|q| q.name != queue.name && q.last_polled.is_some_and(|t| ctx.since(t) <= QUEUE_POLL_STALE))
        .map(|q| format!("queue '{}': {}", q.name, polled(q)))
        .collect();
    let detail = if watched.is_empty() {
        format!(
            "{} heartbeating for pool '{}', but queue '{}' was {}: the workers are not polling it.",
            count(online.len(), "live worker"),
            pool.name,
            queue.name,
            polled(queue)
        )
    } else {
        format!(
            "{} heartbeating for pool '{}' and other queues are polled, but queue '{}' was {}: the workers \
             were probably started with --work-queue for other queues.",
            count(online.len(), "live worker"),
            pool.name,
            queue.name,
            polled(queue)
        )
    };
    let mut f = Finding::new(
        &QUEUE_NOT_POLLED.info,
        Severity::Critical,
        format!("No live worker polls queue '{}' of pool '{}'", queue.name, pool.name),
    )
    .detail(detail)
    .evidence(format!("work queue '{}': {} (stale after {})", queue.name, polled(queue), human(QUEUE_POLL_STALE)))
    .evidence_all(watched)
    .evidence_all(online.iter().take(5).map(|w| ctx.describe_worker(w)))
    .fix(format!(
        "Start a worker that polls this queue: prefect worker start --pool {} --work-queue {}",
        sh(&pool.name),
        sh(&queue.name)
    ))
    .fix("Or restart the existing workers without --work-queue, so they poll every queue of the pool");
    if let Some(s) = ctx.queue_subject() {
        f = f.subject(s);
    }
    vec![f]
}

/// Agent pools: agents poll other queues of the pool, not the run's (`-q` or `--match` leave it out).
fn agent_queue_not_polled(
    ctx: &Ctx<'_>,
    queue: &crate::prefect::types::WorkQueue,
    pool: &crate::prefect::types::WorkPool,
) -> Vec<Finding> {
    let live: Vec<&crate::prefect::types::WorkQueue> =
        super::agent::live_queues(ctx).into_iter().filter(|q| q.name != queue.name).collect();
    let stale = queue.last_polled.is_none_or(|t| ctx.since(t) > QUEUE_POLL_STALE);
    if live.is_empty() || !stale {
        return vec![]; // agent.none, or the queue is polled
    }
    let polled = |q: &crate::prefect::types::WorkQueue| match q.last_polled {
        Some(t) => format!("last polled {}", ago(ctx.since(t))),
        None => "never polled".to_string(),
    };
    let names: Vec<&str> = live.iter().map(|q| q.name.as_str()).collect();
    let prefix = super::agent::match_prefix(&names).filter(|p| !queue.name.starts_with(p.as_str()));
    let mut detail = format!(
        "Agents poll {} of agent pool '{}' ({}), but queue '{}' was {}: they were started with --work-queue / --match options that do not cover it.",
        count(live.len(), "other queue"),
        pool.name,
        crate::fmt::list(&names, 5),
        queue.name,
        polled(queue)
    );
    if let Some(why) = super::agent::default_pool_note(ctx) {
        detail.push_str(why);
    }
    if let Some(p) = &prefix {
        detail.push_str(&format!(
            " The polled queues share the prefix '{p}': an agent started with --match '{p}' polls only queues whose names start with it."
        ));
    }
    let mut f = Finding::new(
        &QUEUE_NOT_POLLED.info,
        Severity::Critical,
        format!("No agent polls queue '{}' of agent pool '{}'", queue.name, pool.name),
    )
    .detail(detail)
    .evidence(format!("work queue '{}': {} (stale after {})", queue.name, polled(queue), human(QUEUE_POLL_STALE)))
    .evidence_all(live.iter().take(10).map(|q| format!("queue '{}': {}", q.name, polled(q))))
    .fix(format!("Start an agent for this queue: {}", super::agent::start_agent(&pool.name, &queue.name)));
    if prefix.is_some() {
        f = f.fix(format!(
            "Or widen the agent's --match so it covers '{}' (e.g. prefect agent start --match {})",
            queue.name,
            sh(&queue.name)
        ));
    }
    f = f.fix("Or point the deployment at a queue the agents poll (its work_queue_name)");
    if let Some(s) = ctx.queue_subject() {
        f = f.subject(s);
    }
    vec![f]
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;

    /// An agent pool whose agents poll prod-a and prod-b but not the run's queue: queue.not-polled with
    /// the agent wording and the --match prefix.
    #[test]
    fn agent_queue_not_polled_names_the_match_prefix() {
        let ev = Scenario::late(600)
            .pool_type("prefect-agent")
            .workers(vec![])
            .queue(|q| q.last_polled = None)
            .extra_queue("prod-a", Some(3))
            .extra_queue("prod-b", Some(4))
            .build();
        let f = findings(&ev, "queue.not-polled");
        assert_eq!(f.len(), 1, "{:?}", all_findings(&ev));
        assert_eq!(f[0].title, "No agent polls queue 'default' of agent pool 'p'");
        assert!(f[0].detail.contains("--match 'prod-'"), "{}", f[0].detail);
        assert_eq!(
            f[0].remediation[0],
            "Start an agent for this queue: prefect agent start --pool p --work-queue default"
        );
        assert!(findings(&ev, "agent.none").is_empty());
    }

    /// A paused pool blocks a Late run.
    #[test]
    fn paused_pool() {
        let ev = Scenario::late(600).pool_paused().build();
        let f = findings(&ev, "pool.paused");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].remediation[0], "Resume the pool: prefect work-pool resume p");
        assert_eq!(f[0].subject.as_deref(), Some("work-pool/p"));
    }

    /// A paused queue blocks a Late run, with the resume command naming the pool.
    #[test]
    fn paused_queue() {
        let ev = Scenario::late(600).queue(|q| q.is_paused = true).build();
        let f = findings(&ev, "queue.paused");
        assert_eq!(f.len(), 1);
        assert!(f[0].remediation[0].ends_with("prefect work-queue resume default --pool p"));
    }

    /// Workers alive, other queue polled, ours stale: the workers watch other queues.
    #[test]
    fn queue_not_polled_while_other_queue_is() {
        let ev = Scenario::late(600).queue(|q| q.last_polled = Some(ago(900))).extra_queue("high", Some(3)).build();
        let f = findings(&ev, "queue.not-polled");
        assert_eq!(f.len(), 1);
        assert!(f[0].detail.contains("--work-queue"), "{}", f[0].detail);
        assert!(f[0].evidence.iter().any(|e| e.contains("queue 'high': last polled 3s ago")), "{:?}", f[0].evidence);
    }

    /// A freshly polled queue is fine; with no live worker, worker checks explain instead.
    #[test]
    fn queue_polled_or_no_workers() {
        let ev = Scenario::late(600).build();
        assert!(findings(&ev, "queue.not-polled").is_empty());
        let ev = Scenario::late(600).queue(|q| q.last_polled = None).workers(vec![]).build();
        assert!(findings(&ev, "queue.not-polled").is_empty());
        assert_eq!(findings(&ev, "worker.none").len(), 1);
    }
}
