//! What to read beyond the first round, decided from what was read: which slot holders need their
//! logs or their full records, and which of a pool's runs `health` diagnoses. Pure functions of the
//! evidence and the server-corrected "now"; the collectors fetch what they ask for (through
//! `prefect::Plan`, so the collectors do not depend on the checks).

use std::time::Duration;

use jiff::Timestamp;

use super::judge::{HOLDER_LOG_CAP, Judge};
use crate::evidence::{PoolHealth, Thresholds};
use crate::prefect::types::{FlowRun, StateType, Worker};

/// Below this many holders every one gets its full record read; above it only those that could be
/// zombies (the summaries `concurrency_status` gives lack labels and infrastructure pids).
pub const DETAIL_CAP: usize = 1000;

/// The plan of a command: its thresholds and how many stuck runs `health` diagnoses per pool.
#[derive(Debug, Clone, Copy)]
pub struct Planner {
    pub thresholds: Thresholds,
    pub max_runs: usize,
}

fn judge<'a>(now: Timestamp, pending: Duration, pool: Option<&'a str>, workers: Option<&'a [Worker]>) -> Judge<'a> {
    Judge { now, pending_threshold: pending, pool, workers, logs: None, summaries_only: None }
}

impl crate::prefect::Plan for Planner {
    /// Holders whose logs can change a verdict (`Judge::needs_logs`), the longest-held first (the
    /// likeliest to be dead), at most `HOLDER_LOG_CAP`.
    fn holder_logs(
        &self,
        now: Timestamp,
        pool: Option<&str>,
        workers: Option<&[Worker]>,
        holders: &[&FlowRun],
    ) -> Vec<String> {
        let judge = judge(now, self.thresholds.pending, pool, workers);
        let mut wanted: Vec<&FlowRun> = holders.iter().copied().filter(|r| judge.needs_logs(r)).collect();
        wanted.sort_by_key(|r| r.state.as_ref().and_then(|s| s.timestamp));
        wanted.truncate(HOLDER_LOG_CAP);
        wanted.into_iter().map(|r| r.id.clone()).collect()
    }

    fn quiet_since(&self, now: Timestamp) -> Timestamp {
        let back = jiff::SignedDuration::try_from(self.thresholds.pending).unwrap_or(jiff::SignedDuration::MAX);
        now.checked_sub(back).unwrap_or(Timestamp::MIN)
    }

    /// Every holder when there are few; otherwise Pending holders past the threshold and, when a worker
    /// is down, the `HOLDER_LOG_CAP` longest-Running ones (a Running holder is dead only if its logs went
    /// quiet too, and only those get their logs read: details for the others would show nothing more).
    fn holder_details(&self, now: Timestamp, workers: Option<&[Worker]>, holders: &[FlowRun]) -> Vec<String> {
        if holders.len() <= DETAIL_CAP {
            return holders.iter().map(|r| r.id.clone()).collect();
        }
        let threshold = self.thresholds.pending;
        let judge = judge(now, threshold, None, workers);
        let some_worker_down = workers.is_none_or(|w| w.iter().any(|w| !judge.liveness(w).is_online()));
        let since = |r: &FlowRun| r.state.as_ref().and_then(|s| s.timestamp);
        let old_pending = holders.iter().filter(|r| {
            r.state_type() == Some(&StateType::Pending) && since(r).is_some_and(|t| judge.since(t) > threshold)
        });
        let mut running: Vec<&FlowRun> = if some_worker_down {
            holders.iter().filter(|r| r.state_type() == Some(&StateType::Running)).collect()
        } else {
            vec![]
        };
        running.sort_by_key(|r| since(r));
        old_pending.chain(running.into_iter().take(HOLDER_LOG_CAP)).map(|r| r.id.clone()).collect()
    }

    fn stuck_runs(&self, now: Timestamp, pool: &PoolHealth) -> Vec<FlowRun> {
        super::fleet::stuck_runs(pool, now, self.thresholds, self.max_runs).into_iter().cloned().collect()
    }
}
