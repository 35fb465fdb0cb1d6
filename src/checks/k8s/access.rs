//! Permissions and the worker itself: the worker may not create Jobs (`k8s.forbidden`), or its own pod
//! is starved or restarting (`k8s.worker-unhealthy`).

use std::sync::LazyLock;

use regex::Regex;

use super::{RunView, describe_pod, logs_cmd, pod_subject, state_line};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity, sh};
use crate::evidence::kube::{KubeEvidence, format_quantity, parse_quantity};

pub const FORBIDDEN: CheckInfo = CheckInfo {
    id: "k8s.forbidden",
    title: "the worker's service account may not create Jobs",
    kind: Kind::Cause,
    item: Item::Permissions,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports an access review that says the worker's identity may not create jobs.batch in
the run's namespace, or a worker log line quoting the API server's 403 (\"jobs.batch is forbidden: User
\\\"system:serviceaccount:prefect:prefect-worker\\\" cannot create resource \\\"jobs\\\" in API group
\\\"batch\\\" in the namespace \\\"flows\\\"\").

Why it matters: the worker claims the run, fails to create the Job and the run never gets
infrastructure. The prefect-worker Helm chart grants its Role only in the worker's own namespace; a
`namespace` job variable pointing elsewhere needs a Role and RoleBinding there too.",
    remediation: &[
        "kubectl auth can-i create jobs -n <NS> --as=system:serviceaccount:<WORKER_NS>:<WORKER_SA>",
        "Grant it: a Role with create/get/list/watch/delete on jobs.batch, get/list/watch on pods, pods/log and events, bound to the worker's service account in <NS>",
    ],
};

pub const WORKER_UNHEALTHY: CheckInfo = CheckInfo {
    id: "k8s.worker-unhealthy",
    title: "the worker's own pod restarts, was OOMKilled or is starved of CPU/memory",
    kind: Kind::Risk,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: looks at the worker's pod (prefect-worker Helm chart): restarts and their last
termination (OOMKilled above all), and CPU/memory limits below what a worker needs (under 100m CPU or
256Mi memory).

Why it matters: Prefect's support playbook lists a worker starved for resources as a classic cause of
runs that stay Pending: a throttled or restarting worker misses heartbeats, submits late, and loses
runs it had claimed when it is killed mid-submission.",
    remediation: &[
        "kubectl -n <WORKER_NS> describe pod <WORKER_POD>",
        "Raise the worker's resources in the Helm values (worker.resources.limits/requests) and upgrade the release",
    ],
};

static FORBIDDEN_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"jobs(?:\.batch)? is forbidden: User \\?"([^"\\]+)\\?" cannot (\w+) resource \\?"jobs\\?" in API group \\?"batch\\?"(?: in the namespace \\?"([^"\\]+)\\?")?"#,
    )
    .unwrap_or_else(|e| panic!("forbidden: {e}"))
});

