//! Gathers the evidence for one flow run. Independent requests run concurrently; only true data
//! dependencies are sequential (version and run first, then everything keyed by the run).

use futures_util::future::join;
use serde_json::json;

use super::client::{ApiError, ApiPath, Client};
use super::pager;
use super::types::{
    Deployment, EventPage, Flow, FlowRun, InfraBlock, LogLine, State, WorkPool, WorkQueue, Worker, WorkerEvent,
};
use crate::evidence::{ClockReading, Concurrency, Flavor, RunEvidence, RunLogs, ServerInfo, Source};
use crate::redact::Redactor;

/// The page size asked for; the client learns a lower one from the server.
pub const PAGE: usize = super::client::MAX_PAGE;

/// How the user named the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRef {
    Id(uuid::Uuid),
    Name(String),
}

impl std::fmt::Display for RunRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunRef::Id(id) => write!(f, "{id}"),
            RunRef::Name(n) => write!(f, "'{n}'"),
        }
    }
}

/// Reads the RUN argument: a UUID, or a flow-run name. Something that looks like a mangled UUID (only
/// hex digits and dashes, 30 characters or more) is a usage error rather than a name lookup.
pub fn parse_run_ref(arg: &str) -> Result<RunRef, String> {
    let s = arg.trim();
    if s.is_empty() {
        return Err("the flow run must be a UUID or a flow-run name, not empty".into());
    }
    if let Ok(id) = uuid::Uuid::parse_str(s) {
        return Ok(RunRef::Id(id));
    }
    let hexish = s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if hexish && s.len() >= 30 {
        return Err(format!(
            "'{s}' is not a valid flow-run id: a UUID has 32 hex digits in groups of 8-4-4-4-12 \
             (e.g. 4171c0f6-b2f9-4c0d-9341-3e0cd528bfb9)"
        ));
    }
    Ok(RunRef::Name(s.to_string()))
}

/// Why a run could not be diagnosed at all.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("flow run {0} not found on {1}")]
    RunNotFound(RunRef, String),
    #[error("{count} flow runs are named '{name}' ({ids}): pass the id instead")]
    Ambiguous { name: String, count: usize, ids: String },
    #[error(
        "{0} (the server answered 404 for /admin/version too: is the API URL right? A self-hosted API URL usually ends in /api, e.g. http://127.0.0.1:4200/api)"
    )]
    WrongUrl(ApiError),
    #[error("{0}")]
    NotFound(String),
    #[error("work queue '{name}' exists in several pools ({pools}): pass --pool")]
    AmbiguousQueue { name: String, pools: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl CollectError {
    /// Ambiguous names are usage errors (exit 64): the command line must say more.
    pub fn is_usage(&self) -> bool {
        matches!(self, CollectError::Ambiguous { .. } | CollectError::AmbiguousQueue { .. })
    }
}

/// Turns a request result into a part of the evidence.
pub(crate) fn part<T>(r: Result<T, ApiError>) -> Source<T> {
    match r {
        Ok(value) => Source::ok(value),
        Err(e) if e.is_not_found() => Source::NotFound,
        Err(e) => Source::Failed(e.failure()),
    }
}

/// Reads the server's Prefect version; `None` when the endpoint is absent (Cloud, proxies).
pub async fn server_version(client: &Client, cloud: bool) -> Result<Option<String>, ApiError> {
    if cloud {
        return Ok(None);
    }
    match client.get::<String>("/admin/version").await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_fatal() => Err(e),
        Err(ApiError::NotFound { .. }) => Ok(None),
        Err(_) => Ok(None),
    }
}

pub fn server_info(client: &Client, version: Option<String>, cloud: bool) -> ServerInfo {
    let flavor = match (&version, cloud) {
        (_, true) => Flavor::Cloud,
        (Some(v), _) => Flavor::from_version(v),
        (None, _) => Flavor::Unknown,
    };
    ServerInfo {
        api_url: client.base_url().to_string(),
        version,
        flavor,
        clock: client.clock().map(|c| ClockReading { server: c.server, local: c.local }),
    }
}

