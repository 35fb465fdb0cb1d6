//! What the worker and the flow engine write about a run that never reached Running: the worker losing
//! its infrastructure (`worker.lost-connection`) and a deployment pull step failing in the container
//! before the flow was loaded (`infra.pull-step-failed`). The messages are Prefect 3's own
//! (prefect/workers/base.py, prefect/flows.py, prefect/deployments/steps/pull.py).

use std::sync::LazyLock;

use regex::Regex;

use super::logs::{applies, logs, quote};
use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Phase, Severity};
use crate::prefect::types::LogLine;

fn re(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("engine log pattern {p}: {e}"))
}

/// The worker's own line when watching the infrastructure failed after it started.
static LOST: LazyLock<Regex> = LazyLock::new(|| re(r"Lost connection to flow run '([^']*)' infrastructure"));
/// The engine, in the run's infrastructure, before it loads the flow.
static STEP: LazyLock<Regex> = LazyLock::new(|| re(r"Executing deployment step: (\S+)"));
/// What a failed pull step leaves in the container's output.
static STEP_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(Failed to clone repository .*|Encountered error while running \S+|fatal: .*|(?:NoSuchBucket|NoSuchKey|AccessDenied|ResourceNotFoundException)\b.*|ERROR: (?:Could not find a version|No matching distribution).*)",
    )
});

pub const LOST_CONNECTION: Check = Check {
    info: CheckInfo {
        id: "worker.lost-connection",
        title: "the worker lost track of the run's infrastructure",
        kind: Kind::Cause,
        item: Item::Infrastructure,
        backend: Backend::Logs,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: looks in the run's logs for the worker's \"Lost connection to flow run '…' infrastructure\"
line while the run never reached Running.

Why it matters: the worker created the infrastructure, then its watch of it failed (the worker restarted,
lost the cluster or ECS API, or the infrastructure vanished). From then on only the infrastructure itself
can move the run on: if it never starts the flow, the run stays Pending for ever. Prefect's own words: \"the
flow run's final state will be determined by the execution environment\".",
        remediation: &[
            "Look at the infrastructure the run recorded (infrastructure_pid): is it still there, did it start?",
            "Read the worker's log around the time of the line for the error that broke its watch",
        ],
    },
    run: lost_connection,
};

fn lost_connection(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !ctx.phase().awaiting_start() {
        return vec![];
    }
    let lines: Vec<LogLine> = logs(ctx).into_iter().filter(|l| LOST.is_match(&l.message)).collect();
    let Some(first) = lines.first() else { return vec![] };
    let pid = ctx.run().infrastructure_pid.as_deref().filter(|p| !p.is_empty());
    let mut f = Finding::new(
        &LOST_CONNECTION.info,
        Severity::Critical,
        "The worker lost track of the run's infrastructure",
    )
    .detail(format!(
        "The worker submitted the run, then logged that it lost the connection to its infrastructure; the run is \
             still {} and nothing watches it: only the infrastructure itself can start the flow now.",
        ctx.run().state_name()
    ))
    .evidence(quote(first));
    if let Some(pid) = pid {
        let infra = crate::infra::parse(pid, ctx.pool().and_then(|p| p.pool_type.as_deref()));
        f = f.evidence(format!("infrastructure_pid: {pid} ({})", infra.describe()));
        for step in infra.inspect(&ctx.run().id) {
            f = f.fix(step);
        }
    }
    f = f.fix(format!(
        "If it is gone or never started the flow, cancel the run and start a new one: prefect flow-run cancel {}",
        ctx.run().id
    ));
    vec![f.subject(ctx.run_subject())]
}

