//! `unstuck work-pool slots`, `work-queue slots` and `deployment slots` on real Prefect 3 and 2 servers:
//! Prefect 3 answers through `concurrency_status`, Prefect 2 through flow-run filters; the output is
//! the same either way.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{self, Api, Gen, Server, api::Deployment, normalize};
use crate::schema::{assert_valid, validator};

on_both!(
    empty_pool,
    unlimited_pool,
    full_pool_with_waiters,
    zombie_holders,
    queue_limit,
    unknown_targets,
    more_holders_than_a_page,
    deployment_without_limit,
    replay_reproduces_the_report,
    retrying_run_is_not_waiting,
);

/// Runs `args` as JSON (validated against the schema) and as a table; snapshots both; returns the JSON.
fn slots(s: &Server, name: &str, args: &[&str], code: i32) -> Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    let json = s.unstuck(&a);
    json.expect_code(code);
    let v = json.json();
    assert_valid(&validator("slots.schema.json"), &v);
    let mut a = args.to_vec();
    a.extend(["--color", "never"]);
    let table = s.unstuck(&a);
    table.expect_code(code);
    let (mut j, mut t) = (json.stdout.clone(), table.stdout.clone());
    for h in v["holders"].as_array().into_iter().flatten() {
        if let Some(n) = h["run_name"].as_str() {
            j = j.replace(n, "[RUN_NAME]");
            t = t.replace(n, "[RUN_NAME]");
        }
    }
    // Column widths follow the (random) run names: collapse the alignment padding.
    let t = regex::Regex::new(r" {2,}").expect("regex").replace_all(&t, "  ").into_owned();
    insta::assert_snapshot!(format!("{}_slots_{name}", s.label), normalize::snapshot(&j, &t));
    v
}

/// Runs of `dep` created directly in `state`, `n` of them, a few at a time.
pub(crate) fn runs_in_state(api: &Api, dep: &Deployment, state: &str, n: usize) -> Vec<harness::api::Run> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    (t..n)
                        .step_by(4)
                        .map(|_| api.run_with(dep, -60, json!({"state": {"type": state}})))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("creator thread")).collect()
    })
}

fn finding_ids(v: &Value) -> Vec<String> {
    crate::doctor_real::finding_ids(v)
}

/// A pool nobody uses: no holders, exit 0.
fn empty_pool(s: &Server) {
    let api = s.api();
    let pool = api.pool("empty", "process");
    let v = slots(s, "empty_pool", &["work-pool", "slots", &pool.name], 0);
    assert_eq!(v["holders"], json!([]));
    assert_eq!(v["target"]["active_slots"], 0);
    assert_eq!(v["waiting"]["count"], 0);
}

/// Three Running runs in a pool without a limit: listed, exit 0 ("no limit").
fn unlimited_pool(s: &Server) {
    let api = s.api();
    let pool = api.pool("unlimited", "process");
    let dep = api.deployment(&pool, "default");
    runs_in_state(&api, &dep, "RUNNING", 3);
    let v = slots(s, "unlimited_pool", &["work-pool", "slots", &pool.name], 0);
    assert_eq!(v["target"]["concurrency_limit"], Value::Null);
    assert_eq!(v["target"]["active_slots"], 3);
    assert_eq!(v["holders"].as_array().map(Vec::len), Some(3));
    assert!(v["verdict"]["summary"].as_str().unwrap_or_default().contains("no concurrency limit"));
}

/// A pool at its limit (2/2) with a Late run waiting: slots.pool-full, exit 2, the wait measured.
fn full_pool_with_waiters(s: &Server) {
    let api = s.api();
    let pool = api.pool("fullpool", "process");
    api.set_pool_limit(&pool, 2);
    let dep = api.deployment(&pool, "default");
    let holders = runs_in_state(&api, &dep, "RUNNING", 2);
    api.run(&dep, -600);
    let v = slots(s, "full_pool", &["work-pool", "slots", &pool.name], 2);
    assert_eq!(v["verdict"]["primary"], "slots.pool-full");
    assert_eq!(v["waiting"]["count"], 1);
    assert!(v["waiting"]["oldest_seconds_late"].as_u64().is_some_and(|s| s >= 600), "{}", v["waiting"]);
    for h in holders {
        assert!(v["findings"][0]["evidence"].to_string().contains(&h.id));
    }
}