async fn resolve_run(client: &Client, run: &RunRef) -> Result<FlowRun, CollectError> {
    match run {
        RunRef::Id(id) => {
            client.get::<FlowRun>(ApiPath::new(["flow_runs", &id.to_string()])).await.map_err(|e| match e {
                ApiError::NotFound { .. } => CollectError::RunNotFound(run.clone(), client.base_url().to_string()),
                e => CollectError::Api(e),
            })
        }
        RunRef::Name(name) => {
            let body = json!({
                "flow_runs": {"name": {"any_": [name]}},
                "sort": "EXPECTED_START_TIME_DESC",
                "limit": 5,
            });
            let mut runs: Vec<FlowRun> = client.post("/flow_runs/filter", &body).await?;
            match runs.len() {
                0 => Err(CollectError::RunNotFound(run.clone(), client.base_url().to_string())),
                1 => Ok(runs.remove(0)),
                n => Err(CollectError::Ambiguous {
                    name: name.clone(),
                    count: n,
                    ids: runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", "),
                }),
            }
        }
    }
}

/// What to collect besides the defaults.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// Sample queue polls and worker heartbeats for this long (`--observe`).
    pub observe: Option<std::time::Duration>,
    /// Which holders need their logs read.
    pub plan: &'a dyn super::Plan,
    /// Collects the run's infrastructure (Kubernetes) alongside; `None` reads the Prefect API only.
    pub infra: Option<&'a dyn super::Infra>,
}

/// Concurrent requests for per-holder reads.
const FAN_OUT: usize = 8;

/// Collects the evidence for one run.
pub async fn collect_run(
    client: &Client,
    run_ref: &RunRef,
    cloud: bool,
    redactor: &Redactor,
    opts: Options<'_>,
    progress: &crate::progress::Progress,
) -> Result<RunEvidence, CollectError> {
    // Round 1: the version probe and the run itself are independent.
    progress.set("reading the flow run");
    let (version, run) = join(server_version(client, cloud), resolve_run(client, run_ref)).await;
    let version = match (version, &run) {
        (Err(e), _) if e.is_fatal() => return Err(e.into()),
        (Ok(v), _) => v,
        (Err(_), _) => None,
    };
    let mut run = match run {
        Ok(r) => r,
        Err(CollectError::RunNotFound(r, url)) if version.is_none() && !cloud => {
            return Err(CollectError::WrongUrl(ApiError::NotFound {
                path: format!("/flow_runs/{r}"),
                detail: format!("flow run {r} not found on {url}"),
            }));
        }
        Err(e) => return Err(e),
    };
    redact_run(&mut run, redactor);
    let server = server_info(client, version, cloud);
    Ok(run_evidence(client, run, server, None, opts, redactor, progress).await)
}

/// What is known of a pool before any of its runs is looked at: `health` reads it once per pool.
#[derive(Debug, Clone)]
pub struct PoolData {
    pub pool: Source<WorkPool>,
    pub queues: Source<Vec<WorkQueue>>,
    pub workers: Source<Vec<Worker>>,
    /// The first page of the pool's PENDING/RUNNING/CANCELLING runs and whether it was all of them
    /// (`None`: not read; the holders of a limit are then read when needed).
    pub holders_page: Option<Result<(Vec<FlowRun>, bool), ApiError>>,
}

/// Pool data already read (by `health`); slot holders are read when a limit needs them.
pub fn pool_data_from(pool: &WorkPool, queues: &Source<Vec<WorkQueue>>, workers: &Source<Vec<Worker>>) -> PoolData {
    PoolData { pool: Source::ok(pool.clone()), queues: queues.clone(), workers: workers.clone(), holders_page: None }
}

/// Reads a pool, its queues, its workers and the first page of its slot holders, concurrently.
pub async fn pool_data(client: &Client, name: &str) -> PoolData {
    let (pool, queues, workers, page) = tokio::join!(
        client.get::<WorkPool>(ApiPath::new(["work_pools", name])),
        pager::all::<WorkQueue>(client, ApiPath::new(["work_pools", name, "queues", "filter"]), json!({})),
        pager::all::<Worker>(client, ApiPath::new(["work_pools", name, "workers", "filter"]), json!({})),
        first_page(client, json!({"work_pools": {"name": {"any_": [name]}}}), QUEUE_HOLDING),
    );
    PoolData { pool: part(pool), queues: part(queues), workers: part(workers), holders_page: Some(page) }
}

