//! Pool-level judgement for `health`: can this pool run work right now? The same checks as `doctor`
//! (same ids, same evidence style), judged for a pool instead of one run. A condition that blocks runs
//! that are already waiting is a cause (critical); the same condition with nothing waiting is a risk.

use std::time::Duration;

use jiff::Timestamp;

use super::ctx::QUEUE_POLL_STALE;
use super::{Finding, Judge, Kind, Severity, pollers, pool, sh, slots, worker};
use crate::evidence::{PoolHealth, Thresholds};
use crate::fmt::{ago, count, human};
use crate::prefect::types::{FlowRun, StateType, WorkQueue};

/// What a pool's findings rest on, counted once.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolCounts {
    pub workers_online: usize,
    pub workers_offline: usize,
    pub slots_active: Option<u64>,
    pub slots_limit: Option<u64>,
    pub pending_stuck: usize,
    pub late: usize,
}

pub fn judge<'a>(ph: &'a PoolHealth, now: Timestamp, th: Thresholds) -> Judge<'a> {
    Judge {
        now,
        pending_threshold: th.pending,
        pool: Some(ph.pool.name.as_str()),
        workers: ph.workers.value().map(Vec::as_slice),
        logs: None,
        summaries_only: None,
    }
}

fn age(judge: &Judge<'_>, r: &FlowRun) -> Duration {
    r.state.as_ref().and_then(|s| s.timestamp).map(|t| judge.since(t)).unwrap_or_default()
}

pub fn counts(ph: &PoolHealth, judge: &Judge<'_>, late: Duration) -> PoolCounts {
    let online = judge.online().len();
    let workers = ph.workers.value().map_or(0, Vec::len);
    PoolCounts {
        workers_online: online,
        workers_offline: workers - online,
        slots_active: ph.pool.concurrency_limit.and(ph.pool.active_slots.or(ph.slot_count.value().copied())),
        slots_limit: ph.pool.concurrency_limit,
        pending_stuck: ph
            .pending
            .value()
            .into_iter()
            .flatten()
            .filter(|r| r.state_type() == Some(&StateType::Pending) && age(judge, r) > judge.pending_threshold)
            .count(),
        late: late_runs(ph, judge, late).len(),
    }
}

/// The pool's SCHEDULED runs due longer ago than the late threshold, oldest first. The bundle holds
/// every run that was due when it was collected, so a replay may use any late threshold.
pub fn late_runs<'a>(ph: &'a PoolHealth, judge: &Judge<'_>, late: Duration) -> Vec<&'a FlowRun> {
    let mut late: Vec<&FlowRun> =
        ph.late.value().into_iter().flatten().filter(|r| r.due_at().is_some_and(|t| judge.since(t) > late)).collect();
    late.sort_by_key(|r| r.due_at());
    late
}

/// Which runs of a pool `health` diagnoses: the oldest stuck ones, Pending past the pending threshold
/// or due past the late threshold, at most `max`. The collector reads doctor evidence for these.
pub fn stuck_runs(ph: &PoolHealth, now: Timestamp, th: Thresholds, max: usize) -> Vec<&FlowRun> {
    let judge = judge(ph, now, th);
    let mut stuck: Vec<&FlowRun> = ph
        .pending
        .value()
        .into_iter()
        .flatten()
        .filter(|r| r.state_type() == Some(&StateType::Pending) && age(&judge, r) > th.pending)
        .chain(late_runs(ph, &judge, th.late))
        .collect();
    stuck.sort_by_key(|r| r.due_at());
    stuck.truncate(max);
    stuck
}

/// A cause when runs wait for it, a risk otherwise.
fn weigh(f: Finding, blocking: bool) -> Finding {
    if blocking {
        f.kind(Kind::Cause)
    } else {
        let mut f = f.kind(Kind::Risk);
        f.severity = f.severity.max(Severity::Warning);
        f
    }
}

fn late_in<'a>(ph: &'a PoolHealth, judge: &Judge<'_>, late: Duration, queue: &str) -> Vec<&'a FlowRun> {
    late_runs(ph, judge, late).into_iter().filter(|r| r.work_queue_name.as_deref() == Some(queue)).collect()
}

