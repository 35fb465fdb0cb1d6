//! The `health` report: one line per pool with a verdict, the ranked findings with their subjects, and
//! machine formats for CI (JSON, JUnit) and monitoring (Prometheus text exposition).

use std::fmt::Write;
use std::time::Duration;

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use jiff::Timestamp;
use serde::Serialize;

use super::style::Styles;
use super::table::{findings_section, sources_section};
use super::{RankedFinding, SCHEMA_VERSION, Status, Verdict, doctor, rank, status_of};
use crate::checks::fleet::{self, PoolCounts};
use crate::checks::{Finding, Kind, Severity};
use crate::evidence::{HealthEvidence, PoolHealth, SourceRecord, Thresholds, ToolInfo};
use crate::fmt::{count, human};

#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub generated_at: Timestamp,
    pub verdict: Verdict,
    pub pools: Vec<PoolRow>,
    pub findings: Vec<RankedFinding>,
    pub sources: Vec<SourceRecord>,
    pub thresholds: super::doctor::ThresholdsOut,
}

/// Which finding is about which pool, and whether it is a stuck run's primary cause.
#[derive(Debug, Clone, Copy)]
struct Owner {
    pool: usize,
    run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolRow {
    pub name: String,
    #[serde(rename = "type")]
    pub pool_type: Option<String>,
    pub status: Option<String>,
    pub paused: bool,
    pub workers: Workers,
    pub slots: Slots,
    pub runs: Runs,
    pub verdict: Status,
    /// The ranks of the findings about this pool (its queues and its runs included).
    pub findings: Vec<usize>,
    /// The ranks of those that are the primary cause of one of its stuck runs.
    #[serde(skip)]
    run_findings: Vec<usize>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Workers {
    pub online: usize,
    pub offline: usize,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Slots {
    pub active: Option<u64>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Runs {
    pub pending_stuck: usize,
    pub late: usize,
    /// Set when the pool had more stuck or late runs than its read budget: the counts are lower bounds.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub counts_are_lower_bounds: bool,
}

/// The findings of one pool: its own, and the primary cause of each stuck run diagnosed (flagged).
fn findings_of(ph: &PoolHealth, now: Timestamp, collected_at: Timestamp, th: Thresholds) -> Vec<(Finding, bool)> {
    let mut findings: Vec<(Finding, bool)> =
        fleet::pool_findings(ph, now, th).into_iter().map(|f| (f, false)).collect();
    for run in &ph.runs {
        let r = doctor::build(run, collected_at, th, &[]);
        let Some(top) = r.findings.first().map(|f| &f.finding) else { continue };
        if top.kind == Kind::Info {
            continue;
        }
        // The pool already says it (no worker, paused, ...): do not repeat it per run.
        if findings.iter().any(|(f, _)| f.id == top.id && f.subject == top.subject) {
            continue;
        }
        let mut f = top.clone();
        f.title = format!("Run '{}': {}", run.flow_run.name, f.title);
        if f.subject.is_none() {
            f.subject = Some(format!("flow-run/{}", run.flow_run.id));
        }
        findings.push((f, true));
    }
    findings
}

fn pool_status(ph: &PoolHealth, findings: &[(Finding, bool)]) -> Status {
    let ranked = rank(findings.iter().map(|(f, _)| f.clone()).collect());
    let status = status_of(&ranked);
    let unreadable =
        ph.workers.why_failed().is_some() || ph.late.why_failed().is_some() || ph.pending.why_failed().is_some();
    if status == Status::Ok && unreadable { Status::Unknown } else { status }
}

pub fn build(ev: &HealthEvidence, collected_at: Timestamp, th: Thresholds, sources: &[SourceRecord]) -> HealthReport {
    let now = ev.server.now(collected_at);
    let mut rows = Vec::new();
    let mut all: Vec<(Finding, Owner)> = Vec::new();
    for (i, ph) in ev.pools.iter().enumerate() {
        let findings = findings_of(ph, now, collected_at, th);
        let judge = fleet::judge(ph, now, th);
        let c: PoolCounts = fleet::counts(ph, &judge, th.late);
        rows.push(PoolRow {
            name: ph.pool.name.clone(),
            pool_type: ph.pool.pool_type.clone(),
            status: ph.pool.status.clone(),
            paused: ph.pool.is_paused,
            workers: Workers { online: c.workers_online, offline: c.workers_offline },
            slots: Slots { active: c.slots_active, limit: c.slots_limit },
            runs: Runs {
                pending_stuck: c.pending_stuck,
                late: c.late,
                counts_are_lower_bounds: ph.late_capped || ph.pending_capped,
            },
            verdict: pool_status(ph, &findings),
            findings: vec![],
            run_findings: vec![],
        });
        all.extend(findings.into_iter().map(|(f, run)| (f, Owner { pool: i, run })));
    }
    all.sort_by_key(|(f, _)| super::rank_key(f));
    let mut findings = Vec::with_capacity(all.len());
    for (n, (finding, owner)) in all.into_iter().enumerate() {
        let rank = n + 1;
        rows[owner.pool].findings.push(rank);
        if owner.run {
            rows[owner.pool].run_findings.push(rank);
        }
        findings.push(RankedFinding { rank, finding });
    }
    let verdict = verdict(&rows, &findings);
    HealthReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        generated_at: collected_at,
        verdict,
        pools: rows,
        findings,
        sources: sources.to_vec(),
        thresholds: super::doctor::ThresholdsOut {
            pending_seconds: th.pending.as_secs(),
            late_seconds: th.late.as_secs(),
        },
    }
}

fn verdict(rows: &[PoolRow], findings: &[RankedFinding]) -> Verdict {
    let of = |s: Status| rows.iter().filter(|r| r.verdict == s).count();
    let (critical, warning, unknown) = (of(Status::Critical), of(Status::Warning), of(Status::Unknown));
    let n = rows.len();
    let top = findings.first();
    let (status, summary) = if n == 0 {
        (Status::Ok, "no work pools".to_string())
    } else if critical > 0 {
        (
            Status::Critical,
            format!(
                "{critical} of {} cannot run work: {}",
                count(n, "pool"),
                top.map(|f| f.finding.title.as_str()).unwrap_or("")
            ),
        )
    } else if unknown > 0 {
        (Status::Unknown, format!("{unknown} of {} could not be judged", count(n, "pool")))
    } else if warning > 0 {
        (
            Status::Warning,
            format!(
                "{warning} of {} at risk: {}",
                count(n, "pool"),
                top.map(|f| f.finding.title.as_str()).unwrap_or("")
            ),
        )
    } else {
        (Status::Ok, format!("all {} can run work", count(n, "pool")))
    };
    Verdict { status, summary, primary: top.filter(|_| status != Status::Ok).map(|f| f.finding.id) }
}

/// The exit code: critical 2, unknown 3, warning 1 only with `--fail-on warning`, else 0.
pub fn exit_code(status: Status, fail_on_warning: bool) -> u8 {
    match status {
        Status::Critical => 2,
        Status::Unknown => 3,
        Status::Warning if fail_on_warning => 1,
        Status::Warning | Status::Ok => 0,
    }
}

fn word(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::Warning => "WARNING",
        Status::Critical => "CRITICAL",
        Status::Unknown => "UNKNOWN",
    }
}

fn slots_text(s: Slots) -> String {
    match (s.active, s.limit) {
        (Some(a), Some(l)) => format!("{a}/{l}"),
        (None, Some(l)) => format!("?/{l}"),
        _ => "-".into(),
    }
}

fn count_text(n: usize, lower_bound: bool) -> String {
    if lower_bound { format!("{n}+") } else { n.to_string() }
}

pub fn health_table(r: &HealthReport, st: &Styles, quiet: bool) -> String {
    let mut out = String::new();
    let verdict = format!(
        "{} {}",
        st.paint(st.status(r.verdict.status), &format!("{}:", word(r.verdict.status))),
        r.verdict.summary
    );
    if quiet {
        let _ = writeln!(out, "{verdict}");
        return out;
    }
    let _ = writeln!(out, "{verdict}\n");
    if r.pools.is_empty() {
        let _ = writeln!(out, "The server has no work pools.");
    } else {
        let mut t = Table::new();
        t.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
        if st.enabled {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        t.set_header(["Pool", "Type", "Status", "Workers on/off", "Slots", "Late", "Stuck", "Verdict"]);
        for p in &r.pools {
            let color = match p.verdict {
                Status::Ok => Color::Green,
                Status::Warning => Color::Yellow,
                Status::Critical => Color::Red,
                Status::Unknown => Color::Magenta,
            };
            let verdict_cell = Cell::new(format!("{:?}", p.verdict).to_lowercase());
            t.add_row(vec![
                Cell::new(&p.name),
                Cell::new(p.pool_type.as_deref().unwrap_or("-")),
                Cell::new(if p.paused { "PAUSED".to_string() } else { p.status.clone().unwrap_or_else(|| "-".into()) }),
                Cell::new(format!("{}/{}", p.workers.online, p.workers.offline)),
                Cell::new(slots_text(p.slots)),
                Cell::new(count_text(p.runs.late, p.runs.counts_are_lower_bounds)),
                Cell::new(count_text(p.runs.pending_stuck, p.runs.counts_are_lower_bounds)),
                if st.enabled { verdict_cell.fg(color) } else { verdict_cell },
            ]);
        }
        let _ = writeln!(out, "{t}");
        let _ = writeln!(
            out,
            "Late: Scheduled past {}; Stuck: Pending past {}.",
            human(Duration::from_secs(r.thresholds.late_seconds)),
            human(Duration::from_secs(r.thresholds.pending_seconds))
        );
    }
    findings_section(&mut out, &r.findings, st, true);
    sources_section(&mut out, &r.sources, st);
    out
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn health_markdown(r: &HealthReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## unstuck health\n\n**{}:** {}\n", word(r.verdict.status), md(&r.verdict.summary));
    let _ = writeln!(
        out,
        "| Pool | Type | Status | Workers on/off | Slots | Late | Stuck | Verdict |\n|---|---|---|---|---|---|---|---|"
    );
    for p in &r.pools {
        let icon = match p.verdict {
            Status::Ok => "✅ ok",
            Status::Warning => "⚠️ warning",
            Status::Critical => "❌ critical",
            Status::Unknown => "❔ unknown",
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {}/{} | {} | {} | {} | {icon} |",
            md(&p.name),
            p.pool_type.as_deref().unwrap_or("-"),
            if p.paused { "PAUSED" } else { p.status.as_deref().unwrap_or("-") },
            p.workers.online,
            p.workers.offline,
            slots_text(p.slots),
            count_text(p.runs.late, p.runs.counts_are_lower_bounds),
            count_text(p.runs.pending_stuck, p.runs.counts_are_lower_bounds),
        );
    }
    if !r.findings.is_empty() {
        let _ = writeln!(out, "\n### Findings\n");
        for f in &r.findings {
            let f_ = &f.finding;
            let _ = writeln!(
                out,
                "{}. **{:?}** `{}` {} — {}",
                f.rank,
                f_.severity,
                f_.id,
                f_.subject.as_deref().map(|s| format!("`{s}`")).unwrap_or_default(),
                md(&f_.title)
            );
            for step in f_.remediation.iter().take(2) {
                let _ = writeln!(out, "   - {}", md(step));
            }
        }
    }
    out
}

/// XML 1.0 cannot carry control characters (an ANSI escape in a quoted log line): drop them.
fn xml_safe(s: &str) -> String {
    s.chars().filter(|c| matches!(c, '\t' | '\n' | '\r') || !c.is_control()).collect()
}

/// The checks `health` judges for every pool: one JUnit testcase each, so CI shows a stable list.
const POOL_CHECKS: &[&str] = &[
    "pool.paused",
    "worker.none",
    "worker.offline",
    "queue.paused",
    "queue.not-polled",
    "slots.pool-full",
    "slots.queue-full",
    "slots.zombie-holder",
    "poll.too-frequent",
];

/// JUnit XML: one testsuite per pool, one testcase per check, and one per stuck run diagnosed. A
/// finding fails its testcase when it reaches `--fail-on`; below it, it is reported as output.
pub fn health_junit(r: &HealthReport, fail_on_warning: bool) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let fails = |f: &Finding| f.kind == Kind::Cause || (fail_on_warning && f.severity <= Severity::Warning);
    let by_rank = |rank: &usize| r.findings.get(rank - 1).map(|f| &f.finding);
    let text = |f: &Finding| format!("{}\n{}\n{}", f.detail, f.evidence.join("\n"), f.remediation.join("\n"));
    let timestamp = chrono::DateTime::from_timestamp(r.generated_at.as_second(), 0).map(|t| t.fixed_offset());
    let mut report = Report::new("unstuck health");
    for p in &r.pools {
        let mut suite = TestSuite::new(xml_safe(&format!("work-pool/{}", p.name)));
        if let Some(t) = timestamp {
            suite.set_timestamp(t);
        }
        // One test case per check of the pool and per stuck run: it fails when one of its findings
        // reaches --fail-on; the others go to its output.
        let mut case = |name: String, findings: Vec<&Finding>| {
            let (failing, other): (Vec<&Finding>, Vec<&Finding>) = findings.into_iter().partition(|f| fails(f));
            let status = if failing.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let titles: Vec<&str> = failing.iter().map(|f| f.title.as_str()).collect();
                let ids: Vec<&str> = failing.iter().map(|f| f.id).collect();
                st.set_message(xml_safe(&titles.join("; "))).set_type(ids.join(", "));
                st.set_description(xml_safe(&failing.iter().map(|f| text(f)).collect::<Vec<_>>().join("\n\n")));
                st
            };
            let mut tc = TestCase::new(xml_safe(&name), status);
            tc.set_classname(xml_safe(&format!("unstuck.{}", p.name))).set_time(std::time::Duration::ZERO);
            if !other.is_empty() {
                let out: Vec<String> =
                    other.iter().map(|f| format!("{:?}: {}\n{}", f.severity, f.title, text(f))).collect();
                tc.set_system_out(xml_safe(&out.join("\n")));
            }
            suite.add_test_case(tc);
        };
        let own: Vec<&Finding> =
            p.findings.iter().filter(|n| !p.run_findings.contains(n)).filter_map(by_rank).collect();
        for id in POOL_CHECKS {
            case(id.to_string(), own.iter().copied().filter(|f| f.id == *id).collect());
        }
        for f in p.run_findings.iter().filter_map(by_rank) {
            case(
                format!("stuck run: {}", f.title.split("': ").next().unwrap_or("").trim_start_matches("Run '")),
                vec![f],
            );
        }
        report.add_test_suite(suite);
    }
    // Serialising owned strings into memory cannot fail; say so rather than panic if it ever did.
    report.to_string().unwrap_or_else(|e| format!("<!-- cannot write JUnit XML: {e} -->\n"))
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One gauge family: its HELP and TYPE lines, then each `(labels, value)` sample.
fn gauge(out: &mut String, name: &str, help: &str, samples: Vec<(String, String)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// Prometheus text exposition (for node_exporter's textfile collector, and `serve`'s /metrics).
pub fn health_prometheus(r: &HealthReport, millis: u64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, String)>| gauge(&mut out, name, help, samples);
    let level = |s: Status| match s {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Critical => 2,
        Status::Unknown => 3,
    };
    family("unstuck_up", "Whether the Prefect API answered.", vec![(String::new(), "1".into())]);
    family(
        "unstuck_health_verdict",
        "The fleet's verdict: 0 ok, 1 warning, 2 critical, 3 unknown.",
        vec![(String::new(), level(r.verdict.status).to_string())],
    );
    family(
        "unstuck_collect_duration_seconds",
        "How long reading the fleet took.",
        vec![(String::new(), format!("{:.3}", millis as f64 / 1000.0))],
    );
    let pool = |p: &PoolRow| format!("pool=\"{}\"", label(&p.name));
    family(
        "unstuck_pool_workers",
        "Workers of the pool by liveness, judged from their heartbeats.",
        r.pools
            .iter()
            .flat_map(|p| {
                [
                    (format!("{{{},state=\"online\"}}", pool(p)), p.workers.online.to_string()),
                    (format!("{{{},state=\"offline\"}}", pool(p)), p.workers.offline.to_string()),
                ]
            })
            .collect(),
    );
    family(
        "unstuck_pool_slots_active",
        "Runs holding the pool's concurrency slots (pools with a limit).",
        r.pools.iter().filter_map(|p| p.slots.active.map(|a| (format!("{{{}}}", pool(p)), a.to_string()))).collect(),
    );
    family(
        "unstuck_pool_slots_limit",
        "The pool's concurrency limit (pools with a limit).",
        r.pools.iter().filter_map(|p| p.slots.limit.map(|l| (format!("{{{}}}", pool(p)), l.to_string()))).collect(),
    );
    family(
        "unstuck_pool_runs_pending_stuck",
        "Runs Pending for longer than the pending threshold.",
        r.pools.iter().map(|p| (format!("{{{}}}", pool(p)), p.runs.pending_stuck.to_string())).collect(),
    );
    family(
        "unstuck_pool_runs_late",
        "Runs Scheduled past the late threshold and not started.",
        r.pools.iter().map(|p| (format!("{{{}}}", pool(p)), p.runs.late.to_string())).collect(),
    );
    family(
        "unstuck_pool_verdict",
        "The pool's verdict: 0 ok, 1 warning, 2 critical, 3 unknown.",
        r.pools.iter().map(|p| (format!("{{{}}}", pool(p)), level(p.verdict).to_string())).collect(),
    );
    let mut by_id: std::collections::BTreeMap<(&str, String), usize> = std::collections::BTreeMap::new();
    for f in &r.findings {
        *by_id.entry((f.finding.id, format!("{:?}", f.finding.severity).to_lowercase())).or_default() += 1;
    }
    family(
        "unstuck_findings",
        "Findings by check id and severity.",
        by_id
            .into_iter()
            .map(|((id, sev), n)| (format!("{{id=\"{}\",severity=\"{sev}\"}}", label(id)), n.to_string()))
            .collect(),
    );
    out
}

/// What `-o prometheus` prints when the API could not be read: monitoring sees the failure.
pub fn prometheus_down() -> String {
    let mut out = String::new();
    gauge(&mut out, "unstuck_up", "Whether the Prefect API answered.", vec![(String::new(), "0".into())]);
    out
}

/// `serve`'s own families about its last scan: when it ended (Unix time, seconds) and how long it took,
/// whether or not it reached the Prefect API.
pub fn prometheus_scan(ended_unix_seconds: f64, took: std::time::Duration) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        "unstuck_last_scan_timestamp_seconds",
        "When the last scan of the fleet ended (Unix time).",
        vec![(String::new(), format!("{ended_unix_seconds:.3}"))],
    );
    gauge(
        &mut out,
        "unstuck_scan_duration_seconds",
        "How long the last scan of the fleet took, whether or not it reached the Prefect API.",
        vec![(String::new(), format!("{:.3}", took.as_secs_f64()))],
    );
    out
}
