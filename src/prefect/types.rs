//! Prefect API response types: only the fields unstuck reads, tolerant of what newer servers add.
//!
//! Unknown fields are ignored, unknown enum values are kept as text, and timestamps are accepted with
//! `Z`, with an offset (Prefect 2 writes `+00:00`) or without one (read as UTC). The same types are
//! stored in evidence bundles, so they serialise back to the shape they were read from.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

/// Deserialises an optional timestamp; anything unparsable is treated as absent rather than failing
/// the whole response.
pub fn opt_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let raw: Option<String> = Option::deserialize(d)?;
    Ok(raw.as_deref().and_then(parse_ts))
}

/// Parses an API timestamp: RFC 3339, or a naive date-time read as UTC.
pub fn parse_ts(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok().or_else(|| {
        s.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp())
    })
}

/// A flow-run state type; values this version does not know are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum StateType {
    Scheduled,
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    Crashed,
    Paused,
    Cancelling,
    Other(String),
}

impl From<String> for StateType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "SCHEDULED" => StateType::Scheduled,
            "PENDING" => StateType::Pending,
            "RUNNING" => StateType::Running,
            "COMPLETED" => StateType::Completed,
            "FAILED" => StateType::Failed,
            "CANCELLED" => StateType::Cancelled,
            "CRASHED" => StateType::Crashed,
            "PAUSED" => StateType::Paused,
            "CANCELLING" => StateType::Cancelling,
            _ => StateType::Other(s),
        }
    }
}

impl From<StateType> for String {
    fn from(t: StateType) -> String {
        t.as_str().to_string()
    }
}

impl StateType {
    pub fn as_str(&self) -> &str {
        match self {
            StateType::Scheduled => "SCHEDULED",
            StateType::Pending => "PENDING",
            StateType::Running => "RUNNING",
            StateType::Completed => "COMPLETED",
            StateType::Failed => "FAILED",
            StateType::Cancelled => "CANCELLED",
            StateType::Crashed => "CRASHED",
            StateType::Paused => "PAUSED",
            StateType::Cancelling => "CANCELLING",
            StateType::Other(s) => s,
        }
    }

    /// The default state name for this type ("Pending" for PENDING).
    pub fn default_name(&self) -> String {
        let mut chars = self.as_str().chars();
        let mut out: String = chars.next().into_iter().collect();
        out.extend(chars.flat_map(char::to_lowercase));
        out
    }
}

impl fmt::Display for StateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StateDetails {
    #[serde(default, deserialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<Timestamp>,
    /// Prefect 3: the lease a Pending/Running run holds on its deployment's concurrency limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_concurrency_lease_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub state_type: StateType,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub timestamp: Option<Timestamp>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub state_details: StateDetails,
}

impl State {
    /// The state name, falling back to the type's default name.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.state_type.default_name())
    }
}

/// Treats `null` like a missing field.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowRun {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub flow_id: Option<String>,
    #[serde(default)]
    pub deployment_id: Option<String>,
    #[serde(default)]
    pub work_queue_id: Option<String>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
    #[serde(default)]
    pub work_pool_name: Option<String>,
    #[serde(default)]
    pub state_type: Option<StateType>,
    #[serde(default)]
    pub state_name: Option<String>,
    #[serde(default)]
    pub state: Option<State>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub created: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub expected_start_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub next_scheduled_start_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub start_time: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub end_time: Option<Timestamp>,
    #[serde(default)]
    pub infrastructure_pid: Option<String>,
    #[serde(default)]
    pub run_count: u32,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    /// Prefect 3 only; the worker writes `prefect.worker.name` here before submitting.
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, serde_json::Value>,
    /// Redacted at collection: values of secret-looking keys never leave the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_variables: Option<serde_json::Value>,
}

/// The state name of a run the deployment's concurrency limit refused.
pub const AWAITING_SLOT: &str = "AwaitingConcurrencySlot";

impl FlowRun {
    /// When a waiting run is due: its Scheduled state's time, else `next_scheduled_start_time`, else
    /// `expected_start_time` (which Prefect sets once: a run waiting out a retry delay or rescheduled
    /// has an old one, so it is the last resort). A run refused a concurrency slot is rescheduled 30 s
    /// ahead at every refusal, so it waits from when it was first due.
    pub fn due_at(&self) -> Option<Timestamp> {
        let scheduled =
            self.state.as_ref().and_then(|s| s.state_details.scheduled_time).or(self.next_scheduled_start_time);
        if self.state_name() == AWAITING_SLOT {
            return self.expected_start_time.or(scheduled);
        }
        scheduled.or(self.expected_start_time)
    }

    /// The current state type, from `state` or the denormalised `state_type`.
    pub fn state_type(&self) -> Option<&StateType> {
        self.state.as_ref().map(|s| &s.state_type).or(self.state_type.as_ref())
    }

