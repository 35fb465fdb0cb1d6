//! The serializable snapshot every check reads. Collectors fill it; checks and renderers only read it.
//! "Now" and the server's clock are part of it, which is what makes a saved bundle replayable.

use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub mod ecs;
pub mod kube;

use crate::prefect::types::{Deployment, Flow, FlowRun, LogLine, State, WorkPool, WorkQueue, Worker, WorkerEvent};

/// Bundle format version; bumped only on incompatible changes to what is stored.
pub const BUNDLE_FORMAT: u32 = 1;

/// One piece of evidence from one source (an endpoint, a backend): what came back, or why nothing did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Source<T> {
    /// Bundles of format 1 say `ok`.
    #[serde(alias = "ok")]
    Collected { value: T },
    /// The object does not exist (HTTP 404): itself a finding (a deleted deployment).
    NotFound,
    /// The request failed, and how.
    Failed(Failure),
    /// Not asked, and why (not applicable, not configured, not supported by this server), with what
    /// would make it asked.
    Skipped {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
    },
}

/// Why a source could not be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default)]
    pub kind: FailureKind,
    /// What the server or the client said, already redacted (bundles of format 1 call it `error`).
    #[serde(alias = "error")]
    pub message: String,
    /// For `forbidden`: the permission unstuck needs ("list pods in namespace prefect", `ecs:DescribeTasks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<String>,
}

/// The kinds of failure a user acts on differently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Permission denied (HTTP 403, RBAC, IAM).
    Forbidden,
    /// Nothing answers (connection refused, DNS).
    Unreachable,
    /// No answer within the time budget.
    Timeout,
    NotFound,
    /// The credentials were rejected (HTTP 401).
    Credentials,
    #[default]
    Other,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into(), needs: None }
    }
}

/// Bundles written before a part existed replay with it marked as not collected.
impl<T> Default for Source<T> {
    fn default() -> Self {
        Source::skipped("not collected in this bundle")
    }
}

impl<T> Source<T> {
    pub fn ok(value: T) -> Self {
        Source::Collected { value }
    }

    pub fn skipped(reason: impl Into<String>) -> Self {
        Source::Skipped { reason: reason.into(), hint: None }
    }

    pub fn failed(kind: FailureKind, message: impl Into<String>) -> Self {
        Source::Failed(Failure::new(kind, message))
    }

    pub fn value(&self) -> Option<&T> {
        match self {
            Source::Collected { value } => Some(value),
            _ => None,
        }
    }

    /// The error of a failed part (not of a skipped or missing one).
    pub fn why_failed(&self) -> Option<&str> {
        match self {
            Source::Failed(f) => Some(&f.message),
            _ => None,
        }
    }

    /// Why there is no value, for "unknown" checklist entries.
    pub fn why_missing(&self, what: &str) -> Option<String> {
        match self {
            Source::Collected { .. } => None,
            Source::NotFound => Some(format!("{what} not found")),
            Source::Failed(f) => Some(format!("reading {what} failed: {}", f.message)),
            Source::Skipped { reason, hint: None } => Some(reason.clone()),
            Source::Skipped { reason, hint: Some(h) } => Some(format!("{reason}: {h}")),
        }
    }
}

/// Which Prefect generation the server is, which decides what to ask and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// Prefect 2.x: no labels, no Submitting/InfrastructurePending, no deployment concurrency.
    V2,
    /// Prefect 3.x (and newer, read as 3).
    V3,
    /// Prefect Cloud (recognised by its URL).
    Cloud,
    /// The version could not be read; read everything defensively.
    Unknown,
}

impl Flavor {
    pub fn from_version(version: &str) -> Flavor {
        match version.trim().split('.').next().and_then(|m| m.parse::<u32>().ok()) {
            Some(2) => Flavor::V2,
            Some(m) if m >= 3 => Flavor::V3,
            _ => Flavor::Unknown,
        }
    }

