//! Is any worker alive for the run's pool? (`worker.none`, `worker.offline`)

use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Severity, sh};

pub const NONE: Check = Check {
    info: CheckInfo {
        id: "worker.none",
        title: "no worker has ever polled the run's work pool",
        kind: Kind::Cause,
        item: Item::WorkerAlive,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: looks at the worker records of the run's work pool. A worker creates its record with its
first heartbeat, so an empty list means no worker has ever connected to this pool.

Why it matters: runs in a pool are only ever started by a worker polling that pool. With none, runs stay
Scheduled, turn Late, and never leave. This is the most common reason for Late runs (\"commonly happens
when you do not run a worker\"). A worker started with a typo in --pool creates or polls a different pool.

Not checked for push and managed pools (they need no worker) or Prefect 2 agent pools (agents leave
no worker records; the queue's last poll time tells instead).",
        remediation: &[
            "Start a worker for the pool: prefect worker start --pool <POOL>",
            "If a worker is running, check the exact pool name it was started with (prefect worker start --pool ...)",
            "Check the worker can reach the same PREFECT_API_URL as this command",
        ],
    },
    run: none,
};

fn none(ctx: &Ctx<'_>) -> Vec<Finding> {
    let (Some(pool), Some(workers)) = (ctx.pool(), ctx.workers()) else { return vec![] };
    if !workers.is_empty() || !ctx.phase().awaiting_start() || !ctx.pool_needs_worker() || ctx.is_agent_pool() {
        return vec![];
    }
    let ty = pool.pool_type.as_deref().unwrap_or("unknown");
    let mut f = Finding::new(&NONE.info, Severity::Critical, format!("No worker has ever polled work pool '{}'", pool.name))
        .detail(if ctx.phase().needs_poll() {
            format!(
                "Work pool '{}' (type {ty}) has no worker records: nothing has ever polled it, so nothing will pick up this run.",
                pool.name
            )
        } else {
            format!(
                "Work pool '{}' (type {ty}) has no worker records: something other than a worker of this pool moved \
                 the run to {}, and no worker exists to create its infrastructure.",
                pool.name,
                ctx.run().state_name()
            )
        })
        .evidence(format!(
            "work pool '{}': type {ty}, status {}, 0 workers",
            pool.name,
            pool.status.as_deref().unwrap_or("unknown")
        ))
        .fix(format!("Start a worker for the pool: prefect worker start --pool {}", sh(&pool.name)))
        .fix("If a worker is running elsewhere, check that it was started with exactly this --pool name and the same PREFECT_API_URL");
    if let Some(s) = ctx.pool_subject() {
        f = f.subject(s);
    }
    vec![f]
}

pub const OFFLINE: Check = Check {
    info: CheckInfo {
        id: "worker.offline",
        title: "every worker of the run's work pool is offline",
        kind: Kind::Cause,
        item: Item::WorkerAlive,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: judges each worker of the run's pool from its last heartbeat and heartbeat interval, the way
Prefect's foreman does (offline after 3 missed heartbeats; 30 s interval when none is recorded). The
stored ONLINE/OFFLINE status lags by up to a minute, so unstuck computes it itself and shows both.

Why it matters: a pool whose workers are all gone cannot start runs: they stay Scheduled and turn Late,
and runs a dying worker had already claimed can be left in Pending. Workers die with their host or
container (OOM-killed, evicted, scaled to zero) or lose the API (network, expired key).",
        remediation: &[
            "Restart the worker: prefect worker start --pool <POOL>",
            "Find out why it stopped: its container or service logs, OOM kills, restarts",
            "Run it under a supervisor (Kubernetes Deployment, systemd, ECS service) so it comes back",
        ],
    },
    run: offline,
};

fn offline(ctx: &Ctx<'_>) -> Vec<Finding> {
    let (Some(pool), Some(workers)) = (ctx.pool(), ctx.workers()) else { return vec![] };
    if workers.is_empty() || !ctx.phase().awaiting_start() || !ctx.pool_needs_worker() {
        return vec![];
    }
    if !ctx.online_workers().is_empty() {
        return vec![];
    }
    let newest = workers.iter().filter_map(|w| w.last_heartbeat_time).max();
    let title = match workers.len() {
        1 => format!("The only worker of work pool '{}' is offline", pool.name),
        n => format!("All {n} workers of work pool '{}' are offline", pool.name),
    };
    let detail = match newest {
        Some(t) => format!(
            "No worker of pool '{}' has sent a heartbeat for {}: nothing is polling the pool.",
            pool.name,
            crate::fmt::human(ctx.since(t))
        ),
        None => format!("No worker of pool '{}' has ever sent a heartbeat.", pool.name),
    };
    let mut f = Finding::new(&OFFLINE.info, Severity::Critical, title)
        .detail(detail)
        .evidence_all(workers.iter().take(10).map(|w| ctx.describe_worker(w)))
        .fix(format!("Restart a worker for the pool: prefect worker start --pool {}", sh(&pool.name)))
        .fix("Find out why the workers stopped: their host/container logs, OOM kills, restarts, expired API keys")
        .fix(format!("Watch them come back: prefect work-pool inspect {}", sh(&pool.name)));
    if workers.len() > 10 {
        f = f.evidence(format!("… and {} more workers, all offline", workers.len() - 10));
    }
    if let Some(s) = ctx.pool_subject() {
        f = f.subject(s);
    }
    vec![f]
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;

    /// An empty worker list on a Late run in a process pool is worker.none.
    #[test]
    fn no_worker_on_late_run() {
        let ev = Scenario::late(600).workers(vec![]).build();
        let f = findings(&ev, "worker.none");
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("pool 'p'"), "{}", f[0].title);
        assert!(f[0].remediation[0].contains("prefect worker start --pool p"));
    }

    /// Push pools need no worker.
    #[test]
    fn push_pools_need_no_worker() {
        let ev = Scenario::late(600).pool_type("ecs:push").workers(vec![]).build();
        assert!(findings(&ev, "worker.none").is_empty());
        assert!(findings(&ev, "worker.offline").is_empty());
    }

    /// Offline is judged from the heartbeat age, not the stored status (which still says ONLINE).
    #[test]
    fn offline_from_heartbeat_age_despite_stored_online() {
        let ev = Scenario::late(600).workers(vec![worker("w1", 200, 30.0, "ONLINE")]).build();
        let f = findings(&ev, "worker.offline");
        assert_eq!(f.len(), 1);
        assert!(f[0].evidence[0].contains("offline, last heartbeat 3m 20s ago"), "{:?}", f[0].evidence);
        assert!(f[0].evidence[0].contains("stored status ONLINE"));
    }

    /// One live worker among dead ones: no worker.offline.
    #[test]
    fn one_live_worker_is_enough() {
        let ev = Scenario::late(600)
            .workers(vec![worker("dead", 900, 30.0, "OFFLINE"), worker("alive", 5, 30.0, "ONLINE")])
            .build();
        assert!(findings(&ev, "worker.offline").is_empty());
    }

    /// A short heartbeat interval makes a worker offline sooner.
    #[test]
    fn heartbeat_interval_is_honoured() {
        let ev = Scenario::late(600).workers(vec![worker("w", 10, 2.0, "ONLINE")]).build();
        assert_eq!(findings(&ev, "worker.offline").len(), 1);
    }

    /// A Running run is not judged by worker checks.
    #[test]
    fn running_runs_are_not_blocked() {
        let ev = Scenario::running().workers(vec![]).build();
        assert!(findings(&ev, "worker.none").is_empty());
    }
}
