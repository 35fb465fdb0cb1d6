//! Scheduling: the pod cannot be placed (`k8s.unschedulable`), a node is on its way
//! (`k8s.waiting-for-node`), or a queueing controller holds it (`k8s.scheduling-gated`).

use std::sync::LazyLock;

use jiff::Timestamp;
use regex::Regex;
use serde::Serialize;

use super::{RunView, describe_pod, event_line, human, pod_events_cmd, pod_finding, resources_fix, run_pods};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity, sh};
use crate::evidence::kube::{Event, KubeEvidence, Pod, format_quantity};

pub const UNSCHEDULABLE: CheckInfo = CheckInfo {
    id: "k8s.unschedulable",
    title: "the flow-run pod cannot be scheduled on any node",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: finds the run's pod with PodScheduled=False/Unschedulable and parses the scheduler's
message (\"0/N nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}, ...
preemption: ...\") into what blocks it:
  insufficient-resources  no node has enough free cpu/memory/gpu/pods (names the resource)
  taint                   nodes carry taints the pod does not tolerate (or are cordoned)
  node-affinity           the pod's nodeSelector/affinity matches no node
  volume                  volume node affinity conflicts, unbound PersistentVolumeClaims, attach limits
  topology                topology spread or pod (anti-)affinity rules cannot be met
  autoscaler-blocked      the cluster autoscaler or Karpenter will not add a node (NotTriggerScaleUp,
                          \"max node group size reached\", nodepool limits)
  other                   anything else the scheduler said (host ports, DRA claims, ...)
When the autoscaler is adding a node, k8s.waiting-for-node reports it instead.

Why it matters: an unschedulable pod waits forever; nothing times it out, and the run stays Pending.",
    remediation: &[
        "kubectl -n <NS> describe pod <POD> (the FailedScheduling event has the scheduler's reasons)",
        "Lower the pod's requests in the job_manifest, or add capacity / a node pool that fits",
        "Fix the nodeSelector/tolerations in the work pool's job_manifest to match real nodes",
    ],
};

pub const WAITING_FOR_NODE: CheckInfo = CheckInfo {
    id: "k8s.waiting-for-node",
    title: "the pod waits for the autoscaler to add a node",
    kind: Kind::Risk,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: for an unschedulable pod, finds the cluster autoscaler's TriggeredScaleUp or Karpenter's
Nominated event newer than any refusal, and says how long the pod has waited for the node.

Why it matters: this usually resolves by itself in a few minutes. If it takes much longer, the new node
is not joining (instance quota, bootstrap failure, capacity shortage in the zone): look at the node
group or the NodeClaim.",
    remediation: &[
        "kubectl get events -n <NS> --field-selector involvedObject.name=<POD>",
        "Karpenter: kubectl get nodeclaims; kubectl describe nodeclaim <NAME>. Cluster autoscaler: kubectl -n kube-system logs deploy/cluster-autoscaler",
    ],
};

pub const SCHEDULING_GATED: CheckInfo = CheckInfo {
    id: "k8s.scheduling-gated",
    title: "the pod is held by scheduling gates",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a pod with spec.schedulingGates (PodScheduled=False/SchedulingGated). The
scheduler ignores such a pod until the controller that added the gates (Kueue, a quota or
admission controller) removes them.

Why it matters: the pod will wait as long as the gating controller's queue says so; no node will ever be
tried. The answer is in that controller (its queue, its quota), not in the pod.",
    remediation: &[
        "kubectl -n <NS> get pod <POD> -o jsonpath='{.spec.schedulingGates}'",
        "Look at the controller that owns the gate (Kueue: kubectl -n <NS> get workloads)",
    ],
};

/// One "N <reason>" item of a scheduler message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReason {
    /// How many nodes failed this way (`None` for items without a count).
    pub nodes: Option<u32>,
    pub reason: String,
    pub class: ReasonClass,
}

/// What blocks scheduling, as the `detail` sub-classes of `k8s.unschedulable` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonClass {
    InsufficientResources,
    Taint,
    NodeAffinity,
    Volume,
    Topology,
    AutoscalerBlocked,
    Other,
}