    /// Prefect 3 features (labels, leases, concurrency_status) may be present.
    pub fn is_v3_like(self) -> bool {
        !matches!(self, Flavor::V2)
    }
}

/// The server and how it answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    /// API root, credentials never included.
    pub api_url: String,
    /// Prefect version from `/admin/version` (absent on Cloud or when it failed).
    pub version: Option<String>,
    pub flavor: Flavor,
    /// The server's clock (`Date` header) and the local clock when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockReading>,
}

/// Skew between our clock and the server's beyond which ages are judged on the server's clock (the
/// `Date` header has one-second resolution, so small differences are noise).
const CLOCK_CORRECTION_MIN: std::time::Duration = std::time::Duration::from_secs(5);

impl ServerInfo {
    /// "Now" on the server's clock: our collection time, corrected by the `Date` header when the two
    /// clocks disagree noticeably, so ages of server timestamps are right even with a skewed clock.
    pub fn now(&self, collected_at: Timestamp) -> Timestamp {
        match self.clock {
            Some(c) => {
                let skew = c.server.duration_since(c.local);
                if skew.unsigned_abs() >= CLOCK_CORRECTION_MIN { collected_at + skew } else { collected_at }
            }
            None => collected_at,
        }
    }

    pub fn describe(&self) -> String {
        match (&self.version, self.flavor) {
            (_, Flavor::Cloud) => format!("Prefect Cloud at {}", self.api_url),
            (Some(v), _) => format!("Prefect {v} at {}", self.api_url),
            (None, _) => format!("Prefect (version unknown) at {}", self.api_url),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ClockReading {
    pub server: Timestamp,
    pub local: Timestamp,
}

/// How one backend fared. A bundle stores what only collection knew (how long, how many requests);
/// the report's status and detail are derived from the evidence (`Bundle::sources`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceRecord {
    pub name: String,
    pub status: SourceStatus,
    /// As printed. Bundles of format 1 stored it; newer ones leave it empty and derive it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub millis: u64,
    /// HTTP requests sent, retries and CSRF fetches included (bundles since 0.1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    Collected,
    Skipped,
    Failed,
}

/// The thresholds a diagnosis was made with; stored so a replay judges the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    #[serde(with = "secs")]
    pub pending: Duration,
    #[serde(with = "secs")]
    pub late: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { pending: Duration::from_secs(300), late: Duration::from_secs(300) }
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Everything `doctor` collected about one flow run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunEvidence {
    pub server: ServerInfo,
    pub flow_run: FlowRun,
    pub flow: Source<Flow>,
    /// State history, oldest first.
    pub states: Source<Vec<State>>,
    pub deployment: Source<Deployment>,
    pub work_pool: Source<WorkPool>,
    /// Every queue of the run's pool.
    pub work_queues: Source<Vec<WorkQueue>>,
    /// Every worker record of the run's pool, newest heartbeat first.
    pub workers: Source<Vec<Worker>>,
    /// The run's flow-run logs (worker, observer and engine lines): the first and last 200 lines.
    #[serde(default)]
    pub logs: Source<Vec<LogLine>>,
    /// `prefect.worker.*` events about the run (Prefect 3 and Cloud).
    #[serde(default)]
    pub worker_events: Source<Vec<WorkerEvent>>,
    /// Who holds the slots of the limits that apply to the run.
    #[serde(default)]
    pub concurrency: Concurrency,
    /// Samples of queue polls and worker heartbeats (`--observe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<Observation>,
    /// The deployment's Prefect 2 infrastructure block (KubernetesJob, ECSTask, Process, …).
    #[serde(default)]
    pub infra_block: Source<crate::prefect::types::InfraBlock>,
    /// The run's Job, pods, events, nodes, quotas and container logs.
    #[serde(default)]
    pub kubernetes: Source<kube::KubeEvidence>,
    /// The run's ECS task, task definition, cluster, capacity providers and log tail.
    #[serde(default)]
    pub ecs: Source<ecs::EcsEvidence>,
}

/// What the infrastructure collectors gathered for one run.
#[derive(Debug, Clone, Default)]
pub struct InfraEvidence {
    pub kubernetes: Source<kube::KubeEvidence>,
    pub ecs: Source<ecs::EcsEvidence>,
}

/// "what: error" for each source that failed.
fn failed(sources: &[(&str, Option<&str>)]) -> Vec<String> {
    sources.iter().filter_map(|(what, err)| err.map(|e| format!("{what}: {e}"))).collect()
}

impl RunEvidence {
    /// What could not be read, in words, for the report's sources section.
    pub fn failures(&self) -> Vec<String> {
        let c = &self.concurrency;
        failed(&[
            ("states", self.states.why_failed()),
            ("flow", self.flow.why_failed()),
            ("deployment", self.deployment.why_failed()),
            ("work pool", self.work_pool.why_failed()),
            ("queues", self.work_queues.why_failed()),
            ("workers", self.workers.why_failed()),
            ("logs", self.logs.why_failed()),
            ("worker events", self.worker_events.why_failed()),
            ("infrastructure block", self.infra_block.why_failed()),
            ("pool slot holders", c.pool_holders.why_failed()),
            ("queue slot holders", c.queue_holders.why_failed()),
            ("deployment slot holders", c.deployment_holders.why_failed()),
            ("holder logs", c.holder_logs.why_failed()),
        ])
    }
}

impl SlotsEvidence {
    /// What could not be read, in words, for the report's sources section.
    pub fn failures(&self) -> Vec<String> {
        failed(&[
            ("holders", self.holders.why_failed()),
            ("queues", self.queues.why_failed()),
            ("workers", self.workers.why_failed()),
            ("waiting runs", self.waiting.why_failed()),
            ("holder logs", self.holder_logs.why_failed()),
        ])
    }
}

/// Slot holders of the pool, queue and deployment limits that bear on the run. A part is skipped when
/// its limit is not set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Concurrency {
    /// Runs in the pool that count against its limit (PENDING, RUNNING).
    #[serde(default)]
    pub pool_holders: Source<Vec<FlowRun>>,
    /// Runs in the run's queue that count against its limit (PENDING, RUNNING, CANCELLING).
    #[serde(default)]
    pub queue_holders: Source<Vec<FlowRun>>,
    /// Runs of the run's deployment that count against its limit (PENDING, RUNNING, CANCELLING).
    #[serde(default)]
    pub deployment_holders: Source<Vec<FlowRun>>,
    /// The first and the latest log lines of each holder (who claimed it, is it still talking).
    #[serde(default)]
    pub holder_logs: Source<Vec<RunLogs>>,
}

impl Concurrency {
    /// Every holder of every limit, once.
    pub fn all_holders(&self) -> Vec<&FlowRun> {
        let mut seen = std::collections::BTreeSet::new();
        [&self.pool_holders, &self.queue_holders, &self.deployment_holders]
            .into_iter()
            .filter_map(|p| p.value())
            .flatten()
            .filter(|r| seen.insert(r.id.as_str()))
            .collect()
    }

