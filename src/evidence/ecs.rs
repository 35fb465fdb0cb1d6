//! The trimmed, serializable ECS snapshot the checks read: what DescribeTasks, DescribeTaskDefinition,
//! DescribeClusters, DescribeCapacityProviders and CloudWatch Logs answered for one flow run.
//!
//! The structs keep the AWS JSON 1.1 wire shapes (camelCase, timestamps as epoch seconds), only with the
//! fields checks need, so a recorded response deserializes straight into them and a saved evidence bundle
//! reads like the API. Every field is optional or defaults: a missing field, a `null` or an enum value
//! newer than this code never fails a check. Enum-like fields stay strings; typed views (`StopCode`,
//! `TaskStatus`) map unknown values to `Other`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

/// The task tag Prefect's ECS worker sets to the flow run's id (the job's `labels`, slugified).
pub const FLOW_RUN_ID_TAG: &str = "prefect.io/flow-run-id";

/// The container name Prefect's ECS worker gives the flow-run container when it builds the task definition.
pub const PREFECT_CONTAINER: &str = "prefect";

/// The CloudWatch log group Prefect's ECS worker configures with `configure_cloudwatch_logs`.
pub const PREFECT_LOG_GROUP: &str = "prefect";

/// Everything collected about the run's ECS task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EcsEvidence {
    /// The flow run's `infrastructure_pid` as Prefect recorded it (`<cluster>::<task arn>`), if any.
    #[serde(default)]
    pub infrastructure_pid: Option<String>,
    /// How the task was found.
    pub located: Located,
    /// The task's region, from its ARN (or the cluster's, when no task was found).
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub cluster: Lookup<Cluster>,
    #[serde(default)]
    pub task: Lookup<Task>,
    #[serde(default)]
    pub task_definition: Lookup<TaskDefinition>,
    /// The cluster's capacity providers (DescribeCapacityProviders), when it has any.
    #[serde(default)]
    pub capacity_providers: Vec<CapacityProvider>,
    /// The flow-run container's CloudWatch log tail; `None` when logs were not read.
    #[serde(default)]
    pub logs: Option<ContainerLogs>,
    /// Reads after the task's that failed (IAM denied, throttled past the deadline, …); what they
    /// would have shown is unknown, the rest still counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<Unread>,
}

/// One read the collector could not make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unread {
    /// The IAM action of the call (`logs:GetLogEvents`).
    pub action: String,
    pub kind: crate::evidence::FailureKind,
    /// The redacted error.
    pub message: String,
}

impl EcsEvidence {
    /// The IAM actions unstuck was refused.
    pub fn denied(&self) -> impl Iterator<Item = &str> {
        self.unread.iter().filter(|u| u.kind == crate::evidence::FailureKind::Forbidden).map(|u| u.action.as_str())
    }

    /// "; not allowed to call logs:GetLogEvents; could not read ecs:DescribeClusters (…)", or nothing.
    pub fn unread_detail(&self) -> String {
        let mut out = String::new();
        let denied: Vec<&str> = self.denied().collect();
        if !denied.is_empty() {
            out.push_str(&format!("; not allowed to call {} (unstuck needs it)", denied.join(", ")));
        }
        let other: Vec<String> =
            self.unread
                .iter()
                .filter(|u| u.kind != crate::evidence::FailureKind::Forbidden)
                .map(|u| {
                    if u.message.contains(&u.action) {
                        u.message.clone()
                    } else {
                        format!("{}: {}", u.action, u.message)
                    }
                })
                .collect();
        if !other.is_empty() {
            out.push_str(&format!("; could not read {}", other.join("; ")));
        }
        out
    }
}

