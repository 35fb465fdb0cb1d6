//! Loads a fixture scenario (`fixtures/k8s/<name>/`) into `KubeEvidence` the way the collector
//! selects objects: the Job by `infrastructure_pid`, else by the run label; pods by the run label or
//! owned by the Job; events by involvedObject; nodes by the pods' spec.nodeName; quotas, limit
//! ranges and the service account of the Job's namespace; the worker's pod by its Helm labels.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use crate::checks::k8s::{RUN_LABEL, RunView};
use crate::evidence::kube::{
    AccessReview, DeniedRead, Event, EventV1, Job, JobRef, KubeEvidence, LimitRange, List, Located, LogTail,
    LogUnavailable, Node, Pod, ResourceQuota, ServiceAccountRef,
};

/// What scenario.json says about the run and the expected diagnosis.
#[derive(Debug, Clone, Deserialize)]
pub struct ScenarioMeta {
    pub run_id: String,
    pub infrastructure_pid: Option<String>,
    pub namespace: String,
    pub now: Timestamp,
    pub pending_threshold_seconds: u64,
    pub state: StateMeta,
    pub saw_infrastructure_pending: bool,
    #[serde(default)]
    pub worker_log_lines: Vec<String>,
    pub expect: Expect,
    #[serde(default)]
    pub access_review: Option<AccessReview>,
    #[serde(default)]
    pub forbidden: Vec<DeniedRead>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StateMeta {
    #[serde(rename = "type")]
    pub type_: String,
    pub name: String,
    pub since: Timestamp,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expect {
    pub primary: Option<String>,
    pub detail_contains: Option<String>,
    pub evidence_contains: Option<String>,
    #[serde(default)]
    pub absent: Vec<String>,
}

impl ScenarioMeta {
    pub fn view(&self) -> RunView<'_> {
        RunView {
            run_id: &self.run_id,
            state_type: &self.state.type_,
            state_name: &self.state.name,
            state_since: self.state.since,
            saw_infrastructure_pending: self.saw_infrastructure_pending,
            now: self.now,
            pending_threshold: Duration::from_secs(self.pending_threshold_seconds),
            worker_log_lines: &self.worker_log_lines,
        }
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("k8s")
}

/// Every scenario directory, sorted.
pub fn scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap_or_else(|e| panic!("fixtures: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario.json").exists())
        .collect();
    v.sort();
    v
}

fn read_list<T: for<'de> Deserialize<'de>>(dir: &Path, file: &str) -> Vec<T> {
    let path = dir.join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let list: List<T> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    list.items
}

/// The unfiltered Lists of a scenario (what `kubectl get -A -o json` returned).
pub struct Cluster {
    pub jobs: Vec<Job>,
    pub pods: Vec<Pod>,
    pub events: Vec<Event>,
    pub nodes: Vec<Node>,
    pub quotas: Vec<ResourceQuota>,
    pub limit_ranges: Vec<LimitRange>,
    pub service_accounts: Vec<Pod>,
}

pub fn read_cluster(dir: &Path) -> Cluster {
    let mut events: Vec<Event> = read_list(dir, "events.json");
    events.extend(read_list::<EventV1>(dir, "events.k8s.io.json").into_iter().map(EventV1::into_core));
    Cluster {
        jobs: read_list(dir, "jobs.json"),
        pods: read_list(dir, "pods.json"),
        events,
        nodes: read_list(dir, "nodes.json"),
        quotas: read_list(dir, "resourcequotas.json"),
        limit_ranges: read_list(dir, "limitranges.json"),
        // Only metadata matters for service accounts; Pod's metadata shape is the same.
        service_accounts: read_list(dir, "serviceaccounts.json"),
    }
}

pub fn is_worker_pod(p: &Pod) -> bool {
    matches!(p.metadata.label("app.kubernetes.io/name"), Some("prefect-worker") | Some("prefect-agent"))
}

/// Loads a scenario the way a collector would select its objects.
pub fn load_scenario(dir: &Path) -> (KubeEvidence, ScenarioMeta) {
    let meta_text =
        std::fs::read_to_string(dir.join("scenario.json")).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let meta: ScenarioMeta = serde_json::from_str(&meta_text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let c = read_cluster(dir);
    let run_id = meta.run_id.as_str();

    let pid = meta.infrastructure_pid.as_deref().and_then(JobRef::parse);
    let by_pid = pid
        .as_ref()
        .and_then(|r| c.jobs.iter().find(|j| j.metadata.namespace == r.namespace && j.metadata.name == r.job));
    let by_label = || c.jobs.iter().find(|j| j.metadata.label(RUN_LABEL) == Some(run_id));
    let job = by_pid.or_else(by_label).cloned();
    let namespaces: Vec<String> = match &pid {
        Some(r) if r.namespace != meta.namespace => {
            vec![r.namespace.clone(), meta.namespace.clone()]
        }
        Some(r) => vec![r.namespace.clone()],
        None => vec![meta.namespace.clone()],
    };

    let pods: Vec<Pod> = c
        .pods
        .iter()
        .filter(|p| namespaces.contains(&p.metadata.namespace))
        .filter(|p| {
            p.metadata.label(RUN_LABEL) == Some(run_id)
                || job.as_ref().is_some_and(|j| {
                    p.metadata.owner_references.iter().any(|o| o.kind == "Job" && o.uid == j.metadata.uid)
                })
        })
        .cloned()
        .collect();
    let located = match (&job, by_pid.is_some()) {
        (Some(j), true) => Located::ByPid { namespace: j.metadata.namespace.clone(), job: j.metadata.name.clone() },
        (Some(_), false) => Located::ByLabel { namespaces: namespaces.clone() },
        (None, _) if !pods.is_empty() => Located::ByLabel { namespaces: namespaces.clone() },
        (None, _) => Located::NotFound { searched: namespaces.clone() },
    };

    let events: Vec<Event> = c
        .events
        .iter()
        .filter(|e| {
            job.as_ref().is_some_and(|j| e.is_about("Job", &j.metadata.namespace, &j.metadata.name, &j.metadata.uid))
                || pods.iter().any(|p| e.is_about("Pod", p.namespace(), p.name(), &p.metadata.uid))
        })
        .cloned()
        .collect();
    let nodes: Vec<Node> = c
        .nodes
        .iter()
        .filter(|n| pods.iter().any(|p| p.spec.node_name.as_deref() == Some(n.metadata.name.as_str())))
        .cloned()
        .collect();
    let ns = job.as_ref().map(|j| j.metadata.namespace.clone()).unwrap_or_else(|| namespaces[0].clone());
    let quotas = c.quotas.iter().filter(|q| q.metadata.namespace == ns).cloned().collect();
    let limit_ranges = c.limit_ranges.iter().filter(|q| q.metadata.namespace == ns).cloned().collect();
    let service_account = job.as_ref().map(|j| {
        let name = j.spec.template.spec.service_account_name.clone().unwrap_or_else(|| "default".into());
        let exists = c.service_accounts.iter().any(|s| s.metadata.namespace == ns && s.metadata.name == name);
        ServiceAccountRef { namespace: ns.clone(), name, exists: Some(exists) }
    });

    let mut logs = Vec::new();
    for p in &pods {
        let pdir = dir.join("logs").join(p.namespace()).join(p.name());
        for cont in p.all_containers() {
            for previous in [false, true] {
                let base = format!("{}{}", cont.name, if previous { ".previous" } else { "" });
                if let Ok(text) = std::fs::read_to_string(pdir.join(format!("{base}.log"))) {
                    logs.push(LogTail {
                        pod: p.name().to_string(),
                        container: cont.name.clone(),
                        previous,
                        lines: text.lines().map(str::to_string).collect(),
                        truncated: false,
                        unavailable: None,
                    });
                }
                if let Ok(text) = std::fs::read_to_string(pdir.join(format!("{base}.unavailable.json"))) {
                    let u: LogUnavailable = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{base}: {e}"));
                    logs.push(LogTail {
                        pod: p.name().to_string(),
                        container: cont.name.clone(),
                        previous,
                        lines: Vec::new(),
                        truncated: false,
                        unavailable: Some(u),
                    });
                }
            }
        }
    }

    let kube = KubeEvidence {
        infrastructure_pid: meta.infrastructure_pid.clone(),
        located,
        job,
        pods,
        events,
        nodes,
        quotas,
        limit_ranges,
        service_account,
        logs,
        access_reviews: meta.access_review.clone().into_iter().collect(),
        worker_pod: c.pods.iter().find(|p| is_worker_pod(p)).cloned(),
        denied: meta.forbidden.clone(),
        unread: Vec::new(),
    };
    (kube, meta)
}
