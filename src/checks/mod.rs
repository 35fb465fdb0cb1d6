//! The check catalogue: stable ids, their documentation, and pure functions over evidence.
//!
//! A check never does I/O and never reads the clock: "now" comes from the evidence. Each check
//! returns zero or more findings; ranking and the verdict happen in `report`.

mod agent;
pub mod checklist;
mod claimer;
mod claims;
mod ctx;
mod deployment;
pub mod ecs;
mod engine;
pub mod fleet;
pub mod judge;
pub mod k8s;
pub mod logs;
pub mod plan;
mod pollers;
mod pool;
mod run;
pub mod slots;
mod worker;

use serde::Serialize;

pub use crate::shell::sh;

pub use checklist::ItemStatus;
pub use claims::{Claim, ClaimSource, claimer, claims};
pub use ctx::{Ctx, Phase};
pub use judge::{HOLDER_LOG_CAP, Judge, Liveness, WorkerStatus};
pub use pollers::{CLOCK_SKEW_LIMIT, observed_poll_intervals};

/// What a finding means for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// By itself explains why the run cannot progress.
    Cause,
    /// Makes things worse or will bite next.
    Risk,
    Info,
}

/// Declaration order is sort order: most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

/// Where the evidence for a check comes from; infrastructure evidence is more specific than what
/// is inferred from Prefect state, and ranks higher among equals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Infrastructure,
    Logs,
    Prefect,
}

/// The checklist items of SPEC 6, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Item {
    #[serde(rename = "api")]
    Api,
    #[serde(rename = "worker-alive")]
    WorkerAlive,
    #[serde(rename = "queue-polled")]
    QueuePolled,
    #[serde(rename = "concurrency")]
    Concurrency,
    #[serde(rename = "infrastructure")]
    Infrastructure,
    #[serde(rename = "image-pull")]
    ImagePull,
    #[serde(rename = "permissions")]
    Permissions,
    #[serde(rename = "capacity")]
    Capacity,
    #[serde(rename = "logs")]
    Logs,
    #[serde(rename = "poll-frequency")]
    PollFrequency,
    #[serde(rename = "duplicate-pollers")]
    DuplicatePollers,
}

impl Item {
    pub const ALL: [Item; 11] = [
        Item::Api,
        Item::WorkerAlive,
        Item::QueuePolled,
        Item::Concurrency,
        Item::Infrastructure,
        Item::ImagePull,
        Item::Permissions,
        Item::Capacity,
        Item::Logs,
        Item::PollFrequency,
        Item::DuplicatePollers,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Item::Api => "api",
            Item::WorkerAlive => "worker-alive",
            Item::QueuePolled => "queue-polled",
            Item::Concurrency => "concurrency",
            Item::Infrastructure => "infrastructure",
            Item::ImagePull => "image-pull",
            Item::Permissions => "permissions",
            Item::Capacity => "capacity",
            Item::Logs => "logs",
            Item::PollFrequency => "poll-frequency",
            Item::DuplicatePollers => "duplicate-pollers",
        }
    }

    pub fn question(self) -> &'static str {
        match self {
            Item::Api => "Prefect API reachable, credentials accepted",
            Item::WorkerAlive => "a worker is alive for the run's pool",
            Item::QueuePolled => "the run's queue is polled and nothing is paused",
            Item::Concurrency => "a concurrency slot is free for the run",
            Item::Infrastructure => "infrastructure was created and started",
            Item::ImagePull => "the image can be pulled",
            Item::Permissions => "permissions are adequate",
            Item::Capacity => "the cluster has capacity",
            Item::Logs => "worker and infrastructure logs are free of errors",
            Item::PollFrequency => "workers poll at a sane rate",
            Item::DuplicatePollers => "no harmful duplicate pollers on the queue",
        }
    }
}

/// The static description of a check: what `checks` lists and `explain` prints.
#[derive(Debug)]
pub struct CheckInfo {
    pub id: &'static str,
    pub title: &'static str,
    /// The usual kind; a finding may differ (e.g. a risk that becomes a cause with evidence).
    pub kind: Kind,
    pub item: Item,
    pub backend: Backend,
    /// A symptom (Late, orphaned, waiting for a slot) ranks below anything that explains it.
    pub symptom: bool,
    /// For a symptom: what the API cannot show, said when the symptom is primary and everything
    /// checked looked healthy.
    pub unexplained: &'static str,
    /// What it is, why it matters (the long form for `explain`).
    pub explanation: &'static str,
    /// Generic fix steps; findings carry concrete, copy-pasteable ones.
    pub remediation: &'static [&'static str],
}

