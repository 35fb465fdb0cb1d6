//! How the pool's workers poll: several racing for one run, or polling far too often; and whether our
//! clock agrees with the server's. (`pollers.duplicate`, `poll.too-frequent`, `clock.skew`)

use std::time::Duration;

use super::claims::ClaimSource;
use super::{Backend, Check, CheckInfo, Ctx, Finding, Item, Kind, Severity, sh};
use crate::fmt::{count, human};

/// Prefect's defaults: a heartbeat every 30 s, a poll every 10 s.
pub const DEFAULT_HEARTBEAT: f64 = 30.0;
pub const DEFAULT_POLL: f64 = 10.0;
/// "Far below the default": a third of it.
const TOO_FREQUENT_HEARTBEAT: f64 = DEFAULT_HEARTBEAT / 3.0;
const TOO_FREQUENT_POLL: f64 = DEFAULT_POLL / 5.0;
/// PREFECT_AGENT_QUERY_INTERVAL's default, and the rate below which an agent pool's queue is over-polled.
const AGENT_DEFAULT_POLL: f64 = 15.0;
const AGENT_TOO_FREQUENT_POLL: f64 = 5.0;
/// A gap between two polls of one queue this much shorter than the median gap cannot come from one
/// poller: Prefect's service loops (worker polls, `prefect agent start`) draw each interval within
/// ±30 % of the configured one (0.7 / 1.3 ≈ 0.54), and slow work only lengthens a gap.
const SHORT_GAP: f64 = 0.55;
/// Gaps needed before the pattern is judged at all, and the share of them that must be short.
const PATTERN_MIN_GAPS: usize = 5;
const PATTERN_MIN_SHORT: usize = 2;
/// Beyond this, the two clocks disagree enough to matter.
pub const CLOCK_SKEW_LIMIT: Duration = Duration::from_secs(30);

fn aborted_lines(ctx: &Ctx<'_>) -> Vec<String> {
    ctx.ev
        .logs
        .value()
        .map(|logs| {
            logs.iter()
                .filter(|l| {
                    l.message.starts_with("Aborted submission of flow run")
                        || l.message.contains("Duplicate submission")
                })
                .map(super::logs::quote)
                .collect()
        })
        .unwrap_or_default()
}

pub const DUPLICATE: Check = Check {
    info: CheckInfo {
        id: "pollers.duplicate",
        title: "several workers race for the same runs",
        kind: Kind::Risk,
        item: Item::DuplicatePollers,
        backend: Backend::Logs,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: looks in the run's logs for the proof of a race: two workers logging that they were
submitting the same run, or a worker's \"Aborted submission of flow run ... cannot transition to a
PENDING state\". With --observe, the run's queue's poll times: gaps far shorter than one poller's
jittered interval allows mean a second poller (the only trace Prefect 2 agents leave). Without either, a
stuck run in a pool where several live workers poll is reported as a risk. (Prefect does not record
which queues a worker polls, and replicas that share a --name collapse into one worker record, so the
logs and the poll times are the only evidence.)

Why it matters: Prefect's own playbook for stuck Pending runs lists \"more than one agent polling the same
work queue\". Losing a race can leave a worker's local --limit token leaked (\"Flow run limit reached\"
with nothing running, PrefectHQ/prefect#17628), and a submission that timed out and was retried aborts
itself and leaves the run Pending (#10263).",
        remediation: &[
            "Run one worker per queue, or give replicas distinct names and a sane poll interval",
            "Restart workers that log \"Flow run limit reached\" with nothing running",
        ],
    },
    run: duplicate,
};

/// What one queue's observed polls say about how many poll it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPattern {
    /// Seconds between consecutive distinct polls.
    pub gaps: Vec<f64>,
    pub median: f64,
    /// Gaps shorter than `SHORT_GAP` × the median.
    pub short: usize,
}

