//! The AWS ECS checks (`ecs.*`, plus `infra.exited-cleanly` for an ECS task): pure functions over the
//! ECS snapshot (`evidence::ecs::EcsEvidence`) and a view of the run (`RunView`).
//!
//! One file per small family; `classify` reads ECS's free-text reasons (stoppedReason, container
//! reasons, the worker's RunTask/RegisterTaskDefinition errors) into the classes the checks report.
//! No check does I/O or reads the clock: "now" is `RunView::now`.

mod capacity;
pub(crate) mod classify;
mod exit;
mod init;
mod lookup;
mod network;
mod pull;
mod register;
#[cfg(test)]
mod scenarios;
mod stopped;
#[cfg(test)]
pub(crate) mod testkit;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::checks::{CheckInfo, Finding, Item, ItemStatus, Kind};
use crate::evidence::ecs::{
    Cluster, ContainerLogs, EcsEvidence, Located, PREFECT_CONTAINER, PREFECT_LOG_GROUP, Task, TaskDefinition,
    TaskStatus, awslogs_stream, cluster_name,
};
use crate::shell::sh;

/// What the ECS checks need to know about the flow run.
#[derive(Debug, Clone)]
pub struct RunView<'a> {
    pub run_id: &'a str,
    /// The run's state type: "PENDING", "SCHEDULED", "RUNNING", "CRASHED", …
    pub state_type: &'a str,
    pub state_name: &'a str,
    pub state_since: Timestamp,
    /// The evidence's "now" (never the local clock).
    pub now: Timestamp,
    pub pending_threshold: Duration,
    /// The run's worker / flow-run log lines (where RunTask and RegisterTaskDefinition errors show).
    pub worker_log_lines: &'a [String],
}

impl RunView<'_> {
    fn is_pending(&self) -> bool {
        self.state_type.eq_ignore_ascii_case("PENDING")
    }
}

/// Every ECS check's documentation, in registry order (the last ranking tie-breaker).
pub static CHECKS: &[&CheckInfo] = &[
    &lookup::CLUSTER_MISSING,
    &lookup::TASK_MISSING,
    &register::REGISTER_FAILED,
    &pull::IMAGE_PULL,
    &init::RESOURCE_INIT,
    &network::NETWORK,
    &capacity::CAPACITY,
    &init::CONTAINER_START,
    &exit::OOM,
    &exit::ESSENTIAL_EXITED,
    &exit::EXITED_CLEANLY,
    &init::FAILED_TO_START,
    &stopped::STOPPED_NOT_CRASHED,
    &capacity::SPOT_INTERRUPTION,
];

type CheckFn = fn(&View<'_>) -> Vec<Finding>;

/// The check functions, in the same order as `CHECKS`.
static REGISTRY: &[(&CheckInfo, CheckFn)] = &[
    (&lookup::CLUSTER_MISSING, lookup::cluster_missing),
    (&lookup::TASK_MISSING, lookup::task_missing),
    (&register::REGISTER_FAILED, register::register_failed),
    (&pull::IMAGE_PULL, pull::image_pull),
    (&init::RESOURCE_INIT, init::resource_init),
    (&network::NETWORK, network::network),
    (&capacity::CAPACITY, capacity::capacity),
    (&init::CONTAINER_START, init::container_start),
    (&exit::OOM, exit::oom),
    (&exit::ESSENTIAL_EXITED, exit::essential_exited),
    (&exit::EXITED_CLEANLY, exit::exited_cleanly),
    (&init::FAILED_TO_START, init::failed_to_start),
    (&stopped::STOPPED_NOT_CRASHED, stopped::stopped_not_crashed),
    (&capacity::SPOT_INTERRUPTION, capacity::spot_interruption),
];

/// The documentation of an ECS check by id.
pub fn find(id: &str) -> Option<&'static CheckInfo> {
    CHECKS.iter().copied().find(|c| c.id == id)
}

/// Findings in rank order: cause before risk before info, then severity, then registry order.
pub fn rank(mut findings: Vec<Finding>) -> Vec<Finding> {
    let order = |id: &str| CHECKS.iter().position(|c| c.id == id).unwrap_or(usize::MAX);
    findings.sort_by_key(|f| (f.kind, f.severity, order(f.id)));
    findings
}

/// Runs every ECS check over the evidence.
pub fn run_all(ecs: &EcsEvidence, run: &RunView<'_>) -> Vec<Finding> {
    let view = View::new(ecs, run);
    REGISTRY.iter().flat_map(|(_, check)| check(&view)).collect()
}

