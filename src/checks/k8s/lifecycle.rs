//! What happens to a pod from the outside: evicted (`k8s.evicted`), disrupted or stuck Terminating
//! (`k8s.disrupted`), on a broken node (`k8s.node-not-ready`), or just Pending (`k8s.pod-pending`).

use super::{
    RunView, describe_pod, event_line, human, latest_event, pod_events_cmd, pod_finding, pod_subject, run_pods,
};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity, sh};
use crate::evidence::kube::KubeEvidence;

pub const EVICTED: CheckInfo = CheckInfo {
    id: "k8s.evicted",
    title: "the flow-run pod was evicted from its node",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: finds a pod with status.reason Evicted (the kubelet's node-pressure eviction), a
container terminated with reason Evicted, or an Evicted event, and quotes the kubelet's message (\"The
node was low on resource: memory. ...\").

Why it matters: the kubelet killed the pod to protect its node: the pod used more memory or ephemeral
storage than it requested while the node ran short. Containers the kubelet could not find afterwards
show ContainerStatusUnknown with exit code 137: that 137 is a placeholder, not an out-of-memory kill of
the flow.",
    remediation: &[
        "kubectl -n <NS> describe pod <POD>",
        "Raise the pod's requests (memory, ephemeral-storage) to what it really uses so the scheduler reserves it",
    ],
};

pub const DISRUPTED: CheckInfo = CheckInfo {
    id: "k8s.disrupted",
    title: "the pod is being disrupted (DisruptionTarget) or is stuck Terminating",
    kind: Kind::Risk,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a pod with a DisruptionTarget=True condition (PreemptionByScheduler,
DeletionByTaintManager, EvictionByEvictionAPI, DeletionByPodGC, TerminationByKubelet) or with a
deletionTimestamp more than a minute in the past (stuck Terminating).

Why it matters: the pod is going away for reasons outside the flow: a higher-priority pod, a node
drain or scale-down, a NoExecute taint. A pod stuck Terminating usually sits on a node that is gone or
a finalizer that never completes.",
    remediation: &[
        "kubectl -n <NS> describe pod <POD>",
        "For preemption: give flow runs a PriorityClass; for drains/scale-down: a PodDisruptionBudget or the cluster-autoscaler.kubernetes.io/safe-to-evict=false annotation",
    ],
};

pub const NODE_NOT_READY: CheckInfo = CheckInfo {
    id: "k8s.node-not-ready",
    title: "the pod's node is NotReady or under pressure",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: for each node a run's pod is bound to, reports Ready other than True (\"Kubelet stopped
posting node status.\"), MemoryPressure/DiskPressure/PIDPressure=True or NetworkUnavailable=True.

Why it matters: a NotReady node does not start containers; after about five minutes its pods are
evicted by the taint manager. Pressure leads to evictions.",
    remediation: &[
        "kubectl describe node <NODE>",
        "Delete the stuck pod so the Job creates a new one elsewhere, or fix/replace the node",
    ],
};

pub const POD_PENDING: CheckInfo = CheckInfo {
    id: "k8s.pod-pending",
    title: "the pod has been Pending past the threshold with no more specific reason",
    kind: Kind::Risk,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a run's pod that has been Pending for longer than --pending-threshold when no
other Kubernetes check explains it, with its conditions and latest event.

Why it matters: something keeps the pod from starting that none of the specific checks recognised;
the pod's events are the place to look.",
    remediation: &[
        "kubectl -n <NS> describe pod <POD>",
        "kubectl get events -n <NS> --field-selector involvedObject.name=<POD>",
    ],
};

pub(crate) fn evicted(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run) {
        let by_status = pod.status.reason.as_deref() == Some("Evicted");
        let by_container =
            pod.all_statuses().find(|s| s.state.terminated.as_ref().is_some_and(|t| t.reason() == "Evicted"));
        let ev = latest_event(kube, pod, &["Evicted"]);
        if !by_status && by_container.is_none() && ev.is_none() {
            continue;
        }
        let message = pod
            .status
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .or_else(|| ev.map(|e| e.message.clone()))
            .or_else(|| by_container.and_then(|s| s.state.terminated.as_ref()).map(|t| t.message().to_string()))
            .unwrap_or_default();
        let resource = message
            .split("low on resource: ")
            .nth(1)
            .and_then(|r| r.split(|c: char| c == '.' || c == ',' || c.is_whitespace()).next())
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let mut f = pod_finding(
            &EVICTED,
            Severity::Error,
            format!(
                "Pod {} was evicted{}",
                pod.name(),
                resource.as_ref().map(|r| format!(": node low on {r}")).unwrap_or_default()
            ),
            pod,
        )
        .detail(format!(
            "The kubelet evicted the pod from node {} to relieve node pressure: {}",
            pod.spec.node_name.as_deref().unwrap_or("?"),
            message.trim()
        ));
        if by_status {
            f = f.evidence(format!("status.phase={} reason=Evicted: {}", pod.phase(), message.trim()));
        }
        if let Some(e) = ev {
            f = f.evidence(event_line(e, run));
        }
        let unknown: Vec<&str> = pod
            .all_statuses()
            .filter(|s| s.state.terminated.as_ref().is_some_and(|t| t.reason() == "ContainerStatusUnknown"))
            .map(|s| s.name.as_str())
            .collect();
        for s in pod.all_statuses().filter(|s| unknown.contains(&s.name.as_str())) {
            if let Some(t) = &s.state.terminated {
                f = f.evidence(super::state_line(&s.name, "terminated", t));
            }
        }
        if !unknown.is_empty() {
            f = f.evidence(
                "exit code 137 with ContainerStatusUnknown is the kubelet's placeholder for a container it could not find after the eviction: not an OOM kill".to_string(),
            );
        }
        let fix_req = match resource.as_deref() {
            Some("ephemeral-storage") => {
                "Request the disk the flow writes: resources.requests.ephemeral-storage in the job_manifest (or write to a volume)"
            }
            _ => {
                "Request what the flow really uses: resources.requests.memory close to its peak (Guaranteed QoS is evicted last)"
            }
        };
        out.push(
            f.fix(describe_pod(pod))
                .fix(format!("kubectl describe node {}", sh(pod.spec.node_name.as_deref().unwrap_or("<NODE>"))))
                .fix(fix_req)
                .fix(super::resources_fix("requests equal to limits")),
        );
    }
    out
}

