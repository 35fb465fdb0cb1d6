//! Who holds the concurrency slots of a work pool, a work queue or a deployment.
//!
//! Prefect 3 servers report holders with `concurrency_status` (pages of up to 200 queues, up to 200
//! runs per queue). Its runs are paged by offset in id order, so runs that take or leave a slot between
//! two pages shift the rows and a later page skips or repeats holders: the holders of a queue with more
//! than one page are read instead with the flow-run filter pager, whose pages overlap (see `pager`).
//! Servers without it (Prefect 2, older 3.x; a 404/405) get the same answer from flow-run filters:
//! PENDING+RUNNING in the pool's queues, PENDING+RUNNING+CANCELLING for a queue or a deployment. Either
//! way every holder is listed, once.
//!
//! The summaries `concurrency_status` returns lack labels and infrastructure pids; those are read for
//! every holder when there are at most `DETAIL_CAP`, and otherwise only for the holders that could be
//! dead (Pending past the threshold, and the oldest Running ones while a worker of the pool is not alive,
//! as many as get their logs read).

use std::collections::{BTreeSet, HashMap, HashSet};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{ApiError, ApiPath, Client};
use super::collect::{CollectError, PAGE, POOL_HOLDING, QUEUE_HOLDING, holder_logs, part, server_info, server_version};
use super::pager;
use super::types::{Deployment, Flow, FlowRun, State, StateType, WorkPool, WorkQueue, Worker, opt_ts};
use crate::evidence::{Holders, SlotScope, SlotsEvidence, Source, Waiting};
use crate::redact::Redactor;

/// Concurrent page or batch requests.
const FAN_OUT: usize = 4;
/// Waiting runs read in full before counting the rest.
const FEW: usize = 20;

