//! Markdown for CI job summaries and support tickets.

use std::fmt::Write;
use std::time::Duration;

use super::doctor::{DoctorReport, ItemStatus};
use super::style::item_symbol;
use crate::fmt::human;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn doctor_markdown(r: &DoctorReport) -> String {
    let mut out = String::new();
    let t = &r.target;
    let _ = writeln!(out, "## unstuck doctor: `{}`\n", t.name);
    let _ = writeln!(out, "**{}:** {}\n", r.verdict_word(), r.verdict.summary);
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Flow run | `{}` (`{}`) |", cell(&t.name), t.id);
    if let Some(f) = &t.flow {
        let _ = writeln!(out, "| Flow / deployment | {} / {} |", cell(f), cell(t.deployment.as_deref().unwrap_or("-")));
    }
    if let Some(p) = &t.work_pool {
        let _ = writeln!(out, "| Pool / queue | {} / {} |", cell(p), cell(t.work_queue.as_deref().unwrap_or("-")));
    }
    let for_ = t.state.seconds.map(|s| format!(" for {}", human(Duration::from_secs(s)))).unwrap_or_default();
    let _ = writeln!(out, "| State | {} ({}){for_} |", t.state.state_type, cell(&t.state.name));

    let _ = writeln!(out, "\n### Checklist\n\n| | Check | Detail |\n|---|---|---|");
    for c in &r.checklist {
        let sym = match c.status {
            ItemStatus::Pass => "✅",
            ItemStatus::Warn => "⚠️",
            ItemStatus::Fail => "❌",
            s => item_symbol(s),
        };
        let _ = writeln!(out, "| {sym} | `{}` | {} |", c.id, cell(&c.detail));
    }

    if !r.findings.is_empty() {
        let _ = writeln!(out, "\n### Findings");
        for f in &r.findings {
            let f_ = &f.finding;
            let _ = writeln!(out, "\n#### {}. {} `{}` ({:?})\n", f.rank, f_.title, f_.id, f_.severity);
            if !f_.detail.is_empty() {
                let _ = writeln!(out, "{}\n", f_.detail);
            }
            if !f_.evidence.is_empty() {
                let _ = writeln!(out, "Evidence:\n");
                for e in &f_.evidence {
                    let _ = writeln!(out, "- {e}");
                }
                out.push('\n');
            }
            if !f_.remediation.is_empty() {
                let _ = writeln!(out, "Fix:\n");
                for (i, step) in f_.remediation.iter().enumerate() {
                    match step.split_once(": ") {
                        Some((lead, cmd)) if cmd.starts_with("prefect ") || cmd.starts_with("curl ") => {
                            let _ = writeln!(out, "{}. {lead}: `{cmd}`", i + 1);
                        }
                        _ => {
                            let _ = writeln!(out, "{}. {step}", i + 1);
                        }
                    }
                }
            }
        }
    }

    if !r.timeline.is_empty() {
        let _ = writeln!(out, "\n### Timeline\n\n| At | State | Time in state |\n|---|---|---|");
        for e in &r.timeline {
            let at = e.at.map(|t| t.to_string()).unwrap_or_default();
            let spent = e.seconds.map(|s| human(Duration::from_secs(s))).unwrap_or_default();
            let _ = writeln!(out, "| {at} | {} | {spent} |", cell(&e.name));
        }
    }
    let _ = writeln!(out, "\n### Sources\n");
    for s in &r.sources {
        let _ = writeln!(out, "- **{}**: {:?}, {} ({} ms)", s.name, s.status, s.detail, s.millis);
    }
    out
}
