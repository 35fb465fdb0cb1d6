//! Who claimed a run: the worker named by its label, its worker events, or its "submitting" log line.

use std::sync::LazyLock;

use jiff::Timestamp;
use regex::Regex;

use crate::prefect::types::{FlowRun, LogLine, WorkerEvent};

/// How we know which worker claimed a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimSource {
    /// Prefect 3: the worker labels the run before submitting it.
    Label,
    /// Prefect 3 / Cloud: the worker's `prefect.worker.submitted-flow-run` event.
    Event,
    /// The worker's "Worker '<name>' submitting flow run '<id>'" line in the run's logs.
    Log,
}

impl ClaimSource {
    pub fn describe(self) -> &'static str {
        match self {
            ClaimSource::Label => "flow-run label prefect.worker.name",
            ClaimSource::Event => "worker event prefect.worker.submitted-flow-run",
            ClaimSource::Log => "the worker's \"submitting flow run\" log line",
        }
    }
}

/// A worker that claimed (or tried to claim) a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub worker: String,
    pub source: ClaimSource,
    pub at: Option<Timestamp>,
}

static SUBMITTING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Worker '(?P<worker>.+)' submitting flow run '(?P<run>[0-9a-fA-F-]+)'")
        .unwrap_or_else(|e| panic!("submitting pattern: {e}"))
});

/// Every worker that tried to submit the run, once each, from the most reliable source that names it.
pub fn claims(run: &FlowRun, events: &[WorkerEvent], logs: &[LogLine]) -> Vec<Claim> {
    let mut out: Vec<Claim> = Vec::new();
    let mut add = |c: Claim| {
        if !out.iter().any(|x| x.worker == c.worker) {
            out.push(c);
        }
    };
    if let Some(w) = run.label("prefect.worker.name") {
        add(Claim { worker: w.to_string(), source: ClaimSource::Label, at: None });
    }
    for e in events.iter().filter(|e| e.event == "prefect.worker.submitted-flow-run") {
        if let Some(w) = &e.worker {
            add(Claim { worker: w.clone(), source: ClaimSource::Event, at: e.occurred });
        }
    }
    for l in logs {
        if let Some(c) = SUBMITTING.captures(&l.message) {
            if c["run"].eq_ignore_ascii_case(&run.id) {
                add(Claim { worker: c["worker"].to_string(), source: ClaimSource::Log, at: l.timestamp });
            }
        }
    }
    out
}

/// The worker that won the claim: named by a label or event, or the only worker whose log says it
/// was submitting (racing workers all log that line; only labels and events name the winner).
pub fn claimer(run: &FlowRun, events: &[WorkerEvent], logs: &[LogLine]) -> Option<Claim> {
    let all = claims(run, events, logs);
    if let Some(c) = all.iter().find(|c| c.source != ClaimSource::Log) {
        return Some(c.clone());
    }
    match all.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}