impl EcsEvidence {
    /// What was read, in words, for the sources section.
    pub fn describe(&self) -> String {
        let task = match (&self.task, &self.located) {
            (Lookup::Found(t), _) => {
                format!("task {} ({})", t.id().unwrap_or("?"), t.last_status.as_deref().unwrap_or("?"))
            }
            (Lookup::Missing(_), _) => "task not found".to_string(),
            (Lookup::NotChecked, Located::NotFound { tried, .. }) => tried.clone(),
            (Lookup::NotChecked, _) => "task not read".to_string(),
        };
        let cluster = self.located.cluster().map(|c| format!(" in cluster {}", cluster_name(c))).unwrap_or_default();
        let region = self.region.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        let logs = match &self.logs {
            Some(ContainerLogs::LogTail { lines, .. }) => format!("; {} log lines", lines.len()),
            Some(ContainerLogs::NoStream { .. }) => "; no log stream".to_string(),
            Some(ContainerLogs::NoLogConfiguration) => "; no awslogs configuration".to_string(),
            None => String::new(),
        };
        format!("{task}{cluster}{region}{logs}")
    }
}

/// How the collector found the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Located {
    /// From the run's `infrastructure_pid`.
    ByPid { cluster: String, task_arn: String },
    /// From ListTasks on the cluster, by the `prefect.io/flow-run-id` tag; `listed` is how many tasks were
    /// described to find it.
    ByTag { cluster: String, listed: usize },
    /// Nothing found: `tried` says where the collector looked (for the report).
    NotFound {
        #[serde(default)]
        cluster: Option<String>,
        tried: String,
    },
}

impl Located {
    pub fn cluster(&self) -> Option<&str> {
        match self {
            Located::ByPid { cluster, .. } | Located::ByTag { cluster, .. } => Some(cluster),
            Located::NotFound { cluster, .. } => cluster.as_deref(),
        }
    }
}

/// What a Describe* call answered for one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "status", content = "value", rename_all = "kebab-case")]
pub enum Lookup<T> {
    Found(T),
    /// The API answered but does not know it (a `failures` entry, `ClusterNotFoundException`, …).
    Missing(Failure),
    /// Not asked (nothing to ask about, or the source was skipped).
    #[default]
    NotChecked,
}

impl<T> Lookup<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Lookup::Found(t) => Some(t),
            _ => None,
        }
    }

    pub fn missing(&self) -> Option<&Failure> {
        match self {
            Lookup::Missing(f) => Some(f),
            _ => None,
        }
    }
}

/// A `failures` entry of DescribeTasks / DescribeClusters / RunTask (`{"arn", "reason", "detail"}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Failure {
    pub arn: Option<String>,
    /// `MISSING`, `RESOURCE:MEMORY`, `RESOURCE:CPU`, `RESOURCE:PORTS`, `AGENT`, `ATTRIBUTE`, … or an
    /// exception name the collector recorded (`ClusterNotFoundException`).
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// The flow-run container's CloudWatch logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ContainerLogs {
    /// The last lines of the stream (oldest first); `truncated` when there were more.
    LogTail { group: String, stream: String, lines: Vec<String>, truncated: bool },
    /// The stream does not exist: the container never started (or logs were never shipped).
    NoStream { group: String, stream: String },
    /// The container has no `awslogs` log configuration: there is nothing to read.
    NoLogConfiguration,
}

// ---------------------------------------------------------------------------------------------------
// DescribeTasks

/// DescribeTasks' response (`{"tasks": [...], "failures": [...]}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeTasksResponse {
    #[serde(deserialize_with = "nullable")]
    pub tasks: Vec<Task>,
    #[serde(deserialize_with = "nullable")]
    pub failures: Vec<Failure>,
}

