//! The run's Job: cannot create pods (`k8s.job-create-failed`), is gone (`k8s.job-missing`), failed
//! (`k8s.job-failed`), is suspended (`k8s.job-suspended`), succeeded while the run is still Pending
//! (`infra.exited-cleanly`), or was never seen by Prefect's observer (`k8s.observer-missing`).

use std::sync::LazyLock;

use regex::Regex;

use super::{
    FLOW_CONTAINER, RUN_LABEL, RunView, cancel_cmd, describe_job, event_line, human, job_subject, logs_cmd, run_pods,
};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity, sh};
use crate::evidence::kube::{Job, KubeEvidence, Located, format_quantity, parse_quantity};

pub const JOB_CREATE_FAILED: CheckInfo = CheckInfo {
    id: "k8s.job-create-failed",
    title: "the Job cannot create its pod (FailedCreate)",
    kind: Kind::Cause,
    item: Item::Permissions,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reads the Job's FailedCreate events from the job controller and says why no pod exists:
  quota           \"exceeded quota: q, requested: limits.memory=2Gi, used: limits.memory=7Gi, limited:
                  limits.memory=8Gi\" (parsed: what was asked, what is used, the hard limit)
  quota-limits    \"failed quota: q: must specify limits.cpu...\" (the quota needs explicit requests/limits)
  service-account \"error looking up service account ns/sa: serviceaccount \\\"sa\\\" not found\"
  pod-security    \"violates PodSecurity \\\"restricted:latest\\\": ...\" (Pod Security Admission)
  admission       a webhook or LimitRange rejected the pod
  invalid         the pod spec itself is invalid

Why it matters: the Job exists but has no pod, so Prefect's observer sees nothing and the run stays
Pending. The controller retries with back-off; nothing changes until the quota, service account or
policy does.",
    remediation: &[
        "kubectl -n <NS> describe job <JOB> (the Events section has the controller's FailedCreate message)",
        "kubectl -n <NS> get resourcequota; kubectl -n <NS> describe resourcequota",
        "Fix the `service_account_name` / `namespace` job variables, or the job_manifest's resources/securityContext",
    ],
};

pub const JOB_MISSING: CheckInfo = CheckInfo {
    id: "k8s.job-missing",
    title: "the run's Job does not exist",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a run whose recorded Job (infrastructure_pid `<namespace>:<job>`) does not exist
and whose label prefect.io/flow-run-id matches no Job or pod in the namespaces searched.

Why it matters: someone or something deleted the Job (ttlSecondsAfterFinished, a cleanup job, a
namespace reset), or the worker recorded a Job in a cluster this tool is not looking at. Nothing will
run the flow; the run will stay where it is until it is cancelled or rescheduled.",
    remediation: &[
        "Check you are looking at the right cluster and namespace (kubectl config current-context)",
        "Cancel the run and start a new one: prefect flow-run cancel <RUN_ID>",
    ],
};