impl ReasonClass {
    pub fn id(self) -> &'static str {
        match self {
            ReasonClass::InsufficientResources => "insufficient-resources",
            ReasonClass::Taint => "taint",
            ReasonClass::NodeAffinity => "node-affinity",
            ReasonClass::Volume => "volume",
            ReasonClass::Topology => "topology",
            ReasonClass::AutoscalerBlocked => "autoscaler-blocked",
            ReasonClass::Other => "other",
        }
    }
}

/// The scheduler's "0/N nodes are available: ..." message, parsed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchedulerMessage {
    pub total: Option<u32>,
    pub reasons: Vec<NodeReason>,
    /// What the preemption pass said, after "preemption:".
    pub preemption: Option<String>,
}

impl SchedulerMessage {
    /// The class that blocks the most nodes (ties: the order of `ReasonClass`).
    pub fn main_class(&self) -> ReasonClass {
        let mut best: Option<(u32, ReasonClass)> = None;
        for r in &self.reasons {
            let n: u32 = self.reasons.iter().filter(|x| x.class == r.class).map(|x| x.nodes.unwrap_or(1)).sum();
            best = match best {
                Some((bn, bc)) if bn > n || (bn == n && bc <= r.class) => Some((bn, bc)),
                _ => Some((n, r.class)),
            };
        }
        best.map(|(_, c)| c).unwrap_or(ReasonClass::Other)
    }

    /// Resources named by "Insufficient X" items.
    pub fn insufficient(&self) -> Vec<&str> {
        self.reasons.iter().filter_map(|r| r.reason.strip_prefix("Insufficient ")).collect()
    }
}

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:\d+/)?(\d+) nodes? (?:are|is) available:?\s*").unwrap_or_else(|e| panic!("header: {e}"))
});
static COUNTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+)\s+(.+)$").unwrap_or_else(|e| panic!("counted: {e}")));

/// Splits on ", " and ". " outside `{...}` (taints print as `{key: value}`).
fn split_items(s: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            _ => {}
        }
        if depth <= 0 && (c == ',' || c == '.' || c == ';') && chars.peek().is_none_or(|n| n.is_whitespace()) {
            if !cur.trim().is_empty() {
                items.push(cur.trim().to_string());
            }
            cur.clear();
            continue;
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_string());
    }
    items
}

fn classify_reason(reason: &str) -> ReasonClass {
    let r = reason.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| r.contains(n));
    if r.starts_with("insufficient ") || has(&["too many pods", "exceed limits for nodepool", "max node group size"]) {
        if has(&["exceed limits for nodepool", "max node group size"]) {
            ReasonClass::AutoscalerBlocked
        } else {
            ReasonClass::InsufficientResources
        }
    } else if has(&["volume", "persistentvolumeclaim", "unbound immediate", "pvc"]) {
        ReasonClass::Volume
    } else if has(&["taint", "were unschedulable", "was unschedulable", "node(s) unschedulable"]) {
        ReasonClass::Taint
    } else if has(&["topology spread", "pod affinity", "pod anti-affinity", "affinity rules", "anti-affinity"]) {
        ReasonClass::Topology
    } else if has(&["node affinity", "node selector", "nodeselector", "didn't match pod's node"]) {
        ReasonClass::NodeAffinity
    } else {
        ReasonClass::Other
    }
}

