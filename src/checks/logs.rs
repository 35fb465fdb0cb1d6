//! What the run's flow-run logs say: worker submission failures and why the container could not start
//! the flow (API unreachable, API credentials rejected, the flow's code failing to load).
//! (`worker.submit-failed`, `infra.api-unreachable`, `infra.api-auth`, `infra.import-error`)
//!
//! The worker writes its lines about a run to the run's own logs (`prefect.flow_runs.worker`); the
//! Kubernetes and ECS observers forward the tail of a crashed container's output there too
//! (`prefect.flow_runs.observer`); the engine logs as `prefect.flow_runs`.

use std::sync::LazyLock;

use regex::Regex;

use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Phase, Severity};
use crate::prefect::types::LogLine;

fn re(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("log pattern {p}: {e}"))
}

static SUBMIT_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?im)^\s*(Failed to submit flow run|Flow run could not be submitted to infrastructure|Unable to create Kubernetes job|Failed to run ECS task)",
    )
});
/// Prefect's own message when the engine cannot reach the API, or connection errors that name it.
static API_UNREACHABLE: LazyLock<Regex> = LazyLock::new(|| re(r"Failed to reach API at \S+"));
static CONNECT_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(ConnectError|ConnectTimeout|All connection attempts failed|Connection refused|Name or service not known|Temporary failure in name resolution|nodename nor servname provided|No route to host|Network is unreachable|getaddrinfo failed)",
    )
});
static API_AUTH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(Client error '40[13] (Unauthorized|Forbidden)'|40[13] Unauthorized|Invalid API key|Unable to authenticate|Authentication required|PREFECT_API_KEY (is )?(not|in)valid)",
    )
});
static IMPORT_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(ModuleNotFoundError: No module named|ImportError: |Flow could not be retrieved from deployment|trying to load flow|Failed to load flow from entrypoint|MissingFlowError|ScriptError: |FileNotFoundError: \[Errno 2\] No such file or directory)",
    )
});
/// The last "SomeError: message" line of a traceback.
static EXCEPTION: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*$"));

/// The innermost exception a traceback ends with ("ModuleNotFoundError: No module named 'x'"),
/// looking through the `  | ` framing of exception groups and skipping the group itself.
pub fn last_exception(msg: &str) -> Option<String> {
    msg.lines()
        .rev()
        .map(|l| l.trim_start_matches(|c: char| c.is_whitespace() || c == '|' || c == '+').trim_end())
        .find(|l| EXCEPTION.is_match(l) && !l.starts_with("ExceptionGroup") && !l.starts_with("BaseExceptionGroup"))
        .map(str::to_string)
}

/// The reason a Kubernetes `ApiException` carries in the response body that follows it
/// (`HTTP response body: {"kind":"Status",…,"message":"jobs.batch is forbidden: User …"}`), which is
/// where the answer is: the exception line itself says only `(403)` and `Reason: Forbidden`.
fn api_exception_reason(msg: &str) -> Option<String> {
    let body = msg.lines().find_map(|l| l.trim_start().strip_prefix("HTTP response body:"))?.trim();
    let status: serde_json::Value = serde_json::from_str(body).ok()?;
    status.get("message").and_then(|m| m.as_str()).map(str::to_string)
}

/// The error a worker's failure message ends with, with the API's own reason when the exception
/// only carries a status code.
pub fn error_of(msg: &str) -> Option<String> {
    let exc = last_exception(msg);
    match (exc, api_exception_reason(msg)) {
        (Some(e), Some(reason)) if !e.contains(&reason) => Some(format!("{e}: {reason}")),
        (None, Some(reason)) => Some(reason),
        (e, _) => e,
    }
}

/// The exception that explains a failure to load: the import error itself rather than Prefect's
/// wrapper around it (`ScriptError: Script at 'x.py' encountered an exception: ModuleNotFoundError(...)`).
fn import_exception(msg: &str) -> Option<String> {
    let root = msg
        .lines()
        .map(|l| l.trim_start_matches(|c: char| c.is_whitespace() || c == '|' || c == '+').trim_end())
        .find(|l| l.starts_with("ModuleNotFoundError:") || l.starts_with("ImportError:"));
    root.map(str::to_string).or_else(|| last_exception(msg))
}

