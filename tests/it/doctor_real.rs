//! `unstuck doctor` against real Prefect 3 and Prefect 2 servers: one scenario per check, built through
//! the servers' REST API (and a real process worker where the situation involves one).

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{self, Gen, Server, WorkerProc, normalize};

on_both!(
    no_worker,
    worker_offline,
    queue_not_polled,
    pool_paused,
    queue_paused,
    deployment_paused,
    deployment_missing,
    orphaned_pending,
    late_unexplained,
    crashed_137_real_worker,
    running_is_not_stuck,
    completed_is_not_stuck,
    pending_under_threshold,
    run_by_name,
    run_not_found,
);

/// The checklist status of one item.
pub fn item(v: &Value, id: &str) -> String {
    v["checklist"]
        .as_array()
        .and_then(|c| c.iter().find(|e| e["id"] == id))
        .map(|e| e["status"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no checklist item {id} in {v}"))
}

pub fn finding_ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .map(|f| f.iter().map(|f| f["id"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// Runs doctor as JSON and as a plain table, checks the exit code, snapshots both, returns the JSON.
pub fn doctor(s: &Server, name: &str, run: &str, extra: &[&str], code: i32) -> Value {
    let mut args = vec!["doctor", run, "-o", "json"];
    args.extend(extra);
    let json = s.unstuck(&args);
    json.expect_code(code);
    let mut args = vec!["doctor", run, "--color", "never"];
    args.extend(extra);
    let table = s.unstuck(&args);
    table.expect_code(code);
    // The infrastructure pid names this machine's host and a process id: filter it.
    let v = json.json();
    let pid =
        v["target"]["id"].as_str().map(|id| s.api().get(&format!("/flow_runs/{id}"))["infrastructure_pid"].clone());
    let (mut j, mut t) = (json.stdout.clone(), table.stdout.clone());
    if let Some(Value::String(pid)) = pid {
        j = j.replace(&pid, "[INFRA_PID]");
        t = t.replace(&pid, "[INFRA_PID]");
        // Findings name the parsed parts too ("process 28012 on host vm").
        for part in pid.split(':').filter(|p| !p.is_empty()) {
            let re = regex::Regex::new(&format!(r"\b{}\b", regex::escape(part))).expect("regex");
            j = re.replace_all(&j, "[INFRA]").into_owned();
            t = re.replace_all(&t, "[INFRA]").into_owned();
        }
    }
    // Prefect names runs at random ("grinning-chimera").
    if let Some(name) = v["target"]["name"].as_str() {
        j = j.replace(name, "[RUN_NAME]");
        t = t.replace(name, "[RUN_NAME]");
    }
    insta::assert_snapshot!(format!("{}_{name}", s.label), normalize::snapshot(&j, &t));
    // What the snapshot filters out, asserted here: the request count (a regression in round trips
    // fails) and ages that agree with the clock (the timeline ends now and adds up).
    let detail = v["sources"][0]["detail"].as_str().unwrap_or_default();
    let requests: u64 = regex::Regex::new(r"(\d+) requests")
        .expect("regex")
        .captures(detail)
        .and_then(|c| c[1].parse().ok())
        .unwrap_or_else(|| panic!("no request count in {detail:?}"));
    assert!(requests <= REQUEST_BUDGET, "{name}: {requests} requests (budget {REQUEST_BUDGET})");
    if let Some(timeline) = v["timeline"].as_array().filter(|t| !t.is_empty()) {
        let first = timeline[0]["at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let generated = v["generated_at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let total: i64 = timeline.iter().filter_map(|e| e["seconds"].as_i64()).sum();
        if let (Some(first), Some(generated)) = (first, generated) {
            let span = generated.duration_since(first).as_secs();
            assert!(
                (total - span).abs() <= timeline.len() as i64,
                "{name}: timeline adds up to {total}s, spans {span}s"
            );
        }
    }
    v
}

/// Requests one diagnosis may send (11 to 20 in these scenarios; holders and observation add some).
const REQUEST_BUDGET: u64 = 40;

/// A worker that is alive and polling `queues` of `pool`.
fn live_worker(api: &harness::Api, pool: &harness::api::Pool, queues: &[&str]) {
    api.heartbeat(pool, "w1", 30);
    api.poll(pool, queues);
}

/// A scenario built on a server: the run to diagnose and the extra flags the diagnosis needs.
pub struct Case {
    pub run: harness::api::Run,
    pub pool: harness::api::Pool,
    pub args: Vec<&'static str>,
}

/// A Late run in a pool that no worker ever polled.
pub fn setup_no_worker(s: &Server) -> Case {
    let api = s.api();
    let pool = api.pool("nowork", "process");
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    Case { run, pool, args: vec![] }
}

/// A Late run in a pool that no worker ever polled: worker.none is primary, run.late ranks below it.
fn no_worker(s: &Server) {
    let Case { run, pool, .. } = setup_no_worker(s);
    let v = doctor(s, "no_worker", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "worker.none");
    assert_eq!(finding_ids(&v), ["worker.none", "run.late"]);
    // Due 600 s before the run was read: the lateness said is at least that, and not wildly more.
    let late = v["findings"][1]["title"].as_str().unwrap_or_default();
    let minutes: u64 =
        regex::Regex::new(r"is (\d+)m").expect("regex").captures(late).and_then(|c| c[1].parse().ok()).unwrap_or(0);
    assert!((10..=13).contains(&minutes), "{late}");
    assert_eq!(item(&v, "worker-alive"), "fail");
    assert_eq!(item(&v, "queue-polled"), "fail");
    assert_eq!(v["findings"][0]["subject"], format!("work-pool/{}", pool.name));
    let md = s.unstuck(&["doctor", &run.id, "-o", "markdown"]);
    md.expect_code(2);
    assert!(md.stdout.starts_with("## unstuck doctor: `"), "{}", md.stdout);
    assert!(md.stdout.contains("| ❌ | `worker-alive` |"), "{}", md.stdout);
    assert!(md.stdout.contains(&format!("`prefect worker start --pool {}`", pool.name)), "{}", md.stdout);
}

/// A Late run whose pool's only worker stopped heartbeating (interval 1 s, last beat 3.5 s ago).
pub fn setup_worker_offline(s: &Server) -> Case {
    let api = s.api();
    let pool = api.pool("offline", "process");
    api.heartbeat(&pool, "w-gone", 1);
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    std::thread::sleep(Duration::from_millis(3500));
    Case { run, pool, args: vec![] }
}

/// Every worker's heartbeat is older than 3 intervals (stored status may still say ONLINE): worker.offline.
fn worker_offline(s: &Server) {
    let Case { run, .. } = setup_worker_offline(s);
    let v = doctor(s, "worker_offline", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "worker.offline");
    let evidence = v["findings"][0]["evidence"][0].as_str().unwrap_or_default();
    assert!(evidence.contains("worker 'w-gone': offline, last heartbeat"), "{evidence}");
}

/// A Late run in queue 'default' while the pool's live worker polls only queue 'other'.
pub fn setup_queue_not_polled(s: &Server) -> Case {
    let api = s.api();
    let pool = api.pool("notpolled", "process");
    api.queue(&pool, "other");
    live_worker(&api, &pool, &["other"]);
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    Case { run, pool, args: vec![] }
}

/// A live worker polls another queue of the pool, never the run's: queue.not-polled.
fn queue_not_polled(s: &Server) {
    let Case { run, .. } = setup_queue_not_polled(s);
    let v = doctor(s, "queue_not_polled", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "queue.not-polled");
    assert_eq!(item(&v, "worker-alive"), "pass");
    let f = &v["findings"][0];
    assert!(f["evidence"].to_string().contains("queue 'other': last polled"), "{f}");
    assert!(f["remediation"][0].as_str().unwrap_or_default().contains("--work-queue default"), "{f}");
}

/// A Late run in a paused pool with a live worker.
pub fn setup_pool_paused(s: &Server) -> Case {
    let api = s.api();
    let pool = api.pool("paused", "process");
    live_worker(&api, &pool, &["default"]);
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    api.pause_pool(&pool);
    Case { run, pool, args: vec![] }
}

/// The run's pool is paused: pool.paused, with the resume command.
fn pool_paused(s: &Server) {
    let Case { run, pool, .. } = setup_pool_paused(s);
    let v = doctor(s, "pool_paused", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "pool.paused");
    assert_eq!(v["findings"][0]["remediation"][0], format!("Resume the pool: prefect work-pool resume {}", pool.name));
}

/// The run's queue is paused: queue.paused.
fn queue_paused(s: &Server) {
    let api = s.api();
    let pool = api.pool("qpaused", "process");
    live_worker(&api, &pool, &["default"]);
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    api.pause_queue(&pool, "default");
    let v = doctor(s, "queue_paused", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "queue.paused");
    assert_eq!(v["findings"][0]["subject"], format!("work-queue/{}/default", pool.name));
}

/// A run due in 10 minutes of a paused deployment: a risk, so WARNING and exit 1.
fn deployment_paused(s: &Server) {
    let api = s.api();
    let pool = api.pool("deppaused", "process");
    live_worker(&api, &pool, &["default"]);
    let dep = api.deployment(&pool, "default");
    api.pause_deployment(&dep);
    let run = api.run(&dep, 600);
    let v = doctor(s, "deployment_paused", &run.id, &[], 1);
    assert_eq!(v["verdict"]["status"], "warning");
    assert_eq!(v["verdict"]["primary"], "deployment.paused");
}

/// The deployment of a Pending run was deleted: deployment.missing outranks the orphaned symptom.
fn deployment_missing(s: &Server) {
    let api = s.api();
    let pool = api.pool("depmissing", "process");
    live_worker(&api, &pool, &["default"]);
    let dep = api.deployment(&pool, "default");
    let run = api.run(&dep, -60);
    api.set_state(&run, json!({"type": "PENDING"}));
    api.delete_deployment(&dep);
    std::thread::sleep(Duration::from_millis(1500));
    let v = doctor(s, "deployment_missing", &run.id, &["--pending-threshold", "1s"], 2);
    assert_eq!(finding_ids(&v), ["deployment.missing", "run.orphaned"]);
}

/// A run moved to Pending with no infrastructure recorded, past a 1 s threshold; workers alive.
pub fn setup_orphaned_pending(s: &Server) -> Case {
    let api = s.api();
    let pool = api.pool("orphan", "process");
    live_worker(&api, &pool, &["default"]);
    let dep = api.deployment(&pool, "default");
    let run = api.run(&dep, -60);
    api.set_state(&run, json!({"type": "PENDING"}));
    std::thread::sleep(Duration::from_millis(1500));
    Case { run, pool, args: vec!["--pending-threshold", "1s"] }
}

/// Pending past the threshold with no infrastructure recorded, workers alive: run.orphaned.
fn orphaned_pending(s: &Server) {
    let Case { run, args, .. } = setup_orphaned_pending(s);
    let v = doctor(s, "orphaned_pending", &run.id, &args, 2);
    assert_eq!(v["verdict"]["primary"], "run.orphaned");
    assert_eq!(item(&v, "infrastructure"), "fail");
    assert_eq!(item(&v, "queue-polled"), "n/a");
}

/// Late while a live worker polls the queue and nothing is paused: run.late is primary and says
/// what could not be checked.
fn late_unexplained(s: &Server) {
    let api = s.api();
    let pool = api.pool("late", "process");
    live_worker(&api, &pool, &["default"]);
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 900);
    live_worker(&api, &pool, &["default"]);
    let v = doctor(s, "late_unexplained", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "run.late");
    assert_eq!(item(&v, "worker-alive"), "pass");
    assert_eq!(item(&v, "queue-polled"), "pass");
    let detail = v["findings"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("Everything the Prefect API shows looks healthy"), "{detail}");
    assert!(detail.contains("Flow run limit reached"), "{detail}");
}

/// A real process worker runs a job whose command exits 137 (the pool's command is `python -c exit(137)`).
pub fn setup_crashed_137(s: &Server) -> Case {
    let api = s.api();
    let python = s.venv.join("bin").join("python");
    let pool = api.process_pool_with_command("crash", &format!("{} -c exit(137)", python.display()));
    let dep = api.deployment(&pool, "default");
    // The run is created once the worker polls, so it is due when the worker asks for it: a run
    // waiting for a slow worker start would be marked Late first, and the timeline would depend on
    // the machine's load.
    let worker = WorkerProc::start(s, &pool.name, &[], &[]);
    worker.wait_online(&api, &pool.name, Duration::from_secs(90));
    let run = api.run(&dep, 0);
    harness::wait_for("the run to crash", Duration::from_secs(90), || {
        (api.run_state(&run).0 == "CRASHED").then_some(())
    });
    drop(worker);
    Case { run, pool, args: vec![] }
}

/// A real process worker runs a job whose command exits 137: run.crashed explains OOM.
fn crashed_137_real_worker(s: &Server) {
    let Case { run, .. } = setup_crashed_137(s);
    let v = doctor(s, "crashed_137", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "run.crashed");
    let title = v["findings"][0]["title"].as_str().unwrap_or_default();
    assert!(title.contains("exit code 137") && title.contains("out of memory"), "{title}");
    assert_eq!(v["verdict"]["status"], "critical");
    let out = s.unstuck(&["doctor", &run.id]);
    assert!(out.stdout.contains("CRITICAL: The run crashed with exit code 137"), "{}", out.stdout);
}

/// A Running run is not stuck: exit 0 and a verdict that says so.
fn running_is_not_stuck(s: &Server) {
    let api = s.api();
    let pool = api.pool("running", "process");
    let dep = api.deployment(&pool, "default");
    let run = api.run(&dep, -60);
    api.set_state(&run, json!({"type": "RUNNING"}));
    let v = doctor(s, "running", &run.id, &[], 0);
    assert_eq!(v["verdict"]["status"], "ok");
    assert!(v["verdict"]["summary"].as_str().unwrap_or_default().contains("not stuck"), "{}", v["verdict"]);
    assert!(finding_ids(&v).is_empty(), "a running run in a worker-less pool needs no worker finding");
}

/// A Completed run is not stuck: exit 0.
fn completed_is_not_stuck(s: &Server) {
    let api = s.api();
    let pool = api.pool("done", "process");
    let dep = api.deployment(&pool, "default");
    let run = api.run(&dep, -60);
    api.set_state(&run, json!({"type": "RUNNING"}));
    api.set_state(&run, json!({"type": "COMPLETED"}));
    let v = doctor(s, "completed", &run.id, &[], 0);
    assert_eq!(v["target"]["state"]["type"], "COMPLETED");
    assert!(v["verdict"]["summary"].as_str().unwrap_or_default().contains("not stuck"));
}

/// Pending for less than the threshold in a pool with no worker: a warning (risk), not yet stuck.
fn pending_under_threshold(s: &Server) {
    let api = s.api();
    let pool = api.pool("pending", "process");
    let dep = api.deployment(&pool, "default");
    let run = api.run(&dep, -5);
    api.set_state(&run, json!({"type": "PENDING"}));
    let out = s.unstuck(&["doctor", &run.id, "-o", "json"]);
    out.expect_code(1);
    let v = out.json();
    assert_eq!(v["verdict"]["status"], "warning");
    assert_eq!(v["findings"][0]["kind"], "risk");
}

/// The run can be named instead of its id.
fn run_by_name(s: &Server) {
    let api = s.api();
    let pool = api.pool("byname", "process");
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    let out = s.unstuck(&["doctor", &run.name, "-o", "json"]);
    out.expect_code(2);
    assert_eq!(out.json()["target"]["id"], run.id.as_str());
}

/// An unknown run id or name: exit 3 with one line on stderr.
fn run_not_found(s: &Server) {
    let out = s.unstuck(&["doctor", "00000000-0000-4000-8000-00000000dead"]);
    out.expect_code(3);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("flow run 00000000-0000-4000-8000-00000000dead not found"), "{}", out.stderr);
    let out = s.unstuck(&["doctor", "no-such-run-name"]);
    out.expect_code(3);
    assert!(out.stderr.contains("flow run 'no-such-run-name' not found"), "{}", out.stderr);
}

/// The server's Prefect version is detected and reported (3.8.8 and 2.20.26).
#[test]
fn versions_are_told_apart() {
    for s in [harness::p3(), harness::p2()] {
        let api = s.api();
        let pool = api.pool("version", "process");
        let dep = api.deployment(&pool, "default");
        let run = api.run(&dep, 600);
        let v = s.unstuck(&["doctor", &run.id, "-o", "json"]).json();
        let detail = v["sources"][0]["detail"].as_str().unwrap_or_default().to_string();
        let want = if s.version == Gen::P3 { "Prefect 3.8.8" } else { "Prefect 2.20.26" };
        assert!(detail.starts_with(want), "{detail}");
    }
}