/// Parses the scheduler's FailedScheduling / Unschedulable message. Never fails: an unrecognised
/// message becomes one `other` reason holding the whole text.
pub fn parse_scheduler_message(msg: &str) -> SchedulerMessage {
    let (main, preemption) = match msg.find("preemption:") {
        Some(i) => (&msg[..i], Some(msg[i + "preemption:".len()..].trim().trim_end_matches('.').trim().to_string())),
        None => (msg, None),
    };
    let (total, rest) = match HEADER.captures(main) {
        Some(c) => (c.get(1).and_then(|m| m.as_str().parse().ok()), &main[c.get(0).map_or(0, |m| m.end())..]),
        None => (None, main),
    };
    let mut reasons = Vec::new();
    for item in split_items(rest) {
        let (nodes, reason) = match COUNTED.captures(&item) {
            Some(c) => {
                (c.get(1).and_then(|m| m.as_str().parse().ok()), c.get(2).map_or("", |m| m.as_str()).to_string())
            }
            None => (None, item.clone()),
        };
        let class = classify_reason(&reason);
        reasons.push(NodeReason { nodes, reason, class });
    }
    SchedulerMessage { total, reasons, preemption }
}

/// Autoscaler events on a pod: who says a node is coming, who says none will.
fn autoscaler_signals<'a>(kube: &'a KubeEvidence, pod: &Pod) -> (Vec<&'a Event>, Vec<&'a Event>) {
    let mut coming = Vec::new();
    let mut blocked = Vec::new();
    for e in kube.pod_events(pod) {
        match e.reason.as_str() {
            "TriggeredScaleUp" | "Nominated" => coming.push(e),
            "NotTriggerScaleUp" | "FailedScaleUp" => blocked.push(e),
            "FailedScheduling" if is_karpenter_refusal(e) => blocked.push(e),
            _ => {}
        }
    }
    (coming, blocked)
}

fn is_karpenter_refusal(e: &Event) -> bool {
    let m = e.message.to_ascii_lowercase();
    m.contains("exceed limits for nodepool")
        || m.contains("incompatible with nodepool")
        || m.contains("no nodepools found")
}

fn is_unschedulable(pod: &Pod) -> bool {
    pod.phase() == "Pending"
        && pod.spec.node_name.as_deref().unwrap_or("").is_empty()
        && pod.condition("PodScheduled").is_some_and(|c| !c.is_true() && c.reason.as_deref() == Some("Unschedulable"))
}

/// The scheduler's latest word: the newest default-scheduler FailedScheduling event, else the
/// PodScheduled condition's message.
fn scheduler_message<'a>(kube: &'a KubeEvidence, pod: &'a Pod) -> (Option<&'a Event>, String) {
    let ev = kube.pod_events(pod).into_iter().find(|e| e.reason == "FailedScheduling" && !is_karpenter_refusal(e));
    let msg = ev
        .map(|e| e.message.clone())
        .or_else(|| pod.condition("PodScheduled").and_then(|c| c.message.clone()))
        .unwrap_or_default();
    (ev, msg)
}

/// Whether a node is on its way: a TriggeredScaleUp/Nominated newer than every refusal.
fn node_coming<'a>(coming: &[&'a Event], blocked: &[&Event]) -> Option<&'a Event> {
    let newest_block: Option<Timestamp> = blocked.iter().filter_map(|e| e.newest()).max();
    coming.first().copied().filter(|c| match (c.newest(), newest_block) {
        (Some(c), Some(b)) => c >= b,
        (_, None) => true,
        (None, Some(_)) => false,
    })
}

