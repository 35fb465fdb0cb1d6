//! `--observe`: samples a pool's queue `last_polled` times and worker heartbeats over a window, so the
//! poll rate per queue can be measured instead of guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use tokio::time::Instant;

use super::client::{ApiPath, Client};
use super::pager;
use super::types::{WorkQueue, Worker};
use crate::evidence::{Observation, Observed};

/// How often to sample. Polls closer together than this are counted once, so measured rates are
/// lower bounds for very chatty workers.
const EVERY: Duration = Duration::from_millis(500);

pub async fn observe(client: &Client, pool: &str, window: Duration) -> Observation {
    let started_at = Timestamp::now();
    let start = Instant::now();
    let end = (start + window).min(client.deadline());
    let mut queues: BTreeMap<String, BTreeSet<Timestamp>> = BTreeMap::new();
    let mut workers: BTreeMap<String, BTreeSet<Timestamp>> = BTreeMap::new();
    let mut samples = 0;
    let (qpath, wpath) = (
        ApiPath::new(["work_pools", pool, "queues", "filter"]),
        ApiPath::new(["work_pools", pool, "workers", "filter"]),
    );
    loop {
        let (q, w) = tokio::join!(
            pager::all::<WorkQueue>(client, qpath.clone(), json!({})),
            pager::all::<Worker>(client, wpath.clone(), json!({}))
        );
        if let (Ok(q), Ok(w)) = (q, w) {
            samples += 1;
            for queue in q {
                let seen = queues.entry(queue.name).or_default();
                seen.extend(queue.last_polled);
            }
            for worker in w {
                let seen = workers.entry(worker.name).or_default();
                seen.extend(worker.last_heartbeat_time);
            }
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        // The last sample is taken at the end of the window.
        tokio::time::sleep_until((now + EVERY).min(end)).await;
    }
    let into = |m: BTreeMap<String, BTreeSet<Timestamp>>| {
        m.into_iter().map(|(name, seen)| Observed { name, seen: seen.into_iter().collect() }).collect()
    };
    Observation {
        started_at,
        window_secs: start.elapsed().as_secs_f64(),
        samples,
        queues: into(queues),
        workers: into(workers),
    }
}
