//! How the task's essential container exited: out of memory, non-zero, or cleanly while the run is
//! still Pending. (`ecs.oom`, `ecs.essential-exited`, `infra.exited-cleanly`)

use super::{View, quote};
use crate::checks::run::explain_exit_code;
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};
use crate::evidence::ecs::{Container, ContainerLogs, StopCode, Task, TaskStatus};

/// How many container log lines a finding quotes.
const LOG_LINES: usize = 10;

pub const OOM: CheckInfo = CheckInfo {
    id: "ecs.oom",
    title: "the ECS task's container ran out of memory",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a container whose reason is \"OutOfMemoryError: Container killed due to memory
usage\", or an essential container that exited with 137 (128+9, SIGKILL) when the task stopped because
that container exited (not because someone stopped the task: a stop that outlives the stop timeout also
ends in 137).

Why it matters: the kernel killed the flow's process for using more memory than the task (or container)
allows. The run crashes or, if the engine never reported, stays Pending. It will happen again with the
same memory.",
    remediation: &[
        "Raise the memory job variable (task-level MiB; on Fargate a valid cpu/memory pair, e.g. cpu 1024 with memory 4096)",
        "Check the container-level memory limit in the task definition: aws ecs describe-task-definition --task-definition <FAMILY:REV>",
        "Or reduce the flow's memory use",
    ],
};

fn is_oom_reason(c: &Container) -> bool {
    c.reason.as_deref().is_some_and(|r| r.contains("OutOfMemoryError"))
}

/// A 137 that means OOM: the task stopped because this container exited, not because it was stopped.
fn is_oom_137(task: &Task, c: &Container) -> bool {
    c.exit_code == Some(137) && matches!(task.stop_code(), Some(StopCode::EssentialContainerExited) | None)
}

pub(super) fn oom(v: &View<'_>) -> Vec<Finding> {
    let Some(task) = v.task else { return vec![] };
    let Some(c) = task.containers.iter().find(|c| is_oom_reason(c)).or_else(|| {
        task.containers.iter().find(|c| v.is_essential(c.name.as_deref().unwrap_or_default()) && is_oom_137(task, c))
    }) else {
        return vec![];
    };
    let name = c.name.as_deref().unwrap_or("?");
    let certain = is_oom_reason(c);
    let limits = memory_limits(v, name);
    let mut f = Finding::new(
        &OOM,
        Severity::Critical,
        format!("The container '{name}' was killed for running out of memory{}", limits.as_deref().map(|l| format!(" ({l})")).unwrap_or_default()),
    )
    .detail(if certain {
        format!("ECS killed container '{name}' for using more memory than its limit.")
    } else {
        format!("Container '{name}' exited with 137 (SIGKILL) and the task stopped because of it: almost always the out-of-memory killer.")
    })
    .evidence(container_line(c));
    if let Some(r) = task.stopped_reason.as_deref() {
        f = f.evidence(format!("stoppedReason: {}", quote(r)));
    }
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    if let Some(l) = &limits {
        f = f.evidence(format!("memory: {l}"));
    }
    f = f.fix("Raise the memory job variable of the deployment or work pool (task-level MiB; on Fargate pick a valid cpu/memory pair), or reduce the flow's memory use");
    if let Some(cmd) = v.describe_task_definition() {
        f = f.fix(format!("Check the task and container memory limits: {cmd}"));
    }
    if let Some(cmd) = v.logs_tail() {
        f = f.fix(format!("See what the flow was doing when it was killed: {cmd}"));
    }
    vec![f.subject(v.subject())]
}

