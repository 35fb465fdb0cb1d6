//! The run's deployment: deleted or paused? (`deployment.missing`, `deployment.paused`)

use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Severity};
use crate::evidence::Source;

pub const MISSING: Check = Check {
    info: CheckInfo {
        id: "deployment.missing",
        title: "the run's deployment was deleted",
        kind: Kind::Cause,
        item: Item::Infrastructure,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: reads the deployment the run was created from; a 404 means it was deleted after the run was
scheduled.

Why it matters: a worker that picks up such a run cannot resolve its job configuration and cancels it
(\"Deployment ... no longer exists\"); runs that no worker has reached yet sit in Scheduled/Late, and
deleting and re-creating a deployment under the same name gives it a new id, so old runs stay orphaned.",
        remediation: &[
            "Delete or cancel the orphaned run: prefect flow-run delete <RUN_ID>",
            "Re-create the deployment (prefect deploy) and start a new run from it",
        ],
    },
    run: missing,
};

fn missing(ctx: &Ctx<'_>) -> Vec<Finding> {
    let run = ctx.run();
    let (Source::NotFound, Some(dep_id)) = (&ctx.ev.deployment, run.deployment_id.as_deref()) else {
        return vec![];
    };
    if !ctx.phase().awaiting_start() {
        return vec![];
    }
    vec![
        Finding::new(&MISSING.info, Severity::Critical, format!("The run's deployment {dep_id} was deleted"))
            .detail(if ctx.phase().needs_poll() {
                "The deployment this run was created from no longer exists: a worker that picks the run up \
                 cancels it (\"Deployment ... no longer exists\"), and until then it only waits."
            } else {
                "The deployment this run was created from no longer exists: its job configuration cannot be \
                 resolved, so no worker can (re)create its infrastructure, and the run will not start."
            })
            .evidence(format!("GET /deployments/{dep_id}: 404 Not Found"))
            .fix(format!("Remove the orphaned run: prefect flow-run delete {}", run.id))
            .fix("Re-create the deployment (prefect deploy) and start a new run from it (prefect deployment run <FLOW>/<DEPLOYMENT>)")
            .subject(format!("deployment/{dep_id}")),
    ]
}

pub const PAUSED: Check = Check {
    info: CheckInfo {
        id: "deployment.paused",
        title: "the run's deployment is paused",
        kind: Kind::Risk,
        item: Item::QueuePolled,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: reads the run's deployment and reports it when it is paused.

Why it matters: pausing a deployment stops its schedules and deletes its future auto-scheduled runs, but
workers still pick up runs that already exist. So a paused deployment rarely blocks this run; it explains
why no new runs appear, and it is often the forgotten half of an incident clean-up.",
        remediation: &["Resume it in the UI (Deployments > the deployment > toggle), or with the API: \
             curl -X PATCH \"$PREFECT_API_URL/deployments/<DEPLOYMENT_ID>\" -H 'Content-Type: application/json' -d '{\"paused\": false}'"],
    },
    run: paused,
};

fn paused(ctx: &Ctx<'_>) -> Vec<Finding> {
    let Some(dep) = ctx.ev.deployment.value() else { return vec![] };
    if !dep.paused || !ctx.phase().awaiting_start() {
        return vec![];
    }
    vec![
        Finding::new(&PAUSED.info, Severity::Warning, format!("Deployment '{}' is paused", dep.name))
            .detail(
                "The deployment is paused: its schedules create no new runs. Existing runs like this one can \
                 still be picked up, so this alone does not block it.",
            )
            .evidence(format!("deployment '{}' ({}): paused=true", dep.name, dep.id))
            .fix("Resume it in the Prefect UI (Deployments > the deployment > toggle), or with the API:")
            .fix(format!(
                "curl -X PATCH \"$PREFECT_API_URL/deployments/{}\" -H 'Content-Type: application/json' -d '{{\"paused\": false}}'",
                dep.id
            ))
            .subject(format!("deployment/{}", dep.id)),
    ]
}

#[cfg(test)]
mod tests {
    use crate::checks::Kind;
    use crate::checks::testkit::*;

    /// A 404 on the deployment of a waiting run is deployment.missing.
    #[test]
    fn missing_deployment() {
        let ev = Scenario::late(600).deployment_missing().build();
        let f = findings(&ev, "deployment.missing");
        assert_eq!(f.len(), 1);
        assert!(f[0].remediation[0].contains("prefect flow-run delete 00000000-0000-4000-8000-000000000001"));
    }

    /// A paused deployment is a risk, not a cause.
    #[test]
    fn paused_deployment_is_a_risk() {
        let ev = Scenario::late(600).deployment(|d| d.paused = true).build();
        let f = findings(&ev, "deployment.paused");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, Kind::Risk);
    }
}
