//! The worker that claimed the run: is it still alive? (`worker.claimer-offline`)

use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Phase, Severity, sh};
use crate::fmt::{ago, human};

pub const CLAIMER_OFFLINE: Check = Check {
    info: CheckInfo {
        id: "worker.claimer-offline",
        title: "the worker that claimed the run is offline or gone",
        kind: Kind::Cause,
        item: Item::WorkerAlive,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: finds the worker that claimed the run (Prefect 3 writes it into the run's labels as
prefect.worker.name; workers also emit a prefect.worker.submitted-flow-run event and log
\"Worker '<name>' submitting flow run '<id>'\" to the run's logs, which is all Prefect 2 has) and judges
that worker's liveness from its heartbeats.

Why it matters: a worker moves a run to Pending before it creates the infrastructure. If that worker
dies (OOM-killed, evicted, node lost, SIGKILL) the run stays Pending for ever: no server service times it
out and no other worker may take it over. This is the root cause behind most runs orphaned in Pending
(PrefectHQ/prefect#18933, #20485). Other workers in the pool being healthy does not help.",
        remediation: &[
            "Cancel the run and start a new one: prefect flow-run cancel <RUN_ID>",
            "Or hand it back to the workers by forcing it to Scheduled",
            "Find out why the worker died (its container/host logs, OOM kills) and run it under a supervisor",
        ],
    },
    run: claimer_offline,
};

fn claimer_offline(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !matches!(ctx.phase(), Phase::Pending | Phase::Cancelling) {
        return vec![];
    }
    let Some(claim) = ctx.claimer() else { return vec![] };
    let Some(gone) = ctx.worker_gone(&claim.worker) else { return vec![] };
    let run = ctx.run();
    let state = run.state_name();
    let for_ = ctx.in_state_for().map(human).unwrap_or_else(|| "a while".into());
    let when = claim.at.map(|t| format!(" {}", ago(ctx.since(t)))).unwrap_or_default();
    let infra = run.infrastructure_pid.as_deref().filter(|p| !p.is_empty()).map(|p| {
        let i = crate::infra::parse(p, ctx.pool().and_then(|p| p.pool_type.as_deref()));
        (i.describe(), i.inspect(&run.id))
    });
    let detail = match &infra {
        None => format!(
            "Worker '{}' claimed the run{when} and is gone, before it recorded any infrastructure: the run has \
             been {state} for {for_} and nothing will move it on.",
            claim.worker
        ),
        Some((what, _)) => format!(
            "Worker '{}' claimed the run{when} and started {what}, then went away: nothing reports on the run \
             any more, and it has been {state} for {for_}.",
            claim.worker
        ),
    };
    let mut f = Finding::new(
        &CLAIMER_OFFLINE.info,
        Severity::Critical,
        format!("Worker '{}', which claimed the run, is offline", claim.worker),
    )
    .detail(detail)
    .evidence(format!("claimed by worker '{}' ({})", claim.worker, claim.source.describe()))
    .evidence(gone);
    if let Some((what, inspect)) = infra {
        f = f.evidence(format!("infrastructure recorded: {what}"));
        for cmd in inspect {
            f = f.fix(cmd);
        }
    }
    f = f.fix(format!("Cancel the run and start a new one: prefect flow-run cancel {}", run.id)).fix(format!(
        "Or hand it back to the workers: curl -X POST \"$PREFECT_API_URL/flow_runs/{}/set_state\" \
             -H 'Content-Type: application/json' -d '{{\"state\": {{\"type\": \"SCHEDULED\"}}, \"force\": true}}'",
        run.id
    ));
    if let Some(pool) = ctx.pool_name() {
        f = f.fix(format!("Restart a worker and keep it supervised: prefect worker start --pool {}", sh(pool)));
    }
    vec![f.subject(ctx.run_subject())]
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;
    use crate::prefect::types::LogLine;

    fn submitting(worker: &str, run: &str, secs_ago: i64) -> LogLine {
        LogLine {
            name: Some("prefect.flow_runs.worker".into()),
            level: 20,
            message: format!("Worker '{worker}' submitting flow run '{run}'"),
            timestamp: Some(ago(secs_ago)),
        }
    }

    /// Prefect 3: the label names the claimer; its heartbeat is stale: claimer-offline outranks orphaned.
    #[test]
    fn label_names_a_dead_claimer() {
        let ev = Scenario::pending(900)
            .run(|r| {
                r.labels.insert("prefect.worker.name".into(), "w-dead".into());
            })
            .workers(vec![worker("w-dead", 600, 30.0, "OFFLINE"), worker("w2", 3, 30.0, "ONLINE")])
            .build();
        let ranked = crate::report::rank(all_findings(&ev));
        assert_eq!(ranked[0].finding.id, "worker.claimer-offline");
        assert!(ranked[0].finding.evidence[0].contains("label prefect.worker.name"));
        assert!(ranked.iter().any(|r| r.finding.id == "run.orphaned"));
    }

    /// Prefect 2: the log line names the claimer, which has left the pool.
    #[test]
    fn log_line_names_a_vanished_claimer() {
        let ev = Scenario::pending(900)
            .evidence(|ev| {
                let id = ev.flow_run.id.clone();
                ev.logs = crate::evidence::Source::ok(vec![submitting("ProcessWorker 1234", &id, 899)]);
            })
            .build();
        let f = findings(&ev, "worker.claimer-offline");
        assert_eq!(f.len(), 1);
        assert!(f[0].evidence[1].contains("no longer registered"), "{:?}", f[0].evidence);
    }

    /// Two workers logged "submitting" (a race) and no label names the winner: no claimer is guessed.
    #[test]
    fn racing_workers_are_not_guessed() {
        let ev = Scenario::pending(900)
            .evidence(|ev| {
                let id = ev.flow_run.id.clone();
                ev.logs = crate::evidence::Source::ok(vec![submitting("a", &id, 899), submitting("b", &id, 899)]);
            })
            .build();
        assert!(findings(&ev, "worker.claimer-offline").is_empty());
    }

    /// A live claimer is fine.
    #[test]
    fn live_claimer() {
        let ev = Scenario::pending(900)
            .run(|r| {
                r.labels.insert("prefect.worker.name".into(), "w1".into());
            })
            .build();
        assert!(findings(&ev, "worker.claimer-offline").is_empty());
    }
}
