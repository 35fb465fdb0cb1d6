//! From findings to a report: ranking, the verdict, and renderers (table, JSON, Markdown).
//!
//! Everything here is synchronous and pure: a report is a function of a bundle and the thresholds.

pub mod diagnosis;
pub mod doctor;
pub mod health;
mod markdown;
pub mod slots;
pub mod style;
mod table;

use serde::Serialize;

use crate::checks::{self, Finding, Kind};

pub use markdown::doctor_markdown;
pub use table::doctor_table;

/// JSON output contract version; changes are additive only.
pub const SCHEMA_VERSION: u32 = 1;

/// The overall verdict, in monitoring-plugin terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    /// 0 ok, 1 warning, 2 critical, 3 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub status: Status,
    pub summary: String,
    pub primary: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RankedFinding {
    pub rank: usize,
    #[serde(flatten)]
    pub finding: Finding,
}

/// Sorts findings most likely cause first (SPEC 5): causes, then symptoms (Late, orphaned, waiting for
/// a slot: they rank below anything that explains them), then risks, then info; within a class by
/// severity, then by specificity (infrastructure evidence beats Prefect inference), then registry order.
pub fn rank(mut findings: Vec<Finding>) -> Vec<RankedFinding> {
    findings.sort_by_key(rank_key);
    findings.into_iter().enumerate().map(|(i, finding)| RankedFinding { rank: i + 1, finding }).collect()
}

/// The ranking order of SPEC 5 as a sort key.
pub fn rank_key(f: &Finding) -> (u8, checks::Severity, Option<checks::Backend>, usize, String) {
    let info = f.info();
    let symptom = info.is_some_and(|i| i.symptom);
    let class = match (f.kind, symptom) {
        (Kind::Cause, false) => 0,
        (Kind::Cause, true) => 1,
        (Kind::Risk, _) => 2,
        (Kind::Info, _) => 3,
    };
    (class, f.severity, info.map(|i| i.backend), checks::order(f.id), f.title.clone())
}

/// The status the findings call for: a cause is critical, a risk a warning.
pub fn status_of(findings: &[RankedFinding]) -> Status {
    match findings.first().map(|f| f.finding.kind) {
        Some(Kind::Cause) => Status::Critical,
        Some(Kind::Risk) => Status::Warning,
        _ => Status::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;

    /// A Late run in a pool with no worker has worker.none as primary, run.late below it.
    #[test]
    fn symptoms_rank_below_causes() {
        let ev = Scenario::late(900).workers(vec![]).deployment(|d| d.paused = true).build();
        let ranked = rank(all_findings(&ev));
        let ids: Vec<_> = ranked.iter().map(|r| r.finding.id).collect();
        assert_eq!(ids, ["worker.none", "run.late", "deployment.paused"]);
        assert_eq!(status_of(&ranked), Status::Critical);
    }

    /// A symptom alone is primary.
    #[test]
    fn symptom_alone_is_primary() {
        let ev = Scenario::late(900).build();
        let ranked = rank(all_findings(&ev));
        assert_eq!(ranked[0].finding.id, "run.late");
    }
}