pub(crate) fn disrupted(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run) {
        let cond = pod.condition("DisruptionTarget").filter(|c| c.is_true());
        let stuck = pod.metadata.deletion_timestamp.filter(|t| run.ago(*t).as_secs() > 60);
        if cond.is_none() && stuck.is_none() {
            continue;
        }
        if pod.status.reason.as_deref() == Some("Evicted") && stuck.is_none() {
            continue; // k8s.evicted says it
        }
        let why = cond
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.as_deref().unwrap_or("DisruptionTarget"),
                    c.message.as_deref().unwrap_or("").trim()
                )
            })
            .unwrap_or_default();
        let title = match (cond, stuck) {
            (Some(c), _) => {
                format!("Pod {} is being disrupted: {}", pod.name(), c.reason.as_deref().unwrap_or("DisruptionTarget"))
            }
            (None, Some(t)) => format!("Pod {} is stuck Terminating for {}", pod.name(), human(run.ago(t))),
            (None, None) => continue,
        };
        let mut f = pod_finding(&DISRUPTED, Severity::Warning, title, pod).detail(if why.is_empty() {
            "The pod was deleted but has not gone away: its node may be gone, or a finalizer never completes."
                .to_string()
        } else {
            format!("Kubernetes is removing the pod: {why}")
        });
        if cond.is_some() {
            f = f.evidence(format!("condition DisruptionTarget=True {why}"));
        }
        if let Some(t) = stuck {
            f = f.evidence(format!("metadata.deletionTimestamp {t} ({} ago)", human(run.ago(t))));
        }
        f = f.fix(describe_pod(pod));
        if stuck.is_some() {
            f = f.fix(format!(
                "If its node is gone: kubectl -n {} delete pod {} --grace-period=0 --force",
                sh(pod.namespace()),
                sh(pod.name())
            ));
        }
        out.push(f.fix("Give flow-run pods a PriorityClass, a PodDisruptionBudget, or the cluster-autoscaler.kubernetes.io/safe-to-evict=\"false\" annotation"));
    }
    out
}

