//! Collects the fleet's health: every work pool (or the named ones) with its queues, workers and slot
//! use, the runs stuck in Pending or Late, and doctor evidence for the oldest stuck runs of each pool.
//!
//! Queues, stuck runs and late runs are read for the whole fleet at once (a few paged requests, not a
//! few per pool); workers are read per pool, with bounded concurrency. Everything stops at the
//! command's deadline: whatever was not reached is marked as not collected, and the rest is reported.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::client::{ApiError, ApiPath, Client};
use super::collect::{
    CollectError, Options, POOL_HOLDING, part, pool_data_from, run_evidence, server_info, server_version,
};
use super::pager;
use super::types::{FlowRun, WorkPool, WorkQueue, Worker};
use crate::evidence::{HealthEvidence, PoolHealth, RunEvidence, Source};
use crate::redact::Redactor;

/// At most this many pages of stuck or due runs are read for the whole fleet in one go (2000 runs at
/// Prefect's default page size); when there are more, each pool is read on its own, up to
/// `POOL_RUN_PAGES`, so no pool goes unread.
pub const RUN_PAGES: usize = 10;
/// At most this many pages of stuck or due runs are read per pool (600 runs at the default page
/// size); beyond it that pool's counts are lower bounds.
pub const POOL_RUN_PAGES: usize = 3;

#[derive(Clone)]
pub struct HealthOptions<'a> {
    /// Pools to look at (empty: all of them).
    pub pools: Vec<String>,
    /// Which runs of each pool to diagnose, and which holders need their logs read.
    pub plan: &'a dyn super::Plan,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Collects each diagnosed run's infrastructure.
    pub infra: Option<&'a dyn super::Infra>,
}

/// Every run matching `filter` in `states`, in `sort` order, up to `pages` pages, and whether that cap was hit.
async fn runs_capped(
    client: &Client,
    mut filter: Value,
    states: &[&str],
    sort: &str,
    pages: usize,
) -> Result<(Vec<FlowRun>, bool), ApiError> {
    let mut flow_runs = filter.get("flow_runs").cloned().unwrap_or_else(|| json!({}));
    flow_runs["state"] = json!({"type": {"any_": states}});
    filter["flow_runs"] = flow_runs;
    filter["sort"] = json!(sort);
    pager::capped::<FlowRun>(client, "/flow_runs/filter".into(), filter, pages).await
}

