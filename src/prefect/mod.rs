//! Everything that talks to the Prefect REST API: the client, its read-only policy, the response types,
//! and the collectors that turn responses into evidence.

pub mod client;
pub mod collect;
pub mod health;
pub mod observe;
pub mod pager;
pub mod slots;
pub mod types;

use jiff::Timestamp;

use crate::evidence::PoolHealth;
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
    /// Of these holder summaries, the ids whose full records to read.
    fn holder_details(&self, now: Timestamp, workers: Option<&[Worker]>, holders: &[FlowRun]) -> Vec<String>;
    /// Of a pool's stuck-run candidates, the runs to diagnose.
    fn stuck_runs(&self, now: Timestamp, pool: &PoolHealth) -> Vec<FlowRun>;
}