/// A log message that mentions the Prefect API (so a connection error is about it, not a database).
fn mentions_api(msg: &str) -> bool {
    let lower = msg.to_ascii_lowercase();
    lower.contains("prefect_api_url")
        || lower.contains("/api")
        || lower.contains("prefect.client")
        || lower.contains("prefect/client/")
        || lower.contains("prefect cloud")
}

/// The first line of a log message and, for a traceback, the exception it ends with.
pub fn quote(line: &LogLine) -> String {
    let first = line.message.lines().next().unwrap_or_default().trim();
    let exc = last_exception(&line.message).filter(|e| e != first);
    let ts = line.timestamp.map(|t| format!("{} ", t.strftime("%H:%M:%S"))).unwrap_or_default();
    let who = line.name.as_deref().map(|n| format!("[{n}] ")).unwrap_or_default();
    match exc {
        Some(e) => format!("{ts}{who}{first} … {e}"),
        None => format!("{ts}{who}{first}"),
    }
}

/// Records forwarded one line each (the Kubernetes and ECS observers send a crashed container's output
/// that way) are joined back into one message when they come from the same logger within a couple of
/// seconds of each other, so a traceback is judged whole: its `httpx.ConnectError` line and the frame
/// that names Prefect's API client are one piece of evidence.
pub fn records(lines: &[LogLine]) -> Vec<LogLine> {
    const SAME_BURST: jiff::SignedDuration = jiff::SignedDuration::from_secs(2);
    // Each group, and whether it is made of one-line records (only those are joined: a multi-line
    // record is already whole).
    let mut out: Vec<(LogLine, bool)> = Vec::with_capacity(lines.len());
    for l in lines {
        let one_line = !l.message.contains('\n');
        let joins = out.last().is_some_and(|(prev, of_lines)| {
            *of_lines
                && one_line
                && prev.name == l.name
                && prev.timestamp.zip(l.timestamp).is_some_and(|(a, b)| b.duration_since(a).abs() <= SAME_BURST)
        });
        match out.last_mut() {
            Some((prev, _)) if joins => {
                prev.message.push('\n');
                prev.message.push_str(&l.message);
                prev.level = prev.level.max(l.level);
                prev.timestamp = l.timestamp.or(prev.timestamp);
            }
            _ => out.push((l.clone(), one_line)),
        }
    }
    out.into_iter().map(|(l, _)| l).collect()
}

/// The run's log records, then the output of its containers (pod logs).
pub(super) fn logs(ctx: &Ctx<'_>) -> Vec<LogLine> {
    let mut lines = ctx.ev.logs.value().map_or_else(Vec::new, |v| records(v));
    lines.extend(ctx.container_log_lines());
    lines
}

/// Log findings matter while the run waits to start, and explain a run that crashed or failed.
pub(super) fn applies(ctx: &Ctx<'_>) -> bool {
    ctx.phase().awaiting_start() || ctx.phase() == Phase::Finished
}

fn matching(ctx: &Ctx<'_>, pred: impl Fn(&LogLine) -> bool) -> Vec<LogLine> {
    logs(ctx).into_iter().filter(|l| pred(l)).collect()
}