/// What the user asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pool(String),
    Queue { name: String, pool: Option<String> },
    Deployment(DeploymentRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentRef {
    Id(uuid::Uuid),
    Name { flow: String, deployment: String },
}

/// `<FLOW>/<DEPLOYMENT>` or a deployment id.
pub fn parse_deployment_ref(arg: &str) -> Result<DeploymentRef, String> {
    let s = arg.trim();
    if let Ok(id) = uuid::Uuid::parse_str(s) {
        return Ok(DeploymentRef::Id(id));
    }
    match s.split_once('/') {
        Some((flow, dep)) if !flow.is_empty() && !dep.is_empty() && !dep.contains('/') => {
            Ok(DeploymentRef::Name { flow: flow.to_string(), deployment: dep.to_string() })
        }
        _ => Err(format!("'{s}' is neither <FLOW>/<DEPLOYMENT> (e.g. etl/nightly) nor a deployment id (a UUID)")),
    }
}

/// One run in a `concurrency_status` answer.
#[derive(Debug, Deserialize)]
struct SlotSummary {
    id: String,
    name: String,
    state_type: StateType,
    #[serde(default)]
    state_name: Option<String>,
    #[serde(default, deserialize_with = "opt_ts")]
    state_timestamp: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_ts")]
    start_time: Option<Timestamp>,
}

#[derive(Debug, Deserialize)]
struct QueueStatus {
    queue_id: String,
    queue_name: String,
    #[serde(default)]
    flow_runs: Vec<SlotSummary>,
    #[serde(default)]
    flow_run_count: usize,
}

#[derive(Debug, Deserialize)]
struct PoolStatusPage {
    #[serde(default)]
    queues: Vec<QueueStatus>,
    #[serde(default)]
    pages: usize,
}

#[derive(Debug, Deserialize)]
struct QueueStatusPage {
    #[serde(default)]
    flow_runs: Vec<SlotSummary>,
    #[serde(default)]
    pages: usize,
}

impl SlotSummary {
    /// A holder as a flow run (state, names, queue and pool) without the details.
    fn into_run(self, queue: &str, pool: Option<&str>) -> FlowRun {
        let state = State {
            id: None,
            state_type: self.state_type.clone(),
            name: self.state_name.clone(),
            timestamp: self.state_timestamp,
            message: None,
            state_details: Default::default(),
        };
        FlowRun {
            id: self.id,
            name: self.name,
            flow_id: None,
            deployment_id: None,
            work_queue_id: None,
            work_queue_name: Some(queue.to_string()),
            work_pool_name: pool.map(str::to_string),
            state_type: Some(self.state_type),
            state_name: self.state_name,
            state: Some(state),
            created: None,
            expected_start_time: None,
            next_scheduled_start_time: None,
            start_time: self.start_time,
            end_time: None,
            infrastructure_pid: None,
            run_count: 0,
            tags: vec![],
            labels: Default::default(),
            job_variables: None,
        }
    }
}

/// The server has no such route (older servers): fall back to flow-run filters.
fn route_absent(e: &ApiError) -> bool {
    matches!(e, ApiError::NotFound { .. } | ApiError::Status { status: 405 | 422, .. })
}

/// Every page of a paged POST, the first alone (it says how many there are), the rest concurrently.
async fn all_pages<T: serde::de::DeserializeOwned>(
    client: &Client,
    path: ApiPath,
    body: Value,
    pages_of: impl Fn(&T) -> usize,
) -> Result<Vec<T>, ApiError> {
    let mut first_body = body.clone();
    first_body["page"] = json!(1);
    let first: T = client.post(path.clone(), &first_body).await?;
    let pages = pages_of(&first);
    let rest: Vec<T> = stream::iter(2..=pages.max(1))
        .map(|page| {
            let mut b = body.clone();
            b["page"] = json!(page);
            let path = path.clone();
            async move { client.post::<T>(path, &b).await }
        })
        .buffered(FAN_OUT)
        .try_collect()
        .await?;
    Ok(std::iter::once(first).chain(rest).collect())
}

/// Holders as `concurrency_status` summarises them, and in full the holders of queues with more than
/// one page of them (read by flow-run filter).
struct StatusRuns {
    summaries: Vec<FlowRun>,
    full: Vec<FlowRun>,
}

/// A queue's holders from `/work_queues/{id}/concurrency_status` when they fit in one page; else every
/// run matching `filter` in `holding` states.
async fn queue_status_runs(
    client: &Client,
    (queue_id, queue, pool): (&str, &str, Option<&str>),
    filter: Value,
    holding: &[&str],
) -> Result<StatusRuns, ApiError> {
    let first: QueueStatusPage = client
        .post(ApiPath::new(["work_queues", queue_id, "concurrency_status"]), &json!({"limit": PAGE, "page": 1}))
        .await?;
    if first.pages > 1 {
        return Ok(StatusRuns { summaries: vec![], full: all_runs(client, filter, holding).await? });
    }
    Ok(StatusRuns { summaries: first.flow_runs.into_iter().map(|s| s.into_run(queue, pool)).collect(), full: vec![] })
}

/// A pool's holders from `/work_pools/{name}/concurrency_status`, every page of queues; the holders of
/// queues with more than it lists (200) by flow-run filter.
async fn pool_status_runs(client: &Client, pool: &str) -> Result<StatusRuns, ApiError> {
    let pages: Vec<PoolStatusPage> = all_pages(
        client,
        ApiPath::new(["work_pools", pool, "concurrency_status"]),
        json!({"limit": PAGE, "flow_run_limit": PAGE}),
        |p: &PoolStatusPage| p.pages,
    )
    .await?;
    let (complete, truncated): (Vec<QueueStatus>, Vec<QueueStatus>) =
        pages.into_iter().flat_map(|p| p.queues).partition(|q| q.flow_runs.len() >= q.flow_run_count);
    let summaries: Vec<FlowRun> = complete
        .into_iter()
        .flat_map(|q| {
            let name = q.queue_name;
            q.flow_runs.into_iter().map(move |s| s.into_run(&name, Some(pool))).collect::<Vec<_>>()
        })
        .collect();
    let full = if truncated.is_empty() {
        vec![]
    } else {
        let ids: Vec<&str> = truncated.iter().map(|q| q.queue_id.as_str()).collect();
        let filter = json!({"work_pools": {"name": {"any_": [pool]}}, "work_pool_queues": {"id": {"any_": ids}}});
        all_runs(client, filter, POOL_HOLDING).await?
    };
    Ok(StatusRuns { summaries, full })
}

/// Every run matching `filter` in `states`, each once (paged on a unique key, see `pager`).
pub async fn all_runs(client: &Client, mut filter: Value, states: &[&str]) -> Result<Vec<FlowRun>, ApiError> {
    filter["flow_runs"] = json!({"state": {"type": {"any_": states}}});
    filter["sort"] = json!("ID_DESC");
    pager::all::<FlowRun>(client, "/flow_runs/filter".into(), filter).await
}

/// Full flow runs for `ids`, a page of ids per request (at the server's page size).
async fn runs_by_id(client: &Client, ids: &[String]) -> Result<Vec<FlowRun>, ApiError> {
    let batches: Vec<Vec<FlowRun>> = stream::iter(ids.chunks(PAGE))
        .map(|chunk| async move {
            let body = json!({"flow_runs": {"id": {"any_": chunk}}, "sort": "ID_DESC"});
            pager::all::<FlowRun>(client, "/flow_runs/filter".into(), body).await
        })
        .buffered(FAN_OUT)
        .try_collect()
        .await?;
    Ok(batches.into_iter().flatten().collect())
}

/// Replaces summaries by full runs where they are needed (all of them up to the cap); drops holders
/// that left a slot-holding state meanwhile. The runs named in `full` were read in full already.
async fn add_details(
    client: &Client,
    mut runs: Vec<FlowRun>,
    full: &HashSet<String>,
    wanted: &[String],
    holding: &[&str],
) -> Result<(Vec<FlowRun>, BTreeSet<String>), ApiError> {
    let mut detailed: HashMap<String, FlowRun> =
        runs_by_id(client, wanted).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
    let mut summaries_only = BTreeSet::new();
    // A detailed run may have left the slot since its summary was read.
    runs.retain_mut(|slot| {
        let summary = match detailed.remove(&slot.id) {
            Some(d) => {
                *slot = d;
                false
            }
            None => !full.contains(&slot.id),
        };
        let holds = slot.state_type().is_some_and(|t| holding.contains(&t.as_str()));
        if holds && summary {
            summaries_only.insert(slot.id.clone());
        }
        holds
    });
    Ok((runs, summaries_only))
}

/// Runs due and not started in the scope: how many, and when the oldest was due. One request reads
/// them when there are few; only when there are more do the count and the oldest refused run need two more.
async fn waiting(client: &Client, filter: Value, now: Timestamp) -> Result<Waiting, ApiError> {
    // Due is `next_scheduled_start_time`: `expected_start_time` is set once, so a run waiting out a
    // retry delay or rescheduled would count as waiting long before it is due.
    // A run refused a slot is rescheduled ahead at each refusal: it waits although it is not due.
    let now = now.to_string();
    let with = |runs: Value| {
        let mut f = filter.clone();
        f["flow_runs"] = runs;
        f
    };
    // Both in one filter: Prefect keeps `next_scheduled_start_time` on Scheduled runs only (it unsets
    // it when a run leaves Scheduled), and a run refused a slot is Scheduled.
    let either = with(json!({
        "operator": "or_",
        "next_scheduled_start_time": {"before_": now},
        "state": {"name": {"any_": [super::types::AWAITING_SLOT]}},
    }));
    let few = |filter: &Value, sort: &str| {
        let mut page = filter.clone();
        page["sort"] = json!(sort);
        page["limit"] = json!(FEW);
        async move { client.post::<Vec<FlowRun>>("/flow_runs/filter", &page).await }
    };
    let first = few(&either, "NEXT_SCHEDULED_START_TIME_ASC").await?;
    let oldest = |runs: &[&[FlowRun]]| runs.iter().flat_map(|r| r.iter()).filter_map(FlowRun::due_at).min();
    if first.len() < FEW {
        return Ok(Waiting { count: first.len() as u64, oldest_expected_start: oldest(&[&first]) });
    }
    // More than a few: the count, and the oldest refused run in its own order (it waits from its first
    // due time, `expected_start_time`). The oldest due run is `first`'s: due runs sort before refused
    // ones, whose next start is ahead.
    let refused = with(json!({
        "state": {"type": {"any_": ["SCHEDULED"]}, "name": {"any_": [super::types::AWAITING_SLOT]}},
        "next_scheduled_start_time": {"after_": now},
    }));
    let (count, refused) =
        tokio::join!(client.post::<u64>("/flow_runs/count", &either), few(&refused, "EXPECTED_START_TIME_ASC"));
    Ok(Waiting { count: count?, oldest_expected_start: oldest(&[&first, &refused?]) })
}

fn not_found(what: String, client: &Client) -> impl FnOnce(ApiError) -> CollectError + '_ {
    move |e| match e {
        ApiError::NotFound { .. } => CollectError::NotFound(format!("{what} not found on {}", client.base_url())),
        e => CollectError::Api(e),
    }
}