/// Dead holders of a queue's slots: one Pending past the threshold whose claiming worker stopped
/// heart-beating, one Pending with no worker and no infrastructure on record, one stuck Cancelling
/// (queues count Cancelling runs; pools do not). All are zombies; exit 2.
fn zombie_holders(s: &Server) {
    let api = s.api();
    let pool = api.pool("zombies", "process");
    api.heartbeat(&pool, "w-dead", 1);
    let dep = api.deployment(&pool, "default");
    let claimed = api.run(&dep, -60);
    api.set_state(&claimed, json!({"type": "PENDING"}));
    api.log(&claimed, "prefect.flow_runs.worker", 20, &format!("Worker 'w-dead' submitting flow run '{}'", claimed.id));
    let orphan = api.run(&dep, -60);
    api.set_state(&orphan, json!({"type": "PENDING"}));
    let cancelling = runs_in_state(&api, &dep, "RUNNING", 1).remove(0);
    api.set_state(&cancelling, json!({"type": "CANCELLING"}));
    runs_in_state(&api, &dep, "RUNNING", 1);
    std::thread::sleep(Duration::from_millis(3500));
    let v =
        slots(s, "zombies", &["work-queue", "slots", "default", "--pool", &pool.name, "--pending-threshold", "2s"], 2);
    assert_eq!(v["verdict"]["primary"], "slots.zombie-holder");
    let row =
        |id: &str| v["holders"].as_array().and_then(|h| h.iter().find(|r| r["run_id"] == id)).cloned().expect("holder");
    let c = row(&claimed.id);
    assert_eq!(
        (c["zombie"].clone(), c["worker"].clone(), c["worker_status"].clone()),
        (json!(true), json!("w-dead"), json!("offline"))
    );
    assert!(c["zombie_reason"].as_str().unwrap_or_default().contains("worker 'w-dead' that claimed it is offline"));
    assert!(row(&orphan.id)["zombie_reason"].as_str().unwrap_or_default().contains("no worker on record"));
    assert!(row(&cancelling.id)["zombie_reason"].as_str().unwrap_or_default().starts_with("Cancelling for"));
    assert_eq!(v["holders"].as_array().map(|h| h.iter().filter(|r| r["zombie"] == true).count()), Some(3));
    let table = s.unstuck(&["work-pool", "slots", &pool.name, "--pending-threshold", "2s"]);
    assert!(!table.stdout.contains(&cancelling.id), "a Cancelling run holds no pool slot");
    assert!(table.stdout.contains("Cancel a zombie:    prefect flow-run cancel "), "{}", table.stdout);
}

/// A queue with limit 1: full with nobody waiting is a warning (exit 1); with a Late run waiting,
/// slots.queue-full (exit 2). The queue is named with --pool.
fn queue_limit(s: &Server) {
    let api = s.api();
    let pool = api.pool("qlimit", "process");
    api.queue(&pool, "narrow");
    api.set_queue_limit(&pool, "narrow", 1);
    let dep = api.deployment(&pool, "narrow");
    runs_in_state(&api, &dep, "RUNNING", 1);
    let args = ["work-queue", "slots", "narrow", "--pool", pool.name.as_str()];
    let v = slots(s, "queue_full_no_waiters", &args, 1);
    assert_eq!(v["verdict"]["status"], "warning");
    assert_eq!(v["target"]["kind"], "work-queue");
    api.run(&dep, -600);
    let v = slots(s, "queue_full_waiting", &args, 2);
    assert_eq!(v["verdict"]["primary"], "slots.queue-full");
}

/// Unknown pool or queue: exit 3 with one line; a queue name in several pools without --pool: exit 64.
fn unknown_targets(s: &Server) {
    let out = s.unstuck(&["work-pool", "slots", "no-such-pool-anywhere"]);
    out.expect_code(3);
    assert!(out.stderr.contains("work pool 'no-such-pool-anywhere' not found"), "{}", out.stderr);
    let api = s.api();
    let pool = api.pool("unknownq", "process");
    let out = s.unstuck(&["work-queue", "slots", "nope", "--pool", &pool.name]);
    out.expect_code(3);
    assert!(out.stderr.contains(&format!("work queue 'nope' in pool '{}' not found", pool.name)), "{}", out.stderr);
    api.pool("second", "process");
    let out = s.unstuck(&["work-queue", "slots", "default"]);
    out.expect_code(64);
    assert!(out.stderr.contains("exists in several pools") && out.stderr.contains("pass --pool"), "{}", out.stderr);
    let out = s.unstuck(&["deployment", "slots", "nightly"]);
    out.expect_code(64);
}