/// Judges the checklist items the ECS evidence speaks to (SPEC 6): `infrastructure`, `image-pull`,
/// `permissions`, `capacity`. A finding fails its item (naming the finding); a risk warns; otherwise
/// the item passes with what the task shows, or is unknown with why.
pub fn checklist(ecs: &EcsEvidence, run: &RunView<'_>, findings: &[Finding]) -> Vec<(Item, ItemStatus, String)> {
    let view = View::new(ecs, run);
    [Item::Infrastructure, Item::ImagePull, Item::Permissions, Item::Capacity]
        .into_iter()
        .map(|item| {
            let (status, detail) = judge_item(&view, item, findings);
            (item, status, detail)
        })
        .collect()
}

/// The checklist items a finding speaks to: its check's item, plus `permissions` when the cause is an
/// access denial (the detail's sub-class says so).
pub fn finding_items(f: &Finding) -> Vec<Item> {
    let mut items: Vec<Item> = find(f.id).map(|c| vec![c.item]).unwrap_or_default();
    let permission = match f.id {
        "ecs.image-pull" => f.detail.starts_with("unauthorized"),
        "ecs.resource-init" => f.detail.contains("access-denied"),
        "ecs.network" => f.detail.starts_with("service-linked-role"),
        _ => false,
    };
    if permission && !items.contains(&Item::Permissions) {
        items.push(Item::Permissions);
    }
    items
}

fn judge_item(v: &View<'_>, item: Item, findings: &[Finding]) -> (ItemStatus, String) {
    let about: Vec<&Finding> = findings.iter().filter(|f| finding_items(f).contains(&item)).collect();
    if let Some(f) = about.iter().find(|f| f.kind == Kind::Cause) {
        return (ItemStatus::Fail, format!("{}: {}", f.id, f.title));
    }
    if let Some(f) = about.first() {
        return (ItemStatus::Warn, format!("{}: {}", f.id, f.title));
    }
    let Some(task) = v.task else {
        return (ItemStatus::Unknown, v.why_no_task());
    };
    let id = task.id().unwrap_or("the task");
    let placed = task.pull_started_at.is_some()
        || task.started_at.is_some()
        || task.containers.iter().any(|c| c.exit_code.is_some() || c.last_status.as_deref() == Some("RUNNING"));
    let pulled = task.pull_stopped_at.is_some()
        || task.started_at.is_some()
        || task.containers.iter().any(|c| c.image_digest.is_some() || c.exit_code.is_some());
    let status = task.last_status.as_deref().unwrap_or("(no lastStatus)");
    match item {
        Item::Infrastructure => match task.status() {
            TaskStatus::Running => (ItemStatus::Pass, format!("task {id} is RUNNING{}", v.since(task.started_at))),
            TaskStatus::Provisioning | TaskStatus::Pending => (
                ItemStatus::Warn,
                format!(
                    "task {id} is {status}{}: not started yet (threshold {})",
                    v.since(task.created_at),
                    human(v.run.pending_threshold)
                ),
            ),
            TaskStatus::Stopped if task.started_at.is_some() => {
                (ItemStatus::Pass, format!("task {id} started{} and has since STOPPED", v.since(task.started_at)))
            }
            _ => (ItemStatus::Unknown, format!("task {id} is {status}; nothing says whether it started")),
        },
        Item::ImagePull => {
            let image = task.containers.iter().find_map(|c| c.image.as_deref()).unwrap_or("the image");
            if pulled {
                (ItemStatus::Pass, format!("{image} was pulled{}", v.at(task.pull_stopped_at)))
            } else if task.pull_started_at.is_some() {
                (ItemStatus::Warn, format!("pulling {image}{}", v.since(task.pull_started_at)))
            } else {
                (ItemStatus::Unknown, format!("task {id} is {status}: it has not pulled its image yet"))
            }
        }
        Item::Permissions => {
            if task.started_at.is_some() {
                (
                    ItemStatus::Pass,
                    format!(
                        "the execution role pulled the image, fetched secrets and set up logging: task {id} started"
                    ),
                )
            } else if pulled {
                (ItemStatus::Pass, format!("the execution role pulled the image for task {id}"))
            } else {
                let denied: Vec<&str> = v.ecs.denied().collect();
                let tail = if denied.is_empty() {
                    String::new()
                } else {
                    format!("; unstuck was not allowed {}", denied.join(", "))
                };
                (ItemStatus::Unknown, format!("task {id} is {status}: the execution role has not been used yet{tail}"))
            }
        }
        Item::Capacity => {
            let on = task
                .capacity_provider_name
                .as_deref()
                .or(task.launch_type.as_deref())
                .map(|p| format!(" on {p}"))
                .unwrap_or_default();
            if placed {
                (ItemStatus::Pass, format!("task {id} was placed{on}"))
            } else {
                (ItemStatus::Unknown, format!("task {id} is {status}: not placed yet, within the pending threshold"))
            }
        }
        _ => (ItemStatus::NotApplicable, String::new()),
    }
}

