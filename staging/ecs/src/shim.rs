//! A copy of the check types of unstuck's `src/checks/mod.rs` (and `explain_exit_code` from
//! `src/checks/run.rs`), so the ECS checks compile unchanged when moved into the repo. Delete this file
//! on the move: the real definitions take its place under the same `crate::checks::` paths.

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

/// How a checklist item (SPEC 6) came out.
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

/// The run checks' helpers the ECS checks borrow (`crate::checks::run::explain_exit_code` in the repo).
pub mod run {
    /// What an infrastructure exit code means, whether it is the infrastructure's fault, and what to do.
    pub fn explain_exit_code(code: &str) -> (&'static str, bool, &'static str) {
        match code.to_ascii_lowercase().as_str() {
            "0" => (
                "the process exited cleanly",
                false,
                "the crash came from somewhere else: read the run's logs",
            ),
            "-9" => (
                "killed with SIGKILL: the OS out-of-memory killer or a manual kill",
                true,
                "check the host's memory (dmesg | grep -i oom) and give the flow more memory",
            ),
            "-15" | "143" => (
                "terminated with SIGTERM: cancellation, scale-down, eviction or a task stop",
                false,
                "check who stopped it: node drains, autoscaler scale-down, ECS task stops, manual cancellation",
            ),
            "1" => (
                "a general error: usually an unhandled exception before or outside the flow",
                true,
                "read the traceback in the run's logs",
            ),
            "2" => (
                "a usage error of the command that was run (bad arguments)",
                true,
                "check the job's command",
            ),
            "125" => (
                "the container failed to run: image, entrypoint or container runtime error",
                true,
                "check the image name and entrypoint in the job template",
            ),
            "126" => (
                "the command was found but is not executable (permission denied)",
                true,
                "check the entrypoint's permissions in the image",
            ),
            "127" => (
                "command not found: the job's command (or `prefect`) is not in the image or on its PATH",
                true,
                "check the job template's command and that the image has prefect installed",
            ),
            "137" => (
                "killed with SIGKILL (128+9), almost always out of memory (OOMKilled)",
                true,
                "raise the memory limit (Kubernetes resources.limits.memory, ECS task memory) or reduce the flow's memory use",
            ),
            "139" => (
                "segmentation fault (128+11) in native code",
                true,
                "check native dependencies of the flow",
            ),
            "247" => (
                "terminated for high memory usage",
                true,
                "raise the memory limit or reduce the flow's memory use",
            ),
            "-1" => (
                "the infrastructure never started (Prefect 2 Kubernetes worker: pod never started)",
                true,
                "check the cluster: pod events, image pulls, capacity; consider raising pod_watch_timeout_seconds",
            ),
            "0xc000013a" | "3221225786" => (
                "interrupted with Ctrl+C (Windows)",
                false,
                "nothing to fix unless unexpected",
            ),
            _ => (
                "an unexpected exit code",
                true,
                "read the run's logs and the infrastructure's logs",
            ),
        }
    }
}