const PRESSURES: [&str; 4] = ["MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"];

pub(crate) fn node_not_ready(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run) {
        if matches!(pod.phase(), "Succeeded" | "Failed") {
            continue;
        }
        let Some(node) = pod.spec.node_name.as_deref().and_then(|n| kube.node(n)) else {
            continue;
        };
        let mut bad = Vec::new();
        if let Some(r) = node.condition("Ready").filter(|c| !c.is_true()) {
            bad.push(r);
        }
        bad.extend(PRESSURES.iter().filter_map(|t| node.condition(t)).filter(|c| c.is_true()));
        let Some(first) = bad.first() else { continue };
        let what = if first.type_ == "Ready" { "NotReady".to_string() } else { first.type_.clone() };
        let mut f = pod_finding(
            &NODE_NOT_READY,
            Severity::Error,
            format!("Pod {} is on node {} which is {what}", pod.name(), node.metadata.name),
            pod,
        )
        .detail(format!(
            "Node {} reports {what}: {}",
            node.metadata.name,
            first.message.as_deref().unwrap_or("").trim()
        ));
        for c in &bad {
            f = f.evidence(format!(
                "node {} condition {}={} {}: {}{}",
                node.metadata.name,
                c.type_,
                c.status,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("").trim(),
                c.last_transition_time.map(|t| format!(" (since {} ago)", human(run.ago(t)))).unwrap_or_default()
            ));
        }
        for t in node.spec.taints.iter().filter(|t| t.key.starts_with("node.kubernetes.io/")) {
            f = f.evidence(format!("node taint {}:{}", t.key, t.effect));
        }
        out.push(
            f.fix(format!("kubectl describe node {}", sh(&node.metadata.name)))
                .fix(format!(
                    "Let the Job start a new pod elsewhere: kubectl -n {} delete pod {}",
                    sh(pod.namespace()),
                    sh(pod.name())
                ))
                .fix("Fix or replace the node (kubelet, container runtime, disk, memory)"),
        );
    }
    out
}

/// Runs after every other check: only pods nothing else explained.
pub(crate) fn pod_pending(kube: &KubeEvidence, run: &RunView<'_>, found: &[Finding]) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run).filter(|p| p.phase() == "Pending") {
        let subject = pod_subject(pod);
        if found
            .iter()
            .any(|f| f.id != super::job::OBSERVER_MISSING.id && f.subject.as_deref() == Some(subject.as_str()))
        {
            continue;
        }
        let Some(created) = pod.metadata.creation_timestamp else {
            continue;
        };
        let age = run.ago(created);
        if age <= run.threshold() {
            continue;
        }
        let mut f = pod_finding(
            &POD_PENDING,
            Severity::Warning,
            format!("Pod {} has been Pending for {}", pod.name(), human(age)),
            pod,
        )
        .detail(format!(
            "The pod was created {} ago (threshold {}) and has not started; no specific cause was recognised.",
            human(age),
            human(run.threshold())
        ));
        for c in pod.status.conditions.iter().filter(|c| !c.is_true()) {
            f = f.evidence(format!(
                "condition {}={} {}: {}",
                c.type_,
                c.status,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("").trim()
            ));
        }
        for s in pod.all_statuses() {
            if let Some(w) = &s.state.waiting {
                f = f.evidence(super::state_line(&s.name, "waiting", w));
            }
        }
        if let Some(e) = kube.pod_events(pod).first() {
            f = f.evidence(event_line(e, run));
        }
        out.push(f.fix(describe_pod(pod)).fix(pod_events_cmd(pod)));
    }
    out
}