fn waiting_note(judge: &Judge<'_>, late: &[&FlowRun], stuck: usize) -> String {
    let late_note = late
        .iter()
        .filter_map(|r| r.due_at())
        .min()
        .map(|t| format!("{} late, the oldest due {}", count(late.len(), "run"), ago(judge.since(t))));
    let stuck_note = (stuck > 0).then(|| format!("{} stuck in Pending", count(stuck, "run")));
    match (late_note, stuck_note) {
        (Some(l), Some(s)) => format!("{l}; {s}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "no run is waiting".to_string(),
    }
}

/// The pool's findings, each with its subject.
pub fn pool_findings(ph: &PoolHealth, now: Timestamp, th: Thresholds) -> Vec<Finding> {
    let judge = judge(ph, now, th);
    let c = counts(ph, &judge, th.late);
    let p = &ph.pool;
    let subject = format!("work-pool/{}", p.name);
    let all_late: Vec<&FlowRun> = late_runs(ph, &judge, th.late);
    let blocking = c.late > 0 || c.pending_stuck > 0;
    let waiting = waiting_note(&judge, &all_late, c.pending_stuck);
    let mut out = Vec::new();

    if p.is_paused || p.status.as_deref() == Some("PAUSED") {
        out.push(weigh(
            Finding::new(&pool::POOL_PAUSED.info, Severity::Critical, format!("Work pool '{}' is paused", p.name))
                .detail(format!("The pool hands no runs to its workers until it is resumed; {waiting}."))
                .evidence(format!(
                    "work pool '{}': is_paused={}, status {}",
                    p.name,
                    p.is_paused,
                    p.status.as_deref().unwrap_or("unknown")
                ))
                .fix(format!("Resume the pool: prefect work-pool resume {}", sh(&p.name)))
                .subject(subject.clone()),
            c.late > 0,
        ));
    }

    let pool_type = p.pool_type.as_deref().unwrap_or("unknown");
    let needs_worker =
        !(pool_type.ends_with(":push") || pool_type == "prefect:managed" || pool_type == "prefect-agent");
    if let (true, Some(workers)) = (needs_worker, ph.workers.value()) {
        if workers.is_empty() {
            out.push(weigh(
                Finding::new(
                    &worker::NONE.info,
                    Severity::Critical,
                    format!("No worker has ever polled work pool '{}'", p.name),
                )
                .detail(format!("Nothing polls the pool, so nothing in it can start; {waiting}."))
                .evidence(format!(
                    "work pool '{}': type {pool_type}, status {}, 0 workers",
                    p.name,
                    p.status.as_deref().unwrap_or("unknown")
                ))
                .fix(format!("Start a worker for the pool: prefect worker start --pool {}", sh(&p.name)))
                .subject(subject.clone()),
                blocking,
            ));
        } else if c.workers_online == 0 {
            out.push(weigh(
                Finding::new(
                    &worker::OFFLINE.info,
                    Severity::Critical,
                    match workers.len() {
                        1 => format!("The only worker of work pool '{}' is offline", p.name),
                        n => format!("All {n} workers of work pool '{}' are offline", p.name),
                    },
                )
                .detail(format!("No worker of the pool is alive, so nothing in it can start; {waiting}."))
                .evidence_all(workers.iter().take(5).map(|w| judge.describe_worker(w)))
                .fix(format!("Restart a worker for the pool: prefect worker start --pool {}", sh(&p.name)))
                .subject(subject.clone()),
                blocking,
            ));
        }
    }

    let queues: &[WorkQueue] = ph.queues.value().map(Vec::as_slice).unwrap_or_default();
    for q in queues {
        let qsubject = format!("work-queue/{}/{}", p.name, q.name);
        let late = late_in(ph, &judge, th.late, &q.name);
        if q.is_paused {
            out.push(weigh(
                Finding::new(
                    &pool::QUEUE_PAUSED.info,
                    Severity::Critical,
                    format!("Work queue '{}' of pool '{}' is paused", q.name, p.name),
                )
                .detail(format!("Workers skip the queue; {}.", waiting_note(&judge, &late, 0)))
                .evidence(format!("work queue '{}': is_paused=true", q.name))
                .fix(format!("Resume the queue: prefect work-queue resume {} --pool {}", sh(&q.name), sh(&p.name)))
                .subject(qsubject.clone()),
                !late.is_empty(),
            ));
            continue;
        }
        // A queue nobody polls only matters when runs wait in it (many pools have idle queues).
        let stale = q.last_polled.is_none_or(|t| judge.since(t) > QUEUE_POLL_STALE);
        if stale && !late.is_empty() && c.workers_online > 0 && !p.is_paused {
            let polled = q
                .last_polled
                .map(|t| format!("last polled {}", ago(judge.since(t))))
                .unwrap_or_else(|| "never polled".into());
            out.push(
                Finding::new(
                    &pool::QUEUE_NOT_POLLED.info,
                    Severity::Critical,
                    format!("No live worker polls queue '{}' of pool '{}'", q.name, p.name),
                )
                .detail(format!(
                    "{} heartbeating for the pool, but queue '{}' was {polled}; {}.",
                    count(c.workers_online, "live worker"),
                    q.name,
                    waiting_note(&judge, &late, 0)
                ))
                .evidence(format!("work queue '{}': {polled} (stale after {})", q.name, human(QUEUE_POLL_STALE)))
                .fix(format!(
                    "Start a worker that polls this queue: prefect worker start --pool {} --work-queue {}",
                    sh(&p.name),
                    sh(&q.name)
                ))
                .kind(Kind::Cause)
                .subject(qsubject.clone()),
            );
        }
        if let (Some(limit), Some(active)) = (q.concurrency_limit, q.active_slots) {
            if active >= limit && !late.is_empty() {
                out.push(
                    Finding::new(
                        &slots::QUEUE_FULL.info,
                        Severity::Critical,
                        format!(
                            "Work queue '{}' of pool '{}' is at its concurrency limit ({active}/{limit})",
                            q.name, p.name
                        ),
                    )
                    .detail(format!("All slots are taken; {}.", waiting_note(&judge, &late, 0)))
                    .fix(format!("See who holds them: unstuck work-queue slots {} --pool {}", sh(&q.name), sh(&p.name)))
                    .subject(qsubject),
                );
            }
        }
    }

    if let (Some(limit), Some(active)) = (c.slots_limit, c.slots_active) {
        if active >= limit && c.late > 0 {
            out.push(
                Finding::new(
                    &slots::POOL_FULL.info,
                    Severity::Critical,
                    format!("Work pool '{}' is at its concurrency limit ({active}/{limit})", p.name),
                )
                .detail(format!("All slots are taken; {waiting}."))
                .fix(format!("See who holds them and whether they are alive: unstuck work-pool slots {}", sh(&p.name)))
                .subject(subject.clone()),
            );
        }
    }

    let zombies: Vec<(&FlowRun, String)> =
        ph.pending.value().into_iter().flatten().filter_map(|r| judge.zombie_reason(r).map(|why| (r, why))).collect();
    if let Some((first, _)) = zombies.first() {
        let pool_full = c.slots_limit.zip(c.slots_active).is_some_and(|(l, a)| a >= l) && c.late > 0;
        let mut f = Finding::new(
            &slots::ZOMBIE_HOLDER.info,
            Severity::Critical,
            match zombies.len() {
                1 => format!("Run '{}' in pool '{}' holds a slot but looks dead", first.name, p.name),
                n => format!("{n} runs in pool '{}' hold slots but look dead", p.name),
            },
        )
        .detail("Dead runs never give their concurrency slots back by themselves.")
        .evidence_all(zombies.iter().take(10).map(|(r, why)| format!("run '{}' ({}): {why}", r.name, r.id)))
        .fix(format!("See them all: unstuck work-pool slots {}", sh(&p.name)));
        for (r, _) in zombies.iter().take(5) {
            f = f.fix(format!("Free the slot held by dead run '{}': prefect flow-run cancel {}", r.name, r.id));
        }
        out.push(weigh(f.subject(format!("flow-run/{}", first.id)), pool_full));
    }

    let chatty: Vec<String> = judge
        .online()
        .iter()
        .filter(|w| w.heartbeat_interval_seconds.is_some_and(|s| s > 0.0 && s < pollers::DEFAULT_HEARTBEAT / 3.0))
        .map(|w| {
            format!(
                "worker '{}': heartbeat every {}s (default {}s)",
                w.name,
                w.heartbeat_interval_seconds.unwrap_or_default(),
                pollers::DEFAULT_HEARTBEAT
            )
        })
        .collect();
    if !chatty.is_empty() {
        out.push(
            Finding::new(&pollers::TOO_FREQUENT.info, Severity::Warning, format!("Workers of pool '{}' poll far more often than Prefect's defaults", p.name))
                .detail("Tight heartbeat or poll loops waste the workers' resources and load the API.")
                .evidence_all(chatty)
                .fix("Restart the workers with the defaults or larger: PREFECT_WORKER_QUERY_SECONDS=10 PREFECT_WORKER_HEARTBEAT_SECONDS=30")
                .subject(subject),
        );
    }
    out
}