/// Resolves the target to a scope and the objects it names.
async fn resolve(
    client: &Client,
    target: &Target,
) -> Result<(SlotScope, Source<WorkPool>, Source<Vec<WorkQueue>>, Source<Deployment>), CollectError> {
    match target {
        Target::Pool(name) => {
            let pool: WorkPool = client
                .get(ApiPath::new(["work_pools", name]))
                .await
                .map_err(not_found(format!("work pool '{name}'"), client))?;
            Ok((
                SlotScope::WorkPool { name: pool.name.clone() },
                Source::ok(pool),
                Source::skipped("read below"),
                Source::skipped("a pool"),
            ))
        }
        Target::Queue { name, pool: Some(pool) } => {
            let (p, q) = tokio::join!(
                client.get::<WorkPool>(ApiPath::new(["work_pools", pool])),
                client.get::<WorkQueue>(ApiPath::new(["work_pools", pool, "queues", name]))
            );
            let p = p.map_err(not_found(format!("work pool '{pool}'"), client))?;
            let q = q.map_err(not_found(format!("work queue '{name}' in pool '{pool}'"), client))?;
            Ok((
                SlotScope::WorkQueue { pool: p.name.clone(), name: q.name.clone() },
                Source::ok(p),
                Source::ok(vec![q]),
                Source::skipped("a queue"),
            ))
        }
        Target::Queue { name, pool: None } => {
            // Queue names are unique per pool only: refuse to guess between pools.
            let path = ApiPath::new(["work_queues", "name", name]);
            let body = json!({"work_queues": {"name": {"any_": [name]}}, "limit": PAGE});
            let (q, all) = tokio::join!(
                client.get::<WorkQueue>(path),
                client.post::<Vec<WorkQueue>>("/work_queues/filter", &body)
            );
            let q = q.map_err(not_found(format!("work queue '{name}'"), client))?;
            let pools: BTreeSet<String> =
                all.unwrap_or_default().into_iter().filter_map(|q| q.work_pool_name).collect();
            if pools.len() > 1 {
                return Err(CollectError::AmbiguousQueue {
                    name: name.clone(),
                    pools: pools.into_iter().collect::<Vec<_>>().join(", "),
                });
            }
            let pool_name = q.work_pool_name.clone().unwrap_or_default();
            let p = client.get::<WorkPool>(ApiPath::new(["work_pools", &pool_name])).await;
            Ok((
                SlotScope::WorkQueue { pool: pool_name, name: q.name.clone() },
                part(p),
                Source::ok(vec![q]),
                Source::skipped("a queue"),
            ))
        }
        Target::Deployment(r) => {
            let (path, what) = match r {
                DeploymentRef::Id(id) => (ApiPath::new(["deployments", &id.to_string()]), format!("deployment {id}")),
                DeploymentRef::Name { flow, deployment } => (
                    ApiPath::new(["deployments", "name", flow, deployment]),
                    format!("deployment '{flow}/{deployment}'"),
                ),
            };
            let d: Deployment = client.get(path).await.map_err(not_found(what, client))?;
            let pool = match &d.work_pool_name {
                Some(p) => part(client.get::<WorkPool>(ApiPath::new(["work_pools", p])).await),
                None => Source::skipped("the deployment has no work pool"),
            };
            Ok((
                SlotScope::Deployment { id: d.id.clone(), name: d.name.clone() },
                pool,
                Source::skipped("a deployment"),
                Source::ok(d),
            ))
        }
    }
}

