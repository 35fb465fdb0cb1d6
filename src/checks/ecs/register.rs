//! The worker could not register the run's task definition. (`ecs.register-failed`)

use super::classify;
use super::{View, quote};
use crate::checks::{Backend, CheckInfo, Finding, Item, Kind, Severity};

pub const REGISTER_FAILED: CheckInfo = CheckInfo {
    id: "ecs.register-failed",
    title: "the worker could not register the ECS task definition",
    kind: Kind::Cause,
    item: Item::Infrastructure,
    backend: Backend::Infrastructure,
    symptom: false,
    unexplained: "",
    explanation: "\
What it does: reads the run's worker log lines for a failed RegisterTaskDefinition call:
\"Too many concurrent attempts to create a new revision of the specified family\" (a ClientException ECS
returns when several runs register a revision of one family at the same moment), or another
ClientException from RegisterTaskDefinition (an invalid cpu/memory pair, a bad role ARN), and quotes it.

Why it matters: Prefect's ECS worker registers a task definition revision for a run unless an identical
one exists; when the call fails no task is created, and the run crashes at submission (or stays Pending
if that could not be recorded). Runs that start together on one deployment hit the concurrency error
together.",
    remediation: &[
        "Reuse the family's latest revision instead of registering one per run: match_latest_revision_in_family: true (job variable)",
        "Or pre-register the task definition and set the task_definition_arn job variable",
        "Stagger schedules that start many runs of one deployment at the same second",
    ],
};

pub(super) fn register_failed(v: &View<'_>) -> Vec<Finding> {
    let Some(line) = v.run.worker_log_lines.iter().find(|l| classify::register_failed(l)) else {
        return vec![];
    };
    let concurrent = line.contains("Too many concurrent attempts");
    let mut f = Finding::new(
        &REGISTER_FAILED,
        Severity::Critical,
        if concurrent {
            "The worker could not register the task definition: too many concurrent revisions of the family".to_string()
        } else {
            "The worker could not register the task definition (ClientException)".to_string()
        },
    )
    .detail(if concurrent {
        "too-many-concurrent-revisions: several runs registered a revision of the same task definition family at once; ECS \
         refused this one, so no task was created."
            .to_string()
    } else {
        "client-exception: ECS refused the task definition the worker built, so no task was created.".to_string()
    })
    .evidence(format!("log line: {}", quote(line)));
    f = if concurrent {
        f.fix("Reuse the family's latest matching revision instead of registering one per run: set match_latest_revision_in_family to true (work pool or deployment job variables)")
            .fix("Or register the task definition once and set the task_definition_arn job variable")
            .fix("Stagger schedules that start many runs of this deployment at the same moment; retry the run")
    } else {
        f.fix("Fix what the error names in the job variables (cpu/memory pair, image, execution_role_arn, task_role_arn) or in the work pool's task_definition template")
    };
    f = f.fix(format!("Read the whole traceback: prefect flow-run logs {}", v.run.run_id));
    vec![f.subject(v.subject())]
}