/// The stuck-run candidates of a scope: PENDING/CANCELLING runs (oldest first) and SCHEDULED runs due
/// before `now` (soonest due first; the late threshold is applied by the checks, so a replay can use
/// another one). Each list is capped at `pages` pages.
async fn candidates(
    client: &Client,
    scope: &Value,
    now: Timestamp,
    pages: usize,
) -> (Result<(Vec<FlowRun>, bool), ApiError>, Result<(Vec<FlowRun>, bool), ApiError>) {
    let mut due = scope.clone();
    due["flow_runs"] = json!({"next_scheduled_start_time": {"before_": now.to_string()}});
    // Refused a slot, a run is rescheduled ahead each time: it waits although it is never due.
    let mut refused = scope.clone();
    refused["flow_runs"] = json!({"state": {"name": {"any_": [super::types::AWAITING_SLOT]}}, "next_scheduled_start_time": {"after_": now.to_string()}});
    let (pending, due, refused) = tokio::join!(
        runs_capped(client, scope.clone(), &["PENDING", "CANCELLING"], "EXPECTED_START_TIME_ASC", pages),
        runs_capped(client, due, &["SCHEDULED"], "NEXT_SCHEDULED_START_TIME_ASC", pages),
        runs_capped(client, refused, &["SCHEDULED"], "EXPECTED_START_TIME_ASC", pages),
    );
    let due = match (due, refused) {
        (Ok((mut due, a)), Ok((refused, b))) => {
            due.extend(refused);
            Ok((due, a || b))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    (pending, due)
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
        return Ok(pager::all::<WorkPool>(client, "/work_pools/filter".into(), json!({})).await?);
    }
    let found: Vec<Result<WorkPool, ApiError>> = futures_util::future::join_all(
        names.iter().map(|n| async move { client.get::<WorkPool>(ApiPath::new(["work_pools", n])).await }),
    )
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
    opts: &HealthOptions<'_>,
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
    // "Now" on the server's clock: due times are the server's.
    let now = server.now(Timestamp::now());
    let queues = pager::all::<WorkQueue>(client, "/work_queues/filter".into(), json!({}));
    let fleet_runs = candidates(client, &scope, now, RUN_PAGES);
    let per_pool = stream::iter(pools.iter())
        .map(|p| async move {
            let workers = pager::all::<Worker>(client, ApiPath::new(["work_pools", &p.name, "workers", "filter"]), json!({}));
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
                    (Some(_), Some(n)) => Source::ok(n),
                    (None, _) => Source::skipped("the pool has no concurrency limit"),
                }
            };
            let (workers, count) = tokio::join!(workers, count);
            (p.name.clone(), part(workers), count)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect::<Vec<_>>();
    let (queues, (pending, late), per_pool) = tokio::join!(queues, fleet_runs, per_pool);

    let queues_by_pool: Result<BTreeMap<String, Vec<WorkQueue>>, crate::evidence::Failure> =
        queues.map_err(|e| e.failure()).map(|qs| {
            let mut map: BTreeMap<String, Vec<WorkQueue>> = BTreeMap::new();
            for q in qs {
                if let Some(p) = q.work_pool_name.clone() {
                    map.entry(p).or_default().push(q);
                }
            }
            map
        });
    let fleet_capped = matches!(pending, Ok((_, true))) || matches!(late, Ok((_, true)));
    let pending_by_pool = pending.map(|(runs, _)| by_pool(runs)).map_err(|e| e.failure());
    let late_by_pool = late.map(|(runs, _)| by_pool(runs)).map_err(|e| e.failure());
    let mut per_pool: BTreeMap<String, (Source<Vec<Worker>>, Source<u64>)> =
        per_pool.into_iter().map(|(name, w, c)| (name, (w, c))).collect();
    let lookup =
        |map: &Result<BTreeMap<String, Vec<FlowRun>>, crate::evidence::Failure>, name: &str| -> Source<Vec<FlowRun>> {
            match map {
                Ok(m) => Source::ok(m.get(name).cloned().unwrap_or_default()),
                Err(e) => Source::Failed(e.clone()),
            }
        };
    let mut fleet: Vec<PoolHealth> = pools
        .into_iter()
        .map(|pool| {
            let (workers, slot_count) =
                per_pool.remove(&pool.name).unwrap_or((Source::skipped("not reached"), Source::skipped("not reached")));
            let queues = match &queues_by_pool {
                Ok(m) => Source::ok(m.get(&pool.name).cloned().unwrap_or_default()),
                Err(e) => Source::Failed(e.clone()),
            };
            PoolHealth {
                pending: lookup(&pending_by_pool, &pool.name),
                pending_capped: false,
                late: lookup(&late_by_pool, &pool.name),
                late_capped: false,
                late_is_all_due: true,
                pool,
                queues,
                workers,
                slot_count,
                runs: vec![],
            }
        })
        .collect();

    // The fleet had more candidates than one read holds: read each pool on its own, with its own budget.
    if fleet_capped {
        progress.set("reading stuck and late runs pool by pool");
        let per_pool: Vec<_> = stream::iter(fleet.iter().map(|ph| ph.pool.name.clone()))
            .map(|name| async move {
                let scope = json!({"work_pools": {"name": {"any_": [name]}}});
                (name, candidates(client, &scope, now, POOL_RUN_PAGES).await)
            })
            .buffer_unordered(opts.concurrency.max(1))
            .collect()
            .await;
        for (name, (pending, late)) in per_pool {
            let Some(ph) = fleet.iter_mut().find(|p| p.pool.name == name) else { continue };
            (ph.pending, ph.pending_capped) = match pending {
                Ok((runs, capped)) => (Source::ok(runs), capped),
                Err(e) => (Source::Failed(e.failure()), false),
            };
            (ph.late, ph.late_capped) = match late {
                Ok((runs, capped)) => (Source::ok(runs), capped),
                Err(e) => (Source::Failed(e.failure()), false),
            };
        }
    }

    // Round 3: doctor evidence for the oldest stuck runs of each pool (which ones: a pure plan).
    progress.set("diagnosing stuck runs");
    let stuck: Vec<(usize, FlowRun)> = fleet
        .iter()
        .enumerate()
        .flat_map(|(i, ph)| opts.plan.stuck_runs(now, ph).into_iter().map(move |r| (i, r)))
        .collect();
    let run_opts = Options { observe: None, plan: opts.plan, infra: opts.infra };
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
        ph.runs.sort_by_key(|r| r.flow_run.due_at());
    }
    Ok(HealthEvidence { server, requested: opts.pools.clone(), pools: fleet })
}