/// Collects the slot picture for one pool, queue or deployment.
pub async fn collect_slots(
    client: &Client,
    target: &Target,
    cloud: bool,
    redactor: &Redactor,
    plan: &dyn super::Plan,
    progress: &crate::progress::Progress,
) -> Result<SlotsEvidence, CollectError> {
    progress.set("reading the target");
    // A pool named on the command line needs nothing read before its holders, queues and workers:
    // those reads go with the target's own, one round trip less (a pool that does not exist discards
    // them). Its runs waiting for a slot are read once the version's answer has set the server's clock.
    let early_pool = match target {
        Target::Pool(name) if !cloud => Some(name.as_str()),
        _ => None,
    };
    let version_then_waiting = async {
        let version = server_version(client, cloud).await;
        let waiting = match (early_pool, &version) {
            (Some(name), Ok(v)) => {
                let now = server_info(client, v.clone(), cloud).now(Timestamp::now());
                Some(waiting(client, json!({"work_pools": {"name": {"any_": [name]}}}), now).await)
            }
            _ => None,
        };
        (version, waiting)
    };
    let early = async {
        let name = early_pool?;
        // Its holders in full, one page: a pool with fewer holders than a page needs nothing more (not
        // even `concurrency_status`, the server's dearest answer); a fuller one has them summarised below.
        let full = json!({
            "work_pools": {"name": {"any_": [name]}},
            "flow_runs": {"state": {"type": {"any_": POOL_HOLDING}}},
            "sort": "ID_DESC",
            "limit": client.page_size(),
        });
        let (queues, workers, full) = tokio::join!(
            pager::all::<WorkQueue>(client, ApiPath::new(["work_pools", name, "queues", "filter"]), json!({})),
            pager::all::<Worker>(client, ApiPath::new(["work_pools", name, "workers", "filter"]), json!({})),
            client.post::<Vec<FlowRun>>("/flow_runs/filter", &full),
        );
        Some((queues, workers, full.ok()))
    };
    let ((version, early_waiting), resolved, early) =
        tokio::join!(version_then_waiting, resolve(client, target), early);
    let version = match version {
        Err(e) if e.is_fatal() => return Err(e.into()),
        v => v.ok().flatten(),
    };
    let (scope, pool, queues, deployment) = resolved?;
    let server = server_info(client, version, cloud);
    // "Now" on the server's clock, for the plan of what to read (ages are the server's).
    let now = server.now(Timestamp::now());
    let v3 = server.flavor.is_v3_like();
    let pool_name = pool.value().map(|p| p.name.clone());

    progress.set("reading slot holders, queues and workers");
    let (filter, holding): (Value, &[&str]) = match &scope {
        SlotScope::WorkPool { name } => (json!({"work_pools": {"name": {"any_": [name]}}}), POOL_HOLDING),
        SlotScope::WorkQueue { pool, name } => (
            json!({"work_pools": {"name": {"any_": [pool]}}, "work_pool_queues": {"name": {"any_": [name]}}}),
            QUEUE_HOLDING,
        ),
        SlotScope::Deployment { id, .. } => (json!({"deployments": {"id": {"any_": [id]}}}), QUEUE_HOLDING),
    };
    let (early_queues, early_workers, prefetched) = match early {
        Some((queues, workers, full)) => (Some(queues), Some(workers), full),
        None => (None, None, None),
    };
    // A page with room to spare holds every holder of the pool.
    let (complete, prefetched) = match prefetched {
        Some(page) if page.len() < client.page_size() => (Some(page), Vec::new()),
        page => (None, page.unwrap_or_default()),
    };
    let holders = async {
        if let Some(full) = complete {
            return Ok(("flow-run filter", StatusRuns { summaries: vec![], full }));
        }
        let status = match &scope {
            SlotScope::WorkPool { name } if v3 => Some(pool_status_runs(client, name).await),
            SlotScope::WorkQueue { name, pool } if v3 => {
                let id = queues.value().and_then(|q| q.first()).and_then(|q| q.id.clone()).unwrap_or_default();
                Some(queue_status_runs(client, (&id, name, Some(pool)), filter.clone(), holding).await)
            }
            _ => None,
        };
        match status {
            Some(Ok(runs)) => Ok(("concurrency_status", runs)),
            Some(Err(e)) if !route_absent(&e) => Err(e),
            _ => all_runs(client, filter.clone(), holding)
                .await
                .map(|full| ("flow-run filter", StatusRuns { summaries: vec![], full })),
        }
    };
    let all_queues = async {
        if let Some(q) = early_queues {
            return part(q);
        }
        match (&scope, &pool_name) {
            (SlotScope::WorkPool { .. }, Some(p)) => part(
                pager::all::<WorkQueue>(client, ApiPath::new(["work_pools", p, "queues", "filter"]), json!({})).await,
            ),
            _ => queues.clone(),
        }
    };
    let workers = async {
        if let Some(w) = early_workers {
            return part(w);
        }
        match &pool_name {
            Some(p) => part(
                pager::all::<Worker>(client, ApiPath::new(["work_pools", p, "workers", "filter"]), json!({})).await,
            ),
            None => Source::skipped("no work pool"),
        }
    };
    let flow = async {
        match deployment.value().and_then(|d| d.flow_id.clone()) {
            Some(id) => part(client.get::<Flow>(ApiPath::new(["flows", &id])).await),
            None => Source::skipped("not a deployment"),
        }
    };
    let waiting = async {
        match early_waiting {
            Some(w) => w,
            None => waiting(client, filter.clone(), now).await,
        }
    };
    let (holders, queues, workers, waiting, flow) = tokio::join!(holders, all_queues, workers, waiting, flow);

    progress.set("reading holder details");
    let holders = match holders {
        Ok((via, runs)) => {
            let StatusRuns { summaries, full: mut all } = runs;
            let mut full_ids: HashSet<String> = all.iter().map(|r| r.id.clone()).collect();
            let summarised = !summaries.is_empty();
            all.extend(summaries);
            let mut prefetched: HashMap<String, FlowRun> = prefetched.into_iter().map(|r| (r.id.clone(), r)).collect();
            for r in &mut all {
                if !full_ids.contains(&r.id) {
                    if let Some(full) = prefetched.remove(&r.id) {
                        *r = full;
                        full_ids.insert(r.id.clone());
                    }
                }
            }
            // Each holder once, whichever reads listed it (a full run rather than its summary).
            let mut listed = HashSet::new();
            all.retain(|r| listed.insert(r.id.clone()));
            let result = if summarised {
                // The plan weighs every holder; only summaries need their details read.
                let mut wanted = plan.holder_details(now, workers.value().map(Vec::as_slice), &all);
                wanted.retain(|id| !full_ids.contains(id));
                add_details(client, all, &full_ids, &wanted, holding).await
            } else {
                Ok((all, BTreeSet::new()))
            };
            part(result.map(|(mut runs, summaries_only)| {
                for r in &mut runs {
                    if let Some(v) = r.job_variables.as_mut() {
                        redactor.redact_json(v);
                    }
                }
                Holders { via: via.to_string(), runs, summaries_only }
            }))
        }
        Err(e) => part(Err(e)),
    };
    let holder_logs = match holders.value() {
        Some(h) => {
            let detailed: Vec<&FlowRun> = h.runs.iter().filter(|r| !h.summaries_only.contains(&r.id)).collect();
            let wanted = plan.holder_logs(now, pool_name.as_deref(), workers.value().map(Vec::as_slice), &detailed);
            holder_logs(client, detailed, &wanted, plan.quiet_since(now), redactor).await
        }
        None => Source::skipped("no holders"),
    };

    Ok(SlotsEvidence {
        server,
        scope,
        pool,
        queues,
        deployment,
        flow,
        workers,
        holders,
        holder_logs,
        waiting: part(waiting),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_refs() {
        assert_eq!(
            parse_deployment_ref("etl/nightly"),
            Ok(DeploymentRef::Name { flow: "etl".into(), deployment: "nightly".into() })
        );
        assert!(matches!(parse_deployment_ref("37657d62-cf37-4d7f-babf-ce15233cbf3e"), Ok(DeploymentRef::Id(_))));
        assert!(parse_deployment_ref("nightly").is_err());
        assert!(parse_deployment_ref("a/b/c").is_err());
    }
}