    pub fn logs_of(&self, run_id: &str) -> Option<&[LogLine]> {
        self.holder_logs.value()?.iter().find(|l| l.run_id == run_id).map(|l| l.lines.as_slice())
    }
}

/// Some log lines of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunLogs {
    pub run_id: String,
    pub lines: Vec<LogLine>,
    /// The run wrote no line at or after this time (a batched read of recent lines found none);
    /// absent when its latest line was read directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_since: Option<jiff::Timestamp>,
}

/// What `--observe` saw: every distinct `last_polled` of each queue and heartbeat of each worker of
/// the run's pool, sampled over a window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observation {
    pub started_at: Timestamp,
    pub window_secs: f64,
    pub samples: u32,
    pub queues: Vec<Observed>,
    pub workers: Vec<Observed>,
}

/// The distinct timestamps seen for one queue (polls) or worker (heartbeats).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub name: String,
    pub seen: Vec<Timestamp>,
}

/// What a bundle holds, by command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Body {
    Doctor(Box<RunEvidence>),
    Slots(Box<SlotsEvidence>),
    Health(Box<HealthEvidence>),
}

/// Everything `health` collected: the fleet's pools and, for each, its oldest stuck runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthEvidence {
    pub server: ServerInfo,
    /// The pools asked for with --pool (empty: every pool of the server).
    pub requested: Vec<String>,
    pub pools: Vec<PoolHealth>,
}