pub const JOB_FAILED: CheckInfo = CheckInfo {
    id: "k8s.job-failed",
    title: "the run's Job failed (BackoffLimitExceeded / DeadlineExceeded)",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a Job with condition Failed=True and its reason: BackoffLimitExceeded (\"Job has
reached the specified backoff limit\": more pod failures than spec.backoffLimit), DeadlineExceeded
(\"Job was active longer than specified deadline\": spec.activeDeadlineSeconds), PodFailurePolicy.

Why it matters: the Job will not create another pod. Prefect's observer marks the run Crashed when it
sees this; a run still Pending means the observer missed it.",
    remediation: &[
        "kubectl -n <NS> describe job <JOB>",
        "kubectl -n <NS> logs job/<JOB> -c prefect-job (the failed pods' logs say why)",
    ],
};

pub const JOB_SUSPENDED: CheckInfo = CheckInfo {
    id: "k8s.job-suspended",
    title: "the run's Job is suspended",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a Job with spec.suspend: true (condition Suspended). Admission queues such as
Kueue create Jobs suspended and unsuspend them when their queue has quota.

Why it matters: a suspended Job creates no pods; the run waits for the queue. If Kueue manages the Job
(label kueue.x-k8s.io/queue-name), look at its Workload and ClusterQueue: unsuspending by hand is undone.",
    remediation: &[
        "kubectl -n <NS> get job <JOB> -o jsonpath='{.spec.suspend}'",
        "Kueue: kubectl -n <NS> get workloads; kubectl describe clusterqueue <QUEUE>",
    ],
};

pub const EXITED_CLEANLY: CheckInfo = CheckInfo {
    id: "infra.exited-cleanly",
    title: "the infrastructure exited cleanly but the run is still Pending",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports infrastructure that finished with exit code 0 while the run is still Pending: a
Kubernetes Job that Succeeded (or a flow-run container that exited 0), an ECS task whose essential
container exited 0, or the worker's own report of it (Prefect 3's prefect.worker.executed-flow-run event
with status code 0: its process worker writes no log line for a clean exit; a worker's \"exited
cleanly\" line). Something ran and succeeded, but it was not this run talking to this API:
  - the command did not run the flow: a custom command or entrypoint in the job template, the
    deployment, or the image replaced Prefect's (`prefect flow-run execute`)
  - the flow ran but reported to another API: without PREFECT_API_URL in the container's environment
    the engine starts an ephemeral local API inside the container and reports there
For ECS it says whether PREFECT_API_URL is in the task definition's environment or secrets, or in
RunTask's overrides, and quotes the container's last log lines.

Why it matters: nothing will move the run on; it stays Pending until cancelled.",
    remediation: &[
        "kubectl -n <NS> logs job/<JOB> -c prefect-job",
        "Check the job's command (default `prefect flow-run execute`) and that PREFECT_API_URL is in its env",
    ],
};

pub const OBSERVER_MISSING: CheckInfo = CheckInfo {
    id: "k8s.observer-missing",
    title: "Prefect's Kubernetes observer never reported this run's pod",
    kind: Kind::Risk,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a Pending run whose Job or pod exists while its state history never had
InfrastructurePending, the state prefect-kubernetes' observer proposes when it sees the pod Pending.

Why it matters: the observer is what turns pod failures into Crashed runs and pod diagnoses into
flow-run logs. Without it, a failed or vanished pod leaves the run Pending forever. It is off
(PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_ENABLED=false), does not watch the Job's namespace
(PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES), or its RBAC cannot watch pods/jobs there.",
    remediation: &[
        "Check the worker's env: PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_ENABLED and ..._OBSERVER_NAMESPACES",
        "kubectl auth can-i watch pods -n <NS> --as=system:serviceaccount:<WORKER_NS>:<WORKER_SA>",
    ],
};

static EXCEEDED_QUOTA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"exceeded quota: ([^,]+), requested: (.*?), used: (.*?), limited: (.*?)$")
        .unwrap_or_else(|e| panic!("quota: {e}"))
});
static FAILED_QUOTA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"failed quota: ([^:]+): (.*)$").unwrap_or_else(|e| panic!("failed quota: {e}")));
static MISSING_SA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"service ?account "?([^"\s:]+)"? (?:was )?not found|serviceaccount "([^"]+)" not found"#)
        .unwrap_or_else(|e| panic!("sa: {e}"))
});

/// One resource of an "exceeded quota" message.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaExcess {
    pub quota: String,
    pub resource: String,
    pub requested: String,
    pub used: String,
    pub limited: String,
}

/// Parses the quota admission's "exceeded quota: q, requested: a=1,b=2, used: a=3,b=4, limited: a=4,b=4".
pub fn parse_exceeded_quota(message: &str) -> Vec<QuotaExcess> {
    let Some(c) = EXCEEDED_QUOTA.captures(message.trim().trim_end_matches('"')) else {
        return Vec::new();
    };
    let pairs = |s: &str| -> Vec<(String, String)> {
        s.split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    };
    let (requested, used, limited) = (pairs(&c[2]), pairs(&c[3]), pairs(&c[4]));
    requested
        .into_iter()
        .map(|(resource, requested)| {
            let find = |v: &[(String, String)]| {
                v.iter().find(|(k, _)| *k == resource).map(|(_, q)| q.clone()).unwrap_or_default()
            };
            QuotaExcess {
                quota: c[1].trim().to_string(),
                used: find(&used),
                limited: find(&limited),
                resource,
                requested,
            }
        })
        .collect()
}