/// One registered check.
pub struct Check {
    pub info: CheckInfo,
    pub run: fn(&Ctx<'_>) -> Vec<Finding>,
}

/// One thing a check found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub kind: Kind,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    pub evidence: Vec<String>,
    pub remediation: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl Finding {
    /// A finding with the check's default kind.
    pub fn new(info: &CheckInfo, severity: Severity, title: impl Into<String>) -> Finding {
        Finding {
            id: info.id,
            kind: info.kind,
            severity,
            title: title.into(),
            detail: String::new(),
            evidence: Vec::new(),
            remediation: Vec::new(),
            subject: None,
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = d.into();
        self
    }

    pub fn evidence(mut self, e: impl Into<String>) -> Self {
        self.evidence.push(e.into());
        self
    }

    pub fn evidence_all(mut self, e: impl IntoIterator<Item = String>) -> Self {
        self.evidence.extend(e);
        self
    }

    pub fn fix(mut self, step: impl Into<String>) -> Self {
        self.remediation.push(step.into());
        self
    }

    pub fn subject(mut self, s: impl Into<String>) -> Self {
        self.subject = Some(s.into());
        self
    }

    pub fn kind(mut self, k: Kind) -> Self {
        self.kind = k;
        self
    }

    pub fn info(&self) -> Option<&'static CheckInfo> {
        find(self.id)
    }
}

/// Every check, in a stable order (the last ranking tie-breaker).
pub static REGISTRY: &[Check] = &[
    claimer::CLAIMER_OFFLINE,
    worker::NONE,
    worker::OFFLINE,
    agent::NONE,
    pool::POOL_PAUSED,
    pool::QUEUE_PAUSED,
    pool::QUEUE_NOT_POLLED,
    deployment::MISSING,
    slots::POOL_FULL,
    slots::QUEUE_FULL,
    slots::DEPLOYMENT_FULL,
    slots::ZOMBIE_HOLDER,
    logs::SUBMIT,
    engine::LOST_CONNECTION,
    logs::API_UNREACHABLE_CHECK,
    logs::API_AUTH_CHECK,
    logs::IMPORT,
    engine::PULL_STEP_FAILED,
    pollers::DUPLICATE,
    run::CRASHED,
    deployment::PAUSED,
    slots::LEASE_EXPIRED,
    pollers::TOO_FREQUENT,
    pollers::CLOCK_SKEW,
    slots::AWAITING_SLOT,
    run::ORPHANED,
    run::INFRA_NOT_STARTED,
    run::LATE,
];

/// Every check's documentation: the Prefect-side registry, then the Kubernetes checks, then the ECS
/// checks (`infra.exited-cleanly` is shared with Kubernetes and listed once).
pub fn catalogue() -> impl Iterator<Item = &'static CheckInfo> {
    REGISTRY
        .iter()
        .map(|c| &c.info)
        .chain(k8s::CHECKS.iter().copied())
        .chain(ecs::CHECKS.iter().copied().filter(|c| c.id != k8s::EXITED_CLEANLY.id))
}

pub fn find(id: &str) -> Option<&'static CheckInfo> {
    catalogue().find(|c| c.id == id)
}

/// Position in the catalogue: the stable tie-breaker for ranking.
pub fn order(id: &str) -> usize {
    catalogue().position(|c| c.id == id).unwrap_or(usize::MAX)
}

/// Runs every check over the evidence: the Prefect side, and the backends that collected anything.
pub fn run_all(ctx: &Ctx<'_>) -> Vec<Finding> {
    let mut findings: Vec<Finding> = REGISTRY.iter().flat_map(|c| (c.run)(ctx)).collect();
    if let Some(kube) = ctx.ev.kubernetes.value() {
        let inputs = ctx.kube_inputs();
        add_infrastructure(ctx, &mut findings, k8s::rank(k8s::run_all(kube, &ctx.kube_view(&inputs))));
    }
    if let Some(ecs) = ctx.ev.ecs.value() {
        let inputs = ctx.kube_inputs();
        add_infrastructure(ctx, &mut findings, ecs::rank(ecs::run_all(ecs, &ctx.ecs_view(&inputs))));
    }
    // What the worker itself saw of a clean exit, unless a backend already said it from the infrastructure.
    if !findings.iter().any(|f| f.id == k8s::EXITED_CLEANLY.id) {
        let exited = run::exited_cleanly(ctx);
        if !exited.is_empty() {
            findings.retain(|f| f.id != "run.infra-not-started");
            findings.extend(exited);
        }
    }
    findings
}

/// Adds an infrastructure backend's ranked findings. A run stuck past its threshold with no cause from
/// the backend is explained by its most telling risk (an image still pulling, a node or a task still
/// coming, a pod Pending with nothing more specific), which becomes the run's cause; and
/// run.infra-not-started, which is for infrastructure no backend explains, goes.
fn add_infrastructure(ctx: &Ctx<'_>, findings: &mut Vec<Finding>, mut found: Vec<Finding>) {
    let has_cause = found.iter().any(|f| f.kind == Kind::Cause);
    if ctx.phase() == Phase::Pending && ctx.is_stuck() && !has_cause {
        if let Some(top) = found.iter_mut().find(|f| f.kind == Kind::Risk) {
            top.kind = Kind::Cause;
        }
    }
    if found.iter().any(|f| f.kind == Kind::Cause) {
        findings.retain(|f| f.id != "run.infra-not-started");
    }
    findings.extend(found);
}

#[cfg(test)]
pub(crate) mod testkit;

#[cfg(test)]
mod tests {
    use super::*;

    /// Check ids are unique and use the SPEC 7 vocabulary.
    #[test]
    fn ids_are_unique_and_from_the_spec() {
        let mut seen = std::collections::HashSet::new();
        for c in catalogue() {
            assert!(seen.insert(c.id), "duplicate check id {}", c.id);
            assert!(crate::checks::testkit::SPEC_IDS.contains(&c.id), "{} is not in SPEC 7", c.id);
            assert!(!c.title.is_empty() && !c.explanation.is_empty(), "{} lacks docs", c.id);
            assert!(!c.remediation.is_empty(), "{} lacks remediation", c.id);
        }
    }
}