/// One ECS task, trimmed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub task_arn: Option<String>,
    pub cluster_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED, DELETED.
    pub last_status: Option<String>,
    pub desired_status: Option<String>,
    /// TaskFailedToStart, EssentialContainerExited, UserInitiated, ServiceSchedulerInitiated,
    /// SpotInterruption, TerminationNotice, … (see `StopCode`).
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    #[serde(with = "epoch")]
    pub created_at: Option<Timestamp>,
    #[serde(with = "epoch")]
    pub pull_started_at: Option<Timestamp>,
    #[serde(with = "epoch")]
    pub pull_stopped_at: Option<Timestamp>,
    #[serde(with = "epoch")]
    pub started_at: Option<Timestamp>,
    #[serde(with = "epoch")]
    pub stopping_at: Option<Timestamp>,
    #[serde(with = "epoch")]
    pub stopped_at: Option<Timestamp>,
    /// CONNECTED / DISCONNECTED (the agent's connection, EC2 launch type).
    pub connectivity: Option<String>,
    /// EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES.
    pub launch_type: Option<String>,
    pub capacity_provider_name: Option<String>,
    pub availability_zone: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub tags: Vec<Tag>,
    #[serde(deserialize_with = "nullable")]
    pub attachments: Vec<Attachment>,
    #[serde(deserialize_with = "nullable")]
    pub containers: Vec<Container>,
    /// RunTask's overrides: Prefect's worker puts the flow run's command and environment here.
    pub overrides: Option<TaskOverride>,
}

/// `{"key", "value"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// A task attachment (the awsvpc ENI: type `ElasticNetworkInterface`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Attachment {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// PRECREATED, CREATED, ATTACHING, ATTACHED, DETACHING, DETACHED, DELETED, FAILED.
    pub status: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub details: Vec<KeyValue>,
}

/// `{"name", "value"}` (attachment details, environment variables).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyValue {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// One container of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub last_status: Option<String>,
    pub exit_code: Option<i64>,
    /// Cut at 255 characters by ECS: read the task's `stoppedReason` too.
    pub reason: Option<String>,
    /// Not in DescribeTasks' Container; the collector copies it from the container definition
    /// (ECS's default is essential). Checks prefer the task definition when they have it.
    pub essential: Option<bool>,
}

/// RunTask `overrides`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskOverride {
    #[serde(deserialize_with = "nullable")]
    pub container_overrides: Vec<ContainerOverride>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub execution_role_arn: Option<String>,
    pub task_role_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerOverride {
    pub name: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub command: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub environment: Vec<KeyValue>,
}

/// Why a task stopped (`stopCode`), with unknown values kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCode {
    TaskFailedToStart,
    EssentialContainerExited,
    UserInitiated,
    ServiceSchedulerInitiated,
    SpotInterruption,
    TerminationNotice,
    Other,
}

impl StopCode {
    pub fn parse(s: &str) -> StopCode {
        match s {
            "TaskFailedToStart" => StopCode::TaskFailedToStart,
            "EssentialContainerExited" => StopCode::EssentialContainerExited,
            "UserInitiated" => StopCode::UserInitiated,
            "ServiceSchedulerInitiated" => StopCode::ServiceSchedulerInitiated,
            "SpotInterruption" => StopCode::SpotInterruption,
            "TerminationNotice" => StopCode::TerminationNotice,
            _ => StopCode::Other,
        }
    }
}

/// Where a task is in its lifecycle (`lastStatus`), with unknown values kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    /// PROVISIONING: waiting for capacity (an instance, a Fargate host, the ENI).
    Provisioning,
    /// PENDING / ACTIVATING: placed; pulling images, starting containers.
    Pending,
    Running,
    /// DEACTIVATING / STOPPING / DEPROVISIONING.
    Stopping,
    Stopped,
    Other,
}

impl TaskStatus {
    pub fn parse(s: &str) -> TaskStatus {
        match s {
            "PROVISIONING" => TaskStatus::Provisioning,
            "PENDING" | "ACTIVATING" => TaskStatus::Pending,
            "RUNNING" => TaskStatus::Running,
            "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" => TaskStatus::Stopping,
            "STOPPED" | "DELETED" => TaskStatus::Stopped,
            _ => TaskStatus::Other,
        }
    }
}

impl Task {
    pub fn status(&self) -> TaskStatus {
        self.last_status.as_deref().map_or(TaskStatus::Other, TaskStatus::parse)
    }