pub(crate) fn unschedulable(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run).filter(|p| is_unschedulable(p)) {
        let (coming, blocked) = autoscaler_signals(kube, pod);
        if node_coming(&coming, &blocked).is_some() {
            continue; // k8s.waiting-for-node
        }
        let (ev, msg) = scheduler_message(kube, pod);
        let parsed = parse_scheduler_message(&msg);
        let blocked_ev = blocked.first().copied();
        let class = if blocked_ev.is_some() { ReasonClass::AutoscalerBlocked } else { parsed.main_class() };
        let what = match class {
            ReasonClass::InsufficientResources => {
                let res = parsed.insufficient();
                let requests = requested(pod, &res);
                format!(
                    "insufficient-resources: no node has enough free {}{}",
                    if res.is_empty() { "capacity".to_string() } else { res.join(", ") },
                    if requests.is_empty() { String::new() } else { format!(" for the pod's requests ({requests})") }
                )
            }
            ReasonClass::Taint => {
                "taint: the nodes carry taints the pod does not tolerate (or are cordoned)".to_string()
            }
            ReasonClass::NodeAffinity => "node-affinity: the pod's nodeSelector/affinity matches no node".to_string(),
            ReasonClass::Volume => "volume: a volume cannot be bound or attached on any node".to_string(),
            ReasonClass::Topology => "topology: topology spread or pod (anti-)affinity rules cannot be met".to_string(),
            ReasonClass::AutoscalerBlocked => {
                "autoscaler-blocked: the autoscaler will not add a node that fits this pod".to_string()
            }
            ReasonClass::Other => "other: the scheduler rejected every node".to_string(),
        };
        let total = parsed.total.map(|t| format!(" (0/{t} nodes available)")).unwrap_or_default();
        let mut f = pod_finding(
            &UNSCHEDULABLE,
            Severity::Error,
            format!("Pod {} cannot be scheduled: {}{total}", pod.name(), class.id()),
            pod,
        )
        .detail(format!("{what}. Scheduler: {}", msg.trim()));
        f = match ev {
            Some(e) => f.evidence(event_line(e, run)),
            None => f.evidence(format!("condition PodScheduled=False Unschedulable: {}", msg.trim())),
        };
        if let Some(b) = blocked_ev {
            f = f.evidence(event_line(b, run));
        }
        if let Some(t) = pod.metadata.creation_timestamp {
            f = f.evidence(format!("pod created {} ago and never scheduled", human(run.ago(t))));
        }
        f = f.fix(describe_pod(pod)).fix(pod_events_cmd(pod));
        f = match class {
            ReasonClass::InsufficientResources => f
                .fix("See what the nodes have left: kubectl describe nodes | grep -A 8 'Allocated resources'")
                .fix(resources_fix("smaller requests (resources.requests)"))
                .fix("Or add capacity: a bigger node pool, or an autoscaler node group whose instance type fits the pod"),
            ReasonClass::Taint => f
                .fix("List the taints: kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints")
                .fix("Add matching tolerations to the pod spec in the work pool's job_manifest, or run on untainted nodes"),
            ReasonClass::NodeAffinity => f
                .fix("Compare the pod's nodeSelector/affinity with the node labels: kubectl get nodes --show-labels")
                .fix("Fix nodeSelector/affinity in the work pool's job_manifest (or the deployment's job_variables)"),
            ReasonClass::Volume => f
                .fix(format!("kubectl -n {} get pvc", sh(pod.namespace())))
                .fix("A zonal volume needs a node in its zone; an unbound claim needs a StorageClass that can provision it"),
            ReasonClass::Topology => f.fix("Relax topologySpreadConstraints or pod (anti-)affinity in the job_manifest"),
            ReasonClass::AutoscalerBlocked => f
                .fix("Raise the node group's max size (cluster autoscaler) or the NodePool's spec.limits (Karpenter: kubectl get nodepools)")
                .fix("Or make the pod fit a node type the autoscaler may add (requests, nodeSelector)"),
            ReasonClass::Other => f,
        };
        out.push(f);
    }
    out
}

/// The pod's requests of the resources the scheduler named, summed over containers.
fn requested(pod: &Pod, resources: &[&str]) -> String {
    let mut parts = Vec::new();
    for r in resources {
        let qs: Vec<String> = pod
            .spec
            .containers
            .iter()
            .filter_map(|c| c.resources.requests.get(*r))
            .map(|q| format_quantity(r, q))
            .collect();
        if !qs.is_empty() {
            parts.push(format!("{r} {}", qs.join(" + ")));
        }
    }
    parts.join(", ")
}