pub const PULL_STEP_FAILED: Check = Check {
    info: CheckInfo {
        id: "infra.pull-step-failed",
        title: "a deployment pull step failed in the run's infrastructure",
        kind: Kind::Cause,
        item: Item::Logs,
        backend: Backend::Logs,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: finds the engine's \"Executing deployment step: <step>\" line in the run's logs with no flow
start after it, and the step's error in the container's output where it was read (git clone:
authentication, repository not found, host not resolved; storage: NoSuchBucket, AccessDenied, NoSuchKey;
pip: no matching distribution).

Why it matters: before it can load the flow, the engine runs the deployment's pull steps (git_clone,
pull_from_s3, pip_install_requirements) inside the run's infrastructure. When one fails, the process
exits before the flow starts: the run crashes with \"exited with a general error\", and the reason is only
in the container's own output, not in the run's logs.",
        remediation: &[
            "Read the deployment's pull steps: prefect deployment inspect <FLOW>/<DEPLOYMENT>",
            "Reproduce the step from the same image and network (git clone <REPO>, aws s3 ls <BUCKET>)",
        ],
    },
    run: pull_step_failed,
};

/// Why a pull step failed, from its error line.
fn step_class(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("authentication failed")
        || e.contains("could not read username")
        || e.contains("permission denied (publickey)")
    {
        "authentication: the repository needs credentials (an access_token / credentials block in the step)"
    } else if e.contains("repository not found") || (e.contains("not found") && e.contains("repository")) {
        "repository not found: the URL or the token's access is wrong"
    } else if e.contains("could not resolve host") {
        "host not resolved: the infrastructure's DNS cannot resolve the repository's host"
    } else if e.contains("failed to connect") || e.contains("couldn't connect") || e.contains("timed out") {
        "network: the infrastructure cannot reach the repository's host"
    } else if e.contains("nosuchbucket") {
        "storage: the bucket does not exist"
    } else if e.contains("nosuchkey") {
        "storage: the key does not exist in the bucket"
    } else if e.contains("accessdenied") {
        "storage: access denied (the infrastructure's role or credentials)"
    } else if e.contains("could not find a version") || e.contains("no matching distribution") {
        "pip: a requirement cannot be installed"
    } else {
        "the step raised an error"
    }
}