fn grant_steps(ns: &str, user: &str) -> Vec<String> {
    let (sa_ns, sa) = user
        .strip_prefix("system:serviceaccount:")
        .and_then(|s| s.split_once(':'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_else(|| ("<WORKER_NS>".into(), "<WORKER_SA>".into()));
    vec![
        format!("kubectl auth can-i create jobs -n {} --as={}", sh(ns), sh(user)),
        format!(
            "kubectl -n {} create role prefect-worker --verb=create,get,list,watch,delete,patch --resource=jobs.batch \
             && kubectl -n {} create role prefect-worker-read --verb=get,list,watch --resource=pods,pods/log,events",
            sh(ns),
            sh(ns)
        ),
        format!(
            "kubectl -n {} create rolebinding prefect-worker --role=prefect-worker --serviceaccount={}:{} \
             && kubectl -n {} create rolebinding prefect-worker-read --role=prefect-worker-read --serviceaccount={}:{}",
            sh(ns),
            sh(&sa_ns),
            sh(&sa),
            sh(ns),
            sh(&sa_ns),
            sh(&sa)
        ),
        "Or point the `namespace` job variable at a namespace the worker may use (the prefect-worker Helm chart grants its own namespace)".to_string(),
    ]
}

pub(crate) fn forbidden(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let denied_review = kube
        .access_reviews
        .iter()
        .find(|r| !r.allowed && r.verb == "create" && (r.resource == "jobs" || r.resource == "jobs.batch"));
    let line = run.worker_log_lines.iter().rev().find_map(|l| FORBIDDEN_LINE.captures(l).map(|c| (l, c)));
    if denied_review.is_none() && line.is_none() {
        return vec![];
    }
    let (user, ns) = match (denied_review, &line) {
        (Some(r), _) => (r.user.clone(), r.namespace.clone()),
        (None, Some((_, c))) => (
            c.get(1).map_or("", |m| m.as_str()).to_string(),
            c.get(3)
                .map(|m| m.as_str().to_string())
                .or_else(|| kube.namespace().map(str::to_string))
                .unwrap_or_default(),
        ),
        (None, None) => return vec![],
    };
    let mut f = Finding::new(
        &FORBIDDEN,
        Severity::Error,
        format!("The worker ({user}) may not create Jobs in namespace {ns}"),
    )
    .subject(format!("namespace/{ns}"))
    .detail(format!(
        "The API server refuses {user} the `create` verb on jobs.batch in namespace {ns}: the worker claims runs but cannot create their Jobs, so they never get infrastructure."
    ));
    if let Some(r) = denied_review {
        f = f.evidence(format!(
            "access review: {} {} {} in {}: allowed=false{}",
            r.user,
            r.verb,
            if r.group.is_empty() { r.resource.clone() } else { format!("{}.{}", r.resource, r.group) },
            r.namespace,
            r.reason.as_deref().map(|x| format!(" ({x})")).unwrap_or_default()
        ));
    }
    if let Some((l, _)) = line {
        f = f.evidence(format!("worker log: {}", l.trim()));
    }
    for step in grant_steps(&ns, &user) {
        f = f.fix(step);
    }
    let _ = run.run_id;
    vec![f]
}

/// Below these a worker is starved (the Helm chart's defaults are 100m-1000m CPU, 256Mi-1Gi memory).
const MIN_CPU_CORES: f64 = 0.1;
const MIN_MEMORY_BYTES: f64 = 256.0 * 1024.0 * 1024.0;

pub(crate) fn worker_unhealthy(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let Some(pod) = &kube.worker_pod else {
        return vec![];
    };
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    let mut oom = false;
    for s in pod.all_statuses() {
        let restarts = s.restart_count.unwrap_or(0);
        if restarts > 0 {
            problems.push(format!("container {} restarted {restarts} times", s.name));
            if let Some(t) = &s.last_state.terminated {
                oom |= t.reason() == "OOMKilled";
                evidence.push(state_line(&s.name, "last terminated", t));
            }
        }
        if let Some(t) = s.state.terminated.as_ref().filter(|t| t.reason() == "OOMKilled") {
            oom = true;
            evidence.push(state_line(&s.name, "terminated", t));
        }
        if let Some(w) = s.state.waiting.as_ref().filter(|w| w.reason() == "CrashLoopBackOff") {
            evidence.push(state_line(&s.name, "waiting", w));
        }
    }
    for c in &pod.spec.containers {
        if let Some(q) = c.resources.limits.get("cpu").filter(|q| parse_quantity(q).is_some_and(|v| v < MIN_CPU_CORES))
        {
            problems.push(format!("container {} is limited to {} CPU", c.name, format_quantity("cpu", q)));
            evidence.push(format!("container {} resources.limits.cpu: {q}", c.name));
        }
        if let Some(q) =
            c.resources.limits.get("memory").filter(|q| parse_quantity(q).is_some_and(|v| v < MIN_MEMORY_BYTES))
        {
            problems.push(format!("container {} is limited to {} memory", c.name, format_quantity("memory", q)));
            evidence.push(format!("container {} resources.limits.memory: {q}", c.name));
        }
    }
    if problems.is_empty() {
        return vec![];
    }
    let _ = run;
    let container = pod.spec.containers.first().map(|c| c.name.as_str()).unwrap_or("prefect-worker");
    vec![Finding::new(
        &WORKER_UNHEALTHY,
        Severity::Warning,
        format!("The worker's pod {} is unhealthy: {}", pod.name(), problems.join("; ")),
    )
    .subject(pod_subject(pod))
    .detail(format!(
        "{}. A starved or restarting worker misses heartbeats and polls, and loses runs it claimed when it is killed mid-submission{}.",
        problems.join("; "),
        if oom { " (it was OOMKilled)" } else { "" }
    ))
    .evidence_all(evidence)
    .fix(describe_pod(pod))
    .fix(logs_cmd(pod, container, true))
    .fix("Raise the worker's resources in the prefect-worker Helm values (worker.resources.requests/limits: at least 100m CPU and 256Mi memory, more for many concurrent runs), then helm upgrade")]
}

/// Every pattern of this file is a literal compiled on first use: compiling them all here makes an
/// invalid one fail the tests instead of a diagnosis.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(!FORBIDDEN_LINE.as_str().is_empty());
    }
}