    pub fn stop_code(&self) -> Option<StopCode> {
        self.stop_code.as_deref().filter(|s| !s.is_empty()).map(StopCode::parse)
    }

    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|t| t.key.as_deref() == Some(key)).and_then(|t| t.value.as_deref())
    }

    /// The task ARN, or "" when ECS left it out.
    pub fn arn(&self) -> &str {
        self.task_arn.as_deref().unwrap_or_default()
    }

    /// The task id (last ARN segment).
    pub fn id(&self) -> Option<&str> {
        self.task_arn.as_deref().and_then(|a| parse_task_arn(a).map(|p| p.task_id)).filter(|s| !s.is_empty())
    }

    pub fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name.as_deref() == Some(name))
    }

    /// The environment RunTask overrode for a container.
    pub fn override_env(&self, container: &str) -> impl Iterator<Item = &KeyValue> {
        self.overrides
            .iter()
            .flat_map(|o| o.container_overrides.iter())
            .filter(move |c| c.name.as_deref() == Some(container))
            .flat_map(|c| c.environment.iter())
    }

    /// The command RunTask overrode for a container, if any.
    pub fn override_command(&self, container: &str) -> Option<&[String]> {
        self.overrides
            .iter()
            .flat_map(|o| o.container_overrides.iter())
            .find(|c| c.name.as_deref() == Some(container) && !c.command.is_empty())
            .map(|c| c.command.as_slice())
    }

    /// The awsvpc network interface attachment, if the task has one.
    pub fn eni(&self) -> Option<&Attachment> {
        self.attachments.iter().find(|a| a.kind.as_deref() == Some("ElasticNetworkInterface"))
    }
}

impl Attachment {
    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details.iter().find(|d| d.name.as_deref() == Some(name)).and_then(|d| d.value.as_deref())
    }
}

// ---------------------------------------------------------------------------------------------------
// DescribeTaskDefinition

