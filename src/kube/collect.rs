//! Finds a flow run's Job and pods and reads what the `k8s.*` checks need. Two rounds when the
//! `infrastructure_pid` names the Job (the Job, its pods and the namespace's quotas, limits and worker
//! pods at once; then events, nodes, the service account, container logs and an access review), one
//! more when it has to be searched for by label.

use futures_util::future::{join, join_all, join3};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{KubeClient, KubeError, path};
use crate::checks::k8s::{FLOW_CONTAINER, RUN_LABEL};
use crate::evidence::kube::{
    AccessReview, DeniedRead, Event, Job, KubeEvidence, LimitRange, List, Located, LogTail, LogUnavailable, Node, Pod,
    ResourceQuota, ServiceAccountRef,
};
use crate::evidence::{Failure, FailureKind, Source};
use crate::infra::Infra;
use crate::redact::Redactor;

/// Lines kept of one container's log, and the bytes asked for.
pub const LOG_LINES: u32 = 60;
pub const LOG_BYTES: u32 = 64 * 1024;
/// Pods whose events and logs are read (the newest first): a Job with backoffLimit 6 has up to 7.
const MAX_PODS: usize = 4;
/// Labels of the worker's own pod (Prefect's Helm charts).
const WORKER_SELECTOR: &str = "app.kubernetes.io/name in (prefect-worker,prefect-agent)";

/// What the collector knows of the run before it looks.
#[derive(Debug, Clone)]
pub struct Target {
    pub run_id: String,
    pub infrastructure_pid: Option<String>,
    /// Namespaces to search by label when the pid names no Job, most likely first (the run's job
    /// variables, the deployment's, the pool's template default).
    pub namespaces: Vec<String>,
}

struct Reader<'a> {
    client: &'a KubeClient,
    redactor: &'a Redactor,
    denied: std::cell::RefCell<Vec<DeniedRead>>,
    unread: std::cell::RefCell<Vec<String>>,
}

/// Where a read went, for a denial's wording ("list pods in namespace prefect").
#[derive(Clone, Copy)]
struct Read<'a> {
    verb: &'a str,
    resource: &'a str,
    namespace: &'a str,
}

impl Read<'_> {
    fn needs(&self) -> String {
        match self.namespace {
            "" => format!("{} {} (cluster-wide)", self.verb, self.resource),
            ns => format!("{} {} in namespace {ns}", self.verb, self.resource),
        }
    }
}

impl Reader<'_> {
    /// Reads an object through the redactor: every string of it (env values, args, messages) is
    /// scrubbed before it becomes evidence.
    async fn read<T: DeserializeOwned>(&self, what: Read<'_>, p: String) -> Result<Option<T>, KubeError> {
        match self.client.get::<serde_json::Value>(&p).await {
            Ok(mut v) => {
                self.redactor.redact_json_strings(&mut v);
                serde_json::from_value(v)
                    .map(Some)
                    .map_err(|e| KubeError::Other(format!("unexpected {} object: {e}", what.resource)))
            }
            Err(KubeError::NotFound) => Ok(None),
            Err(KubeError::Forbidden(m)) => {
                self.denied.borrow_mut().push(DeniedRead {
                    verb: what.verb.into(),
                    resource: what.resource.into(),
                    namespace: what.namespace.into(),
                    message: self.redactor.redact(&m).into_owned(),
                });
                Err(KubeError::Forbidden(m))
            }
            Err(e) => {
                let message = e.failure(None).message;
                self.unread.borrow_mut().push(format!("{}: {}", what.needs(), self.redactor.redact(&message)));
                Err(e)
            }
        }
    }

    async fn list<T: DeserializeOwned>(&self, what: Read<'_>, p: String) -> Result<Vec<T>, KubeError> {
        Ok(self.read::<List<T>>(what, p).await?.map(|l| l.items).unwrap_or_default())
    }
}

