//! The Kubernetes side of the checklist (SPEC 6): `infrastructure`, `image-pull`, `permissions`,
//! `capacity`, judged from the evidence and the findings.

use super::{RunView, find, run_pods};
use crate::checks::{Finding, Item, ItemStatus, Kind};
use crate::evidence::kube::{KubeEvidence, Located, Pod};

/// The items this layer judges, in display order.
pub const ITEMS: [Item; 4] = [Item::Infrastructure, Item::ImagePull, Item::Permissions, Item::Capacity];

/// Judges each Kubernetes checklist item: fail naming the finding, warn for a risk, pass with what
/// was seen, unknown with why it cannot be told.
pub fn checklist(kube: &KubeEvidence, run: &RunView<'_>, findings: &[Finding]) -> Vec<(Item, ItemStatus, String)> {
    ITEMS.iter().map(|&item| judge(item, kube, run, findings)).collect()
}

fn judge(item: Item, kube: &KubeEvidence, run: &RunView<'_>, findings: &[Finding]) -> (Item, ItemStatus, String) {
    let mine: Vec<&Finding> = findings.iter().filter(|f| find(f.id).is_some_and(|i| i.item == item)).collect();
    if let Some(f) = mine.iter().find(|f| f.kind == Kind::Cause) {
        return (item, ItemStatus::Fail, format!("{}: {}", f.id, f.title));
    }
    let pods: Vec<&Pod> = run_pods(kube, run).collect();
    let ns = kube.namespace().unwrap_or("?").to_string();
    let pod_read_denied = kube.was_denied("list", "pods", &ns);
    let status = match item {
        Item::Infrastructure => infrastructure(kube, &pods, pod_read_denied),
        Item::ImagePull => image_pull(kube, &pods, pod_read_denied),
        Item::Permissions => permissions(kube),
        Item::Capacity => capacity(&pods, pod_read_denied),
        _ => (ItemStatus::NotApplicable, "not judged by the Kubernetes layer".to_string()),
    };
    if let Some(f) = mine.iter().find(|f| f.kind == Kind::Risk) {
        if matches!(status.0, ItemStatus::Pass | ItemStatus::Unknown) {
            return (item, ItemStatus::Warn, format!("{}: {}", f.id, f.title));
        }
    }
    (item, status.0, status.1)
}

fn where_(p: &Pod) -> String {
    match p.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => format!("pod {} {} on node {n}", p.name(), if p.phase().is_empty() { "?" } else { p.phase() }),
        None => format!("pod {} {} (not scheduled)", p.name(), if p.phase().is_empty() { "?" } else { p.phase() }),
    }
}

fn infrastructure(kube: &KubeEvidence, pods: &[&Pod], denied: bool) -> (ItemStatus, String) {
    let Some(job) = &kube.job else {
        return match &kube.located {
            Located::NotFound { searched } if searched.is_empty() => {
                (ItemStatus::Unknown, "no namespace to search".into())
            }
            Located::NotFound { searched } => {
                (ItemStatus::Unknown, format!("no Job for the run yet (searched {})", searched.join(", ")))
            }
            _ => (ItemStatus::Unknown, "the Job was located but could not be read".into()),
        };
    };
    let jn = format!("job {}/{}", job.metadata.namespace, job.metadata.name);
    if denied {
        return (ItemStatus::Unknown, format!("{jn} exists; not allowed to list its pods"));
    }
    match pods.iter().find(|p| matches!(p.phase(), "Running" | "Succeeded")).or(pods.first()) {
        None => (ItemStatus::Unknown, format!("{jn} exists but has no pod yet")),
        Some(p) if matches!(p.phase(), "Running" | "Succeeded") => {
            (ItemStatus::Pass, format!("{jn} created; {}", where_(p)))
        }
        Some(p) => (ItemStatus::Unknown, format!("{jn} created; {}: not started yet", where_(p))),
    }
}

fn pulled(kube: &KubeEvidence, p: &Pod) -> bool {
    let started = !p.status.container_statuses.is_empty()
        && p.status
            .container_statuses
            .iter()
            .all(|s| s.state.running.is_some() || s.state.terminated.is_some() || s.last_state.terminated.is_some());
    started || kube.pod_events(p).iter().any(|e| e.reason == "Pulled")
}

fn image_pull(kube: &KubeEvidence, pods: &[&Pod], denied: bool) -> (ItemStatus, String) {
    if denied {
        return (ItemStatus::Unknown, "not allowed to list the run's pods".into());
    }
    match pods.iter().find(|p| pulled(kube, p)) {
        Some(p) => (ItemStatus::Pass, format!("{}; image pulled", where_(p))),
        None => match pods.first() {
            None => (ItemStatus::Unknown, "no pod yet".into()),
            Some(p) if p.spec.node_name.as_deref().unwrap_or("").is_empty() => {
                (ItemStatus::Unknown, format!("{}: no node has pulled the image yet", where_(p)))
            }
            Some(p) => (ItemStatus::Unknown, format!("{}: image not pulled yet", where_(p))),
        },
    }
}

fn permissions(kube: &KubeEvidence) -> (ItemStatus, String) {
    if let Some(j) = &kube.job {
        return (ItemStatus::Pass, format!("the worker created job {}/{}", j.metadata.namespace, j.metadata.name));
    }
    if let Some(r) =
        kube.access_reviews.iter().find(|r| r.allowed && r.verb == "create" && r.resource.starts_with("jobs"))
    {
        return (ItemStatus::Pass, format!("{} may create jobs in {}", r.user, r.namespace));
    }
    match kube.denied.first() {
        Some(d) => (
            ItemStatus::Unknown,
            format!(
                "could not check: not allowed to {} {} in {}",
                d.verb,
                d.resource,
                if d.namespace.is_empty() { "the cluster" } else { &d.namespace }
            ),
        ),
        None => (ItemStatus::Unknown, "no Job yet, and no access review was made".into()),
    }
}

fn capacity(pods: &[&Pod], denied: bool) -> (ItemStatus, String) {
    if denied {
        return (ItemStatus::Unknown, "not allowed to list the run's pods".into());
    }
    match pods.iter().find(|p| !p.spec.node_name.as_deref().unwrap_or("").is_empty()) {
        Some(p) => {
            (ItemStatus::Pass, format!("{} scheduled on node {}", p.name(), p.spec.node_name.as_deref().unwrap_or("")))
        }
        None if pods.is_empty() => (ItemStatus::Unknown, "no pod yet".into()),
        None => (ItemStatus::Unknown, "the pod is not scheduled yet".into()),
    }
}
