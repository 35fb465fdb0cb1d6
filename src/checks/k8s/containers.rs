//! Containers that cannot be built or started, or that die: `k8s.container-config`,
//! `k8s.container-create`, `k8s.mount-failed`, `k8s.sandbox-failed`, `k8s.oom-killed`, `k8s.crash-loop`.

use std::sync::LazyLock;

use regex::Regex;

use super::{
    FLOW_CONTAINER, RunView, cancel_cmd, describe_pod, event_line, exit_code_meaning, latest_event, logs_cmd,
    pod_events_cmd, pod_finding, resources_fix, run_pods, state_line, statuses,
};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity, sh};
use crate::evidence::kube::{KubeEvidence, Pod, format_quantity};

pub const CONTAINER_CONFIG: CheckInfo = CheckInfo {
    id: "k8s.container-config",
    title: "the container's configuration references something missing (CreateContainerConfigError)",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: finds a container waiting with CreateContainerConfigError and names what the kubelet
could not resolve: a missing Secret or ConfigMap (`secret \"x\" not found`), a missing key in one
(`couldn't find key K in Secret ns/x`), or a security setting the image violates (runAsNonRoot with
an image that runs as root).

Why it matters: the kubelet retries forever; the pod stays Pending and so does the run. With Prefect
this is usually an env var from a Secret (PREFECT_API_KEY) that was never created in the Job's
namespace.",
    remediation: &[
        "kubectl -n <NS> describe pod <POD>",
        "Create the missing Secret/ConfigMap (or key) in the Job's namespace, or fix the reference in the job_manifest/env",
    ],
};

pub const CONTAINER_CREATE: CheckInfo = CheckInfo {
    id: "k8s.container-create",
    title: "the container runtime cannot create or start the container",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: finds CreateContainerError, RunContainerError, PreStartHookError, PostStartHookError
(waiting) or StartError/ContainerCannotRun (terminated), and quotes the runtime's message, e.g.
`exec: \"prefect\": executable file not found in $PATH`.

Why it matters: the container never runs the flow. A wrong command/entrypoint, an image without
`prefect`, or a bad mount are the usual causes.",
    remediation: &[
        "kubectl -n <NS> describe pod <POD>",
        "Check the job's command and the image: the default command is `prefect flow-run execute`",
    ],
};

pub const MOUNT_FAILED: CheckInfo = CheckInfo {
    id: "k8s.mount-failed",
    title: "a volume cannot be attached or mounted",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports FailedMount, FailedAttachVolume and FailedMapVolume events on a pod that has
not started, quoting the kubelet's or attach/detach controller's message (a Secret/ConfigMap volume
that does not exist, a Multi-Attach error, a CSI driver timeout).

Why it matters: the pod stays in ContainerCreating; the run stays Pending.",
    remediation: &[
        "kubectl get events -n <NS> --field-selector involvedObject.name=<POD>",
        "Create the missing Secret/ConfigMap, or fix the volume in the work pool's job_manifest",
    ],
};

pub const SANDBOX_FAILED: CheckInfo = CheckInfo {
    id: "k8s.sandbox-failed",
    title: "the pod's sandbox (network) cannot be created",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports FailedCreatePodSandBox events on a pod that has not started and quotes the
CNI plugin's error (no free IP addresses on the node or subnet, the CNI daemon not running).

Why it matters: no container of the pod can start until the node's network plugin works; this is a
cluster problem, not the flow's.",
    remediation: &[
        "kubectl get events -n <NS> --field-selector involvedObject.name=<POD>",
        "Check the CNI pods on that node (kubectl -n kube-system get pods -o wide | grep <NODE>) and the subnet's free IPs",
    ],
};

pub const OOM_KILLED: CheckInfo = CheckInfo {
    id: "k8s.oom-killed",
    title: "a container of the run was killed for exceeding its memory limit (OOMKilled)",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: finds a container whose state or last state is terminated with reason OOMKilled and
shows its memory limit.

Why it matters: the kernel killed the flow's process (exit code 137) because it used more memory than
resources.limits.memory. Kubernetes says so explicitly; an exit code 137 alone (for instance
ContainerStatusUnknown after an eviction) is not proof of an OOM kill.",
    remediation: &[
        "Raise resources.limits.memory in the job_manifest (work pool base job template) or reduce the flow's memory use",
        "kubectl -n <NS> logs <POD> -c prefect-job --previous",
    ],
};