/// DescribeTaskDefinition's response (`{"taskDefinition": {...}, "tags": [...]}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeTaskDefinitionResponse {
    pub task_definition: Option<TaskDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDefinition {
    pub task_definition_arn: Option<String>,
    pub family: Option<String>,
    pub revision: Option<i64>,
    pub execution_role_arn: Option<String>,
    pub task_role_arn: Option<String>,
    pub network_mode: Option<String>,
    /// Task-level CPU units / MiB, as strings on the wire ("1024", "2048").
    pub cpu: Option<String>,
    pub memory: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub requires_compatibilities: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub container_definitions: Vec<ContainerDefinition>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerDefinition {
    pub name: Option<String>,
    pub image: Option<String>,
    /// ECS treats a missing `essential` as true.
    pub essential: Option<bool>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub command: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub environment: Vec<KeyValue>,
    #[serde(deserialize_with = "nullable")]
    pub secrets: Vec<Secret>,
    pub log_configuration: Option<LogConfiguration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Secret {
    pub name: Option<String>,
    pub value_from: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogConfiguration {
    pub log_driver: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

impl TaskDefinition {
    /// `family:revision`, what `aws ecs describe-task-definition --task-definition` takes.
    pub fn family_revision(&self) -> Option<String> {
        match (&self.family, self.revision) {
            (Some(f), Some(r)) => Some(format!("{f}:{r}")),
            _ => self.task_definition_arn.as_deref().and_then(|a| a.rsplit('/').next()).map(str::to_string),
        }
    }

    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name.as_deref() == Some(name))
    }

    /// Whether ECS treats the named container as essential (the default when not said).
    pub fn is_essential(&self, name: &str) -> Option<bool> {
        self.container(name).map(|c| c.essential.unwrap_or(true))
    }
}

impl ContainerDefinition {
    /// The awslogs group and stream prefix, when the container logs to CloudWatch.
    pub fn awslogs(&self) -> Option<(&str, Option<&str>)> {
        let lc = self.log_configuration.as_ref()?;
        if lc.log_driver.as_deref() != Some("awslogs") {
            return None;
        }
        let group = lc.options.get("awslogs-group")?;
        Some((group.as_str(), lc.options.get("awslogs-stream-prefix").map(String::as_str)))
    }
}

/// The CloudWatch stream the awslogs driver writes a container's output to:
/// `<prefix>/<container>/<task id>` (or just the task id without a prefix on Fargate).
pub fn awslogs_stream(prefix: Option<&str>, container: &str, task_id: &str) -> String {
    match prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{container}/{task_id}"),
        None => task_id.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------------
// DescribeClusters / DescribeCapacityProviders

/// DescribeClusters' response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeClustersResponse {
    #[serde(deserialize_with = "nullable")]
    pub clusters: Vec<Cluster>,
    #[serde(deserialize_with = "nullable")]
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Cluster {
    pub cluster_arn: Option<String>,
    pub cluster_name: Option<String>,
    /// ACTIVE, PROVISIONING, DEPROVISIONING, FAILED, INACTIVE.
    pub status: Option<String>,
    pub registered_container_instances_count: Option<i64>,
    pub running_tasks_count: Option<i64>,
    pub pending_tasks_count: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub capacity_providers: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CapacityProviderStrategyItem {
    pub capacity_provider: Option<String>,
    pub weight: Option<i64>,
    pub base: Option<i64>,
}

/// DescribeCapacityProviders' response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeCapacityProvidersResponse {
    #[serde(deserialize_with = "nullable")]
    pub capacity_providers: Vec<CapacityProvider>,
    #[serde(deserialize_with = "nullable")]
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CapacityProvider {
    pub capacity_provider_arn: Option<String>,
    pub name: Option<String>,
    /// ACTIVE / INACTIVE.
    pub status: Option<String>,
    pub auto_scaling_group_provider: Option<AutoScalingGroupProvider>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutoScalingGroupProvider {
    pub auto_scaling_group_arn: Option<String>,
    pub managed_scaling: Option<ManagedScaling>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ManagedScaling {
    /// ENABLED / DISABLED.
    pub status: Option<String>,
    pub target_capacity: Option<i64>,
}

impl Cluster {
    pub fn name(&self) -> Option<&str> {
        self.cluster_name
            .as_deref()
            .or_else(|| self.cluster_arn.as_deref().and_then(|a| a.rsplit_once("cluster/")).map(|(_, n)| n))
    }
}

// ---------------------------------------------------------------------------------------------------
// CloudWatch Logs

/// A GetLogEvents or FilterLogEvents response (`events` plus a continuation token).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogEventsResponse {
    #[serde(deserialize_with = "nullable")]
    pub events: Vec<LogEvent>,
    /// FilterLogEvents' token; GetLogEvents always sends forward/backward tokens instead.
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogEvent {
    pub log_stream_name: Option<String>,
    /// Epoch milliseconds.
    pub timestamp: Option<i64>,
    pub message: Option<String>,
}

// ---------------------------------------------------------------------------------------------------
// ARNs and infrastructure_pid

/// The parts of an ECS task ARN: `arn:<partition>:ecs:<region>:<account>:task/<cluster>/<id>` (or the
/// old `task/<id>` form, without the cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskArn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub cluster: Option<&'a str>,
    pub task_id: &'a str,
}

/// Parses an ECS task ARN; `None` for anything else (garbage, other services, other resource types).
pub fn parse_task_arn(arn: &str) -> Option<TaskArn<'_>> {
    let mut parts = arn.trim().splitn(6, ':');
    let (scheme, partition, service, region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if scheme != "arn" || !partition.starts_with("aws") || service != "ecs" || region.is_empty() || account.is_empty() {
        return None;
    }
    let rest = resource.strip_prefix("task/")?;
    let (cluster, task_id) = match rest.split_once('/') {
        Some((c, id)) => (Some(c).filter(|c| !c.is_empty()), id),
        None => (None, rest),
    };
    if task_id.is_empty() || task_id.contains('/') {
        return None;
    }
    Some(TaskArn { region, account, cluster, task_id })
}

/// The region of any ECS ARN (task, cluster, task definition, capacity provider).
pub fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.trim().splitn(6, ':');
    (parts.next()? == "arn" && parts.next().is_some_and(|p| p.starts_with("aws")) && parts.next()? == "ecs")
        .then_some(())?;
    parts.next().filter(|r| !r.is_empty())
}

/// A cluster's short name, from a name or an ARN (`arn:aws:ecs:r:a:cluster/<name>`).
pub fn cluster_name(cluster: &str) -> &str {
    match cluster.rsplit_once(":cluster/") {
        Some((_, name)) if !name.is_empty() => name,
        _ => cluster,
    }
}

/// Splits Prefect's ECS `infrastructure_pid`, `<cluster>::<task arn>`, once on `::` (ARNs hold `:`).
pub fn parse_infrastructure_pid(pid: &str) -> Option<(&str, &str)> {
    let (cluster, arn) = pid.trim().split_once("::")?;
    (!cluster.is_empty() && !arn.is_empty()).then_some((cluster, arn))
}

// ---------------------------------------------------------------------------------------------------
// Selection: what the collector does with what it was answered (pure, so tests share it)

/// Picks the run's task from DescribeTasks answers: the pid's ARN when there is one, else the newest
/// task tagged with the run's id. Other runs' tasks and the worker's own task are never picked.
pub fn select_task<'a>(tasks: &'a [Task], pid_arn: Option<&str>, run_id: &str) -> Option<&'a Task> {
    match pid_arn {
        Some(arn) => tasks.iter().find(|t| t.task_arn.as_deref() == Some(arn)),
        None => tasks
            .iter()
            .filter(|t| t.tag(FLOW_RUN_ID_TAG) == Some(run_id))
            .max_by_key(|t| t.created_at.unwrap_or(Timestamp::MIN)),
    }
}

/// The `failures` entry DescribeTasks gave for an ARN (an aged-out task answers `MISSING`).
pub fn failure_for<'a>(failures: &'a [Failure], arn: &str) -> Option<&'a Failure> {
    failures.iter().find(|f| f.arn.as_deref() == Some(arn))
}