    pub fn state_name(&self) -> String {
        self.state
            .as_ref()
            .map(State::display_name)
            .or_else(|| self.state_name.clone())
            .or_else(|| self.state_type.as_ref().map(StateType::default_name))
            .unwrap_or_else(|| "unknown".into())
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).and_then(|v| v.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flow {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GlobalConcurrencyLimit {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub limit: Option<u64>,
    #[serde(default)]
    pub active_slots: Option<u64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcurrencyOptions {
    #[serde(default)]
    pub collision_strategy: Option<String>,
    /// How long a slot's lease lasts before the run starts (default 300 s on the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub flow_id: Option<String>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub work_pool_name: Option<String>,
    #[serde(default)]
    pub work_queue_name: Option<String>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub last_polled: Option<Timestamp>,
    /// Prefect 3: the deployment's concurrency limit (a v2 limit named `deployment:<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_concurrency_limit: Option<GlobalConcurrencyLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_options: Option<ConcurrencyOptions>,
    /// Read to locate the run's infrastructure, never stored (it may hold secrets).
    #[serde(default, skip_serializing)]
    pub job_variables: Option<serde_json::Value>,
    /// Prefect 2 deployments run by an agent: the infrastructure block (KubernetesJob, ECSTask, Process…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_document_id: Option<String>,
}

/// A Prefect 2 infrastructure block document, trimmed to what says where and how the run goes: its
/// type, name and the settings that matter (never a secret: env values are dropped, names kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InfraBlock {
    /// `kubernetes-job`, `ecs-task`, `process`, `docker-container`, …
    pub block_type: String,
    /// The block type's display name (`KubernetesJob`).
    #[serde(default)]
    pub type_name: String,
    pub name: String,
    /// Selected settings, in a stable order: `namespace`, `image`, `cluster`, `command`, …
    #[serde(default)]
    pub settings: Vec<(String, String)>,
    /// The names of the env variables it sets (values are not kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
}

/// Settings of an infrastructure block worth showing, in display order.
const BLOCK_SETTINGS: &[&str] = &[
    "namespace",
    "cluster",
    "image",
    "command",
    "service_account_name",
    "task_definition_arn",
    "launch_type",
    "vpc_id",
    "working_dir",
    "networks",
    "stream_output",
];

impl InfraBlock {
    /// From `GET /block_documents/{id}` (Prefect 2; secret fields come obfuscated).
    pub fn from_document(doc: &serde_json::Value) -> InfraBlock {
        let data = &doc["data"];
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            serde_json::Value::Array(a) if a.is_empty() => None,
            serde_json::Value::Array(a) => Some(
                a.iter()
                    .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            other => Some(other.to_string()),
        };
        InfraBlock {
            block_type: doc["block_type"]["slug"].as_str().unwrap_or_default().to_string(),
            type_name: doc["block_type"]["name"]
                .as_str()
                .or(doc["block_type_name"].as_str())
                .unwrap_or_default()
                .to_string(),
            name: doc["name"].as_str().unwrap_or_default().to_string(),
            settings: BLOCK_SETTINGS
                .iter()
                .filter_map(|k| text(&data[*k]).filter(|v| !v.is_empty()).map(|v| (k.to_string(), v)))
                .collect(),
            env: data["env"].as_object().map(|e| e.keys().cloned().collect()).unwrap_or_default(),
        }
    }

    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `KubernetesJob block 'k8s-prod' (namespace prefect, image acme/etl:1)`.
    pub fn describe(&self) -> String {
        let what = if self.type_name.is_empty() { &self.block_type } else { &self.type_name };
        let settings: Vec<String> = self.settings.iter().take(4).map(|(k, v)| format!("{k} {v}")).collect();
        if settings.is_empty() {
            format!("{what} block '{}'", self.name)
        } else {
            format!("{what} block '{}' ({})", self.name, settings.join(", "))
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkPool {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(rename = "type", default)]
    pub pool_type: Option<String>,
    #[serde(default)]
    pub is_paused: bool,
    #[serde(default)]
    pub concurrency_limit: Option<u64>,
    /// READY | NOT_READY | PAUSED (null for `prefect-agent` pools).
    #[serde(default)]
    pub status: Option<String>,
    /// Prefect 3, only when a limit is set: runs PENDING or RUNNING in the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_slots: Option<u64>,
    /// Read to locate the run's infrastructure (the template's variable defaults), never stored.
    #[serde(default, skip_serializing)]
    pub base_job_template: Option<serde_json::Value>,
}

impl WorkPool {
    /// The defaults of the pool's job variables (`{"namespace": "prefect", …}`).
    pub fn variable_defaults(&self) -> serde_json::Value {
        let props = self.base_job_template.as_ref().and_then(|t| t.pointer("/variables/properties"));
        let defaults: serde_json::Map<String, serde_json::Value> = props
            .and_then(|p| p.as_object())
            .map(|p| {
                p.iter()
                    .filter_map(|(k, v)| v.get("default").filter(|d| !d.is_null()).map(|d| (k.clone(), d.clone())))
                    .collect()
            })
            .unwrap_or_default();
        serde_json::Value::Object(defaults)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkQueue {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub is_paused: bool,
    #[serde(default)]
    pub concurrency_limit: Option<u64>,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "opt_ts")]
    pub last_polled: Option<Timestamp>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_slots: Option<u64>,
    #[serde(default)]
    pub work_pool_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Worker {
    pub name: String,
    #[serde(default, deserialize_with = "opt_ts")]
    pub last_heartbeat_time: Option<Timestamp>,
    #[serde(default)]
    pub heartbeat_interval_seconds: Option<f64>,
    /// The stored status column: it lags (the server's foreman updates it every 15 s).
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub level: i64,
    pub message: String,
    #[serde(default, deserialize_with = "opt_ts")]
    pub timestamp: Option<Timestamp>,
}

/// A `prefect.worker.*` event about a flow run (Prefect 3 and Cloud): which worker submitted or
/// executed it. Read from `/events/filter`; only the fields unstuck uses are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerEvent {
    /// `prefect.worker.submitted-flow-run`, `prefect.worker.executed-flow-run`, ...
    pub event: String,
    #[serde(default, deserialize_with = "opt_ts")]
    pub occurred: Option<Timestamp>,
    /// The worker's name (`prefect.resource.name` of the event's resource).
    pub worker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_type: Option<String>,
    /// `prefect.worker.executed-flow-run`: the infrastructure's exit code, as the worker reported it
    /// (`prefect.infrastructure.status-code` on the event's flow-run resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// The infrastructure's identifier on the same resource (`prefect.infrastructure.identifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<String>,
}

/// One page of `/events/filter`, as the server sends it.
#[derive(Debug, Deserialize)]
pub struct EventPage {
    #[serde(default)]
    pub events: Vec<RawEvent>,
}

#[derive(Debug, Deserialize)]
pub struct RawEvent {
    pub event: String,
    #[serde(default, deserialize_with = "opt_ts")]
    pub occurred: Option<Timestamp>,
    #[serde(default)]
    pub resource: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub related: Vec<BTreeMap<String, serde_json::Value>>,
}

impl RawEvent {
    pub fn into_worker_event(self) -> WorkerEvent {
        let get = |k: &str| self.resource.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let run =
            self.related.iter().find(|r| r.get("prefect.resource.role").and_then(|v| v.as_str()) == Some("flow-run"));
        let of_run = |k: &str| run.and_then(|r| r.get(k)).and_then(|v| v.as_str()).map(str::to_string);
        WorkerEvent {
            worker: get("prefect.resource.name"),
            worker_type: get("prefect.worker-type"),
            status_code: of_run("prefect.infrastructure.status-code"),
            infrastructure: of_run("prefect.infrastructure.identifier"),
            event: self.event,
            occurred: self.occurred,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real Prefect 3 flow run (captured from a live server) parses, including labels and lease id.
    #[test]
    fn parses_prefect3_flow_run() {
        let run: FlowRun =
            serde_json::from_str(include_str!("../../fixtures/api/p3_flow_run_infrastructure_pending.json")).unwrap();
        assert_eq!(run.name, "grinning-chimera");
        assert_eq!(run.state_type(), Some(&StateType::Pending));
        assert_eq!(run.state_name(), "InfrastructurePending");
        assert_eq!(run.label("prefect.worker.name"), Some("worker-a"));
        assert_eq!(run.infrastructure_pid.as_deref(), Some("prefect-jobs:diag-flow-abc12"));
        let state = run.state.unwrap();
        assert!(state.state_details.deployment_concurrency_lease_id.is_some());
        assert_eq!(state.timestamp.unwrap().to_string(), "2026-11-21T11:22:51.68376Z");
    }

    /// Prefect 2 offsets (`+00:00`), unknown state types and unknown fields are accepted.
    #[test]
    fn tolerates_prefect2_and_future_servers() {
        let body = r#"{"id":"x","name":"n","state_type":"SUSPENDED_SOMEHOW","future_field":{"a":1},
            "state":{"type":"SUSPENDED_SOMEHOW","name":null,"timestamp":"2026-11-21T13:23:11.152299+00:00",
                     "state_details":null},
            "expected_start_time":"2026-11-21T10:00:00","labels":null,"tags":null}"#;
        let run: FlowRun = serde_json::from_str(body).unwrap();
        assert_eq!(run.state_type(), Some(&StateType::Other("SUSPENDED_SOMEHOW".into())));
        assert_eq!(run.expected_start_time.unwrap().to_string(), "2026-11-21T10:00:00Z");
        assert!(run.labels.is_empty());
        let back = serde_json::to_value(&run).unwrap();
        assert_eq!(back["state_type"], "SUSPENDED_SOMEHOW");
    }

    #[test]
    fn default_state_names() {
        assert_eq!(StateType::Pending.default_name(), "Pending");
        assert_eq!(StateType::Cancelling.default_name(), "Cancelling");
    }
}