pub const CRASH_LOOP: CheckInfo = CheckInfo {
    id: "k8s.crash-loop",
    title: "the flow-run container keeps crashing (CrashLoopBackOff)",
    kind: Kind::Cause,
    item: Item::Logs,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: finds a container waiting with CrashLoopBackOff and reports its last termination
(reason, exit code and what it means) and the tail of the previous container's log.

Why it matters: the container starts and dies before the flow engine reports Running; the kubelet
restarts it with a growing back-off. The previous container's log has the error.",
    remediation: &[
        "kubectl -n <NS> logs <POD> -c prefect-job --previous",
        "Fix the command, the image or the environment the error names",
    ],
};

static MISSING_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(secret|configmap)s? "([^"]+)" not found"#).unwrap_or_else(|e| panic!("missing ref: {e}"))
});
static MISSING_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)couldn't find key (\S+) in (Secret|ConfigMap) ([^/\s]+)/(\S+)")
        .unwrap_or_else(|e| panic!("key: {e}"))
});

pub(crate) fn container_config(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (pod, cs) in statuses(kube, run) {
        let Some(w) = cs.state.waiting.as_ref().filter(|w| w.reason() == "CreateContainerConfigError") else {
            continue;
        };
        let msg = w.message();
        let ns = pod.namespace();
        let (what, fix) = if let Some(c) = MISSING_KEY.captures(msg) {
            let (key, kind, kns, name) = (&c[1], &c[2], &c[3], &c[4]);
            (
                format!("missing key {key} in {kind} {kns}/{name}"),
                format!(
                    "Add the key: kubectl -n {} get {} {} -o jsonpath='{{.data}}' (to see the keys it has), then add {key} or fix the reference",
                    sh(kns),
                    kind.to_ascii_lowercase(),
                    sh(name)
                ),
            )
        } else if let Some(c) = MISSING_REF.captures(msg) {
            let kind = if c[1].eq_ignore_ascii_case("secret") { "Secret" } else { "ConfigMap" };
            let name = &c[2];
            let create = if kind == "Secret" {
                format!("kubectl -n {} create secret generic {} --from-literal=<KEY>=<VALUE>", sh(ns), sh(name))
            } else {
                format!("kubectl -n {} create configmap {} --from-literal=<KEY>=<VALUE>", sh(ns), sh(name))
            };
            (format!("missing {kind} {ns}/{name}"), format!("Create it in the Job's namespace: {create}"))
        } else if msg.contains("runAsNonRoot") {
            (
                "the image runs as root but the pod requires runAsNonRoot".to_string(),
                "Set securityContext.runAsUser to a non-zero uid in the job_manifest, or use an image with a non-root USER".to_string(),
            )
        } else {
            ("the container's configuration could not be built".to_string(), "Fix what the message names".to_string())
        };
        let env_refs: Vec<String> = pod
            .container(&cs.name)
            .map(|c| {
                c.env
                    .iter()
                    .filter(|e| e.value_from.is_some())
                    .filter(|e| {
                        msg.contains(&e.name)
                            || e.value_from
                                .as_ref()
                                .is_some_and(|v| v.to_string().contains(what.rsplit('/').next().unwrap_or("")))
                    })
                    .map(|e| {
                        format!(
                            "env {} from {}",
                            e.name,
                            e.value_from.as_ref().map(|v| v.to_string()).unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(
            pod_finding(
                &CONTAINER_CONFIG,
                Severity::Error,
                format!("Container {} of pod {} cannot start: {what}", cs.name, pod.name()),
                pod,
            )
            .detail(format!(
                "CreateContainerConfigError: {what}. The kubelet retries until it appears; the run stays Pending."
            ))
            .evidence(state_line(&cs.name, "waiting", w))
            .evidence_all(env_refs)
            .fix(describe_pod(pod))
            .fix(fix)
            .fix(cancel_cmd(run)),
        );
    }
    out
}

const CREATE_REASONS: [&str; 5] =
    ["CreateContainerError", "RunContainerError", "PreStartHookError", "PostStartHookError", "PreCreateHookError"];

pub(crate) fn container_create(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (pod, cs) in statuses(kube, run) {
        let waiting = cs.state.waiting.as_ref().filter(|w| CREATE_REASONS.contains(&w.reason()));
        let terminated = [cs.state.terminated.as_ref(), cs.last_state.terminated.as_ref()]
            .into_iter()
            .flatten()
            .find(|t| matches!(t.reason(), "StartError" | "ContainerCannotRun"));
        let (which, d) = match (waiting, terminated) {
            (Some(w), _) => ("waiting", w),
            (None, Some(t)) => ("terminated", t),
            (None, None) => continue,
        };
        let msg = d.message();
        let hint = if msg.contains("executable file not found") || msg.contains("no such file or directory") {
            "the command or entrypoint does not exist in the image: check the job's command (default `prefect flow-run execute`) and that the image has prefect installed"
        } else if msg.contains("permission denied") {
            "the entrypoint is not executable or a mount is not writable"
        } else if which == "waiting" && d.reason().contains("Hook") {
            "a lifecycle hook failed"
        } else {
            "the container runtime refused the container"
        };
        out.push(
            pod_finding(
                &CONTAINER_CREATE,
                Severity::Error,
                format!("Container {} of pod {} cannot be started: {}", cs.name, pod.name(), d.reason()),
                pod,
            )
            .detail(format!("{}: {hint}.", d.reason()))
            .evidence(state_line(&cs.name, which, d))
            .fix(describe_pod(pod))
            .fix("Check the job's command: prefect work-pool inspect <POOL> (job_configuration.command) and the deployment's job_variables")
            .fix(format!(
                "Try the image locally: docker run --rm --entrypoint sh {} -c 'command -v prefect'",
                sh(pod.container(&cs.name).and_then(|c| c.image.as_deref()).unwrap_or("<IMAGE>"))
            )),
        );
    }
    out
}

/// A pod that has not got its containers running yet.
fn not_started(pod: &Pod) -> bool {
    pod.phase() == "Pending" && !pod.all_statuses().any(|s| s.state.running.is_some())
}

pub(crate) fn mount_failed(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run).filter(|p| not_started(p)) {
        let Some(e) = latest_event(kube, pod, &["FailedMount", "FailedAttachVolume", "FailedMapVolume"]) else {
            continue;
        };
        let mut f = pod_finding(
            &MOUNT_FAILED,
            Severity::Error,
            format!("Pod {} cannot mount its volumes: {}", pod.name(), e.reason),
            pod,
        )
        .detail(format!("{}: {}", e.reason, e.message.trim()))
        .evidence(event_line(e, run))
        .fix(pod_events_cmd(pod))
        .fix(describe_pod(pod));
        if let Some(c) = MISSING_REF.captures(&e.message) {
            f = f.fix(format!(
                "Create the missing {} {} in namespace {} (or fix the volume in the job_manifest)",
                &c[1],
                &c[2],
                pod.namespace()
            ));
        } else if e.message.contains("Multi-Attach") {
            f = f.fix("The volume is attached to another node: wait for the old pod to go away, or use a ReadWriteMany volume");
        }
        out.push(f);
    }
    out
}

pub(crate) fn sandbox_failed(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run).filter(|p| not_started(p)) {
        let Some(e) = latest_event(kube, pod, &["FailedCreatePodSandBox", "SandboxChanged"]) else {
            continue;
        };
        // SandboxChanged alone is routine; the failure event is what matters.
        let Some(fail) = latest_event(kube, pod, &["FailedCreatePodSandBox"]) else {
            continue;
        };
        let node = pod.spec.node_name.as_deref().unwrap_or("<NODE>");
        let mut f = pod_finding(
            &SANDBOX_FAILED,
            Severity::Error,
            format!("Pod {} cannot get a sandbox on node {node}: the network plugin failed", pod.name()),
            pod,
        )
        .detail(format!("FailedCreatePodSandBox: {}", fail.message.trim()))
        .evidence(event_line(fail, run));
        if e.reason == "SandboxChanged" {
            f = f.evidence(event_line(e, run));
        }
        out.push(
            f.fix(pod_events_cmd(pod))
                .fix(format!("Check the CNI pods on the node: kubectl -n kube-system get pods -o wide --field-selector spec.nodeName={}", sh(node)))
                .fix("If the plugin reports no free IPs, free addresses in the subnet or move flow runs to nodes/subnets with room"),
        );
    }
    out
}

pub(crate) fn oom_killed(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (pod, cs) in statuses(kube, run) {
        let hit =
            [("terminated", cs.state.terminated.as_ref()), ("last terminated", cs.last_state.terminated.as_ref())]
                .into_iter()
                .find_map(|(w, t)| t.filter(|t| t.reason() == "OOMKilled").map(|t| (w, t)));
        let Some((which, t)) = hit else { continue };
        let limit = pod
            .container(&cs.name)
            .and_then(|c| c.resources.limits.get("memory"))
            .map(|q| format_quantity("memory", q));
        let restarts = cs.restart_count.unwrap_or(0);
        let mut f = pod_finding(
            &OOM_KILLED,
            Severity::Error,
            format!(
                "Container {} of pod {} was OOMKilled{}",
                cs.name,
                pod.name(),
                limit.as_ref().map(|l| format!(" (memory limit {l})")).unwrap_or_default()
            ),
            pod,
        )
        .detail(format!(
            "The kernel killed the container for using more memory than its limit{}{}.",
            limit.as_ref().map(|l| format!(" of {l}")).unwrap_or_else(|| {
                " (no limit set on the container: the namespace's LimitRange default or the node's memory)".into()
            }),
            if cs.state.waiting.as_ref().is_some_and(|w| w.reason() == "CrashLoopBackOff") {
                format!("; it is now in CrashLoopBackOff after {restarts} restarts")
            } else {
                String::new()
            }
        ))
        .evidence(state_line(&cs.name, which, t));
        if let Some(w) = cs.state.waiting.as_ref() {
            f = f.evidence(state_line(&cs.name, "waiting", w));
        }
        if let Some(l) = &limit {
            f = f.evidence(format!("resources.limits.memory: {l}"));
        }
        out.push(
            f.fix(resources_fix("a higher resources.limits.memory (and requests.memory)"))
                .fix(logs_cmd(pod, &cs.name, which != "terminated"))
                .fix("Or reduce what the flow holds in memory (chunk the data, stream instead of loading)"),
        );
    }
    out
}

pub(crate) fn crash_loop(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (pod, cs) in statuses(kube, run) {
        let Some(w) = cs.state.waiting.as_ref().filter(|w| w.reason() == "CrashLoopBackOff") else {
            continue;
        };
        let last = cs.last_state.terminated.as_ref();
        if last.is_some_and(|t| t.reason() == "OOMKilled") {
            continue; // k8s.oom-killed says it, with the limit
        }
        let code = last.and_then(|t| t.exit_code);
        let reason = last.map(|t| t.reason()).filter(|r| !r.is_empty()).unwrap_or("unknown");
        let meaning = code.map(exit_code_meaning).unwrap_or("no termination recorded");
        let mut f = pod_finding(
            &CRASH_LOOP,
            Severity::Error,
            format!(
                "Container {} of pod {} is crash-looping: last exit {reason}{}",
                cs.name,
                pod.name(),
                code.map(|c| format!(" (code {c})")).unwrap_or_default()
            ),
            pod,
        )
        .detail(format!(
            "The container has restarted {} times; it last terminated with {reason}{}: {meaning}.",
            cs.restart_count.unwrap_or(0),
            code.map(|c| format!(", exit code {c}")).unwrap_or_default()
        ))
        .evidence(state_line(&cs.name, "waiting", w));
        if let Some(t) = last {
            f = f.evidence(state_line(&cs.name, "last terminated", t));
        }
        if let Some(l) = kube.log(pod.name(), &cs.name, true) {
            match &l.unavailable {
                Some(u) => f = f.evidence(format!("kubectl logs --previous answered {}: {}", u.status, u.message)),
                None => {
                    let tail: Vec<&String> = l.lines.iter().rev().take(5).collect();
                    for line in tail.into_iter().rev() {
                        f = f.evidence(format!("log (previous): {line}"));
                    }
                }
            }
        }
        out.push(
            f.fix(logs_cmd(pod, if cs.name.is_empty() { FLOW_CONTAINER } else { &cs.name }, true))
                .fix(describe_pod(pod))
                .fix("Fix what the log names (command, image, env, PREFECT_API_URL), then start a new run"),
        );
    }
    out
}

/// Every pattern of this file is a literal compiled on first use: compiling them all here makes an
/// invalid one fail the tests instead of a diagnosis.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for p in [&*MISSING_REF, &*MISSING_KEY] {
            assert!(!p.as_str().is_empty());
        }
    }
}