pub(crate) fn job_create_failed(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let Some(job) = &kube.job else { return vec![] };
    let Some(e) = kube.job_events().into_iter().find(|e| e.reason == "FailedCreate") else {
        return vec![];
    };
    // A pod that exists and runs means the failure is history.
    if run_pods(kube, run).any(|p| matches!(p.phase(), "Running" | "Succeeded")) {
        return vec![];
    }
    let ns = job.metadata.namespace.as_str();
    let msg = e.message.as_str();
    let sa = job.spec.template.spec.service_account_name.clone().unwrap_or_else(|| "default".into());
    let mut f = Finding::new(&JOB_CREATE_FAILED, Severity::Error, String::new()).subject(job_subject(job));
    let excess = parse_exceeded_quota(msg);
    let (class, title, detail);
    if !excess.is_empty() {
        class = "quota";
        let parts: Vec<String> = excess
            .iter()
            .map(|x| {
                let r = &x.resource;
                format!(
                    "{r}: requested {} + used {} > limit {}",
                    format_quantity(r, &x.requested),
                    format_quantity(r, &x.used),
                    format_quantity(r, &x.limited)
                )
            })
            .collect();
        let quota = excess.first().map(|x| x.quota.clone()).unwrap_or_default();
        title = format!("Job {} cannot create its pod: ResourceQuota {quota} exceeded", job.metadata.name);
        detail =
            format!("quota: the namespace's ResourceQuota {quota} has no room for the pod ({}).", parts.join("; "));
        for x in &excess {
            let now_used = kube.quotas.iter().find(|q| q.metadata.name == x.quota).and_then(|q| {
                q.status.used.get(&x.resource).map(|u| (u.clone(), q.status.hard.get(&x.resource).cloned()))
            });
            if let Some((u, h)) = now_used {
                let free = h.as_deref().and_then(parse_quantity).zip(parse_quantity(&u)).map(|(h, u)| h - u);
                f = f.evidence(format!(
                    "resourcequota {} now: {} used {} of {}{}",
                    x.quota,
                    x.resource,
                    format_quantity(&x.resource, &u),
                    h.as_deref().map(|h| format_quantity(&x.resource, h)).unwrap_or_else(|| "?".into()),
                    free.map(|fr| format!(" (free {})", format_quantity(&x.resource, &fr.max(0.0).to_string())))
                        .unwrap_or_default()
                ));
            }
        }
        f = f
            .fix(format!("kubectl -n {} get resourcequota", sh(ns)))
            .fix(format!("kubectl -n {} describe resourcequota {}", sh(ns), sh(&quota)))
            .fix("Free quota (finished pods of other runs still count until deleted: set ttlSecondsAfterFinished in the job_manifest), raise the quota, or lower the pod's requests/limits")
            .fix(super::resources_fix("smaller requests/limits"));
    } else if let Some(c) = FAILED_QUOTA.captures(msg) {
        class = "quota-limits";
        title = format!(
            "Job {} cannot create its pod: quota {} requires explicit resources",
            job.metadata.name,
            c[1].trim()
        );
        detail = format!(
            "quota-limits: ResourceQuota {} covers compute resources, so every pod must set them: {}.",
            c[1].trim(),
            c[2].trim()
        );
        f = f
            .fix(format!("kubectl -n {} get resourcequota,limitrange", sh(ns)))
            .fix(super::resources_fix("requests and limits for cpu and memory"))
            .fix(format!("Or give the namespace defaults: a LimitRange with default/defaultRequest (kubectl -n {} create -f limitrange.yaml)", sh(ns)));
    } else if msg.contains("error looking up service account") || MISSING_SA.is_match(msg) {
        class = "service-account";
        let name = MISSING_SA
            .captures(msg)
            .and_then(|c| c.get(2).or(c.get(1)).map(|m| m.as_str().to_string()))
            .unwrap_or_else(|| sa.clone());
        title =
            format!("Job {} cannot create its pod: service account {name} does not exist in {ns}", job.metadata.name);
        detail = format!(
            "service-account: the pod template names serviceAccountName {name}, which does not exist in namespace {ns}."
        );
        if let Some(s) = &kube.service_account {
            f = f.evidence(format!(
                "serviceaccount {}/{}: {}",
                s.namespace,
                s.name,
                match s.exists {
                    Some(true) => "exists now",
                    Some(false) => "not found",
                    None => "could not be checked",
                }
            ));
        }
        f = f
            .fix(format!("kubectl -n {} get serviceaccount {}", sh(ns), sh(&name)))
            .fix(format!("Create it: kubectl -n {} create serviceaccount {}", sh(ns), sh(&name)))
            .fix(super::job_variable_fix("service_account_name", "<EXISTING_SA>"));
    } else if msg.contains("violates PodSecurity") {
        class = "pod-security";
        let level =
            msg.split("violates PodSecurity ").nth(1).and_then(|s| s.split(':').next()).unwrap_or("").trim_matches('"');
        title = format!("Job {} cannot create its pod: it violates PodSecurity {level}", job.metadata.name);
        detail = format!(
            "pod-security: namespace {ns} enforces Pod Security {level}, and the pod template does not comply."
        );
        f = f
            .fix(format!("kubectl get namespace {} --show-labels (pod-security.kubernetes.io/enforce)", sh(ns)))
            .fix("Add the securityContext the message asks for to the job_manifest's container (allowPrivilegeEscalation: false, capabilities.drop: [ALL], runAsNonRoot: true, seccompProfile.type: RuntimeDefault)");
    } else if msg.contains("admission webhook")
        || msg.contains("denied the request")
        || msg.contains("LimitRange")
        || msg.contains("maximum")
        || msg.contains("minimum")
    {
        class = "admission";
        title = format!("Job {} cannot create its pod: admission denied it", job.metadata.name);
        detail =
            "admission: an admission controller (webhook, policy engine, LimitRange) rejected the pod.".to_string();
        f = f
            .fix(format!("kubectl -n {} get limitrange", sh(ns)))
            .fix("Change the pod template to satisfy the policy named in the message");
    } else if msg.contains("is invalid") {
        class = "invalid";
        title = format!("Job {} cannot create its pod: the pod spec is invalid", job.metadata.name);
        detail = "invalid: the API server rejected the pod template as invalid.".to_string();
        f = f.fix("Fix the field the message names in the work pool's job_manifest");
    } else {
        class = "other";
        title = format!("Job {} cannot create its pod", job.metadata.name);
        detail = "other: the job controller cannot create the pod.".to_string();
    }
    let _ = class;
    f.title = title;
    f.detail = format!("{detail} Controller: {}", msg.trim());
    let mut lines = vec![event_line(e, run)];
    lines.append(&mut f.evidence);
    f.evidence = lines;
    f.remediation.insert(0, describe_job(job));
    vec![f.fix(cancel_cmd(run))]
}

