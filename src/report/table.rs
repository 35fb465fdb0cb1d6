//! The terminal layout of SPEC 4: header, verdict line, checklist, ranked findings, timeline, sources.

use std::fmt::Write;

use super::doctor::DoctorReport;
use super::style::{Styles, item_symbol};
use super::{RankedFinding, Status};
use crate::evidence::SourceRecord;
use crate::fmt::human;

impl DoctorReport {
    /// `STUCK`, `CRITICAL` (a crashed run is not stuck), `WARNING`, `OK`, `UNKNOWN`.
    pub fn verdict_word(&self) -> &'static str {
        match self.verdict.status {
            Status::Critical if matches!(self.target.state.state_type.as_str(), "SCHEDULED" | "PENDING") => "STUCK",
            Status::Critical => "CRITICAL",
            Status::Warning => "WARNING",
            Status::Ok => "OK",
            Status::Unknown => "UNKNOWN",
        }
    }

    pub fn verdict_line(&self, st: &Styles) -> String {
        format!(
            "{} {}",
            st.paint(st.status(self.verdict.status), &format!("{}:", self.verdict_word())),
            self.verdict.summary
        )
    }
}

/// Renders the doctor report for a terminal (or plain text when `st` is plain).
pub fn doctor_table(r: &DoctorReport, st: &Styles, quiet: bool) -> String {
    let mut out = String::new();
    if quiet {
        let _ = writeln!(out, "{}", r.verdict_line(st));
        return out;
    }
    let t = &r.target;
    let label = |s: &str| st.paint(st.dim, &format!("{s:<10}"));
    let _ = writeln!(
        out,
        "{}{} {}",
        label("Flow run"),
        st.paint(st.heading, &t.name),
        st.paint(st.dim, &format!("({})", t.id))
    );
    if t.flow.is_some() || t.deployment.is_some() {
        let _ = writeln!(
            out,
            "{}{} / {}",
            label("Flow"),
            t.flow.as_deref().unwrap_or("?"),
            t.deployment.as_deref().map(|d| format!("deployment {d}")).unwrap_or_else(|| "no deployment".into())
        );
    }
    if t.work_pool.is_some() || t.work_queue.is_some() {
        let _ = writeln!(
            out,
            "{}{} / queue {}",
            label("Pool"),
            t.work_pool.as_deref().unwrap_or("?"),
            t.work_queue.as_deref().unwrap_or("?")
        );
    }
    if let Some(infra) = &t.infrastructure {
        let _ = writeln!(out, "{}{infra}", label("Infra"));
    }
    let name = if t.state.name.eq_ignore_ascii_case(&t.state.state_type) {
        t.state.name.clone()
    } else {
        format!("{} ({})", t.state.state_type, t.state.name)
    };
    let for_ =
        t.state.seconds.map(|s| format!(" for {}", human(std::time::Duration::from_secs(s)))).unwrap_or_default();
    let _ = writeln!(out, "{}{name}{for_}", label("State"));
    if let Some(m) = &t.state.message {
        let _ = writeln!(out, "{}{}", label(""), st.paint(st.dim, m));
    }

    let _ = writeln!(out, "\n{}", r.verdict_line(st));

    let _ = writeln!(out, "\n{}", st.paint(st.heading, "Checklist"));
    for c in &r.checklist {
        let sym = st.paint(st.item(c.status), item_symbol(c.status));
        let _ = writeln!(out, "  {sym} {:<18} {}", c.id, c.detail);
    }

    findings_section(&mut out, &r.findings, st, false);

    if !r.timeline.is_empty() {
        let _ = writeln!(out, "\n{}", st.paint(st.heading, "Timeline"));
        let last = r.timeline.len() - 1;
        for (i, e) in r.timeline.iter().enumerate() {
            let at = e.at.map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string()).unwrap_or_else(|| "?".into());
            let spent = e.seconds.map(|s| human(std::time::Duration::from_secs(s))).unwrap_or_default();
            let now = if i == last { " (current)" } else { "" };
            let _ = writeln!(out, "  {at}  {:<24} {spent}{now}", e.name);
        }
    }

    sources_section(&mut out, &r.sources, st);
    out
}

/// The ranked findings: rank, severity, id, title, detail, evidence and numbered fix steps.
pub fn findings_section(out: &mut String, findings: &[RankedFinding], st: &Styles, show_subject: bool) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", st.paint(st.heading, "Findings"));
    for f in findings {
        let f_ = &f.finding;
        let sev = format!("{:<8}", format!("{:?}", f_.severity).to_uppercase());
        let subject = match (&f_.subject, show_subject) {
            (Some(s), true) => format!("  {}", st.paint(st.dim, &format!("[{s}]"))),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {}. {} {}{subject}  {}",
            f.rank,
            st.paint(st.severity(f_.severity), &sev),
            st.paint(st.dim, f_.id),
            st.paint(st.heading, &f_.title)
        );
        if !f_.detail.is_empty() {
            let _ = writeln!(out, "     {}", f_.detail);
        }
        if !f_.evidence.is_empty() {
            let _ = writeln!(out, "     Evidence:");
            for e in &f_.evidence {
                let _ = writeln!(out, "       - {e}");
            }
        }
        if !f_.remediation.is_empty() {
            let _ = writeln!(out, "     Fix:");
            for (i, step) in f_.remediation.iter().enumerate() {
                let _ = writeln!(out, "       {}. {}", i + 1, highlight_command(step, st));
            }
        }
    }
}

/// Which backends were consulted, how they fared and how long they took.
pub fn sources_section(out: &mut String, sources: &[SourceRecord], st: &Styles) {
    let _ = writeln!(out, "\n{}", st.paint(st.heading, "Sources"));
    for s in sources {
        let status = format!("{:?}", s.status).to_lowercase();
        let _ = writeln!(out, "  {:<12} {:<10} {} ({} ms)", s.name, status, s.detail, s.millis);
    }
}

/// Colours the command part of "Do this: <command>" steps.
fn highlight_command(step: &str, st: &Styles) -> String {
    match step.split_once(": ") {
        Some((lead, cmd)) if st.enabled && looks_like_command(cmd) => format!("{lead}: {}", st.paint(st.command, cmd)),
        _ => step.to_string(),
    }
}

fn looks_like_command(s: &str) -> bool {
    ["prefect ", "curl ", "kubectl ", "aws ", "unstuck "].iter().any(|p| s.starts_with(p))
}
