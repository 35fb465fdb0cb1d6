//! Everything that talks to the Prefect REST API: the client, its read-only policy, the response types,
//! and the collectors that turn responses into evidence.

pub mod client;
pub mod collect;
pub mod health;
pub mod observe;
pub mod pager;
pub mod slots;
pub mod types;

use std::future::Future;
use std::pin::Pin;

use jiff::Timestamp;

use crate::evidence::{InfraEvidence, PoolHealth};
use types::{FlowRun, Worker};

/// What to read beyond the first round. The checks decide it (`checks::plan::Planner`) from what was
/// read and the server-corrected "now"; collectors only fetch what it names.
pub trait Plan: Sync {
    /// Of these slot holders, the ids whose logs to read.
    fn holder_logs(
        &self,
        now: Timestamp,
        pool: Option<&str>,
        workers: Option<&[Worker]>,
        holders: &[&FlowRun],
    ) -> Vec<String>;
    /// A Running holder that wrote nothing since this time has gone quiet (its latest line need not be
    /// read: "nothing since" is enough).
    fn quiet_since(&self, now: Timestamp) -> Timestamp;
    /// Of these holder summaries, the ids whose full records to read.
    fn holder_details(&self, now: Timestamp, workers: Option<&[Worker]>, holders: &[FlowRun]) -> Vec<String>;
    /// Of a pool's stuck-run candidates, the runs to diagnose.
    fn stuck_runs(&self, now: Timestamp, pool: &PoolHealth) -> Vec<FlowRun>;
}

/// Where a run's infrastructure should be, as far as Prefect knows: what an infrastructure collector
/// needs when the run's `infrastructure_pid` does not name it.
#[derive(Debug, Clone, Default)]
pub struct InfraHints {
    /// The pool's type (`kubernetes`, `ecs`, `process`, …), when the pool could be read.
    pub pool_type: Option<String>,
    /// Job variables, most specific first: the run's, the deployment's, the pool template's defaults.
    pub job_variables: Vec<serde_json::Value>,
}

impl InfraHints {
    /// The first value of a job variable, most specific first.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.job_variables.iter().find_map(|v| v.get(name).and_then(|x| x.as_str()).filter(|s| !s.is_empty()))
    }
}

/// The hints, once the Prefect side has read the pool and the deployment.
pub type HintsFuture<'a> = Pin<Box<dyn Future<Output = InfraHints> + 'a>>;

/// Collects the infrastructure side of a run (Kubernetes, ECS) concurrently with the Prefect side:
/// it starts as soon as the run is read and awaits the hints only when it needs them.
pub trait Infra {
    fn collect<'a>(
        &'a self,
        run: &'a FlowRun,
        hints: HintsFuture<'a>,
    ) -> Pin<Box<dyn Future<Output = InfraEvidence> + 'a>>;
}