/// One pool of the fleet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolHealth {
    pub pool: WorkPool,
    pub queues: Source<Vec<WorkQueue>>,
    pub workers: Source<Vec<Worker>>,
    /// How many runs hold the pool's slots, when it has a limit and the server does not say.
    #[serde(default)]
    pub slot_count: Source<u64>,
    /// Runs of the pool in PENDING or CANCELLING (stuck-run and zombie candidates), oldest first.
    pub pending: Source<Vec<FlowRun>>,
    /// Whether `pending` stopped at the read cap (then counts are lower bounds).
    #[serde(default)]
    pub pending_capped: bool,
    /// SCHEDULED runs of the pool that were due when it was collected (bundles before 0.1.1: only those
    /// due before now minus the late threshold), soonest due first.
    pub late: Source<Vec<FlowRun>>,
    /// Whether `late` holds every due run (then a replay may use a smaller late threshold).
    #[serde(default)]
    pub late_is_all_due: bool,
    /// Whether `late` stopped at the read cap (then its length is a lower bound).
    #[serde(default)]
    pub late_capped: bool,
    /// Doctor evidence for the oldest stuck runs (at most --max-runs).
    pub runs: Vec<RunEvidence>,
}

/// Whose slots `slots` looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SlotScope {
    WorkPool { name: String },
    WorkQueue { pool: String, name: String },
    Deployment { id: String, name: String },
}

/// Everything the `slots` commands collected.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlotsEvidence {
    pub server: ServerInfo,
    pub scope: SlotScope,
    /// The pool (pool and queue scopes; the deployment's pool for a deployment).
    pub pool: Source<WorkPool>,
    /// The pool's queues (pool scope) or the one queue (queue scope).
    pub queues: Source<Vec<WorkQueue>>,
    pub deployment: Source<Deployment>,
    /// The flow of the deployment (for its `<flow>/<deployment>` name).
    pub flow: Source<Flow>,
    pub workers: Source<Vec<Worker>>,
    pub holders: Source<Holders>,
    pub holder_logs: Source<Vec<RunLogs>>,
    pub waiting: Source<Waiting>,
}

/// The runs that hold slots, every one of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holders {
    /// `concurrency_status` (Prefect 3) or `flow-run filter` (Prefect 2 and older 3.x).
    pub via: String,
    pub runs: Vec<FlowRun>,
    /// Holders known only from the server's summary (no labels or infrastructure pid were read,
    /// because there were too many to read them all and these could not be zombies).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub summaries_only: std::collections::BTreeSet<String>,
}

/// Runs due and not yet started (Scheduled, Late, AwaitingConcurrencySlot) in the scope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Waiting {
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_expected_start: Option<Timestamp>,
}

/// A saved snapshot: `--save-evidence` writes it, `--evidence` replays it with no network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    pub format: u32,
    pub tool: ToolInfo,
    /// "Now" for every check: when collection finished.
    pub collected_at: Timestamp,
    pub thresholds: Thresholds,
    pub sources: Vec<SourceRecord>,
    pub body: Body,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

impl Body {
    fn server(&self) -> &ServerInfo {
        match self {
            Body::Doctor(ev) => &ev.server,
            Body::Slots(ev) => &ev.server,
            Body::Health(ev) => &ev.server,
        }
    }

