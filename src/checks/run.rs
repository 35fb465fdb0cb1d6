//! The run's own state: crashed, orphaned in Pending, or late. (`run.crashed`, `run.orphaned`, `run.late`)

use std::sync::LazyLock;

use regex::Regex;

use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Phase, Severity, sh};
use crate::fmt::{human, human_signed};
use crate::prefect::types::StateType;

pub const CRASHED: Check = Check {
    info: CheckInfo {
        id: "run.crashed",
        title: "the run crashed: its infrastructure failed",
        kind: Kind::Cause,
        item: Item::Infrastructure,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: for a Crashed run, reads the state message the worker or observer wrote and explains the
exit code in it:
  137 (128+9)  killed with SIGKILL, almost always out of memory (OOMKilled): raise the memory limit
  -9           SIGKILL on a process worker: OOM killer or a manual kill
  247          terminated for high memory usage
  143 / -15    SIGTERM: cancellation, scale-down, eviction, ECS task stop (usually not the flow's fault)
  127          command not found: the job's command or `prefect` is missing from the image/PATH
  126          command found but not executable (permissions)
  125          the container failed to run (image, entrypoint or runtime error)
  1            a general error: an unhandled exception; the flow-run logs have the traceback
  139 (128+11) segmentation fault in native code
  -1           (Prefect 2 Kubernetes worker) the pod never started within pod_watch_timeout_seconds
Submission failures (\"Failed to submit flow run to infrastructure\") are worker.submit-failed.

Why it matters: Crashed means the infrastructure failed, not the flow's code raising an exception (that is
Failed). The exit code says which layer to look at.",
        remediation: &[
            "Read the run's logs: prefect flow-run logs <RUN_ID>",
            "For 137/-9/247: raise the memory limit in the work pool's job template or the deployment's job variables",
            "For 127/126/125: check the job's command and image (prefect work-pool inspect <POOL>)",
        ],
    },
    run: crashed,
};

static EXIT_CODE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:status code|exit code|exited with code|exit status|exitcode)\s*:?\s*(-?\d+|0x[0-9a-f]+)")
        .unwrap_or_else(|e| panic!("exit code pattern: {e}"))
});

/// What an infrastructure exit code means, whether it is the infrastructure's fault, and what to do.
pub fn explain_exit_code(code: &str) -> (&'static str, bool, &'static str) {
    match code.to_ascii_lowercase().as_str() {
        "0" => ("the process exited cleanly", false, "the crash came from somewhere else: read the run's logs"),
        "-9" => (
            "killed with SIGKILL: the OS out-of-memory killer or a manual kill",
            true,
            "check the host's memory (dmesg | grep -i oom) and give the flow more memory",
        ),
        "-15" | "143" => (
            "terminated with SIGTERM: cancellation, scale-down, eviction or a task stop",
            false,
            "check who stopped it: node drains, autoscaler scale-down, ECS task stops, manual cancellation",
        ),
        "1" => (
            "a general error: usually an unhandled exception before or outside the flow",
            true,
            "read the traceback in the run's logs",
        ),
        "2" => ("a usage error of the command that was run (bad arguments)", true, "check the job's command"),
        "125" => (
            "the container failed to run: image, entrypoint or container runtime error",
            true,
            "check the image name and entrypoint in the job template",
        ),
        "126" => (
            "the command was found but is not executable (permission denied)",
            true,
            "check the entrypoint's permissions in the image",
        ),
        "127" => (
            "command not found: the job's command (or `prefect`) is not in the image or on its PATH",
            true,
            "check the job template's command and that the image has prefect installed",
        ),
        "137" => (
            "killed with SIGKILL (128+9), almost always out of memory (OOMKilled)",
            true,
            "raise the memory limit (Kubernetes resources.limits.memory, ECS task memory) or reduce the flow's memory use",
        ),
        "139" => ("segmentation fault (128+11) in native code", true, "check native dependencies of the flow"),
        "247" => ("terminated for high memory usage", true, "raise the memory limit or reduce the flow's memory use"),
        "-1" => (
            "the infrastructure never started (Prefect 2 Kubernetes worker: pod never started)",
            true,
            "check the cluster: pod events, image pulls, capacity; consider raising pod_watch_timeout_seconds",
        ),
        "0xc000013a" | "3221225786" => ("interrupted with Ctrl+C (Windows)", false, "nothing to fix unless unexpected"),
        _ => ("an unexpected exit code", true, "read the run's logs and the infrastructure's logs"),
    }
}