/// Everything about one run, given the server and (when already read) its pool's data.
/// Collects everything about one run: the Prefect side, and the infrastructure side concurrently
/// (it starts now, and gets the pool and deployment's hints as soon as they are read).
pub async fn run_evidence(
    client: &Client,
    run: FlowRun,
    server: ServerInfo,
    known: Option<PoolData>,
    opts: Options<'_>,
    redactor: &Redactor,
    progress: &crate::progress::Progress,
) -> RunEvidence {
    let (hints_tx, mut hints_rx) = tokio::sync::watch::channel(None::<super::InfraHints>);
    let infra_run = run.clone();
    let infra = async {
        match opts.infra {
            Some(infra) => {
                let hints = Box::pin(async move {
                    hints_rx.wait_for(Option::is_some).await.ok().and_then(|h| h.clone()).unwrap_or_default()
                });
                infra.collect(&infra_run, hints).await
            }
            None => crate::evidence::InfraEvidence::default(),
        }
    };
    let prefect = prefect_evidence(client, run, server, known, opts, redactor, progress, &hints_tx);
    let (mut ev, infra) = join(prefect, infra).await;
    ev.kubernetes = infra.kubernetes;
    ev.ecs = infra.ecs;
    ev
}

#[allow(clippy::too_many_arguments)]
async fn prefect_evidence(
    client: &Client,
    run: FlowRun,
    server: ServerInfo,
    known: Option<PoolData>,
    opts: Options<'_>,
    redactor: &Redactor,
    progress: &crate::progress::Progress,
    hints: &tokio::sync::watch::Sender<Option<super::InfraHints>>,
) -> RunEvidence {
    // Round 2: everything keyed by the run, concurrently (the pool's data too, unless known).
    progress.set("reading states, pool, queues, workers, logs");
    let states = async {
        client.get::<Vec<State>>(ApiPath::from("/flow_run_states/").query("flow_run_id", &run.id)).await.map(
            |mut states| {
                states.sort_by_key(|s| s.timestamp);
                for s in &mut states {
                    redact_state(s, redactor);
                }
                states
            },
        )
    };
    let flow = async {
        match &run.flow_id {
            Some(id) => part(client.get::<Flow>(ApiPath::new(["flows", id])).await),
            None => Source::skipped("the run has no flow id"),
        }
    };
    let deployment = async {
        match &run.deployment_id {
            Some(id) => part(client.get::<Deployment>(ApiPath::new(["deployments", id])).await),
            None => Source::skipped("the run was not created from a deployment"),
        }
    };
    let pool_name = run.work_pool_name.clone();
    let pool_data = async {
        match (known, &pool_name) {
            (Some(known), _) => known,
            // The holders of any limit, read before knowing whether limits exist: one bounded page
            // instead of a round trip.
            (None, Some(p)) => pool_data(client, p).await,
            (None, None) => {
                const NO_POOL: &str = "the run is not in a work pool";
                PoolData {
                    pool: Source::skipped(NO_POOL),
                    queues: Source::skipped(NO_POOL),
                    workers: Source::skipped(NO_POOL),
                    holders_page: None,
                }
            }
        }
    };
    let logs = async { part(run_logs(client, &run.id, redactor).await) };
    let events = async {
        if server.flavor == Flavor::V2 {
            Source::skipped("Prefect 2 servers keep no worker events unless PREFECT_EXPERIMENTAL_EVENTS is on")
        } else {
            part(worker_events(client, &run.id).await)
        }
    };
    let deployment_page = async {
        match (&run.deployment_id, server.flavor) {
            (Some(id), f) if f.is_v3_like() => {
                Some(first_page(client, json!({"deployments": {"id": {"any_": [id]}}}), QUEUE_HOLDING).await)
            }
            _ => None,
        }
    };
    let (states, flow, deployment, pool_data, logs, worker_events, deployment_page) =
        tokio::join!(states, flow, deployment, pool_data, logs, events, deployment_page);
    let PoolData { pool, queues, workers, holders_page } = pool_data;

    // Round 3: the holders' logs (and the rest of any holder list longer than a page).
    progress.set("reading concurrency slot holders");
    // Prefect 2 deployments run by agents name an infrastructure block: where the run goes.
    let block = async {
        match deployment.value().and_then(|d| d.infrastructure_document_id.as_deref()) {
            Some(id) => {
                part(client.get::<serde_json::Value>(ApiPath::new(["block_documents", id])).await.map(|mut doc| {
                    redactor.redact_json(&mut doc);
                    InfraBlock::from_document(&doc)
                }))
            }
            None => Source::skipped("the deployment names no infrastructure block"),
        }
    };
    let (mut concurrency, infra_block) =
        join(holders(client, &run, &pool, &queues, &deployment, holders_page, deployment_page), block).await;
    // The block's settings read like job variables (`namespace`, `cluster`), plus its type.
    let block_settings = infra_block.value().map(|b| {
        let mut vars: serde_json::Map<String, serde_json::Value> =
            b.settings.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        vars.insert("block_type".into(), serde_json::Value::String(b.block_type.clone()));
        serde_json::Value::Object(vars)
    });
    hints.send_replace(Some(super::InfraHints {
        pool_type: pool.value().and_then(|p| p.pool_type.clone()),
        job_variables: [
            run.job_variables.clone(),
            deployment.value().and_then(|d| d.job_variables.clone()),
            block_settings,
            pool.value().map(|p| p.variable_defaults()),
        ]
        .into_iter()
        .flatten()
        .collect(),
    }));
    let wanted = opts.plan.holder_logs(
        server.now(jiff::Timestamp::now()),
        pool_name.as_deref(),
        workers.value().map(Vec::as_slice),
        &concurrency.all_holders(),
    );
    let quiet_since = opts.plan.quiet_since(server.now(jiff::Timestamp::now()));
    concurrency.holder_logs = holder_logs(client, concurrency.all_holders(), &wanted, quiet_since, redactor).await;

    let observation = match (opts.observe, &pool_name) {
        (Some(window), Some(p)) => {
            progress.set(&format!("observing polls and heartbeats for {}", humantime::format_duration(window)));
            Some(super::observe::observe(client, p, window).await)
        }
        _ => None,
    };

    RunEvidence {
        server,
        flow_run: run,
        flow,
        states: part(states),
        deployment,
        work_pool: pool,
        work_queues: queues,
        workers,
        logs,
        worker_events,
        concurrency,
        observation,
        infra_block,
        kubernetes: Source::skipped("Kubernetes not consulted"),
        ecs: Source::skipped("ECS not consulted"),
    }
}

