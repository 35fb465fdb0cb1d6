//! The task cannot be placed, waits for capacity, or lost its Spot capacity. (`ecs.capacity`,
//! `ecs.spot-interruption`)

use super::classify::{self, Cap};
use super::{View, elapsed, human, quote};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};
use crate::evidence::ecs::{StopCode, TaskStatus};
use crate::shell::sh;

pub const CAPACITY: CheckInfo = CheckInfo {
    id: "ecs.capacity",
    title: "the ECS cluster has no capacity for the task",
    kind: Kind::Cause,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports that the run's task could not be placed, from (in order)
  - RunTask placement failures the worker logged (\"Failed to run ECS task: RESOURCE:MEMORY\", RESOURCE:CPU,
    RESOURCE:PORTS): no container instance has enough free memory, CPU or the host port
  - \"Capacity is unavailable at this time\" (Fargate has no capacity in the subnets' availability zones)
  - \"EMPTY CAPACITY PROVIDER\" (the capacity provider's Auto Scaling group has no instances)
  - \"No Container Instances were found in your cluster\", or a cluster with 0 registered container
    instances for an EC2 task
  - a task still PROVISIONING / PENDING, not yet pulling its image, past --pending-threshold (ECS waits
    10 to 30 minutes for capacity before stopping it)
with the cluster's instance count and capacity providers.

Why it matters: no container starts, so the run stays Pending (or crashes at submission); it resolves
only when capacity appears.",
    remediation: &[
        "Lower the cpu/memory job variables, or add capacity (scale the Auto Scaling group, enable managed scaling)",
        "For Fargate capacity: give network_configuration subnets in several availability zones",
        "Check the cluster: aws ecs describe-clusters --clusters <CLUSTER>",
    ],
};

pub(super) fn capacity(v: &View<'_>) -> Vec<Finding> {
    let hit =
        v.reasons_and_logs().into_iter().find_map(|(label, text)| classify::capacity(text).map(|c| (label, text, c)));
    let cluster = v.cluster_display();
    let mut f = if let Some((label, text, cap)) = hit {
        let (title, why) = match &cap {
            Cap::Resource(r) => (
                format!("No container instance in cluster '{cluster}' has the {} the task needs (RESOURCE:{r})", resource_word(r)),
                format!("ECS could not place the task: no registered container instance has enough free {}", resource_word(r)),
            ),
            Cap::Unavailable => (
                "Fargate has no capacity for the task in its availability zones".to_string(),
                "AWS had no capacity for the task in the subnets' availability zones at the time".to_string(),
            ),
            Cap::EmptyProvider => (
                format!("The capacity provider of cluster '{cluster}' has no instances"),
                "the capacity provider's Auto Scaling group has no instances to place the task on".to_string(),
            ),
            Cap::NoInstances => (
                format!("Cluster '{cluster}' has no container instances for the task"),
                "the task uses the EC2 launch type (or an EC2 capacity provider) and no container instance is registered".to_string(),
            ),
        };
        Finding::new(&CAPACITY, Severity::Critical, title)
            .detail(format!("{}: {why}.", cap.token()))
            .evidence(format!("{label}: {}", quote(text)))
    } else if let Some(f) = no_instances(v, &cluster) {
        f
    } else if let Some(f) = waiting(v) {
        f
    } else {
        return vec![];
    };

    if let Some(c) = v.cluster {
        f = f.evidence(format!(
            "cluster {}: {} registered container instances, {} running / {} pending tasks{}",
            c.name().unwrap_or("?"),
            c.registered_container_instances_count.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
            c.running_tasks_count.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
            c.pending_tasks_count.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
            if c.capacity_providers.is_empty() {
                String::new()
            } else {
                format!(", capacity providers {}", c.capacity_providers.join(", "))
            }
        ));
    }
    for cp in &v.ecs.capacity_providers {
        if let Some(ms) = cp.auto_scaling_group_provider.as_ref().and_then(|a| a.managed_scaling.as_ref()) {
            f = f.evidence(format!(
                "capacity provider {}: managed scaling {}{}",
                cp.name.as_deref().unwrap_or("?"),
                ms.status.as_deref().unwrap_or("?"),
                ms.target_capacity.map(|t| format!(", target capacity {t}%")).unwrap_or_default()
            ));
        }
    }
    if let Some(td) = v.td {
        f = f.evidence(format!(
            "task definition {}: cpu {}, memory {}",
            td.family_revision().unwrap_or_default(),
            td.cpu.as_deref().unwrap_or("(unset)"),
            td.memory.as_deref().unwrap_or("(unset)")
        ));
    }
    f = fixes(v, f);
    vec![f.subject(v.subject())]
}