/// Whether the distinct poll times of one queue show more than one poller: at least two gaps (and a
/// tenth of them) shorter than one poller's jitter allows. Polls of several pollers that land within
/// one sample of each other are seen as one, so this can miss a duplicate; it does not invent one
/// from a single poller, however slow its work.
pub fn several_pollers(seen: &[jiff::Timestamp]) -> Option<PollPattern> {
    let mut times = seen.to_vec();
    times.sort();
    times.dedup();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1].duration_since(w[0]).as_secs_f64()).collect();
    if gaps.len() < PATTERN_MIN_GAPS {
        return None;
    }
    let mut sorted = gaps.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 0 { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] };
    let short = gaps.iter().filter(|g| **g < SHORT_GAP * median).count();
    (median > 0.0 && short >= PATTERN_MIN_SHORT && short * 10 >= gaps.len()).then_some(PollPattern {
        gaps,
        median,
        short,
    })
}

/// `pollers.duplicate` from the run's queue's observed polls (`--observe`).
fn observed_duplicate(ctx: &Ctx<'_>) -> Option<Finding> {
    let obs = ctx.ev.observation.as_ref()?;
    let queue = ctx.queue_name()?;
    let polls = obs.queues.iter().find(|q| q.name == queue)?;
    let p = several_pollers(&polls.seen)?;
    let agents = ctx.is_agent_pool();
    let who = if agents { "agent" } else { "poller" };
    let mut times = polls.seen.clone();
    times.sort();
    times.dedup();
    let shown: Vec<String> = times.iter().take(12).map(|t| t.strftime("%H:%M:%S%.3f").to_string()).collect();
    let gaps: Vec<String> = p.gaps.iter().take(11).map(|g| format!("{g:.1}s")).collect();
    let more = if times.len() > shown.len() { ", …" } else { "" };
    let mut f = Finding::new(
        &DUPLICATE.info,
        Severity::Warning,
        format!("More than one {who} appears to poll queue '{queue}'"),
    )
    .detail(format!(
        "During the {:.0}s observation, {} of the {} gaps between polls of queue '{queue}' were shorter than \
         {:.0}% of the median gap ({:.1}s). One {who} waits its interval ±30% between polls, so gaps this short \
         mean another {who} polls the same queue{}. Prefect's playbook for stuck Pending runs lists \"more than \
         one agent polling the same work queue\": they race for its runs.",
        obs.window_secs,
        p.short,
        p.gaps.len(),
        SHORT_GAP * 100.0,
        p.median,
        if agents { " (agents leave no worker rows: the queue's last_polled is the only trace)" } else { "" },
    ))
    .evidence(format!("queue '{queue}' polled at {}{more} (UTC)", shown.join(", ")))
    .evidence(format!("gaps: {}{more}", gaps.join(", ")));
    f = if agents {
        f.fix(format!(
            "Keep one agent per queue: stop the extra ones (ps -ef | grep 'prefect agent start'), then prefect agent \
             start --pool {} --work-queue {}",
            sh(ctx.pool_name().unwrap_or("<pool>")),
            sh(queue)
        ))
    } else {
        f.fix("Run one worker per queue, or make replicas distinct (--name) and not poll in lock-step")
    };
    if let Some(s) = ctx.queue_subject() {
        f = f.subject(s);
    }
    Some(f)
}

