//! The `slots` report: who holds a pool's, queue's or deployment's concurrency slots, since when, and
//! whether they look dead; how many runs wait; the verdict and exit code of SPEC 4.

use std::fmt::Write;
use std::time::Duration;

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
use jiff::Timestamp;
use serde::Serialize;

use super::style::Styles;
use super::table::{findings_section, sources_section};
use super::{RankedFinding, SCHEMA_VERSION, Status, Verdict, rank, status_of};
use crate::checks::{self, Finding, Judge, Kind, Severity, WorkerStatus, sh};
use crate::evidence::{SlotScope, SlotsEvidence, SourceRecord, ToolInfo};
use crate::fmt::{ago, count, human};
use crate::prefect::types::{FlowRun, StateType};

/// Utilisation from which the verdict is a warning (SPEC 4: exit 1 at 80 % or more).
const BUSY: f64 = 0.8;
/// Holders a terminal table shows (JSON lists all of them).
const TABLE_ROWS: usize = 100;
/// Holders listed in a finding's evidence (the report lists all of them).
const LIST: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct SlotsReport {
    pub schema_version: u32,
    pub tool: ToolInfo,
    pub generated_at: Timestamp,
    pub target: SlotsTarget,
    pub verdict: Verdict,
    pub queues: Vec<QueueRow>,
    pub holders: Vec<HolderRow>,
    pub waiting: WaitingOut,
    pub findings: Vec<RankedFinding>,
    pub sources: Vec<SourceRecord>,
    pub pending_threshold_seconds: u64,
    /// Running holders that may be dead but did not get their logs read (see `Judge::unjudged`).
    #[serde(skip)]
    pub unjudged: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotsTarget {
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub concurrency_limit: Option<u64>,
    pub active_slots: u64,
    /// Deployments: runs holding a concurrency lease, and the slots counted by no run (leaked) or
    /// holders whose lease is gone (expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leases: Option<Leases>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Leases {
    pub holders_with_lease: u64,
    pub leaked_slots: u64,
    pub expired_leases: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    pub name: String,
    pub concurrency_limit: Option<u64>,
    pub active_slots: u64,
    pub paused: bool,
    pub last_polled: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HolderRow {
    pub run_id: String,
    pub run_name: String,
    pub queue: Option<String>,
    pub state_type: String,
    pub state_name: String,
    pub seconds_in_state: Option<u64>,
    pub worker: Option<String>,
    pub worker_status: Option<WorkerStatus>,
    pub infrastructure_pid: Option<String>,
    pub zombie: bool,
    pub zombie_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaitingOut {
    pub count: Option<u64>,
    pub oldest_seconds_late: Option<u64>,
}

impl SlotsReport {
    pub fn exit_code(&self) -> u8 {
        self.verdict.status.exit_code()
    }
}

fn holding_lease(r: &FlowRun) -> bool {
    r.state.as_ref().is_some_and(|s| s.state_details.deployment_concurrency_lease_id.is_some())
}

/// Builds the report from the evidence.
pub fn build(
    ev: &SlotsEvidence,
    collected_at: Timestamp,
    threshold: Duration,
    sources: &[SourceRecord],
) -> SlotsReport {
    let now = ev.server.now(collected_at);
    let holders = ev.holders.value();
    // Longest in state first, by the exact state time, then by id: one stable order for every list.
    let mut sorted: Vec<FlowRun> = holders.map(|h| h.runs.clone()).unwrap_or_default();
    sorted.sort_by(|a, b| {
        let t = |r: &FlowRun| r.state.as_ref().and_then(|s| s.timestamp);
        t(a).cmp(&t(b)).then_with(|| a.id.cmp(&b.id))
    });
    let runs: &[FlowRun] = &sorted;
    let judge = Judge {
        now,
        pending_threshold: threshold,
        pool: ev.pool.value().map(|p| p.name.as_str()),
        workers: ev.workers.value().map(Vec::as_slice),
        logs: ev.holder_logs.value().map(Vec::as_slice),
        summaries_only: holders.map(|h| &h.summaries_only),
    };

    let rows: Vec<HolderRow> = runs
        .iter()
        .map(|r| {
            let claim = judge.claimer(r);
            let in_pool = r.work_pool_name.is_none() || r.work_pool_name.as_deref() == judge.pool;
            let zombie_reason = judge.zombie_reason(r);
            HolderRow {
                run_id: r.id.clone(),
                run_name: r.name.clone(),
                queue: r.work_queue_name.clone(),
                state_type: r.state_type().map(|t| t.to_string()).unwrap_or_default(),
                state_name: r.state_name(),
                seconds_in_state: r.state.as_ref().and_then(|s| s.timestamp).map(|t| judge.since(t).as_secs()),
                worker_status: claim
                    .as_ref()
                    .map(|c| if in_pool { judge.worker_status(&c.worker) } else { WorkerStatus::Unknown }),
                worker: claim.map(|c| c.worker),
                infrastructure_pid: r.infrastructure_pid.clone().filter(|p| !p.is_empty()),
                zombie: zombie_reason.is_some(),
                zombie_reason,
            }
        })
        .collect();

    let (target, limit, active) = target(ev, runs);
    let queues = queue_rows(ev, runs);
    let waiting = match ev.waiting.value() {
        Some(w) => WaitingOut {
            count: Some(w.count),
            oldest_seconds_late: w.oldest_expected_start.map(|t| judge.since(t).as_secs()),
        },
        None => WaitingOut { count: None, oldest_seconds_late: None },
    };

    let mut findings = Vec::new();
    let full = limit.is_some_and(|l| active >= l);
    if full && waiting.count.unwrap_or(0) > 0 {
        findings.push(full_finding(ev, &target, limit.unwrap_or_default(), active, &waiting, runs, &judge));
    }
    let zombies: Vec<(&FlowRun, String)> =
        runs.iter().filter_map(|r| judge.zombie_reason(r).map(|why| (r, why))).collect();
    let unjudged = runs.iter().filter(|r| judge.unjudged(r)).count();
    findings.extend(checks::slots::zombie_finding(
        Severity::Critical,
        "These runs will never give their slots back by themselves: cancel them to free the slots.",
        &zombies,
        unjudged,
    ));
    if let Some(f) = target.leases.and_then(|l| expired_finding(ev, l, runs)) {
        findings.push(f);
    }
    let findings = rank(findings);
    let mut verdict = verdict(&target, limit, active, &findings, &waiting);
    if ev.holders.value().is_none() {
        verdict = Verdict {
            status: Status::Unknown,
            summary: format!(
                "the slot holders could not be read: {}",
                ev.holders.why_missing("the slot holders").unwrap_or_default()
            ),
            primary: None,
        };
    }
    SlotsReport {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        generated_at: collected_at,
        target,
        verdict,
        queues,
        holders: rows,
        waiting,
        findings,
        sources: sources.to_vec(),
        pending_threshold_seconds: threshold.as_secs(),
        unjudged,
    }
}

fn target(ev: &SlotsEvidence, runs: &[FlowRun]) -> (SlotsTarget, Option<u64>, u64) {
    let n = runs.len() as u64;
    match &ev.scope {
        SlotScope::WorkPool { name } => {
            let limit = ev.pool.value().and_then(|p| p.concurrency_limit);
            let active = ev.holders.value().map(|_| n).or(ev.pool.value().and_then(|p| p.active_slots)).unwrap_or(n);
            let t = SlotsTarget {
                kind: "work-pool",
                name: name.clone(),
                pool: None,
                id: None,
                concurrency_limit: limit,
                active_slots: active,
                leases: None,
            };
            (t, limit, active)
        }
        SlotScope::WorkQueue { pool, name } => {
            let q = ev.queues.value().and_then(|q| q.first());
            let limit = q.and_then(|q| q.concurrency_limit);
            let active = ev.holders.value().map(|_| n).or(q.and_then(|q| q.active_slots)).unwrap_or(n);
            let t = SlotsTarget {
                kind: "work-queue",
                name: name.clone(),
                pool: Some(pool.clone()),
                id: q.and_then(|q| q.id.clone()),
                concurrency_limit: limit,
                active_slots: active,
                leases: None,
            };
            (t, limit, active)
        }
        SlotScope::Deployment { id, name } => {
            let gcl = ev.deployment.value().and_then(|d| d.global_concurrency_limit.as_ref()).filter(|g| g.active);
            let limit = gcl.and_then(|g| g.limit);
            // The limit's own counter gates the deployment: report it, and how it compares with the runs.
            let active = gcl.and_then(|g| g.active_slots).unwrap_or(n);
            let leased = runs.iter().filter(|r| holding_lease(r)).count() as u64;
            // Servers from before deployment leases (early 3.x) record none: every holder owns a slot.
            let owners = if leased > 0 { leased } else { n };
            let leases = gcl.map(|_| Leases {
                holders_with_lease: leased,
                leaked_slots: active.saturating_sub(owners),
                expired_leases: leased.saturating_sub(active),
            });
            let flow = ev.flow.value().map(|f| format!("{}/", f.name)).unwrap_or_default();
            let t = SlotsTarget {
                kind: "deployment",
                name: format!("{flow}{name}"),
                pool: ev.pool.value().map(|p| p.name.clone()),
                id: Some(id.clone()),
                concurrency_limit: limit,
                active_slots: active,
                leases,
            };
            (t, limit, active)
        }
    }
}

fn queue_rows(ev: &SlotsEvidence, runs: &[FlowRun]) -> Vec<QueueRow> {
    let Some(queues) = ev.queues.value() else { return vec![] };
    let mut rows: Vec<QueueRow> = queues
        .iter()
        .map(|q| QueueRow {
            name: q.name.clone(),
            concurrency_limit: q.concurrency_limit,
            active_slots: runs.iter().filter(|r| r.work_queue_name.as_deref() == Some(q.name.as_str())).count() as u64,
            paused: q.is_paused,
            last_polled: q.last_polled,
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

fn runs_wait(n: usize) -> String {
    if n == 1 { "1 run waits".into() } else { format!("{n} runs wait") }
}

fn scope_words(target: &SlotsTarget) -> (String, String) {
    match target.kind {
        "work-pool" => (format!("Work pool '{}'", target.name), format!("work-pool/{}", target.name)),
        "work-queue" => (
            format!("Work queue '{}' of pool '{}'", target.name, target.pool.as_deref().unwrap_or("?")),
            format!("work-queue/{}/{}", target.pool.as_deref().unwrap_or("?"), target.name),
        ),
        _ => (format!("Deployment '{}'", target.name), format!("deployment/{}", target.id.as_deref().unwrap_or("?"))),
    }
}

fn full_finding(
    ev: &SlotsEvidence,
    target: &SlotsTarget,
    limit: u64,
    active: u64,
    waiting: &WaitingOut,
    runs: &[FlowRun],
    judge: &Judge<'_>,
) -> Finding {
    let info = match target.kind {
        "work-pool" => &checks::slots::POOL_FULL.info,
        "work-queue" => &checks::slots::QUEUE_FULL.info,
        _ => &checks::slots::DEPLOYMENT_FULL.info,
    };
    let (what, subject) = scope_words(target);
    let waiting_n = waiting.count.unwrap_or_default() as usize;
    let late = waiting
        .oldest_seconds_late
        .map(|s| format!("; the oldest is {} late", human(Duration::from_secs(s))))
        .unwrap_or_default();
    let sorted: Vec<&FlowRun> = runs.iter().collect();
    let mut f =
        Finding::new(info, Severity::Critical, format!("{what} is at its concurrency limit ({active}/{limit})"))
            .detail(format!("All slots are taken while {} for one{late}.", runs_wait(waiting_n)))
            .evidence_all(sorted.iter().take(LIST).map(|r| judge.describe_holder(r)));
    if runs.len() > LIST {
        f = f.evidence(format!("… and {} more holders", runs.len() - LIST));
    }
    if let Some(l) = target.leases.filter(|l| l.leaked_slots > 0) {
        f.detail.push_str(&format!(
            " {} counted by no run: leaked (a lease lost, e.g. after a server restart with in-memory lease storage).",
            count(l.leaked_slots as usize, "slot is")
        ));
        let name = ev.deployment.value().and_then(|d| d.global_concurrency_limit.as_ref()).and_then(|g| g.name.clone());
        if let Some(name) = name {
            f = f.fix(format!(
                "Give back the leaked slots: prefect gcl update {} --active-slots {}",
                sh(&name),
                active - l.leaked_slots
            ));
        }
    }
    for r in sorted.iter().filter(|r| judge.zombie_reason(r).is_some()).take(LIST) {
        f = f.fix(checks::slots::cancel_command(r));
    }
    f = match target.kind {
        "work-pool" => f.fix(format!(
            "Or raise the limit: prefect work-pool set-concurrency-limit {} {}",
            sh(&target.name),
            limit + 1
        )),
        "work-queue" => f.fix(format!(
            "Or raise the limit: prefect work-queue set-concurrency-limit {} {} --pool {}",
            sh(&target.name),
            limit + 1,
            sh(target.pool.as_deref().unwrap_or("?"))
        )),
        _ => f.fix("Or raise the deployment's concurrency_limit (prefect.yaml) and redeploy: prefect deploy"),
    };
    f.subject(subject)
}

/// Deployment holders whose lease is gone (more runs carry a lease than the limit counts).
fn expired_finding(ev: &SlotsEvidence, leases: Leases, runs: &[FlowRun]) -> Option<Finding> {
    if leases.expired_leases == 0 {
        return None;
    }
    let mut pending: Vec<&FlowRun> =
        runs.iter().filter(|r| holding_lease(r) && r.state_type() == Some(&StateType::Pending)).collect();
    pending.sort_by_key(|r| (r.expected_start_time, r.state.as_ref().and_then(|s| s.timestamp)));
    let lost: Vec<&FlowRun> = pending.into_iter().take(leases.expired_leases as usize).collect();
    let name = ev.deployment.value().map(|d| d.name.clone()).unwrap_or_default();
    let f = Finding::new(
        &checks::slots::LEASE_EXPIRED.info,
        Severity::Warning,
        format!(
            "{} of deployment '{name}' lost {} while Pending",
            count(lost.len(), "run"),
            if lost.len() == 1 { "its lease" } else { "their leases" }
        ),
    )
    .detail(
        "The limit counts fewer slots than runs carry a lease: the oldest Pending runs' leases expired. When they \
         start, Prefect must find a free slot again or cancel them.",
    )
    .evidence_all(
        lost.iter()
            .take(LIST)
            .map(|r| format!("run '{}' ({}): {} with lease, the slot given back", r.name, r.id, r.state_name())),
    )
    .fix("Fix what keeps these runs from starting: unstuck doctor <RUN_ID>");
    Some(f.kind(Kind::Risk))
}

fn verdict(
    target: &SlotsTarget,
    limit: Option<u64>,
    active: u64,
    findings: &[RankedFinding],
    waiting: &WaitingOut,
) -> Verdict {
    let status = status_of(findings);
    if let Some(first) = findings.first().filter(|_| status != Status::Ok) {
        return Verdict { status, summary: first.finding.title.clone(), primary: Some(first.finding.id) };
    }
    let (what, _) = scope_words(target);
    let waiting_note = match waiting.count {
        Some(n) if n > 0 => format!("; {} for a slot", runs_wait(n as usize)),
        _ => String::new(),
    };
    match limit {
        Some(l) if l > 0 && (active as f64) / (l as f64) >= BUSY => Verdict {
            status: Status::Warning,
            summary: format!("{what} uses {active} of its {l} slots ({}%){waiting_note}", active * 100 / l),
            primary: None,
        },
        Some(l) => Verdict {
            status: Status::Ok,
            summary: format!("{what} uses {active} of its {l} slots; no holder looks dead{waiting_note}"),
            primary: None,
        },
        None => Verdict {
            status: Status::Ok,
            summary: format!(
                "{what} has no concurrency limit; {} hold slots{waiting_note}",
                count(active as usize, "run")
            ),
            primary: None,
        },
    }
}

/// The slot bar: `███████░░░  7 / 10`, coloured by utilisation (unlimited shown as such).
fn bar(limit: Option<u64>, active: u64, st: &Styles) -> String {
    const WIDTH: usize = 20;
    let Some(limit) = limit else { return format!("{active} active (no limit)") };
    let ratio = if limit == 0 { 1.0 } else { (active as f64 / limit as f64).min(1.0) };
    let filled = (ratio * WIDTH as f64).round() as usize;
    let style = match ratio {
        r if limit == 0 || r >= 1.0 => st.bad,
        r if r >= BUSY => st.warn,
        _ => st.ok,
    };
    let bar = format!("{}{}", "█".repeat(filled), "░".repeat(WIDTH - filled));
    format!("{}  {active} / {limit}", st.paint(style, &bar))
}

fn table(st: &Styles, headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    // Colour is decided once, by `Styles` (--color, NO_COLOR, terminal); not by comfy-table itself.
    if st.enabled {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t.set_header(headers.iter().map(|h| {
        let c = Cell::new(h);
        if st.enabled { c.add_attribute(Attribute::Bold) } else { c }
    }));
    t
}

fn colored(text: impl Into<String>, color: Option<Color>, st: &Styles) -> Cell {
    let c = Cell::new(text.into());
    match color.filter(|_| st.enabled) {
        Some(color) => c.fg(color),
        None => c,
    }
}

/// The holders a terminal table shows, in the report's order: every zombie (up to `TABLE_ROWS`), and
/// the longest-held of the others while room is left. JSON has every holder.
fn table_rows(holders: &[HolderRow]) -> Vec<&HolderRow> {
    let zombies = holders.iter().filter(|h| h.zombie).count();
    let mut others = TABLE_ROWS.saturating_sub(zombies);
    let mut rows = Vec::with_capacity(TABLE_ROWS.min(holders.len()));
    for h in holders {
        if h.zombie {
            rows.push(h);
        } else if others > 0 {
            others -= 1;
            rows.push(h);
        }
    }
    rows.truncate(TABLE_ROWS);
    rows
}

/// Renders the slots report for a terminal.
pub fn slots_table(r: &SlotsReport, st: &Styles, quiet: bool, now: Timestamp) -> String {
    let mut out = String::new();
    let word = match r.verdict.status {
        Status::Critical => "CRITICAL",
        Status::Warning => "WARNING",
        Status::Ok => "OK",
        Status::Unknown => "UNKNOWN",
    };
    let verdict = format!("{} {}", st.paint(st.status(r.verdict.status), &format!("{word}:")), r.verdict.summary);
    if quiet {
        let _ = writeln!(out, "{verdict}");
        return out;
    }
    let t = &r.target;
    let title = match t.kind {
        "work-pool" => format!("Work pool {}", t.name),
        "work-queue" => format!("Work queue {} (pool {})", t.name, t.pool.as_deref().unwrap_or("?")),
        _ => format!("Deployment {}", t.name),
    };
    let _ = writeln!(out, "{}", st.paint(st.heading, &title));
    let _ = writeln!(out, "Slots  {}", bar(t.concurrency_limit, t.active_slots, st));
    if let Some(l) = t.leases {
        let _ = writeln!(
            out,
            "       {} carry a lease; {} leaked, {} expired",
            count(l.holders_with_lease as usize, "run"),
            count(l.leaked_slots as usize, "slot"),
            count(l.expired_leases as usize, "lease")
        );
    }
    let _ = writeln!(out, "\n{verdict}");

    if !r.queues.is_empty() && t.kind == "work-pool" {
        let mut q = table(st, &["Queue", "Limit", "Active", "Paused", "Last polled"]);
        for row in &r.queues {
            let full = row.concurrency_limit.is_some_and(|l| row.active_slots >= l);
            q.add_row(vec![
                Cell::new(&row.name),
                Cell::new(row.concurrency_limit.map(|l| l.to_string()).unwrap_or_else(|| "-".into())),
                colored(row.active_slots.to_string(), full.then_some(Color::Red), st),
                colored(if row.paused { "yes" } else { "no" }, row.paused.then_some(Color::Yellow), st),
                Cell::new(
                    row.last_polled
                        .map(|p| ago(Duration::try_from(now.duration_since(p)).unwrap_or_default()))
                        .unwrap_or_else(|| "never".into()),
                ),
            ]);
        }
        let _ = writeln!(out, "\n{}\n{q}", st.paint(st.heading, "Queues"));
    }

    if r.holders.is_empty() {
        let _ = writeln!(out, "\nNo run holds a slot.");
    } else {
        let _ = writeln!(
            out,
            "\n{}",
            st.paint(st.heading, &format!("Holders ({}, longest in state first)", r.holders.len()))
        );
        let mut h = table(st, &["Flow run", "Id", "Queue", "State", "In state", "Worker", "Infrastructure", ""]);
        let shown = table_rows(&r.holders);
        for row in &shown {
            let worker = match (&row.worker, row.worker_status) {
                (Some(w), Some(WorkerStatus::Online)) => format!("{w} (online)"),
                (Some(w), Some(WorkerStatus::Offline)) => format!("{w} (offline)"),
                (Some(w), Some(WorkerStatus::Gone)) => format!("{w} (gone)"),
                (Some(w), _) => w.clone(),
                (None, _) => "-".into(),
            };
            let dead_worker = matches!(row.worker_status, Some(WorkerStatus::Offline | WorkerStatus::Gone));
            h.add_row(vec![
                Cell::new(&row.run_name),
                Cell::new(&row.run_id),
                Cell::new(row.queue.as_deref().unwrap_or("-")),
                Cell::new(if row.state_name.eq_ignore_ascii_case(&row.state_type) {
                    row.state_name.clone()
                } else {
                    format!("{} {}", row.state_type, row.state_name)
                }),
                Cell::new(row.seconds_in_state.map(|s| human(Duration::from_secs(s))).unwrap_or_else(|| "?".into())),
                colored(worker, dead_worker.then_some(Color::Red), st),
                Cell::new(row.infrastructure_pid.as_deref().unwrap_or("-")),
                colored(if row.zombie { "ZOMBIE" } else { "" }, row.zombie.then_some(Color::Red), st),
            ]);
        }
        let _ = writeln!(out, "{h}");
        if r.holders.len() > shown.len() {
            let _ = writeln!(out, "  … and {} more holders (-o json lists every one)", r.holders.len() - shown.len());
        }
        // With zombies, their finding says it.
        if r.unjudged > 0 && !r.holders.iter().any(|h| h.zombie) {
            let _ = writeln!(out, "  Note: {}", Judge::unjudged_note(r.unjudged));
        }
    }

    match (r.waiting.count, r.waiting.oldest_seconds_late) {
        (Some(0), _) => {
            let _ = writeln!(out, "\nNo run is waiting for a slot.");
        }
        (Some(n), late) => {
            let late =
                late.map(|s| format!("; the oldest is {} late", human(Duration::from_secs(s)))).unwrap_or_default();
            let _ = writeln!(out, "\nWaiting: {} due and not started{late}.", count(n as usize, "run"));
        }
        (None, _) => {
            let _ = writeln!(out, "\nWaiting: unknown (the waiting runs could not be read).");
        }
    }

    findings_section(&mut out, &r.findings, st, false);
    if let Some(z) = r.holders.iter().find(|h| h.zombie).or(r.holders.first()) {
        let _ = writeln!(out, "\n{}", st.paint(st.heading, "Next steps"));
        let _ = writeln!(out, "  Inspect a holder:   unstuck doctor {}", z.run_id);
        if z.zombie {
            let _ = writeln!(out, "  Cancel a zombie:    prefect flow-run cancel {}", z.run_id);
        }
    }
    sources_section(&mut out, &r.sources, st);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(i: usize, zombie: bool) -> HolderRow {
        HolderRow {
            run_id: format!("id-{i}"),
            run_name: format!("run-{i}"),
            queue: None,
            state_type: "RUNNING".into(),
            state_name: "Running".into(),
            seconds_in_state: None,
            worker: None,
            worker_status: None,
            infrastructure_pid: None,
            zombie,
            zombie_reason: None,
        }
    }

    #[test]
    fn table_keeps_every_zombie_and_fills_up_with_the_longest_held() {
        // 250 holders, longest first; zombies at 5, 150 and 249 (past the table's length).
        let holders: Vec<HolderRow> = (0..250).map(|i| holder(i, [5, 150, 249].contains(&i))).collect();
        let rows = table_rows(&holders);
        assert_eq!(rows.len(), TABLE_ROWS);
        let ids: Vec<&str> = rows.iter().map(|h| h.run_id.as_str()).collect();
        assert!(["id-5", "id-150", "id-249"].iter().all(|z| ids.contains(z)), "{ids:?}");
        assert_eq!(ids[0], "id-0", "report order is kept");
        assert!(ids.contains(&"id-97") && !ids.contains(&"id-98"), "97 others fill the rest: {ids:?}");
    }

    #[test]
    fn small_tables_are_shown_whole_and_zombies_alone_are_capped() {
        let few: Vec<HolderRow> = (0..7).map(|i| holder(i, i == 3)).collect();
        assert_eq!(table_rows(&few).len(), 7);
        let all_dead: Vec<HolderRow> = (0..150).map(|i| holder(i, true)).collect();
        assert_eq!(table_rows(&all_dead).len(), TABLE_ROWS);
    }
}
