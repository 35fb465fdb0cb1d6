//! The Kubernetes checks (`k8s.*`, and `infra.exited-cleanly` for a Job): pure functions over the
//! collected `KubeEvidence` and a view of the run's Prefect state.
//!
//! Nothing here does I/O or reads the clock: "now" and the thresholds come in `RunView`.

mod access;
mod checklist;
mod containers;
pub(crate) mod image;
pub(crate) mod job;
mod lifecycle;
pub(crate) mod scheduling;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::checks::{CheckInfo, Finding, sh};
use crate::evidence::kube::{ContainerStatus, Event, Job, KubeEvidence, Pod, StateDetail};

pub use checklist::{ITEMS, checklist};
pub use job::EXITED_CLEANLY;
pub use scheduling::{NodeReason, ReasonClass, SchedulerMessage, parse_scheduler_message};

/// The run as the Kubernetes checks need to see it (built from Prefect evidence by the caller).
#[derive(Debug, Clone)]
pub struct RunView<'a> {
    pub run_id: &'a str,
    /// "PENDING", "SCHEDULED", "RUNNING", "CRASHED", ...
    pub state_type: &'a str,
    pub state_name: &'a str,
    pub state_since: Timestamp,
    /// The run's state history contains InfrastructurePending (the observer saw the pod).
    pub saw_infrastructure_pending: bool,
    pub now: Timestamp,
    pub pending_threshold: Duration,
    /// The claiming worker's log lines (flow-run logs or worker logs), oldest first.
    pub worker_log_lines: &'a [String],
}

impl RunView<'_> {
    pub(crate) fn is_pending(&self) -> bool {
        self.state_type.eq_ignore_ascii_case("PENDING")
    }
    pub(crate) fn threshold(&self) -> SignedDuration {
        SignedDuration::try_from(self.pending_threshold).unwrap_or(SignedDuration::MAX)
    }
    /// How long ago `t` was (zero when in the future: clocks skew).
    pub(crate) fn ago(&self, t: Timestamp) -> SignedDuration {
        let d = self.now.duration_since(t);
        if d.is_negative() { SignedDuration::ZERO } else { d }
    }
    pub(crate) fn in_state_for(&self) -> SignedDuration {
        self.ago(self.state_since)
    }
}

