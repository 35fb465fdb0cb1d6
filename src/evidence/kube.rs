//! The trimmed, serializable Kubernetes snapshot the checks read.
//!
//! Every object deserializes directly from `kubectl get -o json` shapes and serializes back in the
//! same camelCase shape, keeping only the fields the checks need, so an evidence bundle holds
//! kube-shaped objects a reader recognises. Fields are lenient: a missing field takes its default,
//! an unparsable timestamp becomes `None`, unknown fields and enum values are kept as strings or
//! ignored, so odd input never fails a whole snapshot.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

/// Kubernetes timestamps (`Time`, `MicroTime`): RFC 3339, or null. Anything unparsable is `None`
/// rather than an error, because one odd event must not lose the whole snapshot.
mod lenient {
    use super::*;

    pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let v = Option::<serde_json::Value>::deserialize(d)?;
        Ok(match v {
            Some(serde_json::Value::String(s)) => s.parse::<Timestamp>().ok(),
            _ => None,
        })
    }

    /// Integers that some producers send as strings or floats.
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let v = Option::<serde_json::Value>::deserialize(d)?;
        Ok(match v {
            Some(serde_json::Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        })
    }

    /// Quantities are strings in the API, but hand-written manifests and some tools emit numbers.
    pub fn quantities<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
        let v = Option::<BTreeMap<String, serde_json::Value>>::deserialize(d)?;
        Ok(v.unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                serde_json::Value::Number(n) => Some((k, n.to_string())),
                _ => None,
            })
            .collect())
    }

    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
        quantities(d)
    }
}

/// `metadata` of any object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(deserialize_with = "lenient::strings", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::time", skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Timestamp>,
    #[serde(deserialize_with = "lenient::time", skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OwnerReference {
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// A `status`/`type` condition as Jobs, Pods and Nodes carry them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown" (kept as sent).
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(deserialize_with = "lenient::time", skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Timestamp>,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status.eq_ignore_ascii_case("true")
    }
}

/// The condition of a type, if present.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

// ---------------------------------------------------------------------------------------------
// Jobs

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Job {
    pub metadata: ObjectMeta,
    pub spec: JobSpec,
    pub status: JobStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i64>,
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    pub template: PodTemplate,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodTemplate {
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub active: Option<i64>,
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub failed: Option<i64>,
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<i64>,
    #[serde(deserialize_with = "lenient::time", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
}

impl Job {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        condition(&self.status.conditions, type_)
    }
    pub fn is_suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }
}

