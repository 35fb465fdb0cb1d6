//! Judging workers and slot holders at a given "now": is a worker alive, who claimed a run, and does a
//! run that holds a concurrency slot look dead? Shared by `doctor`, the `slots` commands and `health`.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::claims::{Claim, claimer};
use crate::evidence::RunLogs;
use crate::fmt::{ago, human};
use crate::prefect::types::{FlowRun, LogLine, StateType, Worker};

/// Prefect's foreman marks a worker OFFLINE after 3 missed heartbeats (interval default 30 s).
pub const HEARTBEAT_MULTIPLE: f64 = 3.0;
pub const DEFAULT_HEARTBEAT_SECONDS: f64 = 30.0;
/// At most this many slot holders get their logs read (one or two requests each), the longest-held
/// first; the others are `unjudged` when their worker may be gone.
pub const HOLDER_LOG_CAP: usize = 50;

/// Whether a worker is alive, judged from its heartbeat (the stored status lags by up to a minute).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Liveness {
    Online { since_heartbeat: Duration },
    Offline { since_heartbeat: Duration, allowed: Duration },
    Never,
}

impl Liveness {
    pub fn is_online(&self) -> bool {
        matches!(self, Liveness::Online { .. })
    }
}

/// What is known of the worker that claimed a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    Online,
    Offline,
    /// Named by the run but not (or no longer) registered in the pool.
    Gone,
    /// Its pool's workers are not known (a holder in another pool).
    Unknown,
}

pub struct Judge<'a> {
    /// "Now" on the server's clock.
    pub now: Timestamp,
    pub pending_threshold: Duration,
    /// The pool whose workers are listed: only holders in it get their worker judged.
    pub pool: Option<&'a str>,
    pub workers: Option<&'a [Worker]>,
    pub logs: Option<&'a [RunLogs]>,
    /// Holders known only from a summary (no labels, no infrastructure pid): not judged on those.
    pub summaries_only: Option<&'a BTreeSet<String>>,
}

impl<'a> Judge<'a> {
    /// Time elapsed since `t` (zero if `t` is in the future).
    pub fn since(&self, t: Timestamp) -> Duration {
        Duration::try_from(self.now.duration_since(t)).unwrap_or(Duration::ZERO)
    }

    pub fn liveness(&self, w: &Worker) -> Liveness {
        let Some(hb) = w.last_heartbeat_time else { return Liveness::Never };
        let interval = w.heartbeat_interval_seconds.filter(|s| *s > 0.0).unwrap_or(DEFAULT_HEARTBEAT_SECONDS);
        // A nonsense interval from the server (1e300) means "never late", not a panic.
        let allowed = Duration::try_from_secs_f64(interval * HEARTBEAT_MULTIPLE).unwrap_or(Duration::MAX);
        let since_heartbeat = self.since(hb);
        if since_heartbeat > allowed {
            Liveness::Offline { since_heartbeat, allowed }
        } else {
            Liveness::Online { since_heartbeat }
        }
    }

    /// "worker 'w1': offline, last heartbeat 14m ago (offline after 1m 30s without one), stored status OFFLINE".
    pub fn describe_worker(&self, w: &Worker) -> String {
        let stored = w.status.as_deref().map(|s| format!(", stored status {s}")).unwrap_or_default();
        match self.liveness(w) {
            Liveness::Online { since_heartbeat } => {
                format!("worker '{}': online, last heartbeat {}{stored}", w.name, ago(since_heartbeat))
            }
            Liveness::Offline { since_heartbeat, allowed } => format!(
                "worker '{}': offline, last heartbeat {} (offline after {} without one){stored}",
                w.name,
                ago(since_heartbeat),
                human(allowed)
            ),
            Liveness::Never => format!("worker '{}': never sent a heartbeat{stored}", w.name),
        }
    }