/// 230 holders in one queue and 5 in another: every holder is listed once (more than one page of
/// 200, and more than concurrency_status lists per queue on Prefect 3).
pub(crate) fn more_holders_than_a_page(s: &Server) {
    let api = s.api();
    let pool = api.pool("manyholders", "process");
    api.queue(&pool, "other");
    let dep = api.deployment(&pool, "default");
    let other = api.deployment(&pool, "other");
    let mut made = runs_in_state(&api, &dep, "RUNNING", 230);
    made.extend(runs_in_state(&api, &other, "RUNNING", 5));
    let out = s.unstuck(&["work-pool", "slots", &pool.name, "-o", "json"]);
    out.expect_code(0);
    let v = out.json();
    let ids: std::collections::BTreeSet<&str> =
        v["holders"].as_array().expect("holders").iter().filter_map(|h| h["run_id"].as_str()).collect();
    assert_eq!(v["holders"].as_array().map(Vec::len), Some(235), "no duplicates, none missing");
    assert!(made.iter().all(|r| ids.contains(r.id.as_str())));
    assert_eq!(v["target"]["active_slots"], 235);
    let via = if s.version == Gen::P3 { "holders via concurrency_status" } else { "holders via flow-run filter" };
    assert!(v["sources"][0]["detail"].as_str().unwrap_or_default().contains(via), "{}", v["sources"][0]);
    let default = v["queues"].as_array().and_then(|q| q.iter().find(|q| q["name"] == "default")).cloned();
    assert_eq!(default.map(|q| q["active_slots"].clone()), Some(json!(230)));
    // A terminal gets the first 100 rows and a pointer to the JSON for the rest.
    let table = s.unstuck(&["work-pool", "slots", &pool.name]);
    table.expect_code(0);
    let rows = table
        .stdout
        .lines()
        .filter(|l| l.contains(" Running ") && made.iter().any(|r| l.contains(r.id.as_str())))
        .count();
    assert_eq!(rows, 100, "{}", table.stdout);
    assert!(table.stdout.contains("… and 135 more holders (-o json lists every one)"), "{}", table.stdout);
    // No worker is alive: the 50 longest-held got their logs read, the others are counted.
    assert!(table.stdout.contains("Note: 185 more Running holders could not be judged"), "{}", table.stdout);
}

/// A deployment without a concurrency limit: its slot-holding runs are listed, exit 0.
fn deployment_without_limit(s: &Server) {
    let api = s.api();
    let pool = api.pool("depnolimit", "process");
    let dep = api.deployment(&pool, "default");
    runs_in_state(&api, &dep, "RUNNING", 2);
    let flow = api.get(&format!("/deployments/{}", dep.id))["flow_id"].as_str().map(str::to_string).expect("flow id");
    let flow_name = api.get(&format!("/flows/{flow}"))["name"].as_str().map(str::to_string).expect("flow name");
    let dep_name = api.get(&format!("/deployments/{}", dep.id))["name"].as_str().map(str::to_string).expect("name");
    let out = s.unstuck(&["deployment", "slots", &format!("{flow_name}/{dep_name}"), "-o", "json"]);
    out.expect_code(0);
    let v = out.json();
    assert_valid(&validator("slots.schema.json"), &v);
    assert_eq!(v["target"]["name"], format!("{flow_name}/{dep_name}"));
    assert_eq!(v["holders"].as_array().map(Vec::len), Some(2));
    let by_id = s.unstuck(&["deployment", "slots", &dep.id, "-o", "json"]);
    let ids = |v: &Value| -> std::collections::BTreeSet<String> {
        v["holders"].as_array().into_iter().flatten().filter_map(|h| h["run_id"].as_str().map(str::to_string)).collect()
    };
    assert_eq!(ids(&by_id.json()), ids(&v), "by id or by name, the same holders");
}

/// A saved bundle replays (no network) to the same JSON report.
fn replay_reproduces_the_report(s: &Server) {
    let api = s.api();
    let pool = api.pool("slotsbundle", "process");
    api.set_pool_limit(&pool, 1);
    let dep = api.deployment(&pool, "default");
    runs_in_state(&api, &dep, "RUNNING", 1);
    let dir = harness::TempDir::new("slots-bundle");
    let path = dir.path().join("b.json");
    let path = path.to_str().expect("utf8");
    let live = s.unstuck(&["work-pool", "slots", &pool.name, "-o", "json", "--save-evidence", path]);
    live.expect_code(1);
    let replay = harness::unstuck(&["work-pool", "slots", "--evidence", path, "-o", "json"]);
    replay.expect_code(1);
    assert_eq!(replay.json(), live.json());
    let wrong = harness::unstuck(&["doctor", "--evidence", path]);
    wrong.expect_code(64);
}