// ---------------------------------------------------------------------------------------------
// Pods

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scheduling_gates: Vec<SchedulingGate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SchedulingGate {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub resources: Resources,
    /// Values are kept here and redacted on the way into a bundle.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resources {
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvVar {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `valueFrom` as sent (secretKeyRef, configMapKeyRef, fieldRef): it names, never holds, a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    /// Pending, Running, Succeeded, Failed, Unknown (kept as sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(deserialize_with = "lenient::time", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub ready: bool,
    #[serde(deserialize_with = "lenient::int")]
    pub restart_count: Option<i64>,
    pub state: ContainerState,
    pub last_state: ContainerState,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerState {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<StateDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<StateDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated: Option<StateDetail>,
}

/// `waiting`, `running` or `terminated`: one shape with the fields any of them may carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StateDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(deserialize_with = "lenient::time", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(deserialize_with = "lenient::time", skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

impl StateDetail {
    pub fn reason(&self) -> &str {
        self.reason.as_deref().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }
}

impl Pod {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }
    pub fn namespace(&self) -> &str {
        &self.metadata.namespace
    }
    pub fn phase(&self) -> &str {
        self.status.phase.as_deref().unwrap_or("")
    }
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        condition(&self.status.conditions, type_)
    }
    /// Init containers first: they run (and fail) first.
    pub fn all_statuses(&self) -> impl Iterator<Item = &ContainerStatus> {
        self.status.init_container_statuses.iter().chain(self.status.container_statuses.iter())
    }
    pub fn all_containers(&self) -> impl Iterator<Item = &Container> {
        self.spec.init_containers.iter().chain(self.spec.containers.iter())
    }
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.all_containers().find(|c| c.name == name)
    }
    pub fn restarts(&self) -> i64 {
        self.all_statuses().map(|s| s.restart_count.unwrap_or(0)).sum()
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// A core/v1 Event. events.k8s.io/v1 events are converted into this shape (`EventV1::into_core`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub metadata: ObjectMeta,
    pub involved_object: ObjectReference,
    pub reason: String,
    pub message: String,
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(deserialize_with = "lenient::time")]
    pub first_timestamp: Option<Timestamp>,
    #[serde(deserialize_with = "lenient::time")]
    pub last_timestamp: Option<Timestamp>,
    #[serde(deserialize_with = "lenient::time")]
    pub event_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<EventSeries>,
    pub source: EventSource,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reporting_component: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectReference {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// e.g. `spec.containers{prefect-job}` on kubelet events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventSeries {
    #[serde(deserialize_with = "lenient::int", skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(deserialize_with = "lenient::time")]
    pub last_observed_time: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventSource {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
}

impl Event {
    /// When it last happened: the latest of lastTimestamp, eventTime and series.lastObservedTime
    /// (new-style events leave lastTimestamp null and put repeats in the series).
    pub fn newest(&self) -> Option<Timestamp> {
        [self.last_timestamp, self.event_time, self.series.as_ref().and_then(|s| s.last_observed_time)]
            .into_iter()
            .flatten()
            .max()
    }

    /// When it first happened: firstTimestamp, else eventTime, else the newest time.
    pub fn oldest(&self) -> Option<Timestamp> {
        self.first_timestamp.or(self.event_time).or_else(|| self.newest())
    }

    /// How many times it happened (a series counts its repeats).
    pub fn times(&self) -> i64 {
        let series = self.series.as_ref().and_then(|s| s.count).unwrap_or(0);
        self.count.unwrap_or(0).max(series).max(1)
    }

    /// Who reported it: the legacy source component, else reportingComponent.
    pub fn component(&self) -> &str {
        if self.source.component.is_empty() { &self.reporting_component } else { &self.source.component }
    }

    /// Whether it is about this object (kind + namespace + name; uid too when both carry one).
    pub fn is_about(&self, kind: &str, namespace: &str, name: &str, uid: &str) -> bool {
        let o = &self.involved_object;
        o.kind == kind
            && o.name == name
            && (o.namespace.is_empty() || o.namespace == namespace)
            && (o.uid.is_empty() || uid.is_empty() || o.uid == uid)
    }
}

/// An events.k8s.io/v1 Event as the API serves it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventV1 {
    pub metadata: ObjectMeta,
    pub regarding: ObjectReference,
    pub reason: String,
    pub note: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(deserialize_with = "lenient::time")]
    pub event_time: Option<Timestamp>,
    pub series: Option<EventSeries>,
    pub reporting_controller: String,
    #[serde(deserialize_with = "lenient::int")]
    pub deprecated_count: Option<i64>,
    #[serde(deserialize_with = "lenient::time")]
    pub deprecated_first_timestamp: Option<Timestamp>,
    #[serde(deserialize_with = "lenient::time")]
    pub deprecated_last_timestamp: Option<Timestamp>,
    pub deprecated_source: EventSource,
}