/// One registered check: its documentation and its function.
pub struct K8sCheck {
    pub info: &'static CheckInfo,
    pub run: fn(&KubeEvidence, &RunView<'_>) -> Vec<Finding>,
}

/// Every check in a stable order (the last ranking tie-breaker: more specific first).
/// `k8s.pod-pending` is not here: it runs last, over what the others found.
static REGISTRY: &[K8sCheck] = &[
    K8sCheck { info: &job::JOB_CREATE_FAILED, run: job::job_create_failed },
    K8sCheck { info: &access::FORBIDDEN, run: access::forbidden },
    K8sCheck { info: &job::JOB_SUSPENDED, run: job::job_suspended },
    K8sCheck { info: &scheduling::SCHEDULING_GATED, run: scheduling::scheduling_gated },
    K8sCheck { info: &image::IMAGE_PULL, run: image::image_pull },
    K8sCheck { info: &containers::CONTAINER_CONFIG, run: containers::container_config },
    K8sCheck { info: &containers::CONTAINER_CREATE, run: containers::container_create },
    K8sCheck { info: &containers::MOUNT_FAILED, run: containers::mount_failed },
    K8sCheck { info: &containers::SANDBOX_FAILED, run: containers::sandbox_failed },
    K8sCheck { info: &containers::OOM_KILLED, run: containers::oom_killed },
    K8sCheck { info: &containers::CRASH_LOOP, run: containers::crash_loop },
    K8sCheck { info: &lifecycle::EVICTED, run: lifecycle::evicted },
    K8sCheck { info: &lifecycle::NODE_NOT_READY, run: lifecycle::node_not_ready },
    K8sCheck { info: &scheduling::UNSCHEDULABLE, run: scheduling::unschedulable },
    K8sCheck { info: &job::JOB_FAILED, run: job::job_failed },
    K8sCheck { info: &job::EXITED_CLEANLY, run: job::exited_cleanly },
    K8sCheck { info: &job::JOB_MISSING, run: job::job_missing },
    K8sCheck { info: &scheduling::WAITING_FOR_NODE, run: scheduling::waiting_for_node },
    K8sCheck { info: &image::IMAGE_PULL_SLOW, run: image::image_pull_slow },
    K8sCheck { info: &lifecycle::DISRUPTED, run: lifecycle::disrupted },
    K8sCheck { info: &job::OBSERVER_MISSING, run: job::observer_missing },
    K8sCheck { info: &access::WORKER_UNHEALTHY, run: access::worker_unhealthy },
];

/// Every check's documentation, in registry order (`k8s.pod-pending` last).
pub static CHECKS: &[&CheckInfo] = &[
    &job::JOB_CREATE_FAILED,
    &access::FORBIDDEN,
    &job::JOB_SUSPENDED,
    &scheduling::SCHEDULING_GATED,
    &image::IMAGE_PULL,
    &containers::CONTAINER_CONFIG,
    &containers::CONTAINER_CREATE,
    &containers::MOUNT_FAILED,
    &containers::SANDBOX_FAILED,
    &containers::OOM_KILLED,
    &containers::CRASH_LOOP,
    &lifecycle::EVICTED,
    &lifecycle::NODE_NOT_READY,
    &scheduling::UNSCHEDULABLE,
    &job::JOB_FAILED,
    &job::EXITED_CLEANLY,
    &job::JOB_MISSING,
    &scheduling::WAITING_FOR_NODE,
    &image::IMAGE_PULL_SLOW,
    &lifecycle::DISRUPTED,
    &job::OBSERVER_MISSING,
    &access::WORKER_UNHEALTHY,
    &lifecycle::POD_PENDING,
];

pub fn find(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().copied().find(|c| c.id == id)
}

/// Position in `CHECKS`: the stable tie-breaker.
pub fn order(id: &str) -> usize {
    CHECKS.iter().position(|c| c.id == id).unwrap_or(usize::MAX)
}

/// Runs every Kubernetes check over the evidence.
pub fn run_all(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = REGISTRY.iter().flat_map(|c| (c.run)(kube, run)).collect();
    let pending = lifecycle::pod_pending(kube, run, &findings);
    findings.extend(pending);
    findings
}

/// Sorts findings the way SPEC 5 ranks them among Kubernetes findings: cause before risk before
/// info, then severity, then the registry order.
pub fn rank(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(|f| (f.kind, f.severity, order(f.id)));
    findings
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the check families

/// The run's pods: what the collector selected, minus anything that plainly belongs to another
/// run (a defence against a collector that widened its selector).
pub(crate) fn run_pods<'a>(kube: &'a KubeEvidence, run: &'a RunView<'_>) -> impl Iterator<Item = &'a Pod> + 'a {
    kube.pods.iter().filter(move |p| p.metadata.label(RUN_LABEL).is_none_or(|id| id == run.run_id))
}

/// The label Prefect's Kubernetes worker puts on the Job and its pods.
pub const RUN_LABEL: &str = "prefect.io/flow-run-id";
/// The container the Kubernetes worker's default job template runs the flow in.
pub const FLOW_CONTAINER: &str = "prefect-job";

pub(crate) fn pod_subject(p: &Pod) -> String {
    format!("pod/{}/{}", p.namespace(), p.name())
}

pub(crate) fn job_subject(j: &Job) -> String {
    format!("job/{}/{}", j.metadata.namespace, j.metadata.name)
}

/// `14m`, `2h05m`, `3d4h`, `45s`.
pub(crate) fn human(d: SignedDuration) -> String {
    let s = d.as_secs().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// An event as an evidence line: `event Warning Failed (x4, last 2m ago, kubelet): <message>`.
pub(crate) fn event_line(e: &Event, run: &RunView<'_>) -> String {
    let when = e.newest().map(|t| format!(", last {} ago", human(run.ago(t)))).unwrap_or_default();
    let times = if e.times() > 1 { format!("x{}", e.times()) } else { "x1".to_string() };
    let from = if e.component().is_empty() { String::new() } else { format!(", {}", e.component()) };
    let type_ = if e.type_.is_empty() { String::new() } else { format!("{} ", e.type_) };
    format!("event {type_}{} ({times}{when}{from}): {}", e.reason, e.message.trim())
}

/// A container state as an evidence line: `container prefect-job waiting: ImagePullBackOff: <message>`.
pub(crate) fn state_line(container: &str, which: &str, d: &StateDetail) -> String {
    let mut s = format!("container {container} {which}: {}", if d.reason().is_empty() { "-" } else { d.reason() });
    if let Some(code) = d.exit_code {
        s.push_str(&format!(" (exit code {code})"));
    }
    if !d.message().trim().is_empty() {
        s.push_str(": ");
        s.push_str(d.message().trim());
    }
    s
}

/// The newest event about the pod with one of these reasons.
pub(crate) fn latest_event<'a>(kube: &'a KubeEvidence, pod: &Pod, reasons: &[&str]) -> Option<&'a Event> {
    kube.pod_events(pod).into_iter().find(|e| reasons.contains(&e.reason.as_str()))
}