fn resource_word(r: &str) -> &'static str {
    match r {
        "MEMORY" => "memory",
        "CPU" => "CPU",
        "PORTS" => "host ports",
        "ENI" => "network interfaces (awsvpc ENI trunking/limits)",
        "GPU" => "GPUs",
        _ => "resources",
    }
}

/// An EC2 task (or one about to be) on a cluster without container instances.
fn no_instances(v: &View<'_>, cluster: &str) -> Option<Finding> {
    let c = v.cluster?;
    if c.registered_container_instances_count != Some(0) {
        return None;
    }
    let ec2 = v.task.and_then(|t| t.launch_type.as_deref()) == Some("EC2")
        || (v.task.is_none()
            && v.td.is_some_and(|td| {
                td.requires_compatibilities.iter().any(|r| r == "EC2")
                    && !td.requires_compatibilities.iter().any(|r| r == "FARGATE")
            }));
    let waiting = v.task.is_none_or(|t| matches!(t.status(), TaskStatus::Provisioning | TaskStatus::Pending));
    (ec2 && waiting).then(|| {
        Finding::new(&CAPACITY, Severity::Critical, format!("Cluster '{cluster}' has no container instances for the EC2 task"))
            .detail("no-container-instances: the task uses the EC2 launch type and no container instance is registered with the cluster.")
            .evidence("registeredContainerInstancesCount: 0")
    })
}

/// A task still waiting for placement past the pending threshold.
fn waiting(v: &View<'_>) -> Option<Finding> {
    let task = v.task?;
    if !matches!(task.status(), TaskStatus::Provisioning | TaskStatus::Pending) || task.pull_started_at.is_some() {
        return None;
    }
    let since = task.created_at.unwrap_or(v.run.state_since);
    let waited = elapsed(since, v.run.now);
    if waited <= v.run.pending_threshold {
        return None;
    }
    let status = task.last_status.as_deref().unwrap_or("PROVISIONING");
    let on = task.capacity_provider_name.as_deref().or(task.launch_type.as_deref()).unwrap_or("the cluster");
    Some(
        Finding::new(&CAPACITY, Severity::Error, format!("The ECS task has waited {} in {status} for capacity on {on}", human(waited)))
            .detail(format!(
                "pending: the task has been {status} for {} (threshold {}) without starting to pull its image: ECS is waiting \
                 for capacity ({on}) and stops the task if none comes within 10 to 30 minutes.",
                human(waited),
                human(v.run.pending_threshold)
            ))
            .evidence(format!("lastStatus: {status} since {since} ({} ago)", human(waited)))
            .evidence("pullStartedAt: (not yet)"),
    )
}