fn duplicate(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !ctx.phase().awaiting_start() {
        return vec![];
    }
    let submitters: Vec<String> =
        ctx.claims().into_iter().filter(|c| c.source == ClaimSource::Log).map(|c| c.worker).collect();
    let aborted = aborted_lines(ctx);
    let online = ctx.online_workers();
    let pool = ctx.pool_name().unwrap_or("?");
    if submitters.len() >= 2 || !aborted.is_empty() {
        let mut f = Finding::new(
            &DUPLICATE.info,
            Severity::Error,
            match submitters.len() {
                n if n >= 2 => format!("{n} workers raced to submit this run"),
                _ => "A worker's submission of this run was aborted: another submission won the race".to_string(),
            },
        )
        .detail(format!(
            "The run's logs prove a race: {}. Racing workers abort each other's submissions, can leak their \
             local --limit slots, and a submission that timed out and was retried can leave the run Pending.",
            if submitters.len() >= 2 {
                format!(
                    "workers {} all logged that they were submitting it",
                    submitters.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(", ")
                )
            } else {
                "a submission was aborted because the run was already Pending".to_string()
            }
        ))
        .kind(Kind::Cause)
        .evidence_all(submitters.iter().map(|w| format!("worker '{w}' logged \"submitting flow run\"")))
        .evidence_all(aborted)
        .evidence(format!("{} online in pool '{pool}'", count(online.len(), "worker")))
        .fix("Run one worker per queue, or make replicas distinct (--name) and not poll in lock-step")
        .fix("Restart workers that log \"Flow run limit reached\" while running nothing");
        if let Some(s) = ctx.queue_subject() {
            f = f.subject(s);
        }
        return vec![f];
    }
    if let Some(f) = observed_duplicate(ctx) {
        return vec![f.evidence(format!("{} online in pool '{pool}'", count(online.len(), "worker")))];
    }
    if online.len() >= 2 && ctx.is_stuck() {
        let mut f = Finding::new(
            &DUPLICATE.info,
            Severity::Warning,
            format!("{} live workers poll work pool '{pool}'", online.len()),
        )
        .detail(
            "Several live workers poll the run's pool. Prefect's playbook lists duplicate pollers on one queue among \
             the causes of stuck Pending runs; nothing in this run's logs shows a race, so this is only a risk.",
        )
        .evidence_all(online.iter().take(5).map(|w| ctx.describe_worker(w)))
        .fix(
            "If several of them poll the same queue, run one worker per queue (prefect worker start --work-queue ...)",
        );
        if let Some(s) = ctx.pool_subject() {
            f = f.subject(s);
        }
        return vec![f];
    }
    vec![]
}

pub const TOO_FREQUENT: Check = Check {
    info: CheckInfo {
        id: "poll.too-frequent",
        title: "workers poll or heartbeat far more often than Prefect's defaults",
        kind: Kind::Risk,
        item: Item::PollFrequency,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: reads each live worker's heartbeat interval (PREFECT_WORKER_HEARTBEAT_SECONDS, default 30 s)
and, with --observe, measures how often each queue is actually polled (PREFECT_WORKER_QUERY_SECONDS,
default 10 s). Far below the defaults (heartbeat under 10 s, polls more often than every 2 s) is reported.

Why it matters: Prefect's support playbook: \"agent is polling too frequently, consuming lots of
resources and not having enough resources to deploy runs to infrastructure\". Tight loops also load the
API (and on Prefect Cloud, count against rate limits), which slows every worker's submissions.",
        remediation: &[
            "Use the defaults or larger: PREFECT_WORKER_QUERY_SECONDS=10 PREFECT_WORKER_HEARTBEAT_SECONDS=30",
            "Persist them in the worker's profile: prefect config set PREFECT_WORKER_QUERY_SECONDS=15",
        ],
    },
    run: too_frequent,
};

/// Mean seconds between distinct polls seen for each queue during `--observe`.
pub fn observed_poll_intervals(ctx: &Ctx<'_>) -> Vec<(String, usize, Option<f64>)> {
    let Some(obs) = &ctx.ev.observation else { return vec![] };
    obs.queues
        .iter()
        .map(|q| {
            let n = q.seen.len();
            let mean = (n >= 2).then(|| {
                let (first, last) = (q.seen[0], q.seen[n - 1]);
                last.duration_since(first).as_secs_f64() / (n - 1) as f64
            });
            (q.name.clone(), n, mean)
        })
        .collect()
}