/// Whether an event concerns this container (kubelet events carry `spec.containers{name}`; events
/// without a field path concern the pod as a whole).
pub(crate) fn about_container(e: &Event, container: &str) -> bool {
    match e.involved_object.field_path.as_deref() {
        Some(fp) if fp.contains('{') => fp.contains(&format!("{{{container}}}")),
        _ => true,
    }
}

pub(crate) fn describe_pod(p: &Pod) -> String {
    format!("kubectl -n {} describe pod {}", sh(p.namespace()), sh(p.name()))
}

pub(crate) fn pod_events_cmd(p: &Pod) -> String {
    format!("kubectl get events -n {} --field-selector involvedObject.name={}", sh(p.namespace()), sh(p.name()))
}

pub(crate) fn logs_cmd(p: &Pod, container: &str, previous: bool) -> String {
    format!(
        "kubectl -n {} logs {} -c {}{}",
        sh(p.namespace()),
        sh(p.name()),
        sh(container),
        if previous { " --previous" } else { "" }
    )
}

pub(crate) fn describe_job(j: &Job) -> String {
    format!("kubectl -n {} describe job {}", sh(&j.metadata.namespace), sh(&j.metadata.name))
}

pub(crate) fn cancel_cmd(run: &RunView<'_>) -> String {
    format!("If the run cannot recover, cancel it and start a new one: prefect flow-run cancel {}", sh(run.run_id))
}

/// How to change a job variable for one run, or for every run of the pool.
pub(crate) fn job_variable_fix(var: &str, example: &str) -> String {
    format!(
        "Fix the `{var}` job variable: for one run, prefect deployment run '<FLOW>/<DEPLOYMENT>' --job-variable {var}={}; \
         for every run, set it in the deployment's job_variables or the work pool's base job template \
         (prefect work-pool inspect <POOL>)",
        sh(example)
    )
}

/// The step for resources, which the default Kubernetes template only sets through `job_manifest`.
pub(crate) fn resources_fix(what: &str) -> String {
    format!(
        "Set {what} in the job's manifest: in the work pool's base job template, \
         job_configuration.job_manifest.spec.template.spec.containers[0].resources \
         (prefect work-pool get-default-base-job-template --type kubernetes > template.json; edit; \
         prefect work-pool update <POOL> --base-job-template template.json), or per deployment through a \
         job_manifest job variable"
    )
}

/// What an exit code usually means for a flow-run container.
pub(crate) fn exit_code_meaning(code: i64) -> &'static str {
    match code {
        0 => "exited cleanly",
        1 => "a general error: usually an unhandled exception (the logs have the traceback)",
        2 => "a usage error of the command that was run",
        125 => "the container failed to run (image, entrypoint or runtime error)",
        126 => "the command was found but is not executable",
        127 => "command not found: the job's command (or `prefect`) is not in the image or on its PATH",
        128 => "the runtime could not start the process (StartError)",
        137 => "killed with SIGKILL (128+9): out of memory, or killed by the kubelet",
        139 => "segmentation fault (128+11) in native code",
        143 => "terminated with SIGTERM (128+15): deleted, evicted, preempted or scaled down",
        _ => "an unexpected exit code",
    }
}

/// Statuses of the run's containers with the pod they belong to.
pub(crate) fn statuses<'a>(
    kube: &'a KubeEvidence,
    run: &'a RunView<'_>,
) -> impl Iterator<Item = (&'a Pod, &'a ContainerStatus)> + 'a {
    run_pods(kube, run).flat_map(|p| p.all_statuses().map(move |s| (p, s)))
}

/// A finding about a pod, with the two commands every pod finding offers.
pub(crate) fn pod_finding(info: &CheckInfo, severity: crate::checks::Severity, title: String, pod: &Pod) -> Finding {
    Finding::new(info, severity, title).subject(pod_subject(pod))
}

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
