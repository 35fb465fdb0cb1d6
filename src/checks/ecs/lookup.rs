//! The recorded cluster or task does not exist. (`ecs.cluster-missing`, `ecs.task-missing`)

use super::classify;
use super::{View, quote};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};
use crate::evidence::ecs::{Located, Lookup};
use crate::shell::sh;

pub const CLUSTER_MISSING: CheckInfo = CheckInfo {
    id: "ecs.cluster-missing",
    title: "the ECS cluster does not exist",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports that the cluster the run's task was (to be) started on does not exist in the
region: DescribeClusters answers `failures: [{reason: MISSING}]`, the cluster is INACTIVE (deleted), or
the worker logged ClusterNotFoundException (\"Cluster not found.\") from RunTask.

Why it matters: no task can start. The worker's cluster job variable (default: the region's `default`
cluster) names it; a wrong name or region fails every run of the pool.",
    remediation: &[
        "Set the cluster job variable to an existing cluster: aws ecs list-clusters --region <REGION>",
        "Check it: aws ecs describe-clusters --clusters <CLUSTER>",
    ],
};

pub(super) fn cluster_missing(v: &View<'_>) -> Vec<Finding> {
    let cluster = v.cluster_display();
    let region = v.ecs.region.as_deref().map(|r| format!(" --region {}", sh(r))).unwrap_or_default();
    let mut evidence = Vec::new();
    let mut inactive = false;
    match &v.ecs.cluster {
        Lookup::Missing(fail) => evidence.push(format!(
            "DescribeClusters failures: arn {} reason {}{}",
            fail.arn.as_deref().unwrap_or(&cluster),
            fail.reason.as_deref().unwrap_or("MISSING"),
            fail.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
        )),
        Lookup::Found(c) if c.status.as_deref() == Some("INACTIVE") => {
            inactive = true;
            evidence.push(format!("cluster {} status: INACTIVE", c.name().unwrap_or(&cluster)));
        }
        _ => {}
    }
    evidence.extend(
        v.run
            .worker_log_lines
            .iter()
            .filter(|l| classify::cluster_not_found(l))
            .map(|l| format!("log line: {}", quote(l))),
    );
    if evidence.is_empty() {
        return vec![];
    }
    let f = Finding::new(
        &CLUSTER_MISSING,
        Severity::Critical,
        if inactive { format!("The ECS cluster '{cluster}' is INACTIVE (deleted)") } else { format!("The ECS cluster '{cluster}' does not exist") },
    )
    .detail(format!(
        "The cluster the run's task runs on ('{cluster}'{}) {}: no task can start there.",
        v.ecs.region.as_deref().map(|r| format!(" in {r}")).unwrap_or_default(),
        if inactive { "was deleted" } else { "is unknown to ECS" }
    ))
    .evidence_all(evidence)
    .fix(format!("Set the cluster job variable of the work pool or deployment to an existing cluster: aws ecs list-clusters{region}"))
    .fix(format!("Check the name and region: {}", v.describe_clusters()))
    .subject(v.cluster.and_then(|c| c.cluster_arn.clone()).unwrap_or_else(|| format!("ecs-cluster/{cluster}")));
    vec![f]
}

pub const TASK_MISSING: CheckInfo = CheckInfo {
    id: "ecs.task-missing",
    title: "the recorded ECS task is unknown to ECS",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports that the task the run's infrastructure_pid names (`<cluster>::<task arn>`) is
unknown to ECS: DescribeTasks answers `failures: [{arn, reason: MISSING}]`.

Why it matters: ECS keeps stopped tasks for only about an hour, so the task most likely ran and stopped
more than an hour ago, and how it ended can no longer be read from ECS. Its container output may still
be in CloudWatch (stream `<awslogs-stream-prefix>/<container>/<task id>`, group `prefect` with the
worker's defaults), and the run's own logs hold what the observer forwarded. A task in another region
or account than the one asked also reads as MISSING.",
    remediation: &[
        "Read the task's container log in CloudWatch: aws logs tail <GROUP> --log-stream-names <PREFIX>/prefect/<TASK_ID>",
        "Read the run's logs: prefect flow-run logs <RUN_ID>",
        "Capture stopped-task events with an EventBridge rule (ECS Task State Change) to keep them longer than an hour",
    ],
};

pub(super) fn task_missing(v: &View<'_>) -> Vec<Finding> {
    let Located::ByPid { task_arn, .. } = &v.ecs.located else {
        return vec![];
    };
    let Lookup::Missing(fail) = &v.ecs.task else {
        return vec![];
    };
    // A missing cluster explains a missing task: ecs.cluster-missing says so.
    if matches!(v.ecs.cluster, Lookup::Missing(_))
        || classify::cluster_not_found(fail.reason.as_deref().unwrap_or_default())
    {
        return vec![];
    }
    let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn);
    let mut f = Finding::new(&TASK_MISSING, Severity::Critical, format!("The run's ECS task {task_id} is unknown to ECS"))
        .detail(format!(
            "ECS does not know the task Prefect recorded{}: stopped tasks age out of DescribeTasks after about an hour, so it \
             most likely stopped more than an hour ago. Its container output may still be in CloudWatch.",
            v.ecs.region.as_deref().map(|r| format!(" (asked in {r})")).unwrap_or_default()
        ))
        .evidence(format!(
            "DescribeTasks failures: arn {} reason {}{}",
            fail.arn.as_deref().unwrap_or(task_arn),
            fail.reason.as_deref().unwrap_or("MISSING"),
            fail.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
        ));
    if let Some(pid) = v.ecs.infrastructure_pid.as_deref() {
        f = f.evidence(format!("infrastructure_pid: {pid}"));
    }
    if let Some(cmd) = v.logs_tail() {
        f = f.fix(format!("Read the task's container log (it outlives the task): {cmd}"));
    }
    if let Some((group, _)) = v.log_location() {
        f = f.fix(format!(
            "Find the stream if the prefix differs: aws logs describe-log-streams --log-group-name {} --order-by LastEventTime --descending --max-items 20{}",
            sh(&group),
            v.ecs.region.as_deref().map(|r| format!(" --region {}", sh(r))).unwrap_or_default()
        ));
    }
    f = f
        .fix(format!("Read the run's logs (the observer forwards the task's last lines): prefect flow-run logs {}", v.run.run_id))
        .fix("Keep stopped-task details longer than an hour: an EventBridge rule on ECS Task State Change to CloudWatch Logs");
    vec![f.subject(task_arn.clone())]
}