fn too_frequent(ctx: &Ctx<'_>) -> Vec<Finding> {
    if !ctx.phase().awaiting_start() {
        return vec![];
    }
    let chatty: Vec<String> = ctx
        .online_workers()
        .iter()
        .filter(|w| w.heartbeat_interval_seconds.is_some_and(|s| s > 0.0 && s < TOO_FREQUENT_HEARTBEAT))
        .map(|w| {
            format!(
                "worker '{}': heartbeat every {}s (default {DEFAULT_HEARTBEAT}s)",
                w.name,
                w.heartbeat_interval_seconds.unwrap_or_default()
            )
        })
        .collect();
    let window = ctx.ev.observation.as_ref().map(|o| o.window_secs).unwrap_or_default();
    // Agents poll every 15 s by default; below 5 s one agent is in a tight loop or several poll.
    let (limit, default) = if ctx.is_agent_pool() {
        (AGENT_TOO_FREQUENT_POLL, AGENT_DEFAULT_POLL)
    } else {
        (TOO_FREQUENT_POLL, DEFAULT_POLL)
    };
    let fast_queues: Vec<String> = observed_poll_intervals(ctx)
        .into_iter()
        .filter(|(_, _, mean)| mean.is_some_and(|m| m < limit))
        .map(|(q, n, mean)| {
            format!(
                "queue '{q}': polled {n} times in {window:.0}s, every {:.1}s on average (default {default}s)",
                mean.unwrap_or_default()
            )
        })
        .collect();
    if chatty.is_empty() && fast_queues.is_empty() {
        return vec![];
    }
    let pool = ctx.pool_name().unwrap_or("?");
    let agents = ctx.is_agent_pool();
    let mut f = Finding::new(
        &TOO_FREQUENT.info,
        Severity::Warning,
        if agents {
            format!("The agents of pool '{pool}' poll far more often than Prefect's default")
        } else {
            format!("Workers of pool '{pool}' poll far more often than Prefect's defaults")
        },
    )
    .detail(if agents {
        "An agent polls every PREFECT_AGENT_QUERY_INTERVAL (15 s by default); a queue polled every few seconds has \
         an agent with a tight loop, or several agents polling it (Prefect's playbook: \"the agent is polling too \
         frequently\", \"more than one agent polling the same work queue\"). Either loads the API and the agents."
    } else {
        "Tight heartbeat or poll loops waste the workers' resources and load the API, which slows submissions."
    })
    .evidence_all(chatty)
    .evidence_all(fast_queues);
    f = if agents {
        f.fix("Restart the agents with the default interval or larger: PREFECT_AGENT_QUERY_INTERVAL=15")
            .fix("Run one agent per queue: stop the extra `prefect agent start` processes for this queue")
    } else {
        f.fix("Restart the workers with the defaults or larger: PREFECT_WORKER_QUERY_SECONDS=10 PREFECT_WORKER_HEARTBEAT_SECONDS=30")
    };
    f = f.fix(format!("Measure the poll rate over a window: unstuck doctor {} --observe 30s", ctx.run().id));
    if let Some(s) = ctx.pool_subject() {
        f = f.subject(s);
    }
    vec![f]
}

pub const CLOCK_SKEW: Check = Check {
    info: CheckInfo {
        id: "clock.skew",
        title: "this machine's clock and the Prefect server's disagree",
        kind: Kind::Risk,
        item: Item::Api,
        backend: Backend::Prefect,
        symptom: false,
        unexplained: "",
        explanation: "\
What it does: compares the server's clock (the Date header of its answers) with this machine's.

Why it matters: beyond 30 s, ages computed on one clock from timestamps written on the other are wrong:
heartbeats look stale or fresh, runs look late or early. unstuck judges ages on the server's clock when the
two disagree, but workers and the engine do not: a host with a skewed clock makes the server answer
\"Scheduled time is in the future\" and delay runs (PrefectHQ/prefect#7424).",
        remediation: &["Synchronise the clocks (NTP): timedatectl status"],
    },
    run: clock_skew,
};