fn ns_path<'a>(group: &'a [&'a str], namespace: &'a str, resource: &'a str) -> Vec<&'a str> {
    let mut s = group.to_vec();
    if !namespace.is_empty() {
        s.extend(["namespaces", namespace]);
    }
    s.push(resource);
    s
}

const CORE: &[&str] = &["api", "v1"];
const BATCH: &[&str] = &["apis", "batch", "v1"];

/// Collects the run's Kubernetes evidence. A failure of the reads that decide everything (the Job and
/// its pods) fails the source; a refused side read is recorded in `denied` and the rest still counts.
pub async fn collect(client: &KubeClient, target: &Target, redactor: &Redactor) -> Source<KubeEvidence> {
    let reader = Reader { client, redactor, denied: Default::default(), unread: Default::default() };
    match collect_with(&reader, target).await {
        Ok(mut ev) => {
            ev.denied = reader.denied.into_inner();
            ev.unread = reader.unread.into_inner();
            Source::ok(ev)
        }
        Err(f) => Source::Failed(f),
    }
}

async fn collect_with(r: &Reader<'_>, target: &Target) -> Result<KubeEvidence, Failure> {
    let run_selector = format!("{RUN_LABEL}={}", target.run_id);
    let by_pid = match target.infrastructure_pid.as_deref().map(|p| crate::infra::parse(p, Some("kubernetes"))) {
        Some(Infra::Kubernetes { namespace, job, .. }) => Some((namespace, job)),
        _ => None,
    };

    // Round 1: the Job and its pods (by the pid, else by label), with the namespace's own objects
    // when the namespace is known already.
    let (located, job, mut pods, ns_objects) = match &by_pid {
        Some((ns, name)) => {
            let job_read = Read { verb: "get", resource: "jobs", namespace: ns };
            let pods_read = Read { verb: "list", resource: "pods", namespace: ns };
            let job = r.read::<Job>(job_read, path(&[BATCH, &["namespaces", ns, "jobs", name]].concat(), &[]));
            let by_run =
                r.list::<Pod>(pods_read, path(&ns_path(CORE, ns, "pods"), &[("labelSelector", &run_selector)]));
            let by_job = r.list::<Pod>(
                pods_read,
                path(&ns_path(CORE, ns, "pods"), &[("labelSelector", &format!("job-name={name}"))]),
            );
            let ((job, (by_run, by_job)), ns_objects) =
                join(join(job, join(by_run, by_job)), namespace_objects(r, ns)).await;
            let job = job.map_err(|e| e.failure(Some(job_read.needs())))?;
            let mut pods = by_run.map_err(|e| e.failure(Some(pods_read.needs())))?;
            pods.extend(by_job.unwrap_or_default());
            let located = match (&job, pods.is_empty()) {
                (Some(_), _) => Located::ByPid { namespace: ns.clone(), job: name.clone() },
                (None, false) => Located::ByLabel { namespaces: vec![ns.clone()] },
                (None, true) => Located::NotFound { searched: vec![ns.clone()] },
            };
            (located, job, pods, Some(ns_objects))
        }
        None => {
            let (located, job, pods) = search(r, target, &run_selector).await?;
            (located, job, pods, None)
        }
    };
    dedup_pods(&mut pods, job.as_ref());

    let namespace = job
        .as_ref()
        .map(|j| j.metadata.namespace.clone())
        .or_else(|| pods.first().map(|p| p.namespace().to_string()))
        .or_else(|| by_pid.as_ref().map(|(ns, _)| ns.clone()));

    // Round 2: what hangs off the Job and its pods.
    let ns_objects = match (ns_objects, &namespace) {
        (Some(o), _) => Some(o),
        (None, Some(ns)) => Some(namespace_objects(r, ns).await),
        (None, None) => None,
    };
    let (quotas, limit_ranges, worker_pods) = ns_objects.unwrap_or_default();
    let worker_pod = worker_pods.into_iter().max_by_key(|p| p.metadata.creation_timestamp);
    let details = details(r, job.as_ref(), &pods, worker_pod.as_ref(), namespace.as_deref().unwrap_or_default());
    let (events, nodes, service_account, logs, access_reviews) = details.await;

    Ok(KubeEvidence {
        infrastructure_pid: target.infrastructure_pid.clone(),
        located,
        job,
        pods,
        events,
        nodes,
        quotas,
        limit_ranges,
        service_account,
        logs,
        access_reviews,
        worker_pod,
        denied: Vec::new(),
        unread: Vec::new(),
    })
}

/// Searches by the run label: the hinted namespaces and the context's, then every namespace the user
/// may list (one cluster-wide, label-selected list).
async fn search(r: &Reader<'_>, target: &Target, selector: &str) -> Result<(Located, Option<Job>, Vec<Pod>), Failure> {
    let mut namespaces: Vec<String> = Vec::new();
    for ns in target.namespaces.iter().chain(std::iter::once(&r.client.default_namespace)) {
        if !ns.is_empty() && !namespaces.contains(ns) {
            namespaces.push(ns.clone());
        }
    }
    let look = |ns: String| async move {
        let jobs = r.list::<Job>(
            Read { verb: "list", resource: "jobs", namespace: &ns },
            path(&ns_path(BATCH, &ns, "jobs"), &[("labelSelector", selector)]),
        );
        let pods = r.list::<Pod>(
            Read { verb: "list", resource: "pods", namespace: &ns },
            path(&ns_path(CORE, &ns, "pods"), &[("labelSelector", selector)]),
        );
        let (jobs, pods) = join(jobs, pods).await;
        (ns, jobs, pods)
    };
    let found = join_all(namespaces.iter().cloned().map(look)).await;
    let mut first_error = None;
    let mut searched = Vec::new();
    for (ns, jobs, pods) in found {
        searched.push(ns.clone());
        match (jobs, pods) {
            (Ok(jobs), Ok(pods)) if !jobs.is_empty() || !pods.is_empty() => {
                return Ok((Located::ByLabel { namespaces: vec![ns] }, jobs.into_iter().next(), pods));
            }
            (Ok(_), Ok(_)) => {}
            (Err(e), _) | (_, Err(e)) => {
                let what = Read { verb: "list", resource: "pods", namespace: &ns };
                first_error.get_or_insert(e.failure(Some(what.needs())));
            }
        }
    }
    // Every namespace at once, if the user may.
    let (jobs, pods) = join(
        r.list::<Job>(
            Read { verb: "list", resource: "jobs", namespace: "" },
            path(&ns_path(BATCH, "", "jobs"), &[("labelSelector", selector)]),
        ),
        r.list::<Pod>(
            Read { verb: "list", resource: "pods", namespace: "" },
            path(&ns_path(CORE, "", "pods"), &[("labelSelector", selector)]),
        ),
    )
    .await;
    match (jobs, pods) {
        (Ok(jobs), Ok(pods)) => {
            searched.push("all namespaces".into());
            let ns = jobs
                .first()
                .map(|j| j.metadata.namespace.clone())
                .or_else(|| pods.first().map(|p| p.namespace().to_string()));
            match ns {
                Some(ns) => Ok((Located::ByLabel { namespaces: vec![ns] }, jobs.into_iter().next(), pods)),
                None => Ok((Located::NotFound { searched }, None, Vec::new())),
            }
        }
        // Refused cluster-wide: the namespaces that could be searched still say "not there".
        (Err(KubeError::Forbidden(_)), _) | (_, Err(KubeError::Forbidden(_)))
            if first_error.is_none() && !searched.is_empty() =>
        {
            Ok((Located::NotFound { searched }, None, Vec::new()))
        }
        (Err(e), _) | (_, Err(e)) => {
            Err(first_error.unwrap_or_else(|| e.failure(Some("list pods (cluster-wide)".into()))))
        }
    }
}

/// Pods found twice (by the run label and by the Job's), newest first, and only the Job's or the run's.
fn dedup_pods(pods: &mut Vec<Pod>, job: Option<&Job>) {
    let mut seen = std::collections::HashSet::new();
    pods.retain(|p| seen.insert((p.metadata.namespace.clone(), p.metadata.name.clone())));
    if let Some(j) = job {
        pods.retain(|p| {
            p.metadata
                .owner_references
                .iter()
                .all(|o| o.kind != "Job" || o.uid == j.metadata.uid || j.metadata.uid.is_empty())
        });
    }
    pods.sort_by_key(|p| std::cmp::Reverse(p.metadata.creation_timestamp));
}

type NamespaceObjects = (Vec<ResourceQuota>, Vec<LimitRange>, Vec<Pod>);

/// Quotas, limit ranges and the worker's own pods of a namespace; a refused read leaves its part empty
/// (and recorded as denied).
async fn namespace_objects(r: &Reader<'_>, ns: &str) -> NamespaceObjects {
    let (quotas, limits, workers) = join3(
        r.list::<ResourceQuota>(
            Read { verb: "list", resource: "resourcequotas", namespace: ns },
            path(&ns_path(CORE, ns, "resourcequotas"), &[]),
        ),
        r.list::<LimitRange>(
            Read { verb: "list", resource: "limitranges", namespace: ns },
            path(&ns_path(CORE, ns, "limitranges"), &[]),
        ),
        r.list::<Pod>(
            Read { verb: "list", resource: "pods", namespace: ns },
            path(&ns_path(CORE, ns, "pods"), &[("labelSelector", WORKER_SELECTOR)]),
        ),
    )
    .await;
    (quotas.unwrap_or_default(), limits.unwrap_or_default(), workers.unwrap_or_default())
}

type Details = (Vec<Event>, Vec<Node>, Option<ServiceAccountRef>, Vec<LogTail>, Vec<AccessReview>);

async fn details(r: &Reader<'_>, job: Option<&Job>, pods: &[Pod], worker: Option<&Pod>, ns: &str) -> Details {
    let pods = &pods[..pods.len().min(MAX_PODS)];
    let events_of = |kind: &'static str, ns: String, name: String| async move {
        let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
        r.list::<Event>(
            Read { verb: "list", resource: "events", namespace: &ns },
            path(&ns_path(CORE, &ns, "events"), &[("fieldSelector", &selector)]),
        )
        .await
        .unwrap_or_default()
    };
    let mut event_reads = Vec::new();
    if let Some(j) = job {
        event_reads.push(events_of("Job", j.metadata.namespace.clone(), j.metadata.name.clone()));
    }
    for p in pods {
        event_reads.push(events_of("Pod", p.metadata.namespace.clone(), p.metadata.name.clone()));
    }
    let events = async { join_all(event_reads).await.into_iter().flatten().collect::<Vec<_>>() };

    let mut node_names: Vec<&str> =
        pods.iter().filter_map(|p| p.spec.node_name.as_deref()).filter(|n| !n.is_empty()).collect();
    node_names.sort_unstable();
    node_names.dedup();
    let nodes = async {
        let reads = node_names.iter().map(|n| {
            r.read::<Node>(
                Read { verb: "get", resource: "nodes", namespace: "" },
                path(&[CORE, &["nodes", n]].concat(), &[]),
            )
        });
        join_all(reads).await.into_iter().filter_map(|n| n.ok().flatten()).collect::<Vec<_>>()
    };

    let service_account = async {
        let job = job?;
        let name = job
            .spec
            .template
            .spec
            .service_account_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
        let ns = job.metadata.namespace.clone();
        let got = r
            .read::<serde_json::Value>(
                Read { verb: "get", resource: "serviceaccounts", namespace: &ns },
                path(&[CORE, &["namespaces", &ns, "serviceaccounts", &name]].concat(), &[]),
            )
            .await;
        let exists = match got {
            Ok(found) => Some(found.is_some()),
            Err(_) => None,
        };
        Some(ServiceAccountRef { namespace: ns, name, exists })
    };

    let logs = async { join_all(log_reads(r, pods)).await.into_iter().flatten().collect::<Vec<_>>() };

    let reviews = async {
        match (job, worker) {
            // No Job: may the worker create one? (Only the worker's service account can say.)
            (None, Some(w)) if !ns.is_empty() => access_review(r, w, ns).await.into_iter().collect(),
            _ => Vec::new(),
        }
    };
    let ((events, nodes), (service_account, logs, access_reviews)) =
        join(join(events, nodes), join3(service_account, logs, reviews)).await;
    (events, nodes, service_account, logs, access_reviews)
}

