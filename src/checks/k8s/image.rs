//! Image pulls: the pull fails (`k8s.image-pull`) or has been running for too long (`k8s.image-pull-slow`).

use super::{
    RunView, about_container, cancel_cmd, describe_pod, event_line, human, job_variable_fix, pod_events_cmd,
    pod_finding, run_pods, state_line, statuses,
};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity, sh};
use crate::evidence::kube::KubeEvidence;

pub const IMAGE_PULL: CheckInfo = CheckInfo {
    id: "k8s.image-pull",
    title: "the flow-run pod cannot pull its image",
    kind: Kind::Cause,
    item: Item::ImagePull,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: finds a container of the run's pod waiting with ErrImagePull, ImagePullBackOff,
InvalidImageName, ErrImageNeverPull, ImageInspectError or RegistryUnavailable, and reads the kubelet's
own error (the container's waiting message and the pod's latest \"Failed to pull image\" event) to say
which of these it is:
  not-found      the tag or repository does not exist (\"manifest unknown\", \"not found\")
  unauthorized   the registry wants credentials the node does not have (\"401 Unauthorized\", \"pull
                 access denied\", \"repository does not exist or may require authorization\")
  rate-limited   the registry throttles pulls (\"toomanyrequests\", \"429 Too Many Requests\")
  network        the node cannot reach the registry (\"dial tcp\", \"i/o timeout\", \"no such host\")
  invalid-name   the image reference does not parse (InvalidImageName, \"invalid reference format\")

Why it matters: ImagePullBackOff never fails the pod, the Job or the run by itself. The kubelet retries
the pull forever (backing off up to 5 minutes between attempts), Prefect's observer only logs a
diagnosis, and the run stays Pending until the image is fixed or the run is cancelled.",
    remediation: &[
        "kubectl -n <NS> describe pod <POD> (the Events section has the kubelet's pull error)",
        "Fix the `image` job variable (deployment job_variables, or --job-variable image=... on a new run)",
        "For private registries, add imagePullSecrets to the work pool's job_manifest",
    ],
};

pub const IMAGE_PULL_SLOW: CheckInfo = CheckInfo {
    id: "k8s.image-pull-slow",
    title: "the image pull has been running for longer than the pending threshold",
    kind: Kind::Risk,
    item: Item::ImagePull,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a pod whose latest kubelet image event is \"Pulling image\", older than
--pending-threshold, with no \"Pulled\" after it and no pull error.

Why it matters: nothing is broken yet, but the run waits on a very large image, a slow registry or a
throttled node. Smaller images, a registry mirror close to the cluster, or pre-pulled images (a
DaemonSet, or imagePullPolicy IfNotPresent with a pinned tag) make runs start in seconds.",
    remediation: &[
        "kubectl get events -n <NS> --field-selector involvedObject.name=<POD> (watch for Pulled)",
        "Use a smaller image or a registry mirror in the cluster's region; pin tags and use imagePullPolicy IfNotPresent",
    ],
};

/// Waiting reasons that mean the image could not be pulled (kubelet `pkg/kubelet/images/types.go`).
const PULL_REASONS: [&str; 7] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "ImageInspectError",
    "RegistryUnavailable",
    "SignatureValidationFailed",
];

/// The sub-class of a pull failure and what it means, from the kubelet's reason and messages.
pub(crate) fn classify_pull(reason: &str, text: &str) -> (&'static str, &'static str) {
    let t = text.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    if reason == "InvalidImageName" || has(&["invalid reference format", "couldn't parse image"]) {
        ("invalid-name", "the image reference does not parse: check for spaces, upper-case letters or a stray ':'")
    } else if has(&["toomanyrequests", "too many requests", "rate limit"]) {
        (
            "rate-limited",
            "the registry is throttling pulls from this node (Docker Hub's anonymous pull limit is the usual one)",
        )
    } else if has(&[
        "401 unauthorized",
        "unauthorized",
        "pull access denied",
        "may require authorization",
        "authorization failed",
        "no basic auth credentials",
        "403 forbidden",
        "access denied",
        "failed to authorize",
        "denied: ",
        "requested access to the resource is denied",
    ]) {
        (
            "unauthorized",
            "the registry refused the node's credentials: the image is private and the pod has no (or wrong) imagePullSecrets, or the repository does not exist",
        )
    } else if reason == "ErrImageNeverPull" {
        ("not-found", "imagePullPolicy is Never and the image is not present on the node")
    } else if has(&["not found", "manifest unknown", "notfound", "name unknown", "404"]) {
        ("not-found", "the image or tag does not exist in the registry")
    } else if has(&[
        "dial tcp",
        "i/o timeout",
        "no such host",
        "connection refused",
        "tls handshake timeout",
        "context deadline exceeded",
        "network is unreachable",
        "connection reset",
        "x509:",
        "certificate",
    ]) {
        ("network", "the node cannot reach the registry (DNS, egress, proxy or TLS)")
    } else {
        ("other", "the kubelet could not pull the image")
    }
}

pub(crate) fn image_pull(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (pod, cs) in statuses(kube, run) {
        let Some(w) = cs.state.waiting.as_ref() else {
            continue;
        };
        if !PULL_REASONS.contains(&w.reason()) {
            continue;
        }
        let failed = kube
            .pod_events(pod)
            .into_iter()
            .find(|e| {
                e.reason == "Failed" && e.message.starts_with("Failed to pull image") && about_container(e, &cs.name)
            })
            .or_else(|| {
                kube.pod_events(pod).into_iter().find(|e| {
                    e.reason == "InspectFailed"
                        || (e.reason == "Failed" && e.message.contains("image") && about_container(e, &cs.name))
                })
            });
        let text = format!("{} {}", w.message(), failed.map(|e| e.message.as_str()).unwrap_or(""));
        let (class, meaning) = classify_pull(w.reason(), &text);
        let image =
            pod.container(&cs.name).and_then(|c| c.image.clone()).or_else(|| cs.image.clone()).unwrap_or_default();
        let mut f = pod_finding(
            &IMAGE_PULL,
            Severity::Error,
            format!("Pod {} cannot pull image {image} ({class}): {}", pod.name(), w.reason()),
            pod,
        )
        .detail(format!(
            "{class}: {meaning}. The kubelet keeps retrying with a back-off of up to 5 minutes; \
             ImagePullBackOff never fails the pod or the run by itself, so the run stays {} until the image is fixed.",
            if run.state_name.is_empty() { "Pending" } else { run.state_name }
        ))
        .evidence(state_line(&cs.name, "waiting", w));
        if let Some(e) = failed {
            f = f.evidence(event_line(e, run));
        }
        if let Some(l) = kube.log(pod.name(), &cs.name, false).and_then(|l| l.unavailable.as_ref()) {
            f = f.evidence(format!("kubectl logs answered {}: {}", l.status, l.message));
        }
        f = f.fix(describe_pod(pod)).fix(super::pod_events_cmd(pod));
        f = match class {
            "unauthorized" => f
                .fix(format!(
                    "Give the pod registry credentials: kubectl -n {} create secret docker-registry regcred \
                     --docker-server=<REGISTRY> --docker-username=<USER> --docker-password=<TOKEN>, then add \
                     imagePullSecrets: [{{name: regcred}}] to the job_manifest's pod spec in the work pool's base job template \
                     (or attach the secret to the pod's service account: kubectl -n {} patch serviceaccount {} -p \
                     '{{\"imagePullSecrets\": [{{\"name\": \"regcred\"}}]}}')",
                    sh(pod.namespace()),
                    sh(pod.namespace()),
                    sh(pod.spec.service_account_name.as_deref().unwrap_or("default"))
                ))
                .fix(format!("Check the image exists and the name is right: docker pull {}", sh(&image))),
            "rate-limited" => f.fix(
                "Authenticate pulls (imagePullSecrets with a Docker Hub account) or mirror the image to your own registry, \
                 then point the `image` job variable at the mirror",
            ),
            "network" => f.fix(format!(
                "Check that node {} can resolve and reach the registry (DNS, egress rules, proxy, private endpoint)",
                pod.spec.node_name.as_deref().unwrap_or("<NODE>")
            )),
            _ => f.fix(format!("Check the image exists: docker manifest inspect {}", sh(&image))),
        };
        f = f.fix(job_variable_fix("image", "<REGISTRY>/<IMAGE>:<TAG>")).fix(cancel_cmd(run));
        out.push(f);
    }
    out
}

pub(crate) fn image_pull_slow(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for pod in run_pods(kube, run) {
        if pod.phase() != "Pending" {
            continue;
        }
        // A pull error is k8s.image-pull's.
        if pod.all_statuses().any(|s| s.state.waiting.as_ref().is_some_and(|w| PULL_REASONS.contains(&w.reason()))) {
            continue;
        }
        let Some(latest) =
            super::latest_event(kube, pod, &["Pulling", "Pulled", "Failed", "BackOff", "ErrImageNeverPull"])
        else {
            continue;
        };
        if latest.reason != "Pulling" {
            continue;
        }
        let Some(t) = latest.newest() else { continue };
        let waited = run.ago(t);
        if waited <= run.threshold() {
            continue;
        }
        out.push(
            pod_finding(
                &IMAGE_PULL_SLOW,
                Severity::Warning,
                format!("Pod {} has been pulling its image for {}", pod.name(), human(waited)),
                pod,
            )
            .detail(format!(
                "The kubelet started pulling {} ago and has reported neither success nor an error (threshold {}): \
                 a very large image, a slow or throttled registry, or a saturated node.",
                human(waited),
                human(run.threshold())
            ))
            .evidence(event_line(latest, run))
            .evidence("no Pulled event and no pull error since")
            .fix(pod_events_cmd(pod))
            .fix(describe_pod(pod))
            .fix("Use a smaller image or a registry mirror near the cluster; pin the tag and use imagePullPolicy IfNotPresent"),
        );
    }
    out
}