/// Prefect 3: a deployment limit of 1 held by a Pending run with a lease, another run refused a slot:
/// slots.deployment-full, the lease counted; exit 2.
#[test]
fn deployment_limit_p3() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("deplimit", "process");
    let dep = api.deployment_with(&pool, "default", json!({"concurrency_limit": 1}));
    let holder = api.run(&dep, -600);
    assert_eq!(api.propose_state(&holder, json!({"type": "PENDING"}))["status"], "ACCEPT");
    let waiting = api.run(&dep, -600);
    assert_eq!(api.propose_state(&waiting, json!({"type": "PENDING"}))["status"], "REJECT");
    let v = slots(s, "deployment_full", &["deployment", "slots", &dep.id], 2);
    assert_eq!(v["verdict"]["primary"], "slots.deployment-full");
    assert_eq!(v["target"]["kind"], "deployment");
    assert_eq!(v["target"]["leases"], json!({"holders_with_lease": 1, "leaked_slots": 0, "expired_leases": 0}));
    assert_eq!(v["holders"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["waiting"]["count"], 1);
    assert_eq!(finding_ids(&v), ["slots.deployment-full"]);
}

/// Prefect 3: more runs waiting than the first read holds (20): the count is the server's, and the
/// oldest is a run refused a slot, rescheduled ahead but first due an hour ago, behind 22 runs due
/// ten minutes ago. Both kinds are one read while there are few (the test above: 1 waiting).
#[test]
fn many_waiting_runs_are_counted_and_the_oldest_found_p3() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("manywait", "process");
    let dep = api.deployment_with(&pool, "default", json!({"concurrency_limit": 1}));
    let holder = api.run(&dep, -60);
    assert_eq!(api.propose_state(&holder, json!({"type": "PENDING"}))["status"], "ACCEPT");
    let refused = api.run(&dep, -3600);
    assert_eq!(api.propose_state(&refused, json!({"type": "PENDING"}))["status"], "REJECT");
    for _ in 0..22 {
        api.run(&dep, -600);
    }
    for args in [["deployment", "slots", dep.id.as_str()], ["work-pool", "slots", pool.name.as_str()]] {
        let out = s.unstuck(&[&args[..], &["-o", "json"]].concat());
        let v = out.json();
        assert_eq!(v["waiting"]["count"], 23, "{args:?}: {}", v["waiting"]);
        let oldest = v["waiting"]["oldest_seconds_late"].as_u64().unwrap_or_default();
        assert!((3600..3900).contains(&oldest), "{args:?}: the refused run is the oldest: {}", v["waiting"]);
    }
}

/// Regression (issue 9): a server whose page limit is 10 (it answers 422 to a limit of 200), and runs
/// that leave their slots while the holders are paged: every run that held a slot throughout is listed
/// exactly once. The flow-run filter path is forced (concurrency_status answered 404, as on servers
/// without it), and on the third page request five runs already read are completed, which shifts every
/// later row up by five places.
#[test]
fn paging_adapts_to_the_server_limit_and_to_runs_that_move() {
    let s = harness::p3_small();
    let api = s.api();
    let pool = api.pool("paging", "process");
    api.set_pool_limit(&pool, 1000);
    let dep = api.deployment(&pool, "default");
    let runs = runs_in_state(&api, &dep, "RUNNING", 34);
    // ID_DESC order: the five highest ids are read on the first page; completing them mid-scan moves
    // every later row five places up.
    let mut ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids.reverse();
    let leaving: Vec<String> = ids[..5].to_vec();
    let pages = std::sync::atomic::AtomicUsize::new(0);
    let leaving_for_proxy = leaving.clone();
    let proxy = harness::proxy::Proxy::start(&s.url, move |r, _| {
        if r.path.ends_with("/concurrency_status") {
            return harness::proxy::Fault::Respond {
                status: 404,
                headers: vec![],
                body: r#"{"detail":"Not Found"}"#.into(),
            };
        }
        let holder_page = r.path == "/flow_runs/filter" && r.body.contains("RUNNING") && r.body.contains("ID_DESC");
        if holder_page && pages.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 2 {
            let api = harness::p3_small().api();
            for id in &leaving_for_proxy {
                api.post(&format!("/flow_runs/{id}/set_state"), json!({"state": {"type": "COMPLETED"}, "force": true}));
            }
        }
        harness::proxy::Fault::Pass
    });
    let out = harness::unstuck(&["work-pool", "slots", &pool.name, "--api-url", &proxy.url, "-o", "json"]);
    assert!(out.code == 0 || out.code == 1, "exit {}: {}", out.code, out.stderr);
    let v = out.json();
    let listed: Vec<&str> =
        v["holders"].as_array().expect("holders").iter().filter_map(|h| h["run_id"].as_str()).collect();
    for id in ids.iter().filter(|id| !leaving.contains(id)) {
        assert_eq!(listed.iter().filter(|l| **l == id.as_str()).count(), 1, "run {id} listed once: {listed:?}");
    }
    let unique: std::collections::BTreeSet<&&str> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "no run twice");
    // Pages of 10 rows, learnt from the 422: only the first request of each of the three reads sent at
    // once (the holders' first page, the two waiting-run queries) asked for more than the server allows;
    // which of them reaches the server first depends on the machine, so the count is asserted, not the order.
    let limits: Vec<u64> = proxy
        .seen()
        .iter()
        .filter(|r| r.path == "/flow_runs/filter")
        .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok()?.get("limit")?.as_u64())
        .collect();
    assert!(limits.iter().filter(|l| **l > 10).count() <= 3, "{limits:?}");
    assert!(limits.iter().filter(|l| **l == 10).count() >= 4, "holders read in pages of 10: {limits:?}");
}

