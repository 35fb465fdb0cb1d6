//! The diagnosis of one run, decided in one place for every output format: the checks' findings,
//! causes demoted to risks while the run is under its threshold, the ranking, the checklist, what a
//! primary symptom could not check, and the verdict (including "unknown" when evidence is missing).

use crate::checks::checklist::{ChecklistEntry, ItemStatus, checklist};
use crate::checks::{self, Ctx, Kind, Phase, Severity};
use crate::fmt::human;

use super::{RankedFinding, Status, Verdict, rank, status_of};

/// What the renderers lay out.
pub struct Diagnosis {
    pub findings: Vec<RankedFinding>,
    pub checklist: Vec<ChecklistEntry>,
    pub verdict: Verdict,
}

pub fn diagnose(ctx: &Ctx<'_>) -> Diagnosis {
    let mut findings = checks::run_all(ctx);

    // A run that has not waited past its threshold is not stuck yet: what would block it is a risk.
    if ctx.phase().awaiting_start() && !ctx.is_stuck() {
        for f in findings.iter_mut().filter(|f| f.kind == Kind::Cause) {
            f.kind = Kind::Risk;
            f.severity = f.severity.max(Severity::Warning);
        }
    }
    let mut findings = rank(findings);
    let checklist = checklist(ctx, &findings.iter().map(|f| &f.finding).collect::<Vec<_>>());

    // A symptom that is primary says what could not be checked.
    if let Some(top) = findings.first_mut() {
        if top.finding.info().is_some_and(|i| i.symptom) && top.finding.kind == Kind::Cause {
            // Items that could not be judged, grouped by the reason.
            let mut unchecked: Vec<(Vec<&str>, &str)> = Vec::new();
            for c in checklist.iter().filter(|c| c.status == ItemStatus::Unknown) {
                match unchecked.iter_mut().find(|(_, why)| *why == c.detail) {
                    Some((ids, _)) => ids.push(c.id),
                    None => unchecked.push((vec![c.id], &c.detail)),
                }
            }
            let unchecked: Vec<String> =
                unchecked.into_iter().map(|(ids, why)| format!("{} ({why})", ids.join(", "))).collect();
            if !unchecked.is_empty() {
                top.finding.detail.push_str(" Nothing checked explains it; not checked: ");
                top.finding.detail.push_str(&unchecked.join("; "));
                top.finding.detail.push('.');
            } else if let Some(text) = top.finding.info().map(|i| i.unexplained).filter(|t| !t.is_empty()) {
                top.finding.detail.push(' ');
                top.finding.detail.push_str(text);
            }
        }
    }

    let verdict = verdict(ctx, &findings, &checklist);
    Diagnosis { findings, checklist, verdict }
}

fn verdict(ctx: &Ctx<'_>, findings: &[RankedFinding], checklist: &[ChecklistEntry]) -> Verdict {
    let primary = findings.first().map(|f| f.finding.id);
    let status = status_of(findings);
    let run = ctx.run();
    let state = run.state_name();
    let for_ = ctx.in_state_for().map(|d| format!(" for {}", human(d))).unwrap_or_default();
    match status {
        Status::Critical | Status::Warning => {
            Verdict { status, summary: findings.first().map(|f| f.finding.title.clone()).unwrap_or_default(), primary }
        }
        _ => {
            // Nothing blocks the run. If parts of the evidence are missing while it waits, say we
            // could not tell rather than "ok".
            let failed: Vec<String> = checklist
                .iter()
                .filter(|c| c.status == ItemStatus::Unknown && c.detail.contains("failed"))
                .map(|c| format!("{}: {}", c.id, c.detail))
                .collect();
            if ctx.is_stuck() && !failed.is_empty() {
                return Verdict {
                    status: Status::Unknown,
                    summary: format!(
                        "the run is {state}{for_}, and the evidence to explain it could not be read ({})",
                        failed.join("; ")
                    ),
                    primary: None,
                };
            }
            let summary = match ctx.phase() {
                Phase::Running => format!("the run is Running{for_}: it is not stuck"),
                Phase::Finished => format!("the run is {state} (finished{for_}): it is not stuck"),
                Phase::Paused => {
                    format!("the run is {state}{for_}: it waits for input or a resume, not for infrastructure")
                }
                Phase::Cancelling => format!("the run is Cancelling{for_}"),
                Phase::Pending => format!(
                    "the run is {state}{for_}, under the {} pending threshold: not stuck yet",
                    human(ctx.thresholds.pending)
                ),
                Phase::Waiting | Phase::AwaitingSlot => match ctx.lateness() {
                    Some(l) if l.is_negative() => {
                        format!("the run is {state}, due in {}: not late", human(l.unsigned_abs()))
                    }
                    Some(l) => format!(
                        "the run is {state}, {} past its scheduled time, under the {} late threshold: not stuck yet",
                        human(l.unsigned_abs()),
                        human(ctx.thresholds.late)
                    ),
                    None => format!("the run is {state}: not late"),
                },
                Phase::Unknown => format!("the run is in state {state}, which this version does not know"),
            };
            Verdict { status: Status::Ok, summary, primary: findings.first().map(|f| f.finding.id) }
        }
    }
}
