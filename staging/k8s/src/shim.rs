//! A copy of the finding vocabulary of `unstuck`'s `src/checks/mod.rs` (Kind, Severity, Backend, Item,
//! CheckInfo, Finding) so the Kubernetes checks compile unchanged when they move into the repo, plus
//! `ItemStatus` for the checklist and the shell-quoting helper.
//!
//! `Check` and `Finding::info` are left out: they depend on the repo's registry.

use serde::Serialize;

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
}

/// A checklist line's status (SPEC 4: `pass | warn | fail | unknown | n/a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ItemStatus {
    #[serde(rename = "pass")]
    Pass,
    #[serde(rename = "warn")]
    Warn,
    #[serde(rename = "fail")]
    Fail,
    #[serde(rename = "unknown")]
    Unknown,
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// Shell-quotes a value for a copy-pasteable command (single quotes unless it is plainly safe).
pub fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