fn clock_skew(ctx: &Ctx<'_>) -> Vec<Finding> {
    let Some(c) = ctx.ev.server.clock else { return vec![] };
    let skew = c.server.duration_since(c.local);
    let abs = skew.unsigned_abs();
    if abs <= CLOCK_SKEW_LIMIT {
        return vec![];
    }
    let direction = if skew.is_negative() { "behind" } else { "ahead of" };
    vec![
        Finding::new(
            &CLOCK_SKEW.info,
            Severity::Warning,
            format!("The Prefect server's clock is {} {direction} this machine's", human(abs)),
        )
        .detail(
            "The clocks disagree by more than 30 s. unstuck judged ages on the server's clock; workers and flow \
             engines on hosts with a skewed clock get runs delayed (\"Scheduled time is in the future\").",
        )
        .evidence(format!("server Date header {}; local clock {}", c.server, c.local))
        .fix("Synchronise the clocks with NTP on this machine, the server and the workers: timedatectl status")
        .subject(format!("server/{}", sh(&ctx.ev.server.api_url))),
    ]
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;

    use crate::checks::Kind;
    use crate::checks::testkit::*;
    use crate::evidence::{ClockReading, Observation, Observed, Source};
    use crate::prefect::types::LogLine;

    fn log(msg: &str) -> LogLine {
        LogLine {
            name: Some("prefect.flow_runs.worker".into()),
            level: 20,
            message: msg.into(),
            timestamp: Some(ago(60)),
        }
    }

    /// Two workers logged "submitting" and one aborted: a proven race, a cause.
    #[test]
    fn proven_race_is_a_cause() {
        let ev = Scenario::pending(600)
            .evidence(|ev| {
                let id = ev.flow_run.id.clone();
                ev.logs = Source::ok(vec![
                    log(&format!("Worker 'a' submitting flow run '{id}'")),
                    log(&format!("Worker 'b' submitting flow run '{id}'")),
                    log(&format!("Aborted submission of flow run '{id}'. Server sent an abort signal: This run is in a PENDING state and cannot transition to a PENDING state.")),
                ]);
            })
            .workers(vec![worker("a", 2, 30.0, "ONLINE"), worker("b", 2, 30.0, "ONLINE")])
            .build();
        let f = findings(&ev, "pollers.duplicate");
        assert_eq!(f[0].kind, Kind::Cause);
        assert_eq!(f[0].title, "2 workers raced to submit this run");
        assert!(f[0].evidence.iter().any(|e| e.contains("cannot transition to a PENDING state")));
    }

    /// Several live workers and a stuck run, but no race in the logs: a risk only.
    #[test]
    fn several_workers_without_proof_is_a_risk() {
        let ev =
            Scenario::late(900).workers(vec![worker("a", 2, 30.0, "ONLINE"), worker("b", 2, 30.0, "ONLINE")]).build();
        let f = findings(&ev, "pollers.duplicate");
        assert_eq!(f[0].kind, Kind::Risk);
        // Not stuck: nothing to say.
        let ev =
            Scenario::late(60).workers(vec![worker("a", 2, 30.0, "ONLINE"), worker("b", 2, 30.0, "ONLINE")]).build();
        assert!(findings(&ev, "pollers.duplicate").is_empty());
    }

    /// A 2 s heartbeat and a queue polled every 0.5 s are far below the defaults.
    #[test]
    fn too_frequent() {
        let ev = Scenario::late(900)
            .workers(vec![worker("fast", 1, 2.0, "ONLINE")])
            .evidence(|ev| {
                ev.observation = Some(Observation {
                    started_at: ago(10),
                    window_secs: 10.0,
                    samples: 20,
                    queues: vec![Observed {
                        name: "default".into(),
                        seen: (0..20).map(|i| ago(10) + SignedDuration::from_millis(500 * i)).collect(),
                    }],
                    workers: vec![],
                })
            })
            .build();
        let f = findings(&ev, "poll.too-frequent");
        assert!(f[0].evidence[0].contains("heartbeat every 2s"), "{:?}", f[0].evidence);
        assert!(f[0].evidence[1].contains("every 0.5s on average"), "{:?}", f[0].evidence);
        assert!(findings(&Scenario::late(900).build(), "poll.too-frequent").is_empty());
    }

    /// Poll times `start + offsets` (seconds).
    fn polls(offsets: &[f64]) -> Vec<jiff::Timestamp> {
        offsets.iter().map(|s| ago(120) + SignedDuration::from_secs_f64(*s)).collect()
    }

    /// One poller at interval `every`, each gap drawn (a fixed pseudo-random sequence per `seed`) the
    /// way Prefect's `clamped_poisson_interval` draws it: between 0.75 and 1.3 times the interval,
    /// plus `slow` seconds of work after every third poll.
    fn one_poller(every: f64, n: usize, slow: f64, seed: u64) -> Vec<f64> {
        let mut t = 0.0;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (0..n)
            .map(|i| {
                let at = t;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let jitter = (x % 550) as f64 / 1000.0;
                t += every * (0.75 + jitter) + if i % 3 == 2 { slow } else { 0.0 };
                at
            })
            .collect()
    }

    /// One poller never looks like several, however its interval jitters or its work drags; two
    /// interleaved pollers do, once there are enough gaps to judge. (Two pollers half an interval
    /// apart look like one polling twice as often; their jitter moves them out of it over a longer
    /// observation.)
    #[test]
    fn poll_pattern() {
        for every in [1.0, 2.0, 10.0, 15.0] {
            for slow in [0.0, 5.0, 40.0] {
                let single = polls(&one_poller(every, 40, slow, 1));
                assert_eq!(super::several_pollers(&single), None, "every {every}s, slow {slow}s");
            }
        }
        let mut two = one_poller(2.0, 20, 0.0, 1);
        two.extend(one_poller(2.0, 20, 0.0, 2).iter().map(|t| t + 0.4));
        let p = super::several_pollers(&polls(&two)).expect("two pollers");
        assert!(p.short >= 2 && p.median > 0.0, "{p:?}");
        // Repeated samples of one poll count once; too few gaps judge nothing.
        let repeated = polls(&[0.0, 0.0, 0.3, 0.3, 2.0, 2.4, 4.0]);
        assert_eq!(super::several_pollers(&repeated), None);
        assert_eq!(super::several_pollers(&polls(&[0.0, 0.2, 2.0, 2.2])), None);
    }

    /// On an agent pool, the observed pattern of two agents on the run's queue is a risk with the poll
    /// times as evidence and the agent wording; without an observation nothing is said.
    #[test]
    fn observed_duplicate_agents() {
        let mut two = one_poller(3.0, 12, 0.0, 3);
        two.extend(one_poller(3.0, 12, 0.0, 4).iter().map(|t| t + 0.5));
        let seen = polls(&two);
        let ev = Scenario::late(900)
            .pool_type("prefect-agent")
            .workers(vec![])
            .evidence(|ev| {
                ev.observation = Some(Observation {
                    started_at: ago(120),
                    window_secs: 36.0,
                    samples: 72,
                    queues: vec![Observed { name: "default".into(), seen }],
                    workers: vec![],
                })
            })
            .build();
        let f = findings(&ev, "pollers.duplicate");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, Kind::Risk);
        assert_eq!(f[0].title, "More than one agent appears to poll queue 'default'");
        assert!(f[0].evidence[0].starts_with("queue 'default' polled at "), "{:?}", f[0].evidence);
        assert!(f[0].evidence[1].starts_with("gaps: 0.5s, "), "{:?}", f[0].evidence);
        assert!(f[0].remediation[0].contains("prefect agent start --pool"), "{:?}", f[0].remediation);
        assert!(
            findings(&Scenario::late(900).pool_type("prefect-agent").workers(vec![]).build(), "pollers.duplicate")
                .is_empty()
        );
    }

    /// A server 2 minutes ahead is a clock skew; 10 s is not.
    #[test]
    fn clock_skew() {
        let skewed = |secs| {
            Scenario::late(900)
                .evidence(|ev| {
                    ev.server.clock =
                        Some(ClockReading { server: now() + SignedDuration::from_secs(secs), local: now() })
                })
                .build()
        };
        let f = findings(&skewed(120), "clock.skew");
        assert_eq!(f[0].title, "The Prefect server's clock is 2m ahead of this machine's");
        assert!(findings(&skewed(10), "clock.skew").is_empty());
    }
}