fn memory_limits(v: &View<'_>, container: &str) -> Option<String> {
    let td = v.td?;
    let task = td.memory.as_deref().map(|m| format!("task memory {m} MiB"));
    let cont = td.container(container).and_then(|c| c.memory).map(|m| format!("container memory {m} MiB"));
    let parts: Vec<String> = [task, cont].into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn container_line(c: &Container) -> String {
    format!(
        "container {}: exitCode {}{}",
        c.name.as_deref().unwrap_or("?"),
        c.exit_code.map(|e| e.to_string()).unwrap_or_else(|| "(none)".into()),
        c.reason.as_deref().map(|r| format!(", reason: {}", quote(r))).unwrap_or_default()
    )
}

fn log_evidence(v: &View<'_>) -> Vec<String> {
    match &v.ecs.logs {
        Some(ContainerLogs::LogTail { group, stream, lines, .. }) if !lines.is_empty() => {
            let skip = lines.len().saturating_sub(LOG_LINES);
            let mut out = vec![format!("last lines of {group} {stream}:")];
            out.extend(lines.iter().skip(skip).map(|l| format!("  {}", quote(l))));
            out
        }
        Some(ContainerLogs::LogTail { group, stream, .. }) => {
            vec![format!("the log stream {group} {stream} is empty")]
        }
        _ => vec![],
    }
}

pub const ESSENTIAL_EXITED: CheckInfo = CheckInfo {
    id: "ecs.essential-exited",
    title: "an essential container of the ECS task exited with an error",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports an essential container (ECS stops the whole task when one exits) that exited with
a non-zero code, and explains the code:
  1     a general error: usually an unhandled exception before the flow engine reported (import errors,
        a failed pull step, a bad entrypoint argument); the container's log has the traceback
  126   the command was found but is not executable
  127   command not found: the command (or prefect) is not in the image or on its PATH
  125   the container failed to run
  139   segmentation fault in native code
  143   SIGTERM: something stopped the task
(137 is ecs.oom.) It quotes the container's last log lines when CloudWatch has them.

Why it matters: the container died before (or without) the engine moving the run to Running; with no
observer marking it Crashed, the run stays Pending.",
    remediation: &[
        "Read the container's log: aws logs tail <GROUP> --log-stream-names <PREFIX>/prefect/<TASK_ID>",
        "Check the command and image job variables",
    ],
};

pub(super) fn essential_exited(v: &View<'_>) -> Vec<Finding> {
    let Some(task) = v.task else { return vec![] };
    // After a Spot interruption or a StopTask the exit code is the stop's SIGTERM/SIGKILL, not the flow's.
    if !matches!(task.stop_code(), Some(StopCode::EssentialContainerExited) | None) {
        return vec![];
    }
    let exited: Vec<&Container> = task
        .containers
        .iter()
        .filter(|c| v.is_essential(c.name.as_deref().unwrap_or_default()))
        .filter(|c| c.exit_code.is_some_and(|e| e != 0) && !is_oom_reason(c) && !is_oom_137(task, c))
        .collect();
    let Some(c) = exited.first() else {
        return vec![];
    };
    let code = c.exit_code.map(|e| e.to_string()).unwrap_or_default();
    let (meaning, infra_fault, advice) = explain_exit_code(&code);
    let name = c.name.as_deref().unwrap_or("?");
    let mut f = Finding::new(
        &ESSENTIAL_EXITED,
        if infra_fault { Severity::Critical } else { Severity::Error },
        format!("The essential container '{name}' exited with code {code}: {meaning}"),
    )
    .detail(format!(
        "exit {code}: container '{name}' exited with {code}, which means {meaning}; ECS stopped the task with it."
    ))
    .evidence(container_line(c));
    if let Some(r) = task.stopped_reason.as_deref() {
        f = f.evidence(format!("stoppedReason: {}", quote(r)));
    }
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    f = f.evidence_all(log_evidence(v));
    f = f.fix(format!("{}{}", advice[..1].to_uppercase(), &advice[1..]));
    if let Some(cmd) = v.logs_tail() {
        f = f.fix(format!("Read the container's log: {cmd}"));
    }
    f = f.fix(format!("Read the run's logs (the observer forwards the tail): prefect flow-run logs {}", v.run.run_id));
    if let Some(cmd) = v.describe_task_definition() {
        f = f.fix(format!("Check the command and image the task ran: {cmd}"));
    }
    vec![f.subject(v.subject())]
}

/// One check for every backend: the Kubernetes layer owns its documentation.
pub use crate::checks::k8s::EXITED_CLEANLY;

pub(super) fn exited_cleanly(v: &View<'_>) -> Vec<Finding> {
    let Some(task) = v.task else { return vec![] };
    if !v.run.is_pending() || task.status() != TaskStatus::Stopped {
        return vec![];
    }
    if !matches!(task.stop_code(), Some(StopCode::EssentialContainerExited) | None) {
        return vec![];
    }
    let essentials: Vec<&Container> =
        task.containers.iter().filter(|c| v.is_essential(c.name.as_deref().unwrap_or_default())).collect();
    // A container exits only once it ran: an exit code 0 on one that never reached STOPPED (moto
    // reports 0 for a task stopped while its container was PENDING) is no clean exit.
    let exited = |c: &&Container| {
        c.exit_code == Some(0) && c.last_status.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("STOPPED"))
    };
    if essentials.is_empty() || !essentials.iter().all(exited) {
        return vec![];
    }
    let container = v.flow_container_name();
    let c = essentials.iter().find(|c| c.name.as_deref() == Some(container.as_str())).unwrap_or(&essentials[0]);
    let name = c.name.as_deref().unwrap_or("?");

    let mut f = Finding::new(
        &EXITED_CLEANLY,
        Severity::Critical,
        format!("The ECS task's container '{name}' exited 0 but the run is still {}", v.run.state_name),
    )
    .evidence(container_line(c));
    if let Some(code) = v.stop_code_evidence() {
        f = f.evidence(code);
    }
    if let Some(r) = task.stopped_reason.as_deref() {
        f = f.evidence(format!("stoppedReason: {}", quote(r)));
    }
    let command = task.override_command(name).map(|c| (c.join(" "), "RunTask override")).or_else(|| {
        v.td.and_then(|td| td.container(name))
            .filter(|cd| !cd.command.is_empty())
            .map(|cd| (cd.command.join(" "), "task definition"))
    });
    if let Some((cmd, from)) = &command {
        f = f.evidence(format!("container {name} command ({from}): {cmd}"));
    }
    let api_url = api_url_source(v, task, name);
    let detail = match &api_url {
        Some((value, from)) => {
            f = f.evidence(format!("PREFECT_API_URL={value} ({from})"));
            format!(
                "The container finished successfully, but the run never left {}: the command most likely did not run this flow run \
                 (check the command), or it reported to a different API than {value}.",
                v.run.state_name
            )
        }
        None => {
            f = f.evidence(format!(
                "PREFECT_API_URL is not set for container {name} (task definition environment and secrets, RunTask overrides)"
            ));
            format!(
                "The container finished successfully, but the run never left {}: with no PREFECT_API_URL the flow ran against an \
                 ephemeral local API inside the container and reported nowhere; or the command did not run the flow at all.",
                v.run.state_name
            )
        }
    };
    f = f.detail(detail).evidence_all(log_evidence(v));
    if api_url.is_none() {
        f = f.fix("Set PREFECT_API_URL (and PREFECT_API_KEY for Prefect Cloud) for the container: the env job variable of the work pool or deployment");
    }
    f = f.fix("Check the command job variable (and the image's ENTRYPOINT): the worker's default runs prefect flow-run execute for this run");
    if let Some(cmd) = v.logs_tail() {
        f = f.fix(format!("Read what the container did: {cmd}"));
    }
    f = f.fix(format!("The run will not move on by itself: prefect flow-run cancel {}", v.run.run_id));
    vec![f.subject(v.subject())]
}

/// Where PREFECT_API_URL reaches the container: RunTask overrides (what Prefect's worker uses), the
/// container definition's environment, or its secrets.
fn api_url_source(v: &View<'_>, task: &Task, container: &str) -> Option<(String, &'static str)> {
    const KEY: &str = "PREFECT_API_URL";
    if let Some(value) =
        task.override_env(container).find(|e| e.name.as_deref() == Some(KEY)).and_then(|e| e.value.clone())
    {
        return Some((value, "RunTask override"));
    }
    let cd = v.td.and_then(|td| td.container(container))?;
    if let Some(value) = cd.environment.iter().find(|e| e.name.as_deref() == Some(KEY)).and_then(|e| e.value.clone()) {
        return Some((value, "task definition environment"));
    }
    cd.secrets
        .iter()
        .find(|s| s.name.as_deref() == Some(KEY))
        .map(|s| (format!("<from {}>", s.value_from.as_deref().unwrap_or("a secret")), "task definition secrets"))
}