pub(crate) fn job_missing(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    if kube.job.is_some() || !kube.pods.is_empty() {
        return vec![];
    }
    let Located::NotFound { searched } = &kube.located else {
        return vec![];
    };
    if !(run.is_pending() || run.state_type.eq_ignore_ascii_case("RUNNING")) {
        return vec![];
    }
    let pid = kube.infrastructure_pid.as_deref().filter(|p| !p.is_empty());
    let jr = pid.and_then(crate::evidence::kube::JobRef::parse);
    // Without a recorded Job, an early Pending run may simply not have one yet.
    if jr.is_none() && run.in_state_for() <= run.threshold() {
        return vec![];
    }
    // A refused read proves nothing.
    if searched.iter().any(|ns| kube.was_denied("list", "jobs", ns) || kube.was_denied("get", "jobs", ns))
        || jr.as_ref().is_some_and(|j| kube.was_denied("get", "jobs", &j.namespace))
    {
        return vec![];
    }
    let mut f = Finding::new(
        &JOB_MISSING,
        Severity::Error,
        match &jr {
            Some(j) => format!("The run's Job {}/{} does not exist", j.namespace, j.job),
            None => "No Job or pod carries the run's label".to_string(),
        },
    )
    .detail(format!(
        "{} and no Job or pod labelled {RUN_LABEL}={} exists in {}: the Job was deleted (ttlSecondsAfterFinished, a cleanup, a namespace reset), or it lives in another cluster. The run is {} and nothing will run it.",
        match &jr {
            Some(j) => format!("The worker recorded Job {}/{}, which does not exist", j.namespace, j.job),
            None => "The run recorded no Job".to_string(),
        },
        run.run_id,
        if searched.is_empty() { "the namespaces searched".to_string() } else { searched.join(", ") },
        if run.state_name.is_empty() { run.state_type } else { run.state_name }
    ));
    if let Some(p) = pid {
        f = f.evidence(format!("infrastructure_pid: {p}"));
    }
    if let Some(j) = &jr {
        f = f
            .evidence(format!("kubectl -n {} get job {}: not found", j.namespace, j.job))
            .subject(format!("job/{}/{}", j.namespace, j.job));
        if let Some(uid) = &j.cluster_uid {
            f = f.evidence(format!("recorded cluster uid {uid}: compare with kubectl get namespace kube-system -o jsonpath='{{.metadata.uid}}'"));
        }
    }
    f = f.evidence(format!(
        "no pod with label {RUN_LABEL}={} in {}",
        run.run_id,
        if searched.is_empty() { "(no namespace)".to_string() } else { searched.join(", ") }
    ));
    let ns =
        jr.as_ref().map(|j| j.namespace.clone()).or_else(|| searched.first().cloned()).unwrap_or_else(|| "<NS>".into());
    vec![
        f.fix("Check the kube context is the worker's cluster: kubectl config current-context")
            .fix(format!("kubectl get jobs -A -l {RUN_LABEL}={}", sh(run.run_id)))
            .fix(format!("kubectl get events -n {} --field-selector involvedObject.kind=Job", sh(&ns)))
            .fix(cancel_cmd(run)),
    ]
}