/// The first 200 and the last 200 lines of a run's logs, oldest first, redacted.
pub async fn run_logs(client: &Client, run_id: &str, redactor: &Redactor) -> Result<Vec<LogLine>, ApiError> {
    let body = |sort: &str, limit: usize| json!({"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": sort, "limit": limit, "offset": 0});
    let (first, last) = join(
        client.post::<Vec<LogLine>>("/logs/filter", &body("TIMESTAMP_ASC", PAGE)),
        client.post::<Vec<LogLine>>("/logs/filter", &body("TIMESTAMP_DESC", PAGE)),
    )
    .await;
    // A server that ignores `limit` (or a proxy in front of it) could answer far more: keep a page.
    let mut lines = first?;
    lines.truncate(PAGE);
    if lines.len() >= client.page_size() {
        let mut tail = last?;
        tail.truncate(PAGE);
        tail.reverse();
        let seen: std::collections::HashSet<(Option<jiff::Timestamp>, String)> =
            lines.iter().map(|l| (l.timestamp, l.message.clone())).collect();
        lines.extend(tail.into_iter().filter(|l| !seen.contains(&(l.timestamp, l.message.clone()))));
    }
    for l in &mut lines {
        l.message = redactor.redact(&l.message).into_owned();
    }
    Ok(lines)
}

