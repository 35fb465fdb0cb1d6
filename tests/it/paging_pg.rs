//! Paging slot holders on a Prefect 3 server backed by PostgreSQL (what production servers run): more
//! holders than one page of 200, and runs that take or leave slots while unstuck pages through them.
//! The runs move at a fixed point of the scan (a proxy rule, before a holder page is forwarded), so
//! what offset paging would skip or repeat is known, not left to timing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::harness::proxy::{Fault, Proxy, Seen};
use crate::harness::{self, Api, Server};
use crate::slots_real::runs_in_state;

fn pg() -> &'static Server {
    harness::p3_pg()
}

/// The 230 + 5 holders of the SQLite scenario, on PostgreSQL: each listed once, the table capped.
#[test]
fn more_holders_than_a_page() {
    crate::slots_real::more_holders_than_a_page(pg());
}

/// A request that reads slot holders (not their details, not the waiting runs): the pool's or a
/// queue's `concurrency_status`, or a flow-run filter on slot-holding states.
fn is_holder_read(r: &Seen) -> bool {
    r.path.ends_with("/concurrency_status") || (r.path == "/flow_runs/filter" && r.body.contains("RUNNING"))
}

/// A page after the first of a holder scan (`page` 2 or more, or an `offset` past 0): the scan has read
/// a page and goes on from where that page ended.
fn is_later_page(r: &Seen) -> bool {
    let b: Value = serde_json::from_str(&r.body).unwrap_or_default();
    b["page"].as_u64().is_some_and(|p| p >= 2) || b["offset"].as_u64().is_some_and(|o| o > 0)
}

/// Runs to move at a fixed point of the scan: once, before the first later page of a holder read that
/// names one of `keys` (a queue id or a quoted queue name; no keys: any holder read) is forwarded.
struct Move {
    keys: Vec<String>,
    run: Box<dyn Fn() + Send + Sync>,
}

impl Move {
    fn new(keys: Vec<String>, run: impl Fn() + Send + Sync + 'static) -> Move {
        Move { keys, run: Box::new(run) }
    }

    fn matches(&self, r: &Seen) -> bool {
        self.keys.is_empty() || self.keys.iter().any(|k| r.path.contains(k.as_str()) || r.body.contains(k.as_str()))
    }
}