pub(crate) fn job_failed(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let Some(job) = &kube.job else { return vec![] };
    let Some(c) = job.condition("Failed").filter(|c| c.is_true()) else {
        return vec![];
    };
    let reason = c.reason.as_deref().unwrap_or("Failed");
    let message = c.message.as_deref().unwrap_or("").trim();
    let limit = match reason {
        "BackoffLimitExceeded" => format!(
            " (backoffLimit {}, {} pod(s) failed)",
            job.spec.backoff_limit.unwrap_or(6),
            job.status.failed.unwrap_or(0)
        ),
        "DeadlineExceeded" => {
            job.spec.active_deadline_seconds.map(|s| format!(" (activeDeadlineSeconds {s})")).unwrap_or_default()
        }
        _ => String::new(),
    };
    let mut f =
        Finding::new(&JOB_FAILED, Severity::Error, format!("Job {} failed: {reason}{limit}", job.metadata.name))
            .subject(job_subject(job))
            .detail(format!(
                "{reason}: {message}{limit}. The Job will not start another pod{}.",
                if run.is_pending() {
                    "; Prefect's observer should have marked the run Crashed, and the run is still Pending"
                } else {
                    ""
                }
            ))
            .evidence(format!("condition Failed=True {reason}: {message}"));
    // Why the pods failed.
    for p in run_pods(kube, run) {
        for s in p.all_statuses() {
            if let Some(t) =
                s.state.terminated.as_ref().filter(|t| t.exit_code.unwrap_or(0) != 0 || !t.reason().is_empty())
            {
                f = f.evidence(format!("pod {}: {}", p.name(), super::state_line(&s.name, "terminated", t)));
            }
        }
    }
    let first_pod = run_pods(kube, run).next();
    f = f.fix(describe_job(job));
    f = match first_pod {
        Some(p) => f.fix(logs_cmd(p, FLOW_CONTAINER, false)),
        None => f.fix(format!(
            "kubectl -n {} logs job/{} -c {FLOW_CONTAINER}",
            sh(&job.metadata.namespace),
            sh(&job.metadata.name)
        )),
    };
    if reason == "DeadlineExceeded" {
        f = f.fix("Raise activeDeadlineSeconds in the job_manifest if the flow legitimately needs longer (it counts time spent Pending too)");
    }
    vec![f.fix(cancel_cmd(run))]
}