/// What every ECS check reads: the evidence, the run, and the objects found.
pub(crate) struct View<'a> {
    pub ecs: &'a EcsEvidence,
    pub run: &'a RunView<'a>,
    pub task: Option<&'a Task>,
    pub td: Option<&'a TaskDefinition>,
    pub cluster: Option<&'a Cluster>,
}

impl<'a> View<'a> {
    fn new(ecs: &'a EcsEvidence, run: &'a RunView<'a>) -> View<'a> {
        View { ecs, run, task: ecs.task.found(), td: ecs.task_definition.found(), cluster: ecs.cluster.found() }
    }

    /// The cluster as the worker named it (`--cluster` takes a name or an ARN).
    pub fn cluster_arg(&self) -> Option<String> {
        self.ecs
            .located
            .cluster()
            .map(str::to_string)
            .or_else(|| self.task.and_then(|t| t.cluster_arn.clone()))
            .or_else(|| self.cluster.and_then(|c| c.name().map(str::to_string)))
    }

    pub fn cluster_display(&self) -> String {
        self.cluster_arg().map(|c| cluster_name(&c).to_string()).unwrap_or_else(|| "default".into())
    }

    /// The task's ARN: the one found, else the one Prefect recorded.
    pub fn task_arn(&self) -> Option<String> {
        self.task.and_then(|t| t.task_arn.clone()).or_else(|| match &self.ecs.located {
            Located::ByPid { task_arn, .. } => Some(task_arn.clone()),
            _ => None,
        })
    }

    /// What a finding is about: the task ARN, else the cluster.
    pub fn subject(&self) -> String {
        self.task_arn().unwrap_or_else(|| format!("ecs-cluster/{}", self.cluster_display()))
    }

    fn region_flag(&self) -> String {
        self.ecs.region.as_deref().map(|r| format!(" --region {}", sh(r))).unwrap_or_default()
    }

    pub fn describe_tasks(&self) -> Option<String> {
        let arn = self.task_arn()?;
        let cluster = self.cluster_arg().unwrap_or_else(|| "default".into());
        Some(format!("aws ecs describe-tasks --cluster {} --tasks {}{}", sh(&cluster), sh(&arn), self.region_flag()))
    }

    pub fn describe_clusters(&self) -> String {
        let cluster = self.cluster_arg().unwrap_or_else(|| "default".into());
        format!("aws ecs describe-clusters --clusters {}{}", sh(&cluster), self.region_flag())
    }

    pub fn describe_task_definition(&self) -> Option<String> {
        let fr = self.td.and_then(TaskDefinition::family_revision).or_else(|| {
            self.task
                .and_then(|t| t.task_definition_arn.as_deref())
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_string)
        })?;
        Some(format!("aws ecs describe-task-definition --task-definition {}{}", sh(&fr), self.region_flag()))
    }

    /// The flow-run container's log group and stream: what the collector read, else what the task
    /// definition says, else Prefect's defaults with the stream prefix unknown.
    pub fn log_location(&self) -> Option<(String, String)> {
        match &self.ecs.logs {
            Some(ContainerLogs::LogTail { group, stream, .. } | ContainerLogs::NoStream { group, stream }) => {
                return Some((group.clone(), stream.clone()));
            }
            Some(ContainerLogs::NoLogConfiguration) => return None,
            None => {}
        }
        let task_id = self.task_arn().as_deref().and_then(|a| a.rsplit('/').next().map(str::to_string))?;
        let container = self.flow_container_name();
        if let Some(cd) = self.td.and_then(|td| td.container(&container)) {
            let (group, prefix) = cd.awslogs()?;
            return Some((group.to_string(), awslogs_stream(prefix, &container, &task_id)));
        }
        Some((PREFECT_LOG_GROUP.to_string(), format!("<awslogs-stream-prefix>/{container}/{task_id}")))
    }

    pub fn logs_tail(&self) -> Option<String> {
        let (group, stream) = self.log_location()?;
        Some(format!("aws logs tail {} --log-stream-names {}{}", sh(&group), sh(&stream), self.region_flag()))
    }