    pub fn worker_named(&self, name: &str) -> Option<&'a Worker> {
        self.workers?.iter().find(|w| w.name == name)
    }

    pub fn online(&self) -> Vec<&'a Worker> {
        self.workers.unwrap_or_default().iter().filter(|w| self.liveness(w).is_online()).collect()
    }

    /// Whether the named worker of this pool is alive.
    pub fn worker_status(&self, name: &str) -> WorkerStatus {
        let Some(workers) = self.workers else { return WorkerStatus::Unknown };
        match workers.iter().find(|w| w.name == name) {
            Some(w) if self.liveness(w).is_online() => WorkerStatus::Online,
            Some(_) => WorkerStatus::Offline,
            None => WorkerStatus::Gone,
        }
    }

    /// "worker 'w' is offline ..." when the named worker is offline or has no record in the pool.
    pub fn worker_gone(&self, name: &str) -> Option<String> {
        match self.worker_status(name) {
            WorkerStatus::Online | WorkerStatus::Unknown => None,
            WorkerStatus::Offline => self.worker_named(name).map(|w| self.describe_worker(w)),
            WorkerStatus::Gone => Some(format!("worker '{name}': no longer registered in the pool")),
        }
    }

    pub fn logs_of(&self, run_id: &str) -> &'a [LogLine] {
        self.logs.and_then(|l| l.iter().find(|r| r.run_id == run_id)).map_or(&[], |r| r.lines.as_slice())
    }

    fn has_details(&self, run: &FlowRun) -> bool {
        self.summaries_only.is_none_or(|s| !s.contains(&run.id))
    }

    /// The worker that claimed a holder: its label (Prefect 3) or its "submitting" log line.
    pub fn claimer(&self, run: &FlowRun) -> Option<Claim> {
        claimer(run, &[], self.logs_of(&run.id))
    }

    fn in_pool(&self, run: &FlowRun) -> bool {
        run.work_pool_name.is_none() || run.work_pool_name.as_deref() == self.pool
    }

    /// Why a slot holder looks dead, if it does: Pending past the threshold with its worker gone (or no
    /// worker and no infrastructure on record), Cancelling for long, or Running with its worker gone and
    /// silent. Worker liveness is only judged for holders in the judged pool, and never for holders
    /// known only from a summary.
    pub fn zombie_reason(&self, run: &FlowRun) -> Option<String> {
        let for_ = run.state.as_ref().and_then(|s| s.timestamp).map(|t| self.since(t))?;
        let threshold = self.pending_threshold;
        let state = run.state_name();
        if run.state_type()? == &StateType::Cancelling {
            return (for_ > threshold).then(|| {
                format!("Cancelling for {}: its infrastructure never confirmed the cancellation", human(for_))
            });
        }
        if !self.has_details(run) {
            return None;
        }
        let claim = self.claimer(run);
        let gone = claim
            .as_ref()
            .filter(|_| self.in_pool(run))
            .and_then(|c| self.worker_gone(&c.worker).map(|g| (c.worker.clone(), g)));
        match run.state_type()? {
            StateType::Pending if for_ > threshold => match (&gone, &claim, run.infrastructure_pid.as_deref()) {
                (Some((w, _)), _, _) => {
                    Some(format!("{state} for {}; worker '{w}' that claimed it is offline", human(for_)))
                }
                (None, None, None | Some("")) => {
                    Some(format!("{state} for {} with no infrastructure and no worker on record", human(for_)))
                }
                _ => None,
            },
            StateType::Running => {
                let (w, _) = gone?;
                let logs = self.logs?.iter().find(|l| l.run_id == run.id)?;
                let last = logs.lines.iter().filter_map(|l| l.timestamp).max();
                let quiet = match (last, logs.silent_since) {
                    (Some(t), _) => self.since(t),
                    // Nothing since `s`: quiet at least that long, and never longer than it has run.
                    (None, Some(s)) => self.since(s).min(for_),
                    (None, None) => for_,
                };
                let silent_only = last.is_none() && logs.silent_since.is_some();
                // "Nothing since s" makes it quiet for more than the threshold once it has run longer.
                let dead = if silent_only { for_ > threshold } else { quiet > threshold };
                dead.then(|| {
                    format!(
                        "Running for {}; worker '{w}' is offline and the run has not logged for {}{}",
                        human(for_),
                        if silent_only { "more than " } else { "" },
                        human(quiet)
                    )
                })
            }
            _ => None,
        }
    }

    /// Whether a holder's logs can change a verdict: a Pending holder past the threshold whose worker is
    /// not in its labels (Prefect 2 names it only in the logs), or a Running holder whose worker may be
    /// gone (then silence makes it a zombie).
    pub fn needs_logs(&self, run: &FlowRun) -> bool {
        let labelled = run.label("prefect.worker.name");
        let age = run.state.as_ref().and_then(|s| s.timestamp).map(|t| self.since(t)).unwrap_or_default();
        match run.state_type() {
            Some(StateType::Pending) => labelled.is_none() && age > self.pending_threshold,
            Some(StateType::Running) => match labelled {
                Some(w) => self.worker_status(w) != WorkerStatus::Online,
                None => self.workers.is_none_or(|ws| ws.is_empty() || ws.iter().any(|w| !self.liveness(w).is_online())),
            },
            _ => false,
        }
    }

    /// A Running holder of the judged pool that may be dead but could not be judged: its worker may be
    /// gone, and its logs were not read (only the longest-held holders get them read).
    pub fn unjudged(&self, run: &FlowRun) -> bool {
        run.state_type() == Some(&StateType::Running)
            && self.in_pool(run)
            && self.needs_logs(run)
            && !self.logs.is_some_and(|logs| logs.iter().any(|l| l.run_id == run.id))
    }

    /// "4950 more Running holders could not be judged ...", for holders that are `unjudged`.
    pub fn unjudged_note(n: usize) -> String {
        format!(
            "{n} more Running holder{} could not be judged: only the {HOLDER_LOG_CAP} longest-held get their \
             logs read (unstuck doctor <id> judges one)",
            if n == 1 { "" } else { "s" },
        )
    }

    /// One line per holder: "run 'x' (id): Submitting for 14m, worker 'w' offline [ZOMBIE: ...]".
    pub fn describe_holder(&self, run: &FlowRun) -> String {
        let for_ = run
            .state
            .as_ref()
            .and_then(|s| s.timestamp)
            .map(|t| format!(" for {}", human(self.since(t))))
            .unwrap_or_default();
        let worker = match self.claimer(run) {
            Some(c) => match self.worker_status(&c.worker) {
                WorkerStatus::Online => format!(", worker '{}' online", c.worker),
                WorkerStatus::Offline => format!(", worker '{}' offline", c.worker),
                WorkerStatus::Gone => format!(", worker '{}' gone", c.worker),
                WorkerStatus::Unknown => format!(", worker '{}'", c.worker),
            },
            None => String::new(),
        };
        let zombie = self.zombie_reason(run).map(|r| format!(" [ZOMBIE: {r}]")).unwrap_or_default();
        format!("run '{}' ({}): {}{for_}{worker}{zombie}", run.name, run.id, run.state_name())
    }
}