pub(crate) fn job_suspended(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let Some(job) = kube.job.as_ref().filter(|j| j.is_suspended()) else {
        return vec![];
    };
    let cond = job.condition("Suspended").filter(|c| c.is_true());
    let queue = job.metadata.label("kueue.x-k8s.io/queue-name");
    let ns = &job.metadata.namespace;
    let since = cond.and_then(|c| c.last_transition_time).or(job.metadata.creation_timestamp);
    let mut f = Finding::new(&JOB_SUSPENDED, Severity::Error, format!("Job {} is suspended", job.metadata.name))
        .subject(job_subject(job))
        .detail(format!(
            "spec.suspend is true{}: the Job creates no pods until it is resumed{}.",
            since.map(|t| format!(" (for {})", human(run.ago(t)))).unwrap_or_default(),
            queue.map(|q| format!("; Kueue queue {q} admits it when the ClusterQueue has quota")).unwrap_or_default()
        ))
        .evidence("spec.suspend: true");
    if let Some(c) = cond {
        f = f.evidence(format!(
            "condition Suspended=True {}: {}",
            c.reason.as_deref().unwrap_or(""),
            c.message.as_deref().unwrap_or("").trim()
        ));
    }
    if let Some(q) = queue {
        f = f.evidence(format!("label kueue.x-k8s.io/queue-name={q}"));
    }
    f = f.fix(format!("kubectl -n {} get job {} -o jsonpath='{{.spec.suspend}}'", sh(ns), sh(&job.metadata.name)));
    f = if queue.is_some() {
        f.fix(format!(
            "kubectl -n {} get workloads; kubectl -n {} describe workload <WORKLOAD> (why it is not admitted)",
            sh(ns),
            sh(ns)
        ))
        .fix("kubectl get clusterqueues (pending workloads and quota usage)")
    } else {
        f.fix(format!(
            "If nothing should hold it: kubectl -n {} patch job {} --type=merge -p '{{\"spec\":{{\"suspend\":false}}}}'",
            sh(ns),
            sh(&job.metadata.name)
        ))
    };
    vec![f]
}

fn has_api_url(job: Option<&Job>, kube: &KubeEvidence) -> Option<bool> {
    let from_job = job.and_then(|j| {
        j.spec.template.spec.containers.iter().find(|c| c.name == FLOW_CONTAINER).or(j
            .spec
            .template
            .spec
            .containers
            .first())
    });
    let from_pod = kube.pods.first().and_then(|p| p.container(FLOW_CONTAINER).or(p.spec.containers.first()));
    let c = from_job.or(from_pod)?;
    Some(c.env.iter().any(|e| e.name == "PREFECT_API_URL"))
}