    /// What the evidence says about how its Prefect source fared, after the server's description.
    fn prefect_detail(&self) -> (String, Vec<String>) {
        match self {
            Body::Doctor(ev) => (String::new(), ev.failures()),
            Body::Slots(ev) => {
                (ev.holders.value().map(|h| format!("; holders via {}", h.via)).unwrap_or_default(), ev.failures())
            }
            Body::Health(ev) => {
                let unread = ev
                    .pools
                    .iter()
                    .filter(|p| {
                        p.workers.why_failed().is_some()
                            || p.late.why_failed().is_some()
                            || p.pending.why_failed().is_some()
                    })
                    .count();
                let runs: usize = ev.pools.iter().map(|p| p.runs.len()).sum();
                let mut detail = format!(
                    "; {} read, {} diagnosed",
                    crate::fmt::count(ev.pools.len(), "pool"),
                    crate::fmt::count(runs, "stuck run")
                );
                if unread > 0 {
                    detail.push_str(&format!("; {} could not be read completely", crate::fmt::count(unread, "pool")));
                }
                (detail, vec![])
            }
        }
    }
}

impl Body {
    /// The Kubernetes sources of the body: the diagnosed run's, or every diagnosed run's in `health`.
    fn kube_sources(&self) -> Vec<&Source<kube::KubeEvidence>> {
        match self {
            Body::Doctor(ev) => vec![&ev.kubernetes],
            Body::Slots(_) => vec![],
            Body::Health(ev) => ev.pools.iter().flat_map(|p| p.runs.iter().map(|r| &r.kubernetes)).collect(),
        }
    }

    /// How Kubernetes fared, in words: a failure decides the status, then anything collected.
    fn kube_detail(&self) -> (SourceStatus, String) {
        let sources = self.kube_sources();
        let collected: Vec<&kube::KubeEvidence> = sources.iter().filter_map(|s| s.value()).collect();
        let failed = sources.iter().find_map(|s| match s {
            Source::Failed(f) => Some(f),
            _ => None,
        });
        let skipped = sources.iter().find_map(|s| match s {
            Source::Skipped { reason, hint: Some(h) } => Some(format!("{reason}: {h}")),
            Source::Skipped { reason, hint: None } => Some(reason.clone()),
            _ => None,
        });
        let mut denied: Vec<String> = Vec::new();
        for d in collected.iter().flat_map(|k| k.denied.iter()) {
            let text = match d.namespace.as_str() {
                "" => format!("{} {}", d.verb, d.resource),
                ns => format!("{} {} in {ns}", d.verb, d.resource),
            };
            if !denied.contains(&text) {
                denied.push(text);
            }
        }
        let mut not_allowed =
            if denied.is_empty() { String::new() } else { format!("; not allowed to {}", denied.join(", ")) };
        let unread: Vec<&str> = collected.iter().flat_map(|k| k.unread.iter().map(String::as_str)).collect();
        if !unread.is_empty() {
            not_allowed.push_str(&format!("; could not read {}", unread.join("; ")));
        }
        match (collected.first(), failed) {
            (_, Some(f)) => {
                let needs = f.needs.as_ref().map(|n| format!(" (unstuck needs {n})")).unwrap_or_default();
                (SourceStatus::Failed, format!("{}{needs}", f.message))
            }
            (Some(k), None) if collected.len() == 1 => {
                (SourceStatus::Collected, format!("{}{not_allowed}", k.describe()))
            }
            (Some(_), None) => {
                (SourceStatus::Collected, format!("{} read{not_allowed}", crate::fmt::count(collected.len(), "run")))
            }
            (None, None) => (SourceStatus::Skipped, skipped.unwrap_or_else(|| "not consulted".into())),
        }
    }
}

