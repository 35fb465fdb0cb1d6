//! Collects the fleet's health: every work pool (or the named ones) with its queues, workers and slot
//! use, the runs stuck in Pending or Late, and doctor evidence for the oldest stuck runs of each pool.
//!
//! Queues, stuck runs and late runs are read for the whole fleet at once (a few paged requests, not a
//! few per pool); workers are read per pool, with bounded concurrency. Everything stops at the
//! command's deadline: whatever was not reached is marked as not collected, and the rest is reported.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::client::{ApiError, ApiPath, Client};
use super::collect::{
    CollectError, Options, PAGE, POOL_HOLDING, paged, part, pool_data_from, run_evidence, server_info,
    server_version,
};
use super::types::{FlowRun, StateType, WorkPool, WorkQueue, Worker};
use crate::evidence::{HealthEvidence, Part, PoolHealth, RunEvidence};
use crate::redact::Redactor;

/// At most this many stuck or late runs are read for the whole fleet; beyond it counts are lower bounds.
pub const RUN_CAP: usize = 2000;

#[derive(Debug, Clone)]
pub struct HealthOptions {
    /// Pools to look at (empty: all of them).
    pub pools: Vec<String>,
    pub pending_threshold: Duration,
    pub late_threshold: Duration,
    /// Stuck runs diagnosed per pool (the oldest first).
    pub max_runs: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// Every run matching `filter` in `states`, oldest first, up to `cap`, and whether the cap was hit.
async fn runs_capped(
    client: &Client,
    mut filter: Value,
    states: &[&str],
    cap: usize,
) -> Result<(Vec<FlowRun>, bool), ApiError> {
    let mut flow_runs = filter.get("flow_runs").cloned().unwrap_or_else(|| json!({}));
    flow_runs["state"] = json!({"type": {"any_": states}});
    filter["flow_runs"] = flow_runs;
    filter["sort"] = json!("EXPECTED_START_TIME_ASC");
    let mut all = Vec::new();
    loop {
        let mut b = filter.clone();
        b["limit"] = json!(PAGE);
        b["offset"] = json!(all.len());
        let page: Vec<FlowRun> = client.post("/flow_runs/filter", &b).await?;
        let n = page.len();
        all.extend(page);
        if n < PAGE {
            return Ok((all, false));
        }
        if all.len() >= cap {
            return Ok((all, true));
        }
    }
}

/// Groups runs by pool name.
fn by_pool(runs: Vec<FlowRun>) -> BTreeMap<String, Vec<FlowRun>> {
    let mut map: BTreeMap<String, Vec<FlowRun>> = BTreeMap::new();
    for r in runs {
        if let Some(p) = r.work_pool_name.clone() {
            map.entry(p).or_default().push(r);
        }
    }
    map
}

/// The pools asked for, or every pool.
async fn pools(client: &Client, names: &[String]) -> Result<Vec<WorkPool>, CollectError> {
    if names.is_empty() {
        return Ok(paged::<WorkPool>(client, "/work_pools/filter".into(), json!({})).await?);
    }
    let found: Vec<Result<WorkPool, ApiError>> = futures_util::future::join_all(names.iter().map(|n| async move {
        client.get::<WorkPool>(ApiPath::new(["work_pools", n])).await
    }))
    .await;
    names
        .iter()
        .zip(found)
        .map(|(name, r)| match r {
            Ok(p) => Ok(p),
            Err(ApiError::NotFound { .. }) => {
                Err(CollectError::NotFound(format!("work pool '{name}' not found on {}", client.base_url())))
            }
            Err(e) => Err(e.into()),
        })
        .collect()
}

pub async fn collect_health(
    client: &Client,
    cloud: bool,
    redactor: &Redactor,
    opts: &HealthOptions,
    progress: &crate::progress::Progress,
) -> Result<HealthEvidence, CollectError> {
    progress.set("reading work pools");
    let (version, pools) = tokio::join!(server_version(client, cloud), pools(client, &opts.pools));
    let version = match version {
        Err(e) if e.is_fatal() => return Err(e.into()),
        v => v.ok().flatten(),
    };
    let mut pools = pools?;
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    let server = server_info(client, version, cloud);
    let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    let scope = if opts.pools.is_empty() { json!({}) } else { json!({"work_pools": {"name": {"any_": names}}}) };

    // Round 2: fleet-wide queues, stuck and late runs; workers and slot counts per pool.
    progress.set(&format!("reading {} pools: workers, queues, stuck and late runs", pools.len()));
    let late_before =
        (Timestamp::now() - SignedDuration::try_from(opts.late_threshold).unwrap_or_default()).to_string();
    let queues = paged::<WorkQueue>(client, "/work_queues/filter".into(), json!({}));
    let pending = runs_capped(client, scope.clone(), &["PENDING", "CANCELLING"], RUN_CAP);
    let mut late_filter = scope.clone();
    late_filter["flow_runs"] = json!({"expected_start_time": {"before_": late_before}});
    let late = runs_capped(client, late_filter, &["SCHEDULED"], RUN_CAP);
    let per_pool = stream::iter(pools.iter())
        .map(|p| async move {
            let workers = paged::<Worker>(client, ApiPath::new(["work_pools", &p.name, "workers", "filter"]), json!({}));
            // The server reports a limited pool's active slots (Prefect 3); otherwise count them.
            let count = async {
                match (p.concurrency_limit, p.active_slots) {
                    (Some(_), None) => part(
                        client
                            .post::<u64>(
                                "/flow_runs/count",
                                &json!({"work_pools": {"name": {"any_": [p.name]}}, "flow_runs": {"state": {"type": {"any_": POOL_HOLDING}}}}),
                            )
                            .await,
                    ),
                    (Some(_), Some(n)) => Part::ok(n),
                    (None, _) => Part::skipped("the pool has no concurrency limit"),
                }
            };
            let (workers, count) = tokio::join!(workers, count);
            (p.name.clone(), part(workers), count)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect::<Vec<_>>();
    let (queues, pending, late, per_pool) = tokio::join!(queues, pending, late, per_pool);

    let queues_by_pool: Result<BTreeMap<String, Vec<WorkQueue>>, String> =
        queues.map_err(|e| e.to_string()).map(|qs| {
            let mut map: BTreeMap<String, Vec<WorkQueue>> = BTreeMap::new();
            for q in qs {
                if let Some(p) = q.work_pool_name.clone() {
                    map.entry(p).or_default().push(q);
                }
            }
            map
        });
    let (pending_by_pool, pending_capped) = match pending {
        Ok((runs, capped)) => (Ok(by_pool(runs)), capped),
        Err(e) => (Err(e.to_string()), false),
    };
    let (late_by_pool, late_capped) = match late {
        Ok((runs, capped)) => (Ok(by_pool(runs)), capped),
        Err(e) => (Err(e.to_string()), false),
    };
    let mut per_pool: BTreeMap<String, (Part<Vec<Worker>>, Part<u64>)> =
        per_pool.into_iter().map(|(name, w, c)| (name, (w, c))).collect();
    let lookup = |map: &Result<BTreeMap<String, Vec<FlowRun>>, String>, name: &str| -> Part<Vec<FlowRun>> {
        match map {
            Ok(m) => Part::ok(m.get(name).cloned().unwrap_or_default()),
            Err(e) => Part::Failed { error: e.clone() },
        }
    };
    let mut fleet: Vec<PoolHealth> = pools
        .into_iter()
        .map(|pool| {
            let (workers, slot_count) =
                per_pool.remove(&pool.name).unwrap_or((Part::skipped("not reached"), Part::skipped("not reached")));
            let queues = match &queues_by_pool {
                Ok(m) => Part::ok(m.get(&pool.name).cloned().unwrap_or_default()),
                Err(e) => Part::Failed { error: e.clone() },
            };
            PoolHealth {
                pending: lookup(&pending_by_pool, &pool.name),
                pending_capped,
                late: lookup(&late_by_pool, &pool.name),
                late_capped,
                pool,
                queues,
                workers,
                slot_count,
                runs: vec![],
            }
        })
        .collect();

    // Round 3: doctor evidence for the oldest stuck runs of each pool.
    progress.set("diagnosing stuck runs");
    let now = Timestamp::now();
    let stuck: Vec<(usize, FlowRun)> = fleet
        .iter()
        .enumerate()
        .flat_map(|(i, ph)| stuck_runs(ph, now, opts).into_iter().map(move |r| (i, r)))
        .collect();
    let run_opts = Options { observe: None, pending_threshold: opts.pending_threshold };
    let hidden = crate::progress::Progress::hidden();
    let diagnosed: Vec<(usize, RunEvidence)> = stream::iter(stuck)
        .map(|(i, run)| {
            let known = pool_data_from(&fleet[i].pool, &fleet[i].queues, &fleet[i].workers);
            let server = server.clone();
            let hidden = &hidden;
            async move { (i, run_evidence(client, run, server, Some(known), run_opts, redactor, hidden).await) }
        })
        .buffer_unordered((opts.concurrency / 2).max(1))
        .collect()
        .await;
    for (i, ev) in diagnosed {
        fleet[i].runs.push(ev);
    }
    for ph in &mut fleet {
        ph.runs.sort_by_key(|r| r.flow_run.expected_start_time);
    }
    Ok(HealthEvidence { server, requested: opts.pools.clone(), pools: fleet })
}

/// The oldest runs of a pool that are stuck: Pending past the pending threshold, or Late past the
/// late threshold; at most `max_runs`.
fn stuck_runs(ph: &PoolHealth, now: Timestamp, opts: &HealthOptions) -> Vec<FlowRun> {
    let age = |r: &FlowRun| {
        r.state
            .as_ref()
            .and_then(|s| s.timestamp)
            .map(|t| Duration::try_from(now.duration_since(t)).unwrap_or_default())
    };
    let mut stuck: Vec<FlowRun> = ph
        .pending
        .value()
        .into_iter()
        .flatten()
        .filter(|r| r.state_type() == Some(&StateType::Pending) && age(r).is_some_and(|a| a > opts.pending_threshold))
        .chain(ph.late.value().into_iter().flatten())
        .cloned()
        .collect();
    stuck.sort_by_key(|r| r.expected_start_time);
    stuck.truncate(opts.max_runs);
    stuck
}