pub(crate) fn exited_cleanly(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    if !run.is_pending() {
        return vec![];
    }
    let job = kube.job.as_ref();
    let complete = job.and_then(|j| j.condition("Complete")).filter(|c| c.is_true());
    let succeeded = job.and_then(|j| j.status.succeeded).unwrap_or(0) > 0;
    let clean_exit = run_pods(kube, run).find_map(|p| {
        p.status
            .container_statuses
            .iter()
            .find(|s| s.name == FLOW_CONTAINER || p.spec.containers.len() == 1)
            .and_then(|s| s.state.terminated.as_ref().filter(|t| t.exit_code == Some(0)).map(|t| (p, s, t)))
    });
    if complete.is_none() && !succeeded && clean_exit.is_none() {
        return vec![];
    }
    let api_url = has_api_url(job, kube);
    let subject = match (job, clean_exit) {
        (Some(j), _) => job_subject(j),
        (None, Some((p, _, _))) => super::pod_subject(p),
        (None, None) => return vec![],
    };
    let mut f = Finding::new(
        &EXITED_CLEANLY,
        Severity::Error,
        format!(
            "The run's {} exited cleanly (exit 0) but the run is still {}",
            if job.is_some() { "Job" } else { "pod" },
            if run.state_name.is_empty() { "Pending" } else { run.state_name }
        ),
    )
    .subject(subject)
    .detail(format!(
        "The container ran and exited 0 without the run ever reaching Running: its command did not run the flow, or the flow reported to another API.{}",
        match api_url {
            Some(false) => " The job's container has no PREFECT_API_URL in its env, so the engine used an ephemeral local API: this server never heard from it.",
            _ => "",
        }
    ));
    if let Some(c) = complete {
        f = f.evidence(format!(
            "job condition Complete=True {}: {}",
            c.reason.as_deref().unwrap_or(""),
            c.message.as_deref().unwrap_or("").trim()
        ));
    } else if succeeded {
        f = f.evidence(format!("job status.succeeded={}", job.and_then(|j| j.status.succeeded).unwrap_or(0)));
    }
    if let Some((p, s, t)) = clean_exit {
        f = f.evidence(format!("pod {}: {}", p.name(), super::state_line(&s.name, "terminated", t)));
        if let Some(l) = kube.log(p.name(), &s.name, false).filter(|l| l.unavailable.is_none()) {
            for line in l.lines.iter().rev().take(3).collect::<Vec<_>>().into_iter().rev() {
                f = f.evidence(format!("log: {line}"));
            }
        }
    }
    match api_url {
        Some(false) => f = f.evidence("env PREFECT_API_URL: not set on the flow-run container"),
        Some(true) => f = f.evidence("env PREFECT_API_URL: set"),
        None => {}
    }
    if let Some(j) = job {
        f = f.fix(format!(
            "kubectl -n {} logs job/{} -c {FLOW_CONTAINER}",
            sh(&j.metadata.namespace),
            sh(&j.metadata.name)
        ));
    }
    vec![f
        .fix("Check the job's command: it must run the flow (default `prefect flow-run execute`); prefect work-pool inspect <POOL>")
        .fix("Make sure PREFECT_API_URL (and PREFECT_API_KEY) reach the job: set them in the worker's env or the `env` job variable")
        .fix(cancel_cmd(run))]
}

/// The observer proposes InfrastructurePending within seconds of seeing the pod; give it this long.
const OBSERVER_GRACE_SECS: i64 = 120;

pub(crate) fn observer_missing(kube: &KubeEvidence, run: &RunView<'_>) -> Vec<Finding> {
    if !run.is_pending() || run.saw_infrastructure_pending || run.state_name == "InfrastructurePending" {
        return vec![];
    }
    // The observer reacts to pods; a Job without a pod is another check's story.
    let Some(pod) = run_pods(kube, run).min_by_key(|p| p.metadata.creation_timestamp) else {
        return vec![];
    };
    let Some(created) = pod.metadata.creation_timestamp else {
        return vec![];
    };
    let age = run.ago(created);
    if age.as_secs() < OBSERVER_GRACE_SECS {
        return vec![];
    }
    let what = format!("pod {} ({})", pod.name(), if pod.phase().is_empty() { "?" } else { pod.phase() });
    let subject = super::pod_subject(pod);
    let ns = kube.namespace().unwrap_or("<NS>");
    vec![Finding::new(
        &OBSERVER_MISSING,
        Severity::Warning,
        format!("Prefect's observer never reported the run's {what}"),
    )
    .subject(subject)
    .detail(format!(
        "The {what} has existed for {} but the run's state history has no InfrastructurePending: the worker's Kubernetes observer is off, does not watch namespace {ns}, or may not watch pods/jobs there. Without it, pod failures never mark the run Crashed.",
        human(age)
    ))
    .evidence(format!("{what} created {} ago", human(age)))
    .evidence(format!("state history: no InfrastructurePending (run is {} for {})", if run.state_name.is_empty() { run.state_type } else { run.state_name }, human(run.in_state_for())))
    .fix("Check the worker's env: PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_ENABLED (default true) and PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES")
    .fix(format!(
        "kubectl auth can-i watch pods -n {} --as=system:serviceaccount:<WORKER_NS>:<WORKER_SA> (and watch jobs.batch)",
        sh(ns)
    ))
    .fix("Look for kopf/observer errors in the worker's log at startup")]
}

/// Every pattern of this file is a literal compiled on first use: compiling them all here makes an
/// invalid one fail the tests instead of a diagnosis.
#[cfg(test)]
mod pattern_tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for p in [&*EXCEEDED_QUOTA, &*FAILED_QUOTA, &*MISSING_SA] {
            assert!(!p.as_str().is_empty());
        }
    }
}