/// The log tails worth reading: every container that is waiting or terminated or has restarted
/// (current and previous instance), and the flow container of a running pod.
fn log_reads<'a>(r: &'a Reader<'a>, pods: &'a [Pod]) -> Vec<impl std::future::Future<Output = Option<LogTail>> + 'a> {
    let mut reads = Vec::new();
    for p in pods {
        for s in p.all_statuses() {
            let interesting = s.state.waiting.is_some()
                || s.state.terminated.is_some()
                || s.restart_count.unwrap_or(0) > 0
                || s.name == FLOW_CONTAINER;
            if !interesting {
                continue;
            }
            let previous = s.last_state.terminated.is_some();
            reads.push(log_tail(r, p, s.name.clone(), false));
            if previous {
                reads.push(log_tail(r, p, s.name.clone(), true));
            }
        }
    }
    reads
}

async fn log_tail(r: &Reader<'_>, p: &Pod, container: String, previous: bool) -> Option<LogTail> {
    let ns = p.namespace();
    let tail = LOG_LINES.to_string();
    let bytes = LOG_BYTES.to_string();
    let mut query =
        vec![("container", container.as_str()), ("tailLines", tail.as_str()), ("limitBytes", bytes.as_str())];
    if previous {
        query.push(("previous", "true"));
    }
    let p_path = path(&[CORE, &["namespaces", ns, "pods", p.name(), "log"]].concat(), &query);
    let mut logtail = LogTail { pod: p.name().to_string(), container, previous, ..Default::default() };
    match r.client.text(&p_path, LOG_BYTES as usize * 2).await {
        Ok(text) => {
            let mut lines: Vec<String> = text.lines().map(|l| r.redactor.redact(l).into_owned()).collect();
            logtail.truncated = lines.len() >= LOG_LINES as usize || text.len() >= LOG_BYTES as usize;
            if lines.len() > LOG_LINES as usize {
                lines.drain(..lines.len() - LOG_LINES as usize);
            }
            logtail.lines = lines;
        }
        // The kubelet's 400 for a container that never ran (or has no previous instance) is evidence.
        Err(KubeError::BadRequest(m)) => {
            logtail.unavailable = Some(LogUnavailable { status: 400, message: r.redactor.redact(&m).into_owned() })
        }
        Err(KubeError::Forbidden(m)) => {
            r.denied.borrow_mut().push(DeniedRead {
                verb: "get".into(),
                resource: "pods/log".into(),
                namespace: ns.to_string(),
                message: r.redactor.redact(&m).into_owned(),
            });
            return None;
        }
        Err(_) => return None,
    }
    Some(logtail)
}