/// Picks the cluster by name or ARN from DescribeClusters.
pub fn select_cluster(resp: &DescribeClustersResponse, cluster: &str) -> Lookup<Cluster> {
    let name = cluster_name(cluster);
    if let Some(c) = resp.clusters.iter().find(|c| c.cluster_arn.as_deref() == Some(cluster) || c.name() == Some(name))
    {
        return Lookup::Found(c.clone());
    }
    match resp.failures.iter().find(|f| f.arn.as_deref().is_some_and(|a| a == cluster || cluster_name(a) == name)) {
        Some(f) => Lookup::Missing(f.clone()),
        None if resp.clusters.is_empty() => {
            Lookup::Missing(Failure { arn: Some(cluster.to_string()), reason: Some("MISSING".into()), detail: None })
        }
        None => Lookup::NotChecked,
    }
}

/// Turns a log-events response into the tail the checks read (last `max` lines).
pub fn log_tail(group: &str, stream: &str, resp: &LogEventsResponse, max: usize) -> ContainerLogs {
    let lines: Vec<String> =
        resp.events.iter().filter_map(|e| e.message.as_deref()).map(|m| m.trim_end().to_string()).collect();
    let skip = lines.len().saturating_sub(max);
    ContainerLogs::LogTail {
        group: group.to_string(),
        stream: stream.to_string(),
        truncated: skip > 0 || resp.next_token.is_some(),
        lines: lines.into_iter().skip(skip).collect(),
    }
}

// ---------------------------------------------------------------------------------------------------
// serde helpers