fn fixes(v: &View<'_>, mut f: Finding) -> Finding {
    let detail = f.detail.clone();
    if detail.starts_with("resource-memory") || detail.starts_with("resource-cpu") {
        f = f.fix("Lower the cpu / memory job variables to what an instance can hold, or add instances: scale the Auto Scaling group or enable the capacity provider's managed scaling");
    } else if detail.starts_with("resource-ports") {
        f = f.fix("Another task holds the host port: use awsvpc network mode, or a dynamic host port (hostPort 0) in bridge mode");
    } else if detail.starts_with("unavailable") {
        f = f.fix(
            "Give the network_configuration job variable subnets in several availability zones, and retry the run",
        );
    } else if detail.starts_with("empty-capacity-provider")
        || detail.starts_with("no-container-instances")
        || detail.starts_with("pending")
    {
        let asg = v
            .ecs
            .capacity_providers
            .iter()
            .filter_map(|c| c.auto_scaling_group_provider.as_ref()?.auto_scaling_group_arn.as_deref())
            .filter_map(|a| a.rsplit_once("autoScalingGroupName/").map(|(_, n)| n))
            .next();
        match asg {
            Some(name) => {
                f = f.fix(format!(
                    "Check the Auto Scaling group's desired/max capacity and scaling activity: aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {}",
                    sh(name)
                ))
            }
            None => f = f.fix("Add capacity to the cluster (register EC2 container instances), or run on Fargate: launch_type FARGATE / capacity_provider_strategy job variables"),
        }
        if !v.ecs.capacity_providers.is_empty() {
            let names: Vec<&str> = v.ecs.capacity_providers.iter().filter_map(|c| c.name.as_deref()).collect();
            f = f.fix(format!(
                "Check the capacity providers: aws ecs describe-capacity-providers --capacity-providers {}",
                names.iter().map(|n| sh(n)).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    f = f.fix(format!("Check the cluster's capacity: {}", v.describe_clusters()));
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("Watch the task: {cmd}"));
    }
    f
}

pub const SPOT_INTERRUPTION: CheckInfo = CheckInfo {
    id: "ecs.spot-interruption",
    title: "the ECS task was stopped by a Spot interruption",
    kind: Kind::Risk,
    item: Item::Capacity,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a task with stopCode SpotInterruption: AWS reclaimed the Fargate Spot (or EC2 Spot)
capacity it ran on, after a two-minute warning (SIGTERM to the containers).

Why it matters: not the flow's fault, and it can happen again to any run on Spot capacity. If the run is
still Pending, ecs.stopped-not-crashed says it will not recover by itself.",
    remediation: &[
        "Run flows that must not be interrupted on FARGATE (on-demand): the capacity_provider_strategy job variable",
        "Add retries to the deployment so an interrupted run is retried",
    ],
};

pub(super) fn spot_interruption(v: &View<'_>) -> Vec<Finding> {
    let Some(task) = v.task else { return vec![] };
    if task.stop_code() != Some(StopCode::SpotInterruption) {
        return vec![];
    }
    let on = task.capacity_provider_name.as_deref().unwrap_or("Spot capacity");
    // A run that crashed because its capacity was reclaimed: the interruption is the crash's cause, and
    // ranks above the Prefect side's `run.crashed` (same severity, more specific evidence).
    let crashed = v.run.state_type.eq_ignore_ascii_case("CRASHED");
    let mut f = Finding::new(
        &SPOT_INTERRUPTION,
        if crashed { Severity::Error } else { Severity::Warning },
        format!("The ECS task was stopped by a Spot interruption ({on})"),
    )
    .detail("spot-interruption: AWS reclaimed the Spot capacity the task ran on; the flow did not fail by itself.")
    .evidence(format!("stopCode: SpotInterruption (lastStatus {})", task.last_status.as_deref().unwrap_or("?")));
    if let Some(r) = task.stopped_reason.as_deref() {
        f = f.evidence(format!("stoppedReason: {}", quote(r)));
    }
    f = f
        .fix("Run flows that must not be interrupted on FARGATE (on-demand) rather than FARGATE_SPOT: the capacity_provider_strategy job variable")
        .fix("Add retries to the deployment so an interrupted run starts again");
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("See the task: {cmd}"));
    }
    if crashed {
        f = f.kind(Kind::Cause);
    }
    vec![f.subject(v.subject())]
}