impl EventV1 {
    /// The same event in core/v1 shape (the two APIs serve one stored object; this is the
    /// apiserver's own field mapping: note -> message, regarding -> involvedObject, deprecated* ->
    /// the legacy fields).
    pub fn into_core(self) -> Event {
        Event {
            metadata: self.metadata,
            involved_object: self.regarding,
            reason: self.reason,
            message: self.note,
            type_: self.type_,
            count: self.deprecated_count,
            first_timestamp: self.deprecated_first_timestamp,
            last_timestamp: self.deprecated_last_timestamp,
            event_time: self.event_time,
            series: self.series,
            source: self.deprecated_source,
            reporting_component: self.reporting_controller,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes, quotas, limit ranges

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Node {
    pub metadata: ObjectMeta,
    pub spec: NodeSpec,
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unschedulable: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Taint {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: BTreeMap<String, String>,
}

impl Node {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        condition(&self.status.conditions, type_)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceQuota {
    pub metadata: ObjectMeta,
    pub spec: QuotaSpec,
    pub status: QuotaStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QuotaSpec {
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub hard: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QuotaStatus {
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub hard: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub used: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LimitRange {
    pub metadata: ObjectMeta,
    pub spec: LimitRangeSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LimitRangeSpec {
    pub limits: Vec<LimitRangeItem>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LimitRangeItem {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub max: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub min: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub default: BTreeMap<String, String>,
    #[serde(deserialize_with = "lenient::quantities", skip_serializing_if = "BTreeMap::is_empty")]
    pub default_request: BTreeMap<String, String>,
}

/// A `kubectl get -o json` List (`items` only).
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct List<T> {
    #[serde(default)]
    pub items: Vec<T>,
}

// ---------------------------------------------------------------------------------------------
// What the collector adds around the objects

/// How the run's Job was found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Located {
    /// From the flow run's `infrastructure_pid`.
    ByPid { namespace: String, job: String },
    /// By the label `prefect.io/flow-run-id=<id>` in these namespaces.
    ByLabel { namespaces: Vec<String> },
    /// Looked in these namespaces (by pid and by label) and found nothing.
    NotFound { searched: Vec<String> },
}

impl Default for Located {
    fn default() -> Self {
        Located::NotFound { searched: Vec::new() }
    }
}

/// What `infrastructure_pid` names for the Kubernetes worker: `<namespace>:<job>`, or
/// `<cluster uid>:<namespace>:<job>` (older prefect-kubernetes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_uid: Option<String>,
    pub namespace: String,
    pub job: String,
}

impl JobRef {
    /// Parses from the right: the job name is last, the namespace before it; names never hold ':'.
    pub fn parse(pid: &str) -> Option<JobRef> {
        let mut parts = pid.trim().rsplitn(3, ':');
        let job = parts.next().filter(|s| !s.is_empty())?;
        let namespace = parts.next().filter(|s| !s.is_empty())?;
        let cluster_uid = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
        Some(JobRef { cluster_uid, namespace: namespace.to_string(), job: job.to_string() })
    }
}

/// The service account the run's pods use: whether it exists in the namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccountRef {
    pub namespace: String,
    pub name: String,
    /// `None` when the collector could not tell (not allowed to read service accounts).
    pub exists: Option<bool>,
}

/// The tail of one container's log, or why the kubelet would not give it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogTail {
    pub pod: String,
    pub container: String,
    /// The previous (terminated) instance: `kubectl logs --previous`.
    pub previous: bool,
    pub lines: Vec<String>,
    /// More lines existed than were kept.
    pub truncated: bool,
    /// The kubelet's 400, e.g. `container "prefect-job" in pod "p" is waiting to start: trying and
    /// failing to pull image`, or `previous terminated container "prefect-job" in pod "p" not found`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<LogUnavailable>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogUnavailable {
    pub status: u16,
    pub message: String,
}

/// A SelfSubjectAccessReview/SubjectAccessReview answer: may `user` do `verb` on `resource`?
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccessReview {
    /// e.g. `system:serviceaccount:prefect:prefect-worker`.
    pub user: String,
    pub verb: String,
    /// e.g. `jobs` (group `batch`).
    pub resource: String,
    #[serde(default)]
    pub group: String,
    pub namespace: String,
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A read the collector itself was refused (so a check cannot conclude from its absence).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeniedRead {
    pub verb: String,
    pub resource: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// Everything the Kubernetes collector gathered for one flow run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KubeEvidence {
    /// The run's `infrastructure_pid`, as recorded by the worker.
    pub infrastructure_pid: Option<String>,
    pub located: Located,
    pub job: Option<Job>,
    /// Pods of the run (label `prefect.io/flow-run-id=<id>`, or owned by the Job).
    pub pods: Vec<Pod>,
    /// Events whose involvedObject is the Job or one of the pods.
    pub events: Vec<Event>,
    /// Nodes the pods are bound to.
    pub nodes: Vec<Node>,
    pub quotas: Vec<ResourceQuota>,
    pub limit_ranges: Vec<LimitRange>,
    pub service_account: Option<ServiceAccountRef>,
    pub logs: Vec<LogTail>,
    pub access_reviews: Vec<AccessReview>,
    /// The worker's own pod, when it runs in this cluster.
    pub worker_pod: Option<Pod>,
    /// Reads the collector was refused.
    pub denied: Vec<DeniedRead>,
    /// Side reads that failed otherwise (`list events in prefect: HTTP 503 …`): what they would have
    /// shown is unknown, not absent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<String>,
}

impl KubeEvidence {
    /// What was found, in words: `job prefect/etl-x7k2p (by infrastructure_pid), 2 pods`.
    pub fn describe(&self) -> String {
        let pods = match self.pods.len() {
            1 => "1 pod".to_string(),
            n => format!("{n} pods"),
        };
        match (&self.job, &self.located) {
            (Some(j), Located::ByPid { .. }) => {
                format!("job {}/{} (by infrastructure_pid), {pods}", j.metadata.namespace, j.metadata.name)
            }
            (Some(j), _) => format!("job {}/{} (by the run's label), {pods}", j.metadata.namespace, j.metadata.name),
            (None, Located::ByPid { namespace, job }) => format!("job {namespace}/{job} not found, {pods}"),
            (None, Located::ByLabel { namespaces }) => format!("no job, {pods} in {}", namespaces.join(", ")),
            (None, Located::NotFound { searched }) => format!("no job or pod of the run in {}", searched.join(", ")),
        }
    }

    /// The namespace the run's infrastructure lives in, as far as the evidence tells.
    pub fn namespace(&self) -> Option<&str> {
        if let Some(j) = &self.job {
            return Some(j.metadata.namespace.as_str()).filter(|s| !s.is_empty());
        }
        if let Some(p) = self.pods.first() {
            return Some(p.namespace()).filter(|s| !s.is_empty());
        }
        match &self.located {
            Located::ByPid { namespace, .. } => Some(namespace.as_str()),
            Located::ByLabel { namespaces } => namespaces.first().map(String::as_str),
            Located::NotFound { searched } => searched.first().map(String::as_str),
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.metadata.name == name)
    }

    /// Events about an object, newest first.
    pub fn events_about(&self, kind: &str, namespace: &str, name: &str, uid: &str) -> Vec<&Event> {
        let mut v: Vec<&Event> = self.events.iter().filter(|e| e.is_about(kind, namespace, name, uid)).collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.newest()));
        v
    }

    pub fn pod_events(&self, pod: &Pod) -> Vec<&Event> {
        self.events_about("Pod", pod.namespace(), pod.name(), &pod.metadata.uid)
    }

    pub fn job_events(&self) -> Vec<&Event> {
        match &self.job {
            Some(j) => self.events_about("Job", &j.metadata.namespace, &j.metadata.name, &j.metadata.uid),
            None => Vec::new(),
        }
    }

    pub fn log(&self, pod: &str, container: &str, previous: bool) -> Option<&LogTail> {
        self.logs.iter().find(|l| l.pod == pod && l.container == container && l.previous == previous)
    }

    /// Whether the collector was refused `verb` on `resource` in `namespace` (or cluster-wide).
    pub fn was_denied(&self, verb: &str, resource: &str, namespace: &str) -> bool {
        self.denied
            .iter()
            .any(|d| d.verb == verb && d.resource == resource && (d.namespace.is_empty() || d.namespace == namespace))
    }
}

// ---------------------------------------------------------------------------------------------
// Quantities

/// Parses a Kubernetes quantity into base units (cores for cpu, bytes for memory):
/// `500m` = 0.5, `1Gi` = 1073741824, `128974848`, `1e3`, `2.5G`, `100Ki`. `None` when unparsable.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    const SUFFIXES: [(&str, f64); 16] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (number, factor) = SUFFIXES.iter().find_map(|(s, f)| q.strip_suffix(s).map(|n| (n, *f))).unwrap_or((q, 1.0));
    // "1E" is exa, but "1e3" is an exponent: the suffix table already took a trailing "E".
    let n: f64 = number.parse().ok()?;
    let v = n * factor;
    v.is_finite().then_some(v)
}

/// A byte count for humans: `7.0Gi`, `512Mi`, `100Ki`, `900`.
pub fn format_bytes(b: f64) -> String {
    const UNITS: [(&str, f64); 4] = [("Ti", 1099511627776.0), ("Gi", 1073741824.0), ("Mi", 1048576.0), ("Ki", 1024.0)];
    for (u, f) in UNITS {
        if b >= f {
            let v = b / f;
            return if (v - v.round()).abs() < 0.05 { format!("{}{u}", v.round()) } else { format!("{v:.1}{u}") };
        }
    }
    format!("{b}")
}

/// A quantity of resource `resource` for humans, normalised: cpu in cores or millicores, memory and
/// storage in binary units, anything else as sent.
pub fn format_quantity(resource: &str, q: &str) -> String {
    let Some(v) = parse_quantity(q) else {
        return q.to_string();
    };
    if resource.ends_with("cpu") {
        if v < 1.0 { format!("{}m", (v * 1000.0).round()) } else { format!("{v}") }
    } else if resource.ends_with("memory") || resource.ends_with("storage") {
        format_bytes(v)
    } else {
        q.to_string()
    }
}