    /// The container that runs the flow: `prefect` when the task has it, else the first essential one.
    pub fn flow_container_name(&self) -> String {
        let has = |n: &str| {
            self.task.is_some_and(|t| t.container(n).is_some()) || self.td.is_some_and(|td| td.container(n).is_some())
        };
        if has(PREFECT_CONTAINER) || (self.task.is_none() && self.td.is_none()) {
            return PREFECT_CONTAINER.to_string();
        }
        self.task
            .and_then(|t| t.containers.iter().find(|c| self.is_essential(c.name.as_deref().unwrap_or_default())))
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| PREFECT_CONTAINER.to_string())
    }

    /// Whether a container is essential: the task definition says, else the collector's copy, else
    /// ECS's default (essential).
    pub fn is_essential(&self, name: &str) -> bool {
        self.td
            .and_then(|td| td.is_essential(name))
            .or_else(|| self.task.and_then(|t| t.container(name)).and_then(|c| c.essential))
            .unwrap_or(true)
    }

    /// The free-text reasons ECS gave, most complete first: the task's stoppedReason (not cut at 255
    /// characters), then each container's reason. Labels say where each came from, for evidence lines.
    pub fn reasons(&self) -> Vec<(String, &'a str)> {
        let Some(task) = self.task else { return vec![] };
        let mut out = Vec::new();
        if let Some(r) = task.stopped_reason.as_deref().filter(|r| !r.trim().is_empty()) {
            out.push(("stoppedReason".to_string(), r));
        }
        for c in &task.containers {
            if let Some(r) = c.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                out.push((format!("container {} reason", c.name.as_deref().unwrap_or("?")), r));
            }
        }
        out
    }

    /// The reasons plus the run's log lines (the worker's RunTask errors, the observer's messages).
    pub fn reasons_and_logs(&self) -> Vec<(String, &'a str)> {
        let mut out = self.reasons();
        out.extend(self.run.worker_log_lines.iter().map(|l| ("log line".to_string(), l.as_str())));
        out
    }

    pub fn stop_code_evidence(&self) -> Option<String> {
        let t = self.task?;
        let code = t.stop_code.as_deref()?;
        Some(format!("stopCode: {code} (lastStatus {})", t.last_status.as_deref().unwrap_or("?")))
    }

    /// " since <t> (<d> ago)" for a timestamp, or "".
    fn since(&self, t: Option<Timestamp>) -> String {
        t.map(|t| format!(" since {t} ({} ago)", human(elapsed(t, self.run.now)))).unwrap_or_default()
    }

    fn at(&self, t: Option<Timestamp>) -> String {
        t.map(|t| format!(" at {t}")).unwrap_or_default()
    }

    /// Why no task could be judged, for an `unknown` checklist line.
    fn why_no_task(&self) -> String {
        match (&self.ecs.located, &self.ecs.task) {
            (_, crate::evidence::ecs::Lookup::Missing(f)) => format!(
                "the recorded task is unknown to ECS ({}): stopped tasks age out after about an hour",
                f.reason.as_deref().unwrap_or("MISSING")
            ),
            (Located::NotFound { tried, .. }, _) => {
                format!("no ECS task found for the run ({tried})")
            }
            _ => "the task was not described".to_string(),
        }
    }
}

/// Time from `from` to `now`, never negative (clock skew between AWS and the evidence).
pub(crate) fn elapsed(from: Timestamp, now: Timestamp) -> Duration {
    let d: SignedDuration = now.duration_since(from);
    d.try_into().unwrap_or(Duration::ZERO)
}

/// "4m 10s", "2h 5m", "12s".
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// A log line or reason as evidence: quoted whole, but bounded (tracebacks can be huge).
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 1000;
    let s = s.trim();
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are unique, from SPEC 7, documented, and the registry matches the catalogue order.
    #[test]
    fn ids_are_unique_documented_and_registered() {
        let spec = testkit::spec_ecs_ids();
        let mut seen = std::collections::HashSet::new();
        for c in CHECKS {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(spec.contains(&c.id), "{} is not in SPEC 7", c.id);
            assert!(!c.title.is_empty() && c.explanation.contains("What it does"), "{} lacks docs", c.id);
            assert!(!c.remediation.is_empty(), "{} lacks remediation", c.id);
            assert_eq!(c.backend, crate::checks::Backend::Infrastructure);
        }
        for id in &spec {
            assert!(seen.contains(id), "SPEC 7 id {id} is not implemented");
        }
        let order: Vec<&str> = REGISTRY.iter().map(|(c, _)| c.id).collect();
        assert_eq!(order, CHECKS.iter().map(|c| c.id).collect::<Vec<_>>());
    }

    /// Durations read like the rest of unstuck's output; quotes never split a character.
    #[test]
    fn formatting_helpers() {
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(250)), "4m 10s");
        assert_eq!(human(Duration::from_secs(7500)), "2h 5m");
        let long = "é".repeat(800);
        assert!(quote(&long).ends_with('…'));
        assert_eq!(elapsed(Timestamp::from_second(10).unwrap(), Timestamp::from_second(5).unwrap()), Duration::ZERO);
    }
}