/// Regression (issue 9): a run waiting out a retry delay (Scheduled/AwaitingRetry, due in 10 minutes)
/// whose `expected_start_time` is long past is not counted as waiting; a Late run beside it is.
fn retrying_run_is_not_waiting(s: &Server) {
    let api = s.api();
    let pool = api.pool("retrying", "process");
    let dep = api.deployment(&pool, "default");
    let retrying = api.run(&dep, -900);
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(10)).to_string();
    api.set_state(
        &retrying,
        json!({"type": "SCHEDULED", "name": "AwaitingRetry", "state_details": {"scheduled_time": later}}),
    );
    let v = slots(s, "retrying_run_is_not_waiting", &["work-pool", "slots", &pool.name], 0);
    assert_eq!(v["waiting"]["count"], 0, "{v}");
    api.late_run(&dep, 600);
    let out = s.unstuck(&["work-pool", "slots", &pool.name, "-o", "json"]);
    assert_eq!(out.json()["waiting"]["count"], 1);
}

/// Holder liveness in a bounded number of requests: 30 Running holders claimed (labelled) by a worker
/// that went offline, 10 of which still log. One batched read of recent lines judges them all: the 20
/// silent ones are zombies ("has not logged for more than …"), the 10 talking ones are not, and the
/// logs endpoint is asked at most twice, not once per holder.
#[test]
fn running_holders_are_judged_in_a_bounded_number_of_requests() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("liveness", "process");
    api.set_pool_limit(&pool, 30);
    api.heartbeat(&pool, "w-gone", 1);
    let dep = api.deployment(&pool, "default");
    let runs: Vec<harness::api::Run> = (0..30)
        .map(|_| {
            api.run_with(&dep, -60, json!({"state": {"type": "RUNNING"}, "labels": {"prefect.worker.name": "w-gone"}}))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(3500));
    let talking: Vec<&harness::api::Run> = runs.iter().take(10).collect();
    for r in &talking {
        api.log(r, "prefect.flow_runs", 20, "still working");
    }
    let proxy = harness::proxy::Proxy::start(&s.url, |_, _| harness::proxy::Fault::Pass);
    let out = harness::unstuck(&[
        "work-pool",
        "slots",
        &pool.name,
        "--api-url",
        &proxy.url,
        "-o",
        "json",
        "--pending-threshold",
        "3s",
    ]);
    let v = out.json();
    let holders = v["holders"].as_array().expect("holders");
    assert_eq!(holders.len(), 30, "{v:#}");
    for h in holders {
        let id = h["run_id"].as_str().unwrap_or_default();
        let talks = talking.iter().any(|r| r.id == id);
        assert_eq!(h["zombie"], json!(!talks), "{h}");
        if !talks {
            let why = h["zombie_reason"].as_str().unwrap_or_default();
            assert!(why.contains("worker 'w-gone' is offline and the run has not logged for more than"), "{why}");
        }
    }
    let log_reads = proxy.seen().iter().filter(|r| r.path == "/logs/filter").count();
    assert!((1..=2).contains(&log_reads), "{log_reads} /logs/filter requests for 30 holders");
    out.expect_code(2);
}