fn crashed(ctx: &Ctx<'_>) -> Vec<Finding> {
    let run = ctx.run();
    if run.state_type() != Some(&StateType::Crashed) {
        return vec![];
    }
    let message = run.state.as_ref().and_then(|s| s.message.clone()).unwrap_or_default();
    let quoted = if message.is_empty() { "(no state message)".to_string() } else { message.clone() };
    let logs = format!("Read the run's logs: prefect flow-run logs {}", run.id);
    let pool_inspect =
        ctx.pool_name().map(|p| format!("Inspect the job template: prefect work-pool inspect {}", sh(p)));

    let f = if let Some(code) = EXIT_CODE.captures(&message).and_then(|c| c.get(1)).map(|m| m.as_str().to_string()) {
        let (meaning, infra_fault, advice) = explain_exit_code(&code);
        let mut f = Finding::new(
            &CRASHED.info,
            if infra_fault { Severity::Error } else { Severity::Info },
            format!("The run crashed with exit code {code}: {meaning}"),
        )
        .detail(format!("The run's infrastructure exited with code {code}, which means {meaning}."))
        .evidence(format!("state Crashed: {quoted}"))
        .fix(format!("{}{}", advice[..1].to_uppercase(), &advice[1..]))
        .fix(logs);
        if let Some(cmd) = pool_inspect {
            f = f.fix(cmd);
        }
        if !infra_fault {
            f = f.kind(Kind::Info);
        }
        f
    } else if super::logs::is_submit_failure(&message) {
        // A submission failure: worker.submit-failed quotes the error.
        return vec![];
    } else {
        Finding::new(&CRASHED.info, Severity::Error, "The run crashed")
            .detail(format!("The run's infrastructure failed: {quoted}"))
            .evidence(format!("state Crashed: {quoted}"))
            .fix(logs)
    };
    vec![f.subject(ctx.run_subject())]
}