/// A proxy that makes each of `moves` at its point of the scan, holding every holder read while one
/// is made. `concurrency_status` answers 404 when `no_status` (as servers without it do): holders are
/// then read by flow-run filter.
fn moving_proxy(no_status: bool, moves: Vec<Move>) -> Proxy {
    let pending = Mutex::new(moves);
    Proxy::start(&pg().url, move |r, _| {
        if no_status && r.path.ends_with("/concurrency_status") {
            return Fault::Respond { status: 404, headers: vec![], body: r#"{"detail":"Not Found"}"#.into() };
        }
        if is_holder_read(r) {
            let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
            if is_later_page(r) {
                while let Some(i) = pending.iter().position(|m| m.matches(r)) {
                    (pending.remove(i).run)();
                }
            }
        }
        Fault::Pass
    })
}

/// Forces `ids` into `state`, as a worker or the engine moving them on would.
fn force_state(api: &Api, ids: &[String], state: &str) {
    for id in ids {
        let r = api.post(&format!("/flow_runs/{id}/set_state"), json!({"state": {"type": state}, "force": true}));
        assert_eq!(r["status"], "ACCEPT", "{id} -> {state}: {r}");
    }
}

/// `unstuck <args> -o json` through `proxy`: the report and the holders' run ids as listed.
fn listed(args: &[&str], proxy: &Proxy) -> (Value, Vec<String>) {
    let mut all = args.to_vec();
    all.extend(["--api-url", &proxy.url, "-o", "json"]);
    let out = harness::unstuck(&all);
    assert!(out.code == 0 || out.code == 1, "exit {}:\n{}\n{}", out.code, out.stdout, out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let v = out.json();
    let ids = v["holders"].as_array().expect("holders").iter().filter_map(|h| h["run_id"].as_str()).map(str::to_string);
    let ids = ids.collect();
    (v, ids)
}

/// Each of `expected` listed exactly once, and no run listed twice.
#[track_caller]
fn each_once(listed: &[String], expected: impl IntoIterator<Item = String>) {
    let mut times: BTreeMap<&str, usize> = BTreeMap::new();
    for id in listed {
        *times.entry(id).or_default() += 1;
    }
    let repeated: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<String> = expected.into_iter().filter(|id| !times.contains_key(id.as_str())).collect();
    assert!(
        repeated.is_empty() && missing.is_empty(),
        "{} listed more than once: {repeated:?}\n{} holders missing: {missing:?}",
        repeated.len(),
        missing.len()
    );
}

fn sorted_ids(runs: &[harness::api::Run]) -> Vec<String> {
    let mut ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids
}

/// 450 Running holders in one queue and 30 Pending in another (three pages of 200 in the big queue):
/// every holder listed once, as many as the server's own `concurrency_status` counts, and no request
/// asks for more than 200 rows.
#[test]
fn holders_over_three_pages_match_the_server_count() {
    let api = pg().api();
    let pool = api.pool("pgpages", "process");
    api.set_pool_limit(&pool, 1000);
    api.queue(&pool, "other");
    let made = runs_in_state(&api, &api.deployment(&pool, "default"), "RUNNING", 450);
    let pending = runs_in_state(&api, &api.deployment(&pool, "other"), "PENDING", 30);
    let proxy = Proxy::start(&pg().url, |_, _| Fault::Pass);
    let (v, ids) = listed(&["work-pool", "slots", &pool.name], &proxy);
    each_once(&ids, made.iter().chain(&pending).map(|r| r.id.clone()));
    let status = api.post(&format!("/work_pools/{}/concurrency_status", pool.name), json!({"flow_run_limit": 0}));
    assert_eq!(status["active_slots"], 480, "{status}");
    assert_eq!(ids.len(), 480);
    assert_eq!(v["target"]["active_slots"], status["active_slots"]);
    let limits: Vec<u64> = proxy
        .seen()
        .iter()
        .filter_map(|r| Some(serde_json::from_str::<Value>(&r.body).ok()?.get("limit")?.as_u64().unwrap_or(0)))
        .collect();
    assert!(!limits.is_empty() && limits.iter().all(|l| *l <= 200), "{limits:?}");
}

/// Runs take and leave slots while each queue's holders are paged (more than 200 in each: Prefect 3's
/// `concurrency_status` lists 200 per queue): before a queue's second page, 10 runs its first page
/// listed complete in one queue, which moves every later row 10 places up, and in the other Scheduled
/// runs start Running whose ids sort inside its first page (ascending ids, as `concurrency_status`
/// pages), which moves later rows down. Every run that held a slot throughout is listed exactly once.
#[test]
fn runs_moving_during_the_scan_are_listed_once() {
    let api = pg().api();
    let pool = api.pool("pgmoving", "process");
    api.queue(&pool, "joining");
    let (leave_dep, join_dep) = (api.deployment(&pool, "default"), api.deployment(&pool, "joining"));
    let leaving = sorted_ids(&runs_in_state(&api, &leave_dep, "RUNNING", 250));
    let joining = sorted_ids(&runs_in_state(&api, &join_dep, "RUNNING", 250));
    let scheduled = sorted_ids(&runs_in_state(&api, &join_dep, "SCHEDULED", 40));
    let completed: Vec<String> = leaving[50..60].to_vec();
    let starting: Vec<String> =
        scheduled.iter().filter(|id| **id > joining[50] && **id < joining[199]).cloned().collect();
    assert!(!starting.is_empty(), "some Scheduled run sorts inside the first page");
    let (c, s) = (completed.clone(), starting.clone());
    let moves = vec![
        Move::new(vec![api.queue_id(&pool, "default"), "\"default\"".into()], move || {
            force_state(&pg().api(), &c, "COMPLETED")
        }),
        Move::new(vec![api.queue_id(&pool, "joining"), "\"joining\"".into()], move || {
            force_state(&pg().api(), &s, "RUNNING")
        }),
    ];
    let proxy = moving_proxy(false, moves);
    let (v, ids) = listed(&["work-pool", "slots", &pool.name], &proxy);
    assert!(
        v["sources"][0]["detail"].as_str().unwrap_or_default().contains("concurrency_status"),
        "{}",
        v["sources"][0]
    );
    let throughout = leaving.iter().filter(|id| !completed.contains(id)).chain(&joining).cloned();
    each_once(&ids, throughout);
    let later = proxy.seen().iter().filter(|r| is_holder_read(r) && is_later_page(r)).count();
    assert!(later >= 2, "both queues were paged, so both moves were made ({later} later pages)");
}

/// The flow-run filter path (servers without `concurrency_status`), pages of 200 in id order
/// (descending): after the first page, 30 of the runs it read complete, more than the pages' overlap
/// covers, so the next page starts 30 rows further on. Every run that held a slot throughout is listed
/// exactly once.
#[test]
fn runs_leaving_during_a_filter_scan_are_listed_once() {
    let api = pg().api();
    let pool = api.pool("pgfilter", "process");
    let dep = api.deployment(&pool, "default");
    let mut ids = sorted_ids(&runs_in_state(&api, &dep, "RUNNING", 450));
    ids.reverse();
    let completed: Vec<String> = ids[..30].to_vec();
    let c = completed.clone();
    let proxy = moving_proxy(true, vec![Move::new(vec![], move || force_state(&pg().api(), &c, "COMPLETED"))]);
    let (v, listed_ids) = listed(&["work-pool", "slots", &pool.name], &proxy);
    assert!(v["sources"][0]["detail"].as_str().unwrap_or_default().contains("flow-run filter"), "{}", v["sources"][0]);
    let gone: BTreeSet<&String> = completed.iter().collect();
    each_once(&listed_ids, ids.iter().filter(|id| !gone.contains(id)).cloned());
    assert!(proxy.seen().iter().filter(|r| is_holder_read(r) && r.path == "/flow_runs/filter").count() >= 3);
}

/// `work-queue slots` on a queue with 260 holders (two `concurrency_status` pages): before the second
/// page, 10 runs the first page listed complete. Every run that held a slot throughout is listed once.
#[test]
fn queue_holders_moving_during_the_scan_are_listed_once() {
    let api = pg().api();
    let pool = api.pool("pgqueue", "process");
    let ids = sorted_ids(&runs_in_state(&api, &api.deployment(&pool, "default"), "RUNNING", 260));
    let completed: Vec<String> = ids[60..70].to_vec();
    let c = completed.clone();
    let keys = vec![api.queue_id(&pool, "default"), "\"default\"".into()];
    let proxy = moving_proxy(false, vec![Move::new(keys, move || force_state(&pg().api(), &c, "COMPLETED"))]);
    let (v, listed_ids) = listed(&["work-queue", "slots", "default", "--pool", &pool.name], &proxy);
    assert_eq!(v["target"]["kind"], "work-queue");
    each_once(&listed_ids, ids.iter().filter(|id| !completed.contains(id)).cloned());
    assert!(proxy.seen().iter().any(|r| is_holder_read(r) && is_later_page(r)), "the holders took two pages");
}