/// `prefect.worker.*` events related to the run, oldest first (at most 50: one page).
async fn worker_events(client: &Client, run_id: &str) -> Result<Vec<WorkerEvent>, ApiError> {
    let body = json!({
        "filter": {
            "event": {"prefix": ["prefect.worker."]},
            "related": {"id": [format!("prefect.flow-run.{run_id}")]},
            "order": "ASC",
        },
        "limit": 50,
    });
    let page: EventPage = client.post("/events/filter", &body).await?;
    Ok(page.events.into_iter().map(|e| e.into_worker_event()).collect())
}

/// Slot-holding states: a pool counts PENDING and RUNNING; queues and deployments also CANCELLING.
pub const POOL_HOLDING: &[&str] = &["PENDING", "RUNNING"];
pub const QUEUE_HOLDING: &[&str] = &["PENDING", "RUNNING", "CANCELLING"];

/// Every run matching `filter` in `states`, each once, paged at the server's limit.
pub async fn runs_in_states(
    client: &Client,
    mut filter: serde_json::Value,
    states: &[&str],
) -> Result<Vec<FlowRun>, ApiError> {
    filter["flow_runs"] = json!({"state": {"type": {"any_": states}}});
    // A unique key: ties never reorder runs between pages.
    filter["sort"] = json!("ID_DESC");
    pager::all::<FlowRun>(client, "/flow_runs/filter".into(), filter).await
}

/// The first page (200) of runs matching `filter` in `states`, and whether that was all of them.
async fn first_page(
    client: &Client,
    mut filter: serde_json::Value,
    states: &[&str],
) -> Result<(Vec<FlowRun>, bool), ApiError> {
    filter["flow_runs"] = json!({"state": {"type": {"any_": states}}});
    filter["sort"] = json!("EXPECTED_START_TIME_ASC");
    filter["limit"] = json!(PAGE);
    filter["offset"] = json!(0);
    let runs: Vec<FlowRun> = client.post("/flow_runs/filter", &filter).await?;
    let complete = runs.len() < client.page_size();
    Ok((runs, complete))
}

/// The holders of the limits that are set, from the speculative first pages read alongside the
/// pool (so knowing whether a limit exists costs no extra round); a full page is read to the end.
async fn holders(
    client: &Client,
    run: &FlowRun,
    pool: &Source<WorkPool>,
    queues: &Source<Vec<WorkQueue>>,
    deployment: &Source<Deployment>,
    pool_page: Option<Result<(Vec<FlowRun>, bool), ApiError>>,
    deployment_page: Option<Result<(Vec<FlowRun>, bool), ApiError>>,
) -> Concurrency {
    let no_limit = |what: &str| Source::skipped(format!("the {what} has no concurrency limit"));
    let in_states = |runs: &[FlowRun], states: &[&str]| -> Vec<FlowRun> {
        runs.iter().filter(|r| r.state_type().is_some_and(|t| states.contains(&t.as_str()))).cloned().collect()
    };
    let pool_holders = async {
        match (pool.value(), &pool_page) {
            (Some(p), _) if p.concurrency_limit.is_none() => no_limit("work pool"),
            (Some(_), Some(Ok((runs, true)))) => Source::ok(in_states(runs, POOL_HOLDING)),
            (Some(p), Some(Ok((_, false)))) => {
                part(runs_in_states(client, json!({"work_pools": {"name": {"any_": [p.name]}}}), POOL_HOLDING).await)
            }
            (Some(_), Some(Err(e))) => Source::Failed(e.failure()),
            (Some(p), None) => {
                part(runs_in_states(client, json!({"work_pools": {"name": {"any_": [p.name]}}}), POOL_HOLDING).await)
            }
            (None, _) => Source::skipped("the work pool could not be read"),
        }
    };
    let queue = queues.value().and_then(|qs| {
        qs.iter()
            .find(|q| q.id.is_some() && q.id == run.work_queue_id)
            .or_else(|| qs.iter().find(|q| Some(q.name.as_str()) == run.work_queue_name.as_deref()))
    });
    let queue_holders = async {
        match (queue, pool.value(), &pool_page) {
            (Some(q), _, _) if q.concurrency_limit.is_none() => no_limit("work queue"),
            (Some(q), Some(_), Some(Ok((runs, true)))) => Source::ok(
                in_states(runs, QUEUE_HOLDING)
                    .into_iter()
                    .filter(|r| r.work_queue_name.as_deref() == Some(q.name.as_str()))
                    .collect(),
            ),
            (Some(q), Some(p), Some(Ok((_, false))) | None) => part(
                runs_in_states(
                    client,
                    json!({"work_pools": {"name": {"any_": [p.name]}}, "work_pool_queues": {"name": {"any_": [q.name]}}}),
                    QUEUE_HOLDING,
                )
                .await,
            ),
            (Some(_), _, Some(Err(e))) => Source::Failed(e.failure()),
            _ => Source::skipped("the run's work queue could not be read"),
        }
    };
    let deployment_holders = async {
        let limited = |d: &Deployment| d.global_concurrency_limit.as_ref().is_some_and(|l| l.limit.is_some());
        match (deployment.value(), deployment_page) {
            (Some(d), _) if !limited(d) => no_limit("deployment"),
            (Some(_), Some(Ok((runs, true)))) => Source::ok(runs),
            (Some(d), _) => {
                part(runs_in_states(client, json!({"deployments": {"id": {"any_": [d.id]}}}), QUEUE_HOLDING).await)
            }
            (None, _) => Source::skipped("the deployment could not be read"),
        }
    };
    let (pool_holders, queue_holders, deployment_holders) =
        tokio::join!(pool_holders, queue_holders, deployment_holders);
    Concurrency { pool_holders, queue_holders, deployment_holders, holder_logs: Source::skipped("no slot holders") }
}