pub const ORPHANED: Check = Check {
    info: CheckInfo {
        id: "run.orphaned",
        title: "Pending past the threshold with no infrastructure recorded",
        kind: Kind::Cause,
        item: Item::Infrastructure,
        backend: Backend::Prefect,
        symptom: true,
        unexplained: "Everything the Prefect API shows about the pool looks healthy: find the worker that moved the run to Pending in your workers' own logs, around the time it entered Pending.",
        explanation: "\
What it does: reports a run that has been in PENDING (Pending or Submitting) for longer than
--pending-threshold while no infrastructure was ever recorded for it (infrastructure_pid is empty).

Why it matters: a worker moves a run to Pending before it creates the infrastructure, and records the
infrastructure id only once it exists. If the worker dies, is killed or loses the API in between, the run
stays Pending forever: no server service times it out, and no other worker will take it (a second worker
gets \"cannot transition to a PENDING state\"). On Prefect 3 it also holds a pool/queue concurrency slot
and its deployment's slot until the lease expires.",
        remediation: &[
            "It will not recover by itself. Cancel it: prefect flow-run cancel <RUN_ID>, then start a new run",
            "Or hand it back to the workers by forcing it to Scheduled (see the finding for the exact call)",
            "Find out why the worker died: its logs around the time the run entered Pending",
        ],
    },
    run: orphaned,
};

fn orphaned(ctx: &Ctx<'_>) -> Vec<Finding> {
    let run = ctx.run();
    if ctx.phase() != Phase::Pending || run.infrastructure_pid.as_deref().is_some_and(|p| !p.is_empty()) {
        return vec![];
    }
    let Some(for_) = ctx.in_state_for() else { return vec![] };
    if for_ <= ctx.thresholds.pending {
        return vec![];
    }
    let state = run.state_name();
    let mut f = Finding::new(
        &ORPHANED.info,
        Severity::Error,
        format!("The run has been {state} for {} with no infrastructure recorded", human(for_)),
    )
    .detail(format!(
        "A worker claimed the run (moved it to {state}) {} ago but never recorded any infrastructure for it: \
         it probably died or lost the API between claiming and submitting. The run will not recover by itself.",
        human(for_)
    ))
    .evidence(format!(
        "state {state} since {} ({} ago; threshold {})",
        ctx.state_since().map(|t| t.to_string()).unwrap_or_default(),
        human(for_),
        human(ctx.thresholds.pending)
    ))
    .evidence("infrastructure_pid: empty");
    if let Some(worker) = run.label("prefect.worker.name") {
        f = f.evidence(format!("claimed by worker '{worker}' (flow-run label prefect.worker.name)"));
    }
    f = f
        .fix(format!("Cancel it and start a new run: prefect flow-run cancel {}", run.id))
        .fix(format!(
            "Or hand it back to the workers: curl -X POST \"$PREFECT_API_URL/flow_runs/{}/set_state\" \
             -H 'Content-Type: application/json' -d '{{\"state\": {{\"type\": \"SCHEDULED\"}}, \"force\": true}}'",
            run.id
        ))
        .fix("Check the claiming worker's logs around the time the run entered Pending")
        .subject(ctx.run_subject());
    vec![f]
}

pub const INFRA_NOT_STARTED: Check = Check {
    info: CheckInfo {
        id: "run.infra-not-started",
        title: "infrastructure recorded, but the run never reached Running",
        kind: Kind::Cause,
        item: Item::Infrastructure,
        backend: Backend::Prefect,
        symptom: true,
        unexplained: "The Prefect API shows nothing else wrong: the answer is in the infrastructure itself (the commands below).",
        explanation: "\
What it does: reports a run that has been in PENDING (Pending, Submitting, InfrastructurePending) for
longer than --pending-threshold although its worker recorded the infrastructure it created
(infrastructure_pid), and says what that infrastructure is: a process and its host, a Kubernetes
namespace/job, an ECS cluster/task, a Docker container.

Why it matters: the worker did its part; whatever runs inside the infrastructure never started the flow
engine, which is what moves a run to Running. Usual reasons: the pod or task cannot start (image pull,
scheduling, quota, capacity), the container cannot reach PREFECT_API_URL or its API key is rejected, or
the command does not start the flow at all. Prefect 3's Kubernetes and ECS workers return as soon as
the job/task exists, so without their observer nothing ever marks such a run Crashed.",
        remediation: &[
            "Look at the infrastructure itself (the finding gives the exact kubectl / aws / ps command)",
            "Check the job template's command and image: prefect work-pool inspect <POOL>",
            "Read the run's logs: prefect flow-run logs <RUN_ID>",
        ],
    },
    run: infra_not_started,
};

fn infra_not_started(ctx: &Ctx<'_>) -> Vec<Finding> {
    let run = ctx.run();
    let Some(pid) = run.infrastructure_pid.as_deref().filter(|p| !p.is_empty()) else { return vec![] };
    if ctx.phase() != Phase::Pending {
        return vec![];
    }
    let Some(for_) = ctx.in_state_for().filter(|d| *d > ctx.thresholds.pending) else { return vec![] };
    let pool_type = ctx.pool().and_then(|p| p.pool_type.as_deref());
    let infra = crate::infra::parse(pid, pool_type);
    let state = run.state_name();
    let why = match (state.as_str(), &infra) {
        ("InfrastructurePending", _) => {
            "the observer reports it still pending: the pod or task cannot start (image pull, \
             scheduling, quota or capacity)"
        }
        // Agents write "Process '…' exited cleanly." to their own output only: nothing reaches the API.
        (_, crate::infra::Infra::Process { .. }) if ctx.is_agent_pool() => {
            "first suspicion: the process exited cleanly without running the flow (an agent says so only in \
             its own output, never in the run's logs): its command does not run the flow, or the flow ran \
             against another API (no PREFECT_API_URL in its environment means an ephemeral local API); or it \
             cannot reach PREFECT_API_URL or is refused by it"
        }
        (_, crate::infra::Infra::Process { .. }) => {
            "the flow engine never reported Running from it: its command may not start the flow, or the \
             process cannot reach PREFECT_API_URL or is refused by it"
        }
        _ => {
            "the flow engine inside it never reported Running: the command may not start the flow, the \
             container may not reach PREFECT_API_URL or be refused by it, or it may not start at all"
        }
    };
    let mut f = Finding::new(
        &INFRA_NOT_STARTED.info,
        Severity::Error,
        format!("{} was created, but the run is still {state} after {}", capitalise(&infra.describe()), human(for_)),
    )
    .detail(format!("The worker created {} for the run {} ago; {why}.", infra.describe(), human(for_)))
    .evidence(format!("infrastructure_pid: {pid} ({})", infra.describe()))
    .evidence(format!(
        "state {state} since {} ({} ago; threshold {})",
        ctx.state_since().map(|t| t.to_string()).unwrap_or_default(),
        human(for_),
        human(ctx.thresholds.pending)
    ));
    if let Some(m) = run.state.as_ref().and_then(|s| s.message.as_deref()).filter(|m| !m.is_empty()) {
        f = f.evidence(format!("state message: {m}"));
    }
    for cmd in infra.inspect(&run.id) {
        f = f.fix(cmd);
    }
    if let Some(p) = ctx.pool_name() {
        f = f.fix(format!("Check the job template's command and image: prefect work-pool inspect {}", sh(p)));
    }
    vec![f.fix(format!("Read the run's logs: prefect flow-run logs {}", run.id)).subject(infra.subject())]
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub const LATE: Check = Check {
    info: CheckInfo {
        id: "run.late",
        title: "the run is Late: past its scheduled time and not picked up",
        kind: Kind::Cause,
        item: Item::QueuePolled,
        backend: Backend::Prefect,
        symptom: true,
        unexplained: "Everything the Prefect API shows looks healthy. What it cannot show: a worker whose own --limit is full (it logs \"Flow run limit reached\"), a worker that polls but fails before claiming the run (its own logs), or workers connected to another Prefect API.",
        explanation: "\
What it does: reports a run still SCHEDULED (Scheduled or Late) more than --late-threshold after its
scheduled time. Prefect marks it Late 15 s after that time; unstuck waits for the threshold.

Why it matters: a Late run means no worker has taken it. This is a symptom: unstuck ranks whatever
explains it (no worker, workers offline, paused pool or queue, a queue nobody polls, full concurrency
limits) above it. When nothing deeper is found, the finding says what could not be checked.",
        remediation: &[
            "Check a worker is polling the run's pool and queue: prefect work-pool inspect <POOL>",
            "Check the queue: prefect work-queue inspect <QUEUE> --pool <POOL>",
            "Read the worker's logs for errors while polling",
        ],
    },
    run: late,
};

fn late(ctx: &Ctx<'_>) -> Vec<Finding> {
    let run = ctx.run();
    if ctx.phase() != Phase::Waiting {
        return vec![];
    }
    let (Some(due), Some(lateness)) = (ctx.scheduled_time(), ctx.lateness()) else { return vec![] };
    let Ok(late) = std::time::Duration::try_from(lateness) else { return vec![] };
    if late <= ctx.thresholds.late {
        return vec![];
    }
    let mut f = Finding::new(
        &LATE.info,
        Severity::Error,
        format!("The run is {} late: no worker has picked it up", human(late)),
    )
    .detail(format!(
        "The run was due at {due} and is still {} {} later: no worker has claimed it.",
        run.state_name(),
        human_signed(lateness)
    ))
    .evidence(format!(
        "state {} since {}",
        run.state_name(),
        ctx.state_since().map(|t| t.to_string()).unwrap_or_default()
    ))
    .evidence(format!("scheduled for {due} ({} ago; threshold {})", human(late), human(ctx.thresholds.late)));
    if let Some(pool) = ctx.pool_name() {
        f = f.fix(format!("Check the pool and its workers: prefect work-pool inspect {}", sh(pool)));
        if let Some(q) = ctx.queue_name() {
            f = f.fix(format!("Check the queue: prefect work-queue inspect {} --pool {}", sh(q), sh(pool)));
        }
    }
    vec![f.fix("Read the worker logs for errors while polling").subject(ctx.run_subject())]
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;
    use crate::checks::{Kind, Severity};

    /// Exit 137 is explained as OOM, an infrastructure cause.
    #[test]
    fn crashed_137_is_oom() {
        let ev = Scenario::crashed(
            "Flow run infrastructure exited with non-zero status code 137. Process was killed, likely due to OOM",
        )
        .build();
        let f = findings(&ev, "run.crashed");
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("137") && f[0].title.contains("out of memory"), "{}", f[0].title);
        assert_eq!(f[0].kind, Kind::Cause);
        assert!(f[0].remediation[0].contains("memory limit"));
    }

    /// Each documented exit code gets its own explanation.
    #[test]
    fn exit_codes() {
        for (code, needle, fault) in [
            ("127", "command not found", true),
            ("126", "not executable", true),
            ("125", "container failed", true),
            ("1", "general error", true),
            ("-9", "SIGKILL", true),
            ("143", "SIGTERM", false),
            ("-15", "SIGTERM", false),
            ("247", "high memory", true),
        ] {
            let (meaning, infra_fault, _) = super::explain_exit_code(code);
            assert!(meaning.contains(needle), "{code}: {meaning}");
            assert_eq!(infra_fault, fault, "{code}");
        }
    }

    /// SIGTERM is information, not a cause; a Prefect 2 message parses too.
    #[test]
    fn crashed_143_is_info() {
        let ev = Scenario::crashed("Flow run infrastructure exited with non-zero status code 143.").build();
        let f = findings(&ev, "run.crashed");
        assert_eq!(f[0].kind, Kind::Info);
        assert_eq!(f[0].severity, Severity::Info);
    }

    /// Pending beyond the threshold with no infrastructure is orphaned; under it, not yet.
    #[test]
    fn orphaned_pending() {
        let ev = Scenario::pending(900).build();
        let f = findings(&ev, "run.orphaned");
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("Pending for 15m"), "{}", f[0].title);
        assert!(findings(&Scenario::pending(60).build(), "run.orphaned").is_empty());
        let with_infra = Scenario::pending(900).run(|r| r.infrastructure_pid = Some("host:123".into())).build();
        assert!(findings(&with_infra, "run.orphaned").is_empty());
    }

    /// Submitting past the threshold with a process pid: infra-not-started names the process.
    #[test]
    fn infra_not_started() {
        let ev =
            Scenario::pending_named("Submitting", 900).run(|r| r.infrastructure_pid = Some("17343".into())).build();
        let f = findings(&ev, "run.infra-not-started");
        assert_eq!(f.len(), 1);
        assert!(f[0].title.starts_with("Process 17343 on the worker's host was created"), "{}", f[0].title);
        assert!(f[0].remediation[0].contains("ps -o pid,etime,args -p 17343"));
        assert!(findings(&ev, "run.orphaned").is_empty());
    }

    /// Late past the threshold; a run due in the future is not late.
    #[test]
    fn late_runs() {
        let f = findings(&Scenario::late(900).build(), "run.late");
        assert_eq!(f.len(), 1);
        assert!(f[0].title.contains("15m late"), "{}", f[0].title);
        assert!(findings(&Scenario::late(120).build(), "run.late").is_empty());
        assert!(findings(&Scenario::late(-600).build(), "run.late").is_empty());
    }
}