pub const SUBMIT: Check = Check {
    info: CheckInfo {
        id: "worker.submit-failed",
        title: "the worker failed to submit the run to its infrastructure",
        kind: Kind::Cause,
        item: Item::Logs,
        backend: Backend::Logs,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: looks in the run's logs for the worker's own report that creating the infrastructure failed
(\"Failed to submit flow run ... to infrastructure\", with the exception), and in the run's state message
(\"Failed to submit flow run to infrastructure: <Type>: <message>\"; Prefect 2: \"Flow run could not be
submitted to infrastructure\").

Why it matters: the error the infrastructure API returned (403 Forbidden on jobs, an exceeded quota, a
missing namespace or cluster, an invalid task definition) is the answer, and it is only ever written
there. The finding quotes it.",
        remediation: &[
            "Fix what the quoted error names (RBAC, quota, namespace, cluster, image, task definition)",
            "Read the full error: prefect flow-run logs <RUN_ID>",
        ],
    },
    run: submit_failed,
};

/// A state message a worker writes when it could not create the infrastructure.
pub fn is_submit_failure(message: &str) -> bool {
    message.starts_with("Failed to submit flow run")
        || message.contains("could not be submitted to infrastructure")
        || message.starts_with("Flow run could not start")
}

fn submit_failed(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !applies(ctx) {
        return vec![];
    }
    let run = ctx.run();
    let lines = matching(ctx, |l| SUBMIT_FAILED.is_match(l.message.trim_start()));
    let state_msg = run.state.as_ref().and_then(|s| s.message.clone()).filter(|m| is_submit_failure(m));
    if lines.is_empty() && state_msg.is_none() {
        return vec![];
    }
    let error = lines
        .iter()
        .find_map(|l| error_of(&l.message))
        .or_else(|| state_msg.as_ref().and_then(|m| m.split_once(": ").map(|(_, e)| e.to_string())))
        .unwrap_or_else(|| "the error is in the worker's own logs".into());
    let f = Finding::new(&SUBMIT.info, Severity::Critical, format!("The worker could not submit the run: {error}"))
        .detail(format!(
            "Creating the run's infrastructure failed, and the worker said why: {error}. Nothing was started."
        ))
        .evidence_all(lines.iter().take(3).map(quote))
        .evidence_all(state_msg.map(|m| format!("state {}: {m}", run.state_name())))
        .fix("Fix what the error names (RBAC, quota, namespace, cluster, image, task definition)")
        .fix(format!("Read the full error: prefect flow-run logs {}", run.id));
    vec![f.subject(ctx.run_subject())]
}

pub const API_UNREACHABLE_CHECK: Check = Check {
    info: CheckInfo {
        id: "infra.api-unreachable",
        title: "the flow-run container cannot reach PREFECT_API_URL",
        kind: Kind::Cause,
        item: Item::Logs,
        backend: Backend::Logs,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: looks in the run's logs, including container output forwarded by the Kubernetes/ECS
observers, for the engine failing to reach the API (\"Failed to reach API at ...\", connection refused,
DNS failures) while talking to the Prefect API.

Why it matters: the worker can reach the API, but the container it starts may not: a PREFECT_API_URL of
http://127.0.0.1:4200/api means the container itself, network policies or security groups block the way,
private DNS is missing. The flow engine then never reports Running, and the run hangs in Pending or
crashes with an exit code that says nothing.",
        remediation: &[
            "Give the job a PREFECT_API_URL the container can reach (not localhost): job variables env.PREFECT_API_URL",
            "Check network policies, security groups, proxies and DNS between the container and the API",
        ],
    },
    run: api_unreachable,
};

fn api_unreachable(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !applies(ctx) {
        return vec![];
    }
    let lines = matching(ctx, |l| {
        API_UNREACHABLE.is_match(&l.message) || (CONNECT_ERROR.is_match(&l.message) && mentions_api(&l.message))
    });
    let Some(first) = lines.first() else { return vec![] };
    let url = API_UNREACHABLE
        .find(&first.message)
        .map(|m| m.as_str().trim_start_matches("Failed to reach API at ").trim_end_matches('.').to_string());
    let title = match &url {
        Some(u) => format!("The run's container cannot reach the Prefect API at {u}"),
        None => "The run's container cannot reach the Prefect API".to_string(),
    };
    let mut f = Finding::new(&API_UNREACHABLE_CHECK.info, Severity::Critical, title)
        .detail("The flow engine inside the run's infrastructure could not connect to the Prefect API, so it never reported the run as Running.")
        .evidence_all(lines.iter().take(3).map(quote));
    if url.as_deref().is_some_and(|u| u.contains("127.0.0.1") || u.contains("localhost")) {
        f = f.fix("The URL points at the container itself: set a PREFECT_API_URL the container can reach in the job's env (job variables)");
    }
    f = f
        .fix("Check network policies, security groups, proxies and DNS between the container and the API")
        .fix(format!("Read the run's logs: prefect flow-run logs {}", ctx.run().id));
    vec![f.subject(ctx.run_subject())]
}

pub const API_AUTH_CHECK: Check = Check {
    info: CheckInfo {
        id: "infra.api-auth",
        title: "the flow-run container's API credentials are rejected",
        kind: Kind::Cause,
        item: Item::Permissions,
        backend: Backend::Logs,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: looks in the run's logs, including forwarded container output, for the Prefect API
rejecting the engine's credentials (401 Unauthorized / 403 Forbidden, invalid API key).

Why it matters: workers pass their own PREFECT_API_KEY / PREFECT_API_AUTH_STRING to the job unless the
job's env overrides them; an expired key, a key from another workspace, or a stale Kubernetes Secret makes
the engine fail at its first API call, so the run never reaches Running.",
        remediation: &[
            "Check the API key or auth string the job gets (job variables env, Kubernetes Secret, ECS secrets)",
            "Make sure it belongs to this workspace and has not expired",
        ],
    },
    run: api_auth,
};

fn api_auth(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !applies(ctx) {
        return vec![];
    }
    let lines =
        matching(ctx, |l| API_AUTH.is_match(&l.message) && (mentions_api(&l.message) || l.message.contains("API key")));
    if lines.is_empty() {
        return vec![];
    }
    vec![
        Finding::new(&API_AUTH_CHECK.info, Severity::Critical, "The Prefect API rejects the run's credentials")
            .detail("The flow engine inside the run's infrastructure was refused by the Prefect API (401/403), so it could not start the run.")
            .evidence_all(lines.iter().take(3).map(quote))
            .fix("Check the PREFECT_API_KEY / PREFECT_API_AUTH_STRING the job receives (job variables env, Secrets)")
            .fix("Make sure the key belongs to this workspace and has not expired")
            .subject(ctx.run_subject()),
    ]
}

pub const IMPORT: Check = Check {
    info: CheckInfo {
        id: "infra.import-error",
        title: "the run's code fails to load before the flow starts",
        kind: Kind::Cause,
        item: Item::Logs,
        backend: Backend::Logs,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: looks in the run's logs for the engine failing to load the flow: a missing module
(ModuleNotFoundError), a failing import, a missing entrypoint file, \"Flow could not be retrieved from
deployment\" (Prefect 2), \"Unexpected exception encountered when trying to load flow\" (Prefect 3).

Why it matters: the infrastructure started, but the flow's code could not be imported, so the run crashes
(exit code 1) or fails before a single task runs. The traceback names the module or file; the fix is in
the image or the deployment's storage, not in Prefect.",
        remediation: &[
            "Install the missing package in the image (or add it to the deployment's pip_packages / requirements)",
            "Check the deployment's entrypoint (path/to/file.py:function) and where its code is pulled from",
        ],
    },
    run: import_error,
};

fn import_error(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !applies(ctx) {
        return vec![];
    }
    // The worker's own lines are about submission, not about the flow's code; and a hook runner that
    // cannot load the flow after a crash is a consequence of the crash, not its cause.
    let mut lines = matching(ctx, |l| {
        IMPORT_ERROR.is_match(&l.message)
            && l.name.as_deref() != Some("prefect.flow_runs.worker")
            && !l.message.contains(" hooks for flow run")
    });
    let state_msg = ctx.run().state.as_ref().and_then(|s| s.message.clone()).filter(|m| IMPORT_ERROR.is_match(m));
    if lines.is_empty() && state_msg.is_none() {
        return vec![];
    }
    // The line with the actual exception first.
    lines.sort_by_key(|l| import_exception(&l.message).is_none());
    let error =
        lines.iter().find_map(|l| import_exception(&l.message)).or_else(|| state_msg.clone()).unwrap_or_default();
    let mut f = Finding::new(&IMPORT.info, Severity::Critical, format!("The flow's code fails to load: {error}"))
        .detail("The infrastructure started, but the engine could not load the flow from its entrypoint, so the run never got to run it.")
        .evidence_all(lines.iter().take(3).map(quote))
        .evidence_all(state_msg.map(|m| format!("state {}: {m}", ctx.run().state_name())));
    if error.contains("No module named") {
        f = f.fix("Install the missing package in the image, or in the deployment's pull steps / requirements");
    }
    f = f
        .fix("Check the deployment's entrypoint and where its code comes from: prefect deployment inspect <FLOW>/<DEPLOYMENT>")
        .fix(format!("Read the whole traceback: prefect flow-run logs {}", ctx.run().id));
    vec![f.subject(ctx.run_subject())]
}

#[cfg(test)]
mod tests {
    use crate::checks::testkit::*;
    use crate::evidence::Source;
    use crate::prefect::types::LogLine;

    fn line(name: &str, msg: &str) -> LogLine {
        LogLine { name: Some(name.into()), level: 40, message: msg.into(), timestamp: Some(ago(30)) }
    }

    fn with_logs(s: Scenario, lines: Vec<LogLine>) -> crate::evidence::RunEvidence {
        s.evidence(|ev| ev.logs = Source::ok(lines)).build()
    }

    /// Prefect 3's real "trying to load flow" traceback (captured from a process worker) quotes the exception;
    /// it outranks run.crashed (exit 1).
    #[test]
    fn import_error_from_a_real_prefect3_traceback() {
        let ev = with_logs(
            Scenario::crashed("Process exited with status code: 1. Process exited with a general error."),
            vec![line(
                "prefect.flow_runs",
                "Unexpected exception encountered when trying to load flow\nTraceback (most recent call last):\n  File \"/tmp/x/bad.py\", line 1, in <module>\n    import not_a_real_module_xyz\nModuleNotFoundError: No module named 'not_a_real_module_xyz'",
            )],
        );
        let ranked = crate::report::rank(all_findings(&ev));
        assert_eq!(ranked[0].finding.id, "infra.import-error");
        assert_eq!(
            ranked[0].finding.title,
            "The flow's code fails to load: ModuleNotFoundError: No module named 'not_a_real_module_xyz'"
        );
        assert!(
            ranked[0].finding.evidence[0].contains("trying to load flow … ModuleNotFoundError"),
            "{:?}",
            ranked[0].finding.evidence
        );
        assert_eq!(ranked[1].finding.id, "run.crashed");
    }

    /// Prefect's own "Failed to reach API" message, with a localhost URL: the fix says so.
    #[test]
    fn api_unreachable() {
        let ev = with_logs(
            Scenario::pending_named("Submitting", 900).run(|r| r.infrastructure_pid = Some("ns:job".into())),
            vec![line(
                "prefect.flow_runs.observer",
                "RuntimeError: Failed to reach API at http://127.0.0.1:4200/api/.",
            )],
        );
        let f = findings(&ev, "infra.api-unreachable");
        assert_eq!(f.len(), 1);
        assert!(f[0].title.ends_with("at http://127.0.0.1:4200/api/"), "{}", f[0].title);
        assert!(f[0].remediation[0].contains("points at the container itself"));
        let ranked = crate::report::rank(all_findings(&ev));
        assert_eq!(ranked[0].finding.id, "infra.api-unreachable", "it explains infra-not-started");
    }

    /// A database connection error in the user's code is not an API problem.
    #[test]
    fn unrelated_connection_errors_are_ignored() {
        let ev = with_logs(
            Scenario::crashed("Process exited with status code: 1."),
            vec![line(
                "prefect.flow_runs",
                "psycopg2.OperationalError: could not connect: Connection refused (postgres:5432)",
            )],
        );
        assert!(findings(&ev, "infra.api-unreachable").is_empty());
    }

    /// 401 from the API in forwarded container output.
    #[test]
    fn api_auth() {
        let ev = with_logs(
            Scenario::pending_named("Submitting", 900),
            vec![line(
                "prefect.flow_runs.observer",
                "prefect.exceptions.PrefectHTTPStatusError: Client error '401 Unauthorized' for url 'https://api.prefect.cloud/api/accounts/a/workspaces/w/flow_runs/x'",
            )],
        );
        assert_eq!(findings(&ev, "infra.api-auth").len(), 1);
    }

    /// A submission failure quotes the exception; the state message alone is enough too.
    #[test]
    fn submit_failed() {
        let ev = with_logs(
            Scenario::crashed("Failed to submit flow run to infrastructure: ApiException: (403) Reason: Forbidden"),
            vec![line(
                "prefect.flow_runs.worker",
                "Failed to submit flow run 'x' to infrastructure.\nTraceback (most recent call last):\n  File \"w.py\"\nkubernetes.client.exceptions.ApiException: (403) Reason: Forbidden: jobs.batch is forbidden",
            )],
        );
        let f = findings(&ev, "worker.submit-failed");
        assert!(f[0].title.ends_with("jobs.batch is forbidden"), "{}", f[0].title);
        let ev = Scenario::crashed("Flow run could not be submitted to infrastructure").build();
        assert_eq!(findings(&ev, "worker.submit-failed").len(), 1);
        // The runner's message: run.crashed defers to submit-failed, which must then report it.
        let ev = Scenario::crashed("Flow run could not start: FileNotFoundError: flows/etl.py").build();
        assert_eq!(findings(&ev, "worker.submit-failed").len(), 1);
        assert!(findings(&ev, "run.crashed").is_empty());
    }

    /// Regression (issue 9): Prefect 2's Kubernetes worker logs `ApiException: (403)` with the reason in
    /// the response body on the following lines (the shape kubernetes-client's ApiException.__str__
    /// prints): the reason is quoted, not just the status.
    #[test]
    fn submit_failed_quotes_the_api_reason() {
        let msg = "Failed to submit flow run 'f1' to infrastructure.\nTraceback (most recent call last):\n  File \"/usr/local/lib/python3.11/site-packages/prefect_kubernetes/worker.py\", line 601, in run\n    job = await run_sync_in_worker_thread(self._create_job, configuration, client)\nkubernetes.client.exceptions.ApiException: (403)\nReason: Forbidden\nHTTP response headers: HTTPHeaderDict({'Audit-Id': 'a1', 'Content-Type': 'application/json'})\nHTTP response body: {\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"jobs.batch is forbidden: User \\\"system:serviceaccount:prefect:prefect-worker\\\" cannot create resource \\\"jobs\\\" in API group \\\"batch\\\" in the namespace \\\"default\\\"\",\"reason\":\"Forbidden\",\"details\":{\"group\":\"batch\",\"kind\":\"jobs\"},\"code\":403}\n";
        let ev = with_logs(
            Scenario::crashed("Failed to submit flow run to infrastructure"),
            vec![line("prefect.flow_runs.worker", msg)],
        );
        let f = findings(&ev, "worker.submit-failed");
        assert!(
            f[0].title.contains("ApiException: (403): jobs.batch is forbidden: User \"system:serviceaccount:prefect:prefect-worker\" cannot create resource \"jobs\""),
            "{}",
            f[0].title
        );
    }

    /// Regression (issue 9): an observer forwards a traceback one record per line; the connection error
    /// and the frame that shows it came from Prefect's API client are judged as one.
    #[test]
    fn forwarded_traceback_is_judged_whole() {
        let at = |s: i64, msg: &str| LogLine {
            name: Some("prefect.flow_runs.observer".into()),
            level: 40,
            message: msg.into(),
            timestamp: Some(ago(60) + jiff::SignedDuration::from_millis(s)),
        };
        let lines = vec![
            at(0, "Traceback (most recent call last):"),
            at(
                1,
                "  File \"/usr/local/lib/python3.11/site-packages/prefect/client/orchestration/__init__.py\", line 812, in read_flow_run",
            ),
            at(2, "    response = await self._client.get(f\"/flow_runs/{flow_run_id}\")"),
            at(3, "httpx.ConnectError: All connection attempts failed"),
        ];
        let ev = with_logs(Scenario::pending(900), lines.clone());
        assert_eq!(findings(&ev, "infra.api-unreachable").len(), 1);
        assert_eq!(super::records(&lines).len(), 1);
        // Records far apart stay apart.
        let apart = vec![at(0, "a"), LogLine { timestamp: Some(ago(10)), ..at(0, "b") }];
        assert_eq!(super::records(&apart).len(), 2);
    }

    /// Prefect 3 wraps the error in an exception group; the innermost exception is quoted, and a
    /// missing working directory is not taken for an import error.
    #[test]
    fn exception_groups() {
        let msg = "Failed to submit flow run 'x' to infrastructure.\n  + Exception Group Traceback (most recent call last):\n    | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)\n    +-+---- 1 ----\n      | FileNotFoundError: [Errno 2] No such file or directory: '/nonexistent/dir'\n      | RuntimeError: Child exited without calling task_status.started()\n      +------";
        assert_eq!(
            super::last_exception(msg).as_deref(),
            Some("RuntimeError: Child exited without calling task_status.started()")
        );
        let ev = with_logs(
            Scenario::crashed("Flow run could not start: unhandled errors in a TaskGroup (1 sub-exception)"),
            vec![line("prefect.flow_runs.worker", msg)],
        );
        let ranked = crate::report::rank(all_findings(&ev));
        assert_eq!(ranked.iter().map(|r| r.finding.id).collect::<Vec<_>>(), ["worker.submit-failed"]);
    }
}