/// Rounds of the batched read of Running holders' recent lines before the rest are read one by one.
const QUIET_ROUNDS: usize = 3;

/// For each holder the plan names (`wanted`, in its order): its first 10 log lines (the worker's
/// "submitting" line) when no label names its worker, and whether it still talks. Whether Running
/// holders talk is read in a bounded number of requests, not one per holder: their lines since
/// `quiet_since`, newest first, for all of them at once; a holder with no line there is silent, one
/// with a line is talking (that line kept). Only holders that also need their first lines, or that a
/// very chatty neighbour keeps off `QUIET_ROUNDS` full pages, are read one by one.
pub async fn holder_logs(
    client: &Client,
    holders: Vec<&FlowRun>,
    wanted: &[String],
    quiet_since: jiff::Timestamp,
    redactor: &Redactor,
) -> Source<Vec<RunLogs>> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let wanted: Vec<&FlowRun> = wanted.iter().filter_map(|id| holders.iter().find(|r| &r.id == id).copied()).collect();
    if wanted.is_empty() {
        return Source::skipped("no slot holder needs its logs read");
    }
    let running = |r: &FlowRun| r.state_type() == Some(&super::types::StateType::Running);
    let labelled = |r: &FlowRun| r.label("prefect.worker.name").is_some();
    let batched: Vec<String> = wanted.iter().filter(|r| running(r) && labelled(r)).map(|r| r.id.clone()).collect();
    let (mut talking, silent, left) = match recent_lines(client, batched, quiet_since).await {
        Ok(found) => found,
        Err(e) => return part(Err(e)),
    };
    // What each of the others needs: its first lines name its worker (when no label does); its latest
    // line says whether a Running holder still talks. One request each, two only when both are needed.
    let fetch = |run: &FlowRun| {
        let id = run.id.clone();
        let first = !labelled(run);
        let last = running(run);
        async move {
            let body = |sort: &str, limit: usize| json!({"logs": {"flow_run_id": {"any_": [id]}}, "sort": sort, "limit": limit, "offset": 0});
            let read = |wanted: bool, sort: &'static str, limit: usize| {
                let b = body(sort, limit);
                async move { if wanted { client.post::<Vec<LogLine>>("/logs/filter", &b).await } else { Ok(vec![]) } }
            };
            let (head, tail) = join(read(first, "TIMESTAMP_ASC", 10), read(last, "TIMESTAMP_DESC", 1)).await;
            let mut lines = head?;
            for l in tail? {
                if !lines.iter().any(|x| x.timestamp == l.timestamp && x.message == l.message) {
                    lines.push(l);
                }
            }
            Ok::<_, ApiError>(RunLogs { run_id: id, lines, silent_since: None })
        }
    };
    let one_by_one: Vec<&FlowRun> =
        wanted.iter().copied().filter(|r| !(running(r) && labelled(r)) || left.contains(&r.id)).collect();
    let read: Result<Vec<RunLogs>, ApiError> =
        stream::iter(one_by_one).map(fetch).buffer_unordered(FAN_OUT).try_collect().await;
    part(read.map(|read| {
        let mut by_id: std::collections::HashMap<String, RunLogs> =
            read.into_iter().map(|l| (l.run_id.clone(), l)).collect();
        for id in silent {
            by_id.insert(id.clone(), RunLogs { run_id: id, lines: vec![], silent_since: Some(quiet_since) });
        }
        for (id, line) in talking.drain() {
            by_id.insert(id.clone(), RunLogs { run_id: id, lines: vec![line], silent_since: None });
        }
        // In the plan's order, every line through the redactor.
        wanted
            .iter()
            .filter_map(|r| by_id.remove(&r.id))
            .map(|mut l| {
                for line in &mut l.lines {
                    line.message = redactor.redact(&line.message).into_owned();
                }
                l
            })
            .collect()
    }))
}