/// `infra.exited-cleanly` from what the worker reported: a `prefect.worker.executed-flow-run` event
/// with status code 0 (Prefect 3 writes no log line for exit 0), or a worker's "exited cleanly" / "exited
/// with status code: 0" line, while the run is still waiting to start. The check's documentation is
/// shared with the backends that see the same thing in the infrastructure (a Job that Succeeded).
pub fn exited_cleanly(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !ctx.phase().awaiting_start() {
        return vec![];
    }
    let event = ctx.ev.worker_events.value().and_then(|events| {
        events
            .iter()
            .rev()
            .find(|e| e.event == "prefect.worker.executed-flow-run" && e.status_code.as_deref() == Some("0"))
    });
    let line = ctx.ev.logs.value().and_then(|lines| {
        lines
            .iter()
            .find(|l| EXITED_CLEANLY_LINE.is_match(&l.message) && l.name.as_deref() != Some("prefect.flow_runs"))
    });
    let evidence: Vec<String> = event
        .map(|e| {
            format!(
                "event {}{}: status code 0{}{}",
                e.event,
                e.occurred.map(|t| format!(" at {t}")).unwrap_or_default(),
                e.worker.as_deref().map(|w| format!(", worker '{w}'")).unwrap_or_default(),
                e.infrastructure.as_deref().map(|i| format!(", infrastructure {i}")).unwrap_or_default(),
            )
        })
        .into_iter()
        .chain(line.map(super::logs::quote))
        .collect();
    if evidence.is_empty() {
        return vec![];
    }
    let run = ctx.run();
    let state = run.state_name();
    let mut f = Finding::new(
        &super::k8s::EXITED_CLEANLY,
        Severity::Critical,
        format!("The run's infrastructure exited with code 0, but the run is still {state}"),
    )
    .detail(
        "The worker started the run's infrastructure and saw it exit cleanly, yet the run never reached Running: \
         its command did not run the flow (a custom command that skips `prefect flow-run execute`), or the flow \
         ran against another API (with no PREFECT_API_URL in the job's environment the engine uses an ephemeral \
         local API, so this server never hears of it).",
    )
    .evidence_all(evidence)
    .evidence(format!("state {state}{}", ctx.in_state_for().map(|d| format!(" for {}", human(d))).unwrap_or_default()));
    if let Some(p) = ctx.pool_name() {
        f = f.fix(format!(
            "Check the job's command (the `command` job variable; the default runs `prefect flow-run execute`): prefect work-pool inspect {}",
            sh(p)
        ));
    }
    f = f
        .fix("Make sure PREFECT_API_URL (and PREFECT_API_KEY) reach the job's environment (the `env` job variable)")
        .fix(format!("Then cancel this run and start a new one: prefect flow-run cancel {}", run.id));
    vec![f.subject(ctx.run_subject())]
}