#[derive(Deserialize)]
struct ReviewStatus {
    #[serde(default)]
    status: ReviewAnswer,
}

#[derive(Default, Deserialize)]
struct ReviewAnswer {
    #[serde(default)]
    allowed: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// Asks the API server whether the worker's service account may create Jobs in `ns` (a
/// SubjectAccessReview answers and stores nothing).
async fn access_review(r: &Reader<'_>, worker: &Pod, ns: &str) -> Option<AccessReview> {
    let sa = worker.spec.service_account_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "default".into());
    let user = format!("system:serviceaccount:{}:{sa}", worker.namespace());
    let body = serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", worker.namespace()), "system:authenticated"],
            "resourceAttributes": {"namespace": ns, "verb": "create", "group": "batch", "resource": "jobs"},
        },
    });
    let p = path(&["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"], &[]);
    match r.client.post::<ReviewStatus>(&p, &body).await {
        Ok(answer) => Some(AccessReview {
            user,
            verb: "create".into(),
            resource: "jobs".into(),
            group: "batch".into(),
            namespace: ns.to_string(),
            allowed: answer.status.allowed,
            reason: answer.status.reason.filter(|s| !s.is_empty()),
        }),
        Err(KubeError::Forbidden(m)) => {
            r.denied.borrow_mut().push(DeniedRead {
                verb: "create".into(),
                resource: "subjectaccessreviews".into(),
                namespace: String::new(),
                message: r.redactor.redact(&m).into_owned(),
            });
            None
        }
        Err(_) => None,
    }
}

/// A source for a run unstuck cannot look for in Kubernetes.
pub fn skipped(reason: &str, hint: Option<&str>) -> Source<KubeEvidence> {
    Source::Skipped { reason: reason.into(), hint: hint.map(str::to_string) }
}

pub fn failed(kind: FailureKind, message: String) -> Source<KubeEvidence> {
    Source::Failed(Failure::new(kind, message))
}