fn pull_step_failed(ctx: &Ctx<'_>) -> Vec<Finding> {
    // A crash sets start_time too: whether the flow began is told by the engine's own lines below.
    if !applies(ctx) {
        return vec![];
    }
    let all = logs(ctx);
    let Some((step_line, step)) =
        all.iter().rev().find_map(|l| STEP.captures(&l.message).map(|c| (l, c[1].to_string())))
    else {
        return vec![];
    };
    // The engine reached the flow after the step: not this.
    if all.iter().any(|l| l.message.starts_with("Beginning flow run") || l.message.contains("Downloading flow code")) {
        return vec![];
    }
    let error = all.iter().find_map(|l| {
        l.message.lines().find_map(|line| STEP_ERROR.find(line).map(|m| (l, m.as_str().trim().to_string())))
    });
    let crashed = matches!(ctx.phase(), Phase::Finished);
    if error.is_none() && !crashed {
        return vec![]; // still running the step, or no sign of failure yet
    }
    let class = error
        .as_ref()
        .map(|(_, e)| step_class(e))
        .unwrap_or("the step's own error is in the infrastructure's output, not in the run's logs");
    let mut f = Finding::new(
        &PULL_STEP_FAILED.info,
        Severity::Critical,
        format!("The deployment's pull step {step} failed in the run's infrastructure"),
    )
    .detail(format!("{class}. The engine ran the pull step before loading the flow and the process ended there, so the flow never started."))
    .evidence(quote(step_line));
    if let Some((line, e)) = &error {
        let who = line.name.as_deref().map(|n| format!("[{n}] ")).unwrap_or_default();
        f = f.evidence(format!("{who}{e}"));
    }
    if let Some(m) = ctx.run().state.as_ref().and_then(|s| s.message.as_deref()).filter(|_| crashed) {
        f = f.evidence(format!("state {}: {m}", ctx.run().state_name()));
    }
    if error.is_none() {
        if let Some(pid) = ctx.run().infrastructure_pid.as_deref().filter(|p| !p.is_empty()) {
            let infra = crate::infra::parse(pid, ctx.pool().and_then(|p| p.pool_type.as_deref()));
            f = f.fix(format!("Read the step's error in the infrastructure's own output ({})", infra.describe()));
        } else {
            f = f.fix(
                "Read the step's error in the worker's or the container's own output (the process worker prints it)",
            );
        }
    }
    f = f
        .fix("Check the deployment's pull steps: prefect deployment inspect <FLOW>/<DEPLOYMENT>")
        .fix(format!("Reproduce the step ({step}) from the same image and network"));
    vec![f.subject(ctx.run_subject())]
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;
    use crate::evidence::Source;
    use crate::prefect::types::LogLine;

    fn line(name: &str, level: i64, msg: &str) -> LogLine {
        LogLine { name: Some(name.into()), level, message: msg.into(), timestamp: Some(ago(30)) }
    }

    /// The worker's real line (prefect/workers/base.py) on a run still Pending: worker.lost-connection.
    #[test]
    fn lost_connection() {
        let ev = Scenario::pending(900)
            .run(|r| r.infrastructure_pid = Some("prefect:etl-x7k2p".into()))
            .evidence(|ev| {
                ev.logs = Source::ok(vec![line(
                    "prefect.flow_runs.worker",
                    40,
                    "Lost connection to flow run 'etl-x7k2p' infrastructure. The flow run's final state will be determined by the execution environment.\nTraceback (most recent call last):\n  File \"x.py\", line 1\nkubernetes_asyncio.client.exceptions.ApiException: (500)",
                )])
            })
            .build();
        let f = findings(&ev, "worker.lost-connection");
        assert_eq!(f.len(), 1, "{:?}", all_findings(&ev));
        assert!(
            f[0].evidence[0].contains("Lost connection to flow run 'etl-x7k2p' infrastructure"),
            "{:?}",
            f[0].evidence
        );
        assert!(
            f[0].remediation.iter().any(|r| r.contains("kubectl describe job etl-x7k2p -n prefect")),
            "{:?}",
            f[0].remediation
        );
        let running = Scenario::running().evidence(|r| r.logs = ev.logs.clone()).build();
        assert!(findings(&running, "worker.lost-connection").is_empty(), "a run that started is not lost");
    }

    /// A git_clone step that failed (the lines a real Prefect 3.8.8 process worker wrote, see
    /// tests/it/checklist_real.rs pull_step_fails): the step line from the run's logs, the git error from
    /// the container's output, classified.
    #[test]
    fn pull_step_failed_git() {
        let ev = Scenario::crashed("Process exited with status code: 1. Process exited with a general error.")
            .evidence(|ev| {
                ev.logs = Source::ok(vec![
                    line("prefect.flow_runs", 20, "Running 1 deployment pull step(s)"),
                    line("prefect.flow_runs", 20, "Executing deployment step: git_clone"),
                    line("pod/etl/prefect-job", 40, "RuntimeError: Failed to clone repository 'https://github.com/acme/private.git' with exit code 128. git stderr: Cloning into '/tmp/x'... | fatal: Authentication failed for 'https://github.com/acme/private.git/'"),
                ])
            })
            .build();
        let ranked = crate::report::rank(all_findings(&ev));
        assert_eq!(
            ranked[0].finding.id,
            "infra.pull-step-failed",
            "{:?}",
            ranked.iter().map(|f| f.finding.id).collect::<Vec<_>>()
        );
        let f = &ranked[0].finding;
        assert_eq!(f.title, "The deployment's pull step git_clone failed in the run's infrastructure");
        assert!(f.detail.starts_with("authentication"), "{}", f.detail);
        assert!(f.evidence[1].contains("Failed to clone repository"), "{:?}", f.evidence);
    }

    /// Only the step line and a crash (a process worker's run): the check says where the error is.
    #[test]
    fn pull_step_failed_without_the_error() {
        let ev = Scenario::crashed("Process exited with status code: 1. Process exited with a general error.")
            .evidence(|ev| {
                ev.logs = Source::ok(vec![line("prefect.flow_runs", 20, "Executing deployment step: git_clone")])
            })
            .build();
        let f = findings(&ev, "infra.pull-step-failed");
        assert_eq!(f.len(), 1);
        assert!(f[0].detail.contains("not in the run's logs"), "{}", f[0].detail);
    }
}

/// Every pattern of this file is a literal compiled on first use: compiling them all here makes an
/// invalid one fail the tests instead of a diagnosis.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for p in [&*LOST, &*STEP, &*STEP_ERROR] {
            assert!(!p.as_str().is_empty());
        }
    }
}