/// A worker's own report of a clean exit (Prefect 2 workers and agents, older workers).
static EXITED_CLEANLY_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)exited cleanly|exited with status code:? 0\b").unwrap_or_else(|e| panic!("pattern: {e}"))
});

#[cfg(test)]
mod exited_tests {
    use crate::checks::testkit::*;
    use crate::evidence::Source;
    use crate::prefect::types::WorkerEvent;

    /// The event a real Prefect 3.8.8 process worker emitted for a job command that exits 0 (see
    /// tests/it/checklist_real.rs job_exits_cleanly): infra.exited-cleanly, above run.infra-not-started.
    #[test]
    fn executed_event_with_status_zero() {
        let ev = Scenario::pending_named("Submitting", 900)
            .run(|r| r.infrastructure_pid = Some("3076".into()))
            .evidence(|ev| {
                ev.worker_events = Source::ok(vec![WorkerEvent {
                    event: "prefect.worker.executed-flow-run".into(),
                    occurred: Some(ago(890)),
                    worker: Some("ProcessWorker 8788acfc".into()),
                    worker_type: Some("process".into()),
                    status_code: Some("0".into()),
                    infrastructure: Some("3076".into()),
                }])
            })
            .build();
        let ranked = crate::report::rank(all_findings(&ev));
        assert_eq!(
            ranked[0].finding.id,
            "infra.exited-cleanly",
            "{:?}",
            ranked.iter().map(|f| f.finding.id).collect::<Vec<_>>()
        );
        assert!(ranked.iter().all(|f| f.finding.id != "run.infra-not-started"));
        assert!(
            ranked[0].finding.evidence[0]
                .contains("status code 0, worker 'ProcessWorker 8788acfc', infrastructure 3076")
        );
        // A non-zero exit is not this check's.
        let mut failed = ev.clone();
        if let Source::Collected { value } = &mut failed.worker_events {
            value[0].status_code = Some("1".into());
        }
        assert!(findings(&failed, "infra.exited-cleanly").is_empty());
    }
}

/// Every pattern of this file is a literal compiled on first use: compiling them all here makes an
/// invalid one fail the tests instead of a diagnosis.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for p in [&*EXIT_CODE, &*EXITED_CLEANLY_LINE] {
            assert!(!p.as_str().is_empty());
        }
    }
}