/// The newest line since `since` of each of these runs, read for all of them at once: `(talking:
/// run -> its newest line, silent: runs with no line since, left: runs a full page of others' lines
/// kept from being judged within `QUIET_ROUNDS`)`.
async fn recent_lines(
    client: &Client,
    mut remaining: Vec<String>,
    since: jiff::Timestamp,
) -> Result<(std::collections::HashMap<String, LogLine>, Vec<String>, Vec<String>), ApiError> {
    let mut talking = std::collections::HashMap::new();
    for _ in 0..QUIET_ROUNDS {
        if remaining.is_empty() {
            break;
        }
        let body = json!({
            "logs": {"flow_run_id": {"any_": remaining}, "timestamp": {"after_": since.to_string()}},
            "sort": "TIMESTAMP_DESC",
            "limit": client.page_size(),
            "offset": 0,
        });
        /// A log line with the run it belongs to.
        #[derive(serde::Deserialize)]
        struct Owned {
            #[serde(default)]
            flow_run_id: Option<String>,
            #[serde(flatten)]
            line: LogLine,
        }
        let lines: Vec<Owned> = client.post("/logs/filter", &body).await?;
        let full = lines.len() >= client.page_size();
        for Owned { flow_run_id, line } in lines {
            if let Some(id) = flow_run_id {
                talking.entry(id).or_insert(line);
            }
        }
        remaining.retain(|id| !talking.contains_key(id));
        if !full {
            return Ok((talking, remaining, Vec::new()));
        }
    }
    Ok((talking, Vec::new(), remaining))
}

fn redact_run(run: &mut FlowRun, redactor: &Redactor) {
    if let Some(v) = run.job_variables.as_mut() {
        redactor.redact_json(v);
    }
    if let Some(s) = run.state.as_mut() {
        redact_state(s, redactor);
    }
}

fn redact_state(s: &mut State, redactor: &Redactor) {
    if let Some(m) = s.message.as_mut() {
        *m = redactor.redact(m).into_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UUIDs, names and mangled ids are told apart.
    #[test]
    fn run_refs() {
        assert!(matches!(parse_run_ref("4171c0f6-b2f9-4c0d-9341-3e0cd528bfb9"), Ok(RunRef::Id(_))));
        assert_eq!(parse_run_ref(" grinning-chimera "), Ok(RunRef::Name("grinning-chimera".into())));
        assert_eq!(parse_run_ref("dead-beef"), Ok(RunRef::Name("dead-beef".into())));
        let err = parse_run_ref("4171c0f6-b2f9-4c0d-9341-3e0cd528bfb").unwrap_err();
        assert!(err.contains("not a valid flow-run id"), "{err}");
        assert!(parse_run_ref("").is_err());
    }
}