/// `null` deserializes to the default (ECS sends `null` for some empty lists).
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// ECS's timestamps: epoch seconds as JSON numbers with millisecond fractions (`1732200000.123`).
/// Also reads RFC 3339 strings (what the AWS CLI prints), so either kind of recording loads. Writes
/// numbers back. An out-of-range number reads as `None` rather than failing the whole snapshot.
pub mod epoch {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(f64),
        Text(String),
    }

    pub fn from_seconds(secs: f64) -> Option<Timestamp> {
        if !secs.is_finite() {
            return None;
        }
        let whole = secs.floor();
        // ECS has millisecond precision: round to it so 0.123 does not come back as 0.122999999.
        let mut millis = ((secs - whole) * 1000.0).round() as i64;
        let mut whole = whole as i64;
        if millis >= 1000 {
            whole = whole.checked_add(1)?;
            millis -= 1000;
        }
        Timestamp::new(whole, (millis * 1_000_000) as i32).ok()
    }

    pub fn to_seconds(t: Timestamp) -> f64 {
        t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9
    }

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_f64(to_seconds(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        Ok(match Option::<Wire>::deserialize(d)? {
            None => None,
            Some(Wire::Number(n)) => from_seconds(n),
            Some(Wire::Text(s)) => {
                s.parse::<Timestamp>().ok().or_else(|| s.trim().parse::<f64>().ok().and_then(from_seconds))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task ARN in the current form yields region, account, cluster and id.
    #[test]
    fn task_arn_new_format() {
        let a = parse_task_arn("arn:aws:ecs:eu-west-1:123456789012:task/prefect-prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0");
        assert_eq!(
            a,
            Some(TaskArn {
                region: "eu-west-1",
                account: "123456789012",
                cluster: Some("prefect-prod"),
                task_id: "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
            })
        );
        let cn = parse_task_arn("arn:aws-cn:ecs:cn-north-1:123456789012:task/c/abc").map(|a| a.region);
        assert_eq!(cn, Some("cn-north-1"));
    }

    /// The old ARN form (no cluster segment) still parses.
    #[test]
    fn task_arn_old_format() {
        let a = parse_task_arn("arn:aws:ecs:us-east-1:123456789012:task/4c5b8c2e-1d0f-4c7e-9d2b-7a0b1c2d3e4f");
        assert_eq!(a.map(|a| (a.cluster, a.task_id)), Some((None, "4c5b8c2e-1d0f-4c7e-9d2b-7a0b1c2d3e4f")));
    }

    /// Garbage, other services and other ECS resources are not task ARNs, and nothing panics.
    #[test]
    fn task_arn_garbage() {
        for s in [
            "",
            "arn",
            ":::::",
            "arn:aws:ecs",
            "arn:aws:ecs:us-east-1:123456789012",
            "arn:aws:ecs:us-east-1:123456789012:task/",
            "arn:aws:ecs:us-east-1:123456789012:task/c/",
            "arn:aws:ecs:us-east-1:123456789012:task/c/id/extra",
            "arn:aws:ecs::123456789012:task/c/id",
            "arn:aws:ecs:us-east-1::task/c/id",
            "arn:aws:ecs:us-east-1:123456789012:cluster/prefect",
            "arn:aws:s3:::bucket/task/c/id",
            "nonsense:aws:ecs:us-east-1:1:task/c/id",
            "prefect::arn:aws:ecs:us-east-1:1:task/c/id",
            "🦀:🦀:ecs:🦀:🦀:task/🦀",
        ] {
            assert!(parse_task_arn(s).is_none(), "{s:?} parsed");
        }
        assert_eq!(arn_region("garbage"), None);
        assert_eq!(arn_region("arn:aws:ecs:ap-south-1:1:cluster/x"), Some("ap-south-1"));
        assert_eq!(cluster_name("arn:aws:ecs:us-east-1:1:cluster/prefect"), "prefect");
        assert_eq!(cluster_name("prefect"), "prefect");
        assert_eq!(cluster_name("arn:aws:ecs:us-east-1:1:cluster/"), "arn:aws:ecs:us-east-1:1:cluster/");
    }

    /// The pid splits once on `::`, keeping the ARN's own colons; half-empty pids are refused.
    #[test]
    fn infrastructure_pid() {
        let pid = "prefect::arn:aws:ecs:us-east-1:123456789012:task/prefect/abc";
        assert_eq!(
            parse_infrastructure_pid(pid),
            Some(("prefect", "arn:aws:ecs:us-east-1:123456789012:task/prefect/abc"))
        );
        let arn_cluster = "arn:aws:ecs:us-east-1:1:cluster/p::arn:aws:ecs:us-east-1:1:task/p/abc";
        assert_eq!(parse_infrastructure_pid(arn_cluster).map(|p| p.0), Some("arn:aws:ecs:us-east-1:1:cluster/p"));
        for bad in ["", "::", "prefect::", "::arn", "17343", "default:my-job"] {
            assert_eq!(parse_infrastructure_pid(bad), None, "{bad:?}");
        }
    }

    /// Epoch-second timestamps with millisecond fractions read and write back unchanged.
    #[test]
    fn epoch_timestamps_round_trip() {
        let json = r#"{"taskArn":"a","createdAt":1732200000.123,"startedAt":1732200007,"stoppedAt":null}"#;
        let t: Task = serde_json::from_str(json).unwrap();
        assert_eq!(t.created_at.map(|t| t.to_string()), Some("2024-11-21T14:40:00.123Z".to_string()));
        assert_eq!(t.started_at.map(|t| t.as_second()), Some(1732200007));
        assert_eq!(t.stopped_at, None);
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["createdAt"], serde_json::json!(1732200000.123));
        assert_eq!(back["startedAt"], serde_json::json!(1732200007.0));
        let again: Task = serde_json::from_value(back).unwrap();
        assert_eq!(again, t);
        // The AWS CLI's rendering of the same instant reads too.
        let cli: Task = serde_json::from_str(r#"{"createdAt":"2024-11-21T14:40:00.123000+00:00"}"#).unwrap();
        assert_eq!(cli.created_at, t.created_at);
        // Out-of-range and nonsense read as absent instead of failing the snapshot.
        let odd: Task = serde_json::from_str(r#"{"createdAt":1e300,"startedAt":"soon","stoppedAt":-1e20}"#).unwrap();
        assert_eq!((odd.created_at, odd.started_at, odd.stopped_at), (None, None, None));
        let rounding = epoch::from_seconds(1732200000.9996).map(|t| t.as_second());
        assert_eq!(rounding, Some(1732200001));
    }

    /// Unknown enum values, nulls and missing fields load, and the typed views say Other.
    #[test]
    fn unknown_values_load() {
        let json = r#"{"tasks":[{"lastStatus":"HIBERNATING","stopCode":"InfrastructureHealth","containers":null,
            "tags":null,"attachments":[{"type":"Unknown","details":null}],"launchType":"QUANTUM"}],"failures":null}"#;
        let r: DescribeTasksResponse = serde_json::from_str(json).unwrap();
        let t = r.tasks.first().unwrap();
        assert_eq!(t.status(), TaskStatus::Other);
        assert_eq!(t.stop_code(), Some(StopCode::Other));
        assert_eq!(t.id(), None);
        assert!(t.containers.is_empty() && r.failures.is_empty());
        let empty: DescribeTasksResponse = serde_json::from_str("{}").unwrap();
        assert!(empty.tasks.is_empty());
    }

    /// Selection by tag ignores other runs' tasks and untagged (worker) tasks, and takes the newest.
    #[test]
    fn select_by_tag() {
        let mk = |arn: &str, run: Option<&str>, at: i64| Task {
            task_arn: Some(arn.into()),
            created_at: Timestamp::from_second(at).ok(),
            tags: run
                .map(|r| vec![Tag { key: Some(FLOW_RUN_ID_TAG.into()), value: Some(r.into()) }])
                .unwrap_or_default(),
            ..Task::default()
        };
        let tasks = vec![
            mk("worker", None, 30),
            mk("other", Some("run-b"), 40),
            mk("old", Some("run-a"), 10),
            mk("new", Some("run-a"), 20),
        ];
        assert_eq!(select_task(&tasks, None, "run-a").map(Task::arn), Some("new"));
        assert_eq!(select_task(&tasks, None, "run-c").map(Task::arn), None);
        assert_eq!(select_task(&tasks, Some("old"), "run-a").map(Task::arn), Some("old"));
        assert_eq!(select_task(&tasks, Some("gone"), "run-a").map(Task::arn), None);
    }
}