pub(crate) fn waiting_for_node(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run).filter(|p| is_unschedulable(p)) {
        let (coming, blocked) = autoscaler_signals(kube, pod);
        let Some(latest) = node_coming(&coming, &blocked) else {
            continue;
        };
        let since = coming.iter().filter_map(|e| e.oldest()).min().or(pod.metadata.creation_timestamp);
        let waited = since.map(|t| run.ago(t)).unwrap_or_default();
        let (ev, msg) = scheduler_message(kube, pod);
        let who = if latest.reason == "Nominated" { "Karpenter" } else { "the cluster autoscaler" };
        let mut f = pod_finding(
            &WAITING_FOR_NODE,
            Severity::Warning,
            format!("Pod {} waits for a new node ({who}), for {} so far", pod.name(), human(waited)),
            pod,
        )
        .detail(format!(
            "The pod is unschedulable on the current nodes, and {who} is adding one: it has waited {} for it. \
             Scheduler: {}",
            human(waited),
            msg.trim()
        ))
        .evidence(event_line(latest, run));
        if let Some(e) = ev {
            f = f.evidence(event_line(e, run));
        }
        f = f.fix(pod_events_cmd(pod));
        f = if latest.reason == "Nominated" {
            f.fix("kubectl get nodeclaims; kubectl describe nodeclaim <NAME> (is the node launching and registering?)")
        } else {
            f.fix(
                "kubectl -n kube-system logs deploy/cluster-autoscaler | grep -i scale-up (is the node group growing?)",
            )
        };
        if waited > run.threshold() {
            f = f.fix("It has waited longer than the pending threshold: check the cloud side (instance quotas, capacity in the zone, node bootstrap logs)");
        }
        out.push(f);
    }
    out
}

pub(crate) fn scheduling_gated(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run) {
        let cond = pod.condition("PodScheduled").filter(|c| c.reason.as_deref() == Some("SchedulingGated"));
        if pod.spec.scheduling_gates.is_empty() && cond.is_none() {
            continue;
        }
        let gates: Vec<&str> = pod.spec.scheduling_gates.iter().map(|g| g.name.as_str()).collect();
        let gate_list = if gates.is_empty() { "(not listed)".to_string() } else { gates.join(", ") };
        let since = cond.and_then(|c| c.last_transition_time).or(pod.metadata.creation_timestamp);
        let mut f = pod_finding(
            &SCHEDULING_GATED,
            Severity::Error,
            format!("Pod {} is held by scheduling gates: {gate_list}", pod.name()),
            pod,
        )
        .detail(format!(
            "The scheduler ignores the pod until the controller that owns the gates ({gate_list}) removes them{}.",
            since.map(|t| format!("; gated for {}", human(run.ago(t)))).unwrap_or_default()
        ))
        .evidence(format!("spec.schedulingGates: [{gate_list}]"));
        if let Some(c) = cond {
            f = f.evidence(format!(
                "condition PodScheduled=False SchedulingGated: {}",
                c.message.as_deref().unwrap_or("").trim()
            ));
        }
        f = f.fix(format!(
            "kubectl -n {} get pod {} -o jsonpath='{{.spec.schedulingGates}}'",
            sh(pod.namespace()),
            sh(pod.name())
        ));
        if gates.iter().any(|g| g.contains("kueue")) {
            f = f.fix(format!(
                "Kueue holds it: kubectl -n {} get workloads; kubectl -n {} describe workload <NAME> (quota of the ClusterQueue)",
                sh(pod.namespace()),
                sh(pod.namespace())
            ));
        } else {
            f = f.fix(
                "Find the controller that adds this gate (its name usually says) and why it has not released the pod",
            );
        }
        out.push(f);
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
        for p in [&*HEADER, &*COUNTED] {
            assert!(!p.as_str().is_empty());
        }
    }
}