impl Body {
    /// How ECS fared, in words: a failure decides the status, then anything collected.
    fn ecs_detail(&self) -> (SourceStatus, String) {
        let sources: Vec<&Source<ecs::EcsEvidence>> = match self {
            Body::Doctor(ev) => vec![&ev.ecs],
            Body::Slots(_) => vec![],
            Body::Health(ev) => ev.pools.iter().flat_map(|p| p.runs.iter().map(|r| &r.ecs)).collect(),
        };
        let collected: Vec<&ecs::EcsEvidence> = sources.iter().filter_map(|s| s.value()).collect();
        let failed = sources.iter().find_map(|s| match s {
            Source::Failed(f) => Some(f),
            _ => None,
        });
        match (collected.first(), failed) {
            (_, Some(f)) => {
                let needs = f.needs.as_ref().map(|n| format!(" (unstuck needs {n})")).unwrap_or_default();
                (SourceStatus::Failed, format!("{}{needs}", f.message))
            }
            (Some(e), None) if collected.len() == 1 => {
                (SourceStatus::Collected, format!("{}{}", e.describe(), e.unread_detail()))
            }
            (Some(_), None) => {
                let mut unread: Vec<String> = Vec::new();
                for u in collected.iter().flat_map(|e| e.unread.iter()) {
                    if !unread.contains(&u.action) {
                        unread.push(u.action.clone());
                    }
                }
                let tail =
                    if unread.is_empty() { String::new() } else { format!("; could not call {}", unread.join(", ")) };
                (SourceStatus::Collected, format!("{} read{tail}", crate::fmt::count(collected.len(), "run")))
            }
            (None, None) => {
                let skipped = sources.iter().find_map(|s| s.why_missing("ECS"));
                (SourceStatus::Skipped, skipped.unwrap_or_else(|| "not consulted".into()))
            }
        }
    }
}

impl Bundle {
    /// The report's sources section, derived from the evidence and what collection measured.
    pub fn sources(&self) -> Vec<SourceRecord> {
        self.sources
            .iter()
            .map(|s| match s.requests {
                // Format-1 bundles stored the text: keep it, so they replay to the same report.
                None => s.clone(),
                Some(n) if s.name == "kubernetes" => {
                    let (status, detail) = self.body.kube_detail();
                    SourceRecord { status, detail: format!("{detail}; {n} requests"), ..s.clone() }
                }
                Some(n) if s.name == "ecs" => {
                    let (status, detail) = self.body.ecs_detail();
                    SourceRecord { status, detail: format!("{detail}; {n} requests"), ..s.clone() }
                }
                Some(n) => {
                    let (detail, failed) = self.body.prefect_detail();
                    let mut text = format!("{}{detail}; {n} requests", self.body.server().describe());
                    if !failed.is_empty() {
                        text.push_str(&format!("; failed: {}", failed.join("; ")));
                    }
                    SourceRecord { detail: text, ..s.clone() }
                }
            })
            .collect()
    }
}

impl ToolInfo {
    pub fn current() -> Self {
        ToolInfo { name: "unstuck".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_from_version() {
        assert_eq!(Flavor::from_version("3.8.8"), Flavor::V3);
        assert_eq!(Flavor::from_version("2.20.26"), Flavor::V2);
        assert_eq!(Flavor::from_version("4.0.0rc1"), Flavor::V3);
        assert_eq!(Flavor::from_version("garbage"), Flavor::Unknown);
    }

    /// Sources serialise with an explicit status and failure kind so a bundle says why something is
    /// missing; bundles of format 1 (`ok`, `error`) still load.
    #[test]
    fn source_serialisation() {
        let p: Source<u32> = Source::failed(FailureKind::Forbidden, "HTTP 403");
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"status":"failed","kind":"forbidden","message":"HTTP 403"})
        );
        let back: Source<u32> = serde_json::from_str(r#"{"status":"ok","value":3}"#).unwrap();
        assert_eq!(back.value(), Some(&3));
        let old: Source<u32> = serde_json::from_str(r#"{"status":"failed","error":"HTTP 500"}"#).unwrap();
        assert!(
            matches!(old, Source::Failed(Failure { kind: FailureKind::Other, ref message, .. }) if message == "HTTP 500")
        );
        let skipped: Source<u32> = serde_json::from_str(r#"{"status":"skipped","reason":"no pool"}"#).unwrap();
        assert_eq!(skipped.why_missing("x").as_deref(), Some("no pool"));
    }
}
