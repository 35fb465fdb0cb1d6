//! The task is gone but the run still waits for it. (`ecs.stopped-not-crashed`)

use super::{View, elapsed, human, quote};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};
use crate::evidence::ecs::{StopCode, TaskStatus};

pub const STOPPED_NOT_CRASHED: CheckInfo = CheckInfo {
    id: "ecs.stopped-not-crashed",
    title: "the ECS task stopped but the run was never marked Crashed",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reports a run still Pending whose ECS task has STOPPED: before any container ran, or
for a reason outside the flow (stopCode SpotInterruption, TerminationNotice, ServiceSchedulerInitiated,
UserInitiated, maintenance), or after its container exited without the engine reporting.

Why it matters: Prefect 3's ECS worker returns as soon as RunTask succeeds; only its ECS observer (ECS
task events via the SQS queue prefect-ecs-tasks-events) marks a run Crashed when its task stops. When the
observer is off, its queue or EventBridge rule is missing, or the event was lost, nothing ever will: the
run stays Pending, and holds its concurrency slots, forever. More specific ECS findings say why the task
stopped; this one says the run will not recover by itself.",
    remediation: &[
        "Cancel the run and start it again: prefect flow-run cancel <RUN_ID>",
        "Check the worker's ECS observer: the SQS queue prefect-ecs-tasks-events (PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME) and its EventBridge rule for ECS Task State Change events",
    ],
};

pub(super) fn stopped_not_crashed(v: &View<'_>) -> Vec<Finding> {
    let Some(task) = v.task else { return vec![] };
    if !v.run.is_pending() || task.status() != TaskStatus::Stopped {
        return vec![];
    }
    let ran = task.started_at.is_some() || task.containers.iter().any(|c| c.exit_code.is_some());
    let code = task.stop_code.as_deref().unwrap_or("(no stopCode)");
    let how = match task.stop_code() {
        Some(StopCode::TaskFailedToStart) => "failed to start".to_string(),
        Some(StopCode::SpotInterruption) => "was reclaimed by a Spot interruption".to_string(),
        Some(StopCode::TerminationNotice) => {
            "was stopped by a termination notice (Fargate maintenance or Spot)".to_string()
        }
        Some(StopCode::ServiceSchedulerInitiated) => "was stopped by the ECS service scheduler".to_string(),
        Some(StopCode::UserInitiated) => "was stopped by a StopTask call".to_string(),
        Some(StopCode::EssentialContainerExited) => "ended when its essential container exited".to_string(),
        _ => format!("stopped ({code})"),
    };
    let ago = task.stopped_at.map(|t| format!(" {} ago", human(elapsed(t, v.run.now)))).unwrap_or_default();
    let mut f = Finding::new(
        &STOPPED_NOT_CRASHED,
        Severity::Error,
        format!("The ECS task {how}{ago}, but the run is still {}: it will stay there", v.run.state_name),
    )
    .detail(format!(
        "The task {how} {}; Prefect never recorded it (no Crashed state), so the run waits for a task that no longer exists. \
         Prefect 3's ECS worker leaves crash detection to its observer, which did not report this stop.",
        if ran { "after its containers ran" } else { "before any container ran" }
    ))
    .evidence(format!("stopCode: {code} (lastStatus {})", task.last_status.as_deref().unwrap_or("?")));
    if let Some(r) = task.stopped_reason.as_deref() {
        f = f.evidence(format!("stoppedReason: {}", quote(r)));
    }
    if let Some(t) = task.stopped_at {
        f = f.evidence(format!("stoppedAt: {t}"));
    }
    f = f
        .evidence(format!("run state {} since {}", v.run.state_name, v.run.state_since))
        .fix(format!("Cancel the run and start it again: prefect flow-run cancel {}", v.run.run_id))
        .fix("Check the worker's ECS observer: it reads ECS task events from the SQS queue prefect-ecs-tasks-events (PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME), fed by an EventBridge rule on ECS Task State Change");
    if let Some(cmd) = v.describe_tasks() {
        f = f.fix(format!("See how the task ended (ECS keeps it about an hour): {cmd}"));
    }
    vec![f.subject(v.subject())]
}
