//! The whole Prefect-side checklist on real Prefect 3 and 2 servers, with real process workers where the
//! situation involves one: racing workers, a job that never starts the flow, a worker on another queue,
//! a worker killed after claiming a run, code that fails to import, a submission that fails.

use std::time::Duration;

use serde_json::json;

use crate::doctor_real::{doctor, finding_ids, item};
use crate::harness::{self, Gen, JobPids, Server, WorkerProc, api::Pool, flows_dir, wait_for};

on_both!(
    racing_workers,
    job_never_starts_the_flow,
    worker_on_another_queue,
    worker_killed_after_claiming,
    import_error,
    submission_fails,
    queue_full,
    container_cannot_reach_the_api,
    container_api_key_rejected,
);

/// A process pool whose jobs run `sleep 600` instead of the flow.
fn sleeping_pool(s: &Server, prefix: &str) -> Pool {
    s.api().process_pool_with_command(prefix, "sleep 600")
}

/// A deployment of the real `hello` flow in fixtures/flows.
fn hello_deployment(s: &Server, pool: &Pool, entrypoint: &str, extra: serde_json::Value) -> harness::api::Deployment {
    let mut body = json!({"path": flows_dir().to_str().expect("utf8"), "entrypoint": entrypoint});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    s.api().deployment_with(pool, "default", body)
}

fn state_name(s: &Server, run: &harness::api::Run) -> String {
    s.api().run_state(run).1
}

/// Two real workers poll one queue and race for the same runs: the run whose logs show both workers
/// submitting it, or the aborted submission, names pollers.duplicate as its primary cause.
fn racing_workers(s: &Server) {
    let api = s.api();
    let pool = sleeping_pool(s, "race");
    let dep = hello_deployment(s, &pool, "hello.py:hello", json!({}));
    let a = WorkerProc::start(s, &pool.name, &[], &[]);
    let b = WorkerProc::start(s, &pool.name, &[], &[]);
    a.wait_online(&api, &pool.name, Duration::from_secs(60));
    b.wait_online(&api, &pool.name, Duration::from_secs(60));
    let mut pids = JobPids::default();
    let mut raced = None;
    // Both workers poll every second; a burst of runs is seen by both before either has claimed them
    // all. Runs are due two seconds out, inside both workers' prefetch window.
    for _ in 0..4 {
        let runs: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                (0..4).map(|_| scope.spawn(|| (0..5).map(|_| api.run(&dep, 2)).collect::<Vec<_>>())).collect();
            handles.into_iter().flat_map(|h| h.join().expect("creator")).collect()
        });
        // A submission can also fail outright when two workers hit SQLite at once ("database is
        // locked"); such a run never gets infrastructure, so wait for the batch with one deadline and
        // go on with the runs that got theirs.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut waiting: Vec<_> = runs.iter().collect();
        while !waiting.is_empty() && std::time::Instant::now() < deadline {
            waiting.retain(|r| match api.infra_pid(r) {
                Some(pid) => {
                    pids.0.push(pid);
                    false
                }
                None => true,
            });
            std::thread::sleep(Duration::from_millis(250));
        }
        // Both workers' log lines about every run have been shipped once all have infrastructure.
        std::thread::sleep(Duration::from_secs(3));
        raced = runs.into_iter().find(|r| {
            let logs = api.post("/logs/filter", json!({"logs": {"flow_run_id": {"any_": [r.id]}}, "limit": 200}));
            logs.as_array().is_some_and(|l| {
                l.iter().any(|x| x["message"].as_str().is_some_and(|m| m.starts_with("Aborted submission")))
            })
        });
        if raced.is_some() {
            break;
        }
    }
    let run = raced.expect("two workers on one queue raced for at least one of 80 runs");
    let out = s.unstuck(&["doctor", &run.id, "-o", "json", "--pending-threshold", "1s"]);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "pollers.duplicate", "{v:#}");
    assert_eq!(item(&v, "duplicate-pollers"), "fail");
    let evidence = v["findings"][0]["evidence"].to_string();
    assert!(evidence.contains("Aborted submission of flow run"), "{evidence}");
    // The workers stay alive until here: stopping them would stop (and crash) their jobs on Prefect 2.
    drop((a, b));
}

/// The pool's job command is `sleep 600`: the worker records the process, the flow never starts.
/// run.infra-not-started names the process; --observe measures the 1 s poll loop.
fn job_never_starts_the_flow(s: &Server) {
    let api = s.api();
    let pool = sleeping_pool(s, "neverstarts");
    let dep = hello_deployment(s, &pool, "hello.py:hello", json!({}));
    let run = api.run(&dep, -1);
    let _worker = WorkerProc::start(s, &pool.name, &[], &[]);
    let _pids = JobPids(vec![api.wait_infra_pid(&run, Duration::from_secs(90))]);
    api.wait_log(&run, "submitting flow run");
    let expected_state = if s.version == Gen::P3 { "Submitting" } else { "Pending" };
    assert_eq!(state_name(s, &run), expected_state);
    std::thread::sleep(Duration::from_millis(1500));
    let v = doctor(s, "job_never_starts", &run.id, &["--pending-threshold", "1s"], 2);
    assert_eq!(v["verdict"]["primary"], "run.infra-not-started");
    let f = &v["findings"][0];
    assert!(f["title"].as_str().unwrap_or_default().starts_with("Process "), "{f}");
    assert!(f["remediation"][0].as_str().unwrap_or_default().contains("ps -o pid,etime,args -p"), "{f}");
    assert!(finding_ids(&v).contains(&"poll.too-frequent".to_string()), "2 s heartbeats are far below 30 s");
    assert_eq!(item(&v, "worker-alive"), "pass");

    let out = s.unstuck(&["doctor", &run.id, "-o", "json", "--pending-threshold", "1s", "--observe", "4s"]);
    out.expect_code(2);
    let v = out.json();
    // Polls every ~1 s: the measured rate is the evidence of poll.too-frequent.
    let f = v["findings"].as_array().and_then(|f| f.iter().find(|f| f["id"] == "poll.too-frequent")).cloned();
    let evidence = f.map(|f| f["evidence"].to_string()).unwrap_or_default();
    assert!(evidence.contains("queue 'default': polled"), "{evidence}");
    assert!(out.elapsed >= Duration::from_secs(4), "the observation window was honoured");
}

/// A real worker started with --work-queue other never polls the run's queue: queue.not-polled.
fn worker_on_another_queue(s: &Server) {
    let api = s.api();
    let pool = api.pool("otherq", "process");
    api.queue(&pool, "other");
    let dep = hello_deployment(s, &pool, "hello.py:hello", json!({}));
    let _worker = WorkerProc::start(s, &pool.name, &["--work-queue", "other"], &[]);
    wait_for("the worker to poll queue 'other'", Duration::from_secs(60), || {
        api.get(&format!("/work_pools/{}/queues/other", pool.name))["last_polled"].as_str().map(|_| ())
    });
    let run = api.late_run(&dep, 600);
    let v = doctor(s, "worker_on_other_queue", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "queue.not-polled");
    assert_eq!(item(&v, "worker-alive"), "pass");
}

/// A real worker claims a run (its `sleep 600` job starts) and is SIGKILLed: the run names
/// worker.claimer-offline. A replacement worker starts, yet a second, Late run in the pool (limit 1)
/// names slots.pool-full, with the first run marked as a zombie holder.
fn worker_killed_after_claiming(s: &Server) {
    let api = s.api();
    let pool = sleeping_pool(s, "killed");
    api.set_pool_limit(&pool, 1);
    let dep = hello_deployment(s, &pool, "hello.py:hello", json!({}));
    let claimed = api.run(&dep, -1);
    let worker = WorkerProc::start(s, &pool.name, &[], &[]);
    let _pids = JobPids(vec![api.wait_infra_pid(&claimed, Duration::from_secs(90))]);
    // Workers ship their log lines in batches; the claim must have reached the server (on Prefect 2
    // that line is the only record of who claimed the run).
    api.wait_log(&claimed, "submitting flow run");
    worker.kill_worker_only();
    // Heartbeats every 2 s: offline after 6 s without one.
    std::thread::sleep(Duration::from_secs(8));
    let v = doctor(s, "worker_killed", &claimed.id, &["--pending-threshold", "1s"], 2);
    assert_eq!(v["verdict"]["primary"], "worker.claimer-offline");
    let evidence = v["findings"][0]["evidence"].to_string();
    let source = if s.version == Gen::P3 { "label prefect.worker.name" } else { "submitting flow run" };
    assert!(evidence.contains(source), "{evidence}");
    assert_eq!(item(&v, "worker-alive"), "fail");

    // A replacement worker comes up, but the dead run still holds the pool's only slot.
    let replacement = WorkerProc::start(s, &pool.name, &[], &[]);
    replacement.wait_online(&api, &pool.name, Duration::from_secs(60));
    let waiting = api.late_run(&dep, 600);
    let v = doctor(s, "pool_full_zombie", &waiting.id, &["--pending-threshold", "1s"], 2);
    assert_eq!(v["verdict"]["primary"], "slots.pool-full");
    let ids = finding_ids(&v);
    assert!(ids.contains(&"slots.zombie-holder".to_string()), "{ids:?}");
    let holders = v["findings"][0]["evidence"].to_string();
    assert!(holders.contains(&claimed.id) && holders.contains("ZOMBIE"), "{holders}");
    assert_eq!(item(&v, "concurrency"), "fail");
}

/// A real worker runs a flow whose module imports a missing package: infra.import-error quotes it.
fn import_error(s: &Server) {
    let api = s.api();
    let pool = api.pool("import", "process");
    let dep = hello_deployment(s, &pool, "broken_import.py:hello", json!({}));
    // The run is created once the worker polls, so it is due when the worker asks for it: a run
    // waiting for a slow worker start would be marked Late first, and the timeline would depend on
    // the machine's load.
    let worker = WorkerProc::start(s, &pool.name, &[], &[]);
    worker.wait_online(&api, &pool.name, Duration::from_secs(90));
    let run = api.run(&dep, 0);
    wait_for("the run to end", Duration::from_secs(90), || {
        matches!(api.run_state(&run).0.as_str(), "CRASHED" | "FAILED").then_some(())
    });
    // The engine ships its log records in batches: the state can land before the line doctor
    // quotes (the CI failure: the evidence lacked the traceback's line).
    api.wait_log(&run, "not_a_real_module_xyz");
    drop(worker);
    let v = doctor(s, "import_error", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "infra.import-error");
    assert_eq!(
        v["findings"][0]["title"],
        "The flow's code fails to load: ModuleNotFoundError: No module named 'not_a_real_module_xyz'"
    );
    assert_eq!(item(&v, "logs"), "fail");
}

/// The job's working directory does not exist: the worker cannot start the process, and
/// worker.submit-failed quotes its error.
fn submission_fails(s: &Server) {
    let api = s.api();
    let pool = api.pool("subfail", "process");
    let dep = hello_deployment(
        s,
        &pool,
        "hello.py:hello",
        json!({"job_variables": {"working_dir": "/nonexistent/unstuck-test"}}),
    );
    // The run is created once the worker polls, so it is due when the worker asks for it: a run
    // waiting for a slow worker start would be marked Late first, and the timeline would depend on
    // the machine's load.
    let worker = WorkerProc::start(s, &pool.name, &[], &[]);
    worker.wait_online(&api, &pool.name, Duration::from_secs(90));
    let run = api.run(&dep, 0);
    wait_for("the run to crash", Duration::from_secs(90), || (api.run_state(&run).0 == "CRASHED").then_some(()));
    // The worker ships its log records in batches, after the state: the quoted line must have landed.
    api.wait_log(&run, "Failed to submit flow run");
    drop(worker);
    let v = doctor(s, "submission_fails", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "worker.submit-failed");
    assert_eq!(finding_ids(&v), ["worker.submit-failed"], "no duplicate run.crashed finding");
}

/// A queue with limit 1 held by a Running run: the Late run in it names slots.queue-full and the holder.
fn queue_full(s: &Server) {
    let api = s.api();
    let pool = api.pool("queuefull", "process");
    api.set_queue_limit(&pool, "default", 1);
    api.heartbeat(&pool, "w1", 30);
    let dep = api.deployment(&pool, "default");
    let holder = api.run(&dep, -60);
    api.set_state(&holder, json!({"type": "RUNNING"}));
    let run = api.late_run(&dep, 600);
    api.poll(&pool, &["default"]);
    let v = doctor(s, "queue_full", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "slots.queue-full");
    assert!(v["findings"][0]["evidence"].to_string().contains(&holder.id));
}

/// Container output forwarded by the Kubernetes observer says the engine cannot reach the API (written
/// to the run's logs the way the observer does; no cluster runs here): infra.api-unreachable.
fn container_cannot_reach_the_api(s: &Server) {
    let (api, run) = kubernetes_run_pending(s, "apiunreach");
    api.log(
        &run,
        "prefect.flow_runs.observer",
        40,
        "Pod never connected: RuntimeError: Failed to reach API at http://127.0.0.1:4200/api/.",
    );
    let v = doctor(s, "api_unreachable", &run.id, &["--pending-threshold", "1s"], 2);
    assert_eq!(v["verdict"]["primary"], "infra.api-unreachable");
    assert!(v["findings"][0]["remediation"][0].as_str().unwrap_or_default().contains("points at the container itself"));
}

/// Forwarded container output shows the API refusing the engine's key: infra.api-auth.
fn container_api_key_rejected(s: &Server) {
    let (api, run) = kubernetes_run_pending(s, "apiauth");
    api.log(
        &run,
        "prefect.flow_runs.observer",
        40,
        "prefect.exceptions.PrefectHTTPStatusError: Client error '401 Unauthorized' for url 'http://prefect:4200/api/flow_runs/x'",
    );
    let v = doctor(s, "api_auth", &run.id, &["--pending-threshold", "1s"], 2);
    assert_eq!(v["verdict"]["primary"], "infra.api-auth");
    assert_eq!(item(&v, "permissions"), "fail");
}

/// A run of a Kubernetes pool claimed by a live worker, Submitting/Pending with a recorded job, past a
/// 1 s threshold: the shape prefect-kubernetes leaves.
fn kubernetes_run_pending(s: &Server, prefix: &str) -> (harness::Api, harness::api::Run) {
    let api = s.api();
    let pool = api.pool(prefix, "kubernetes");
    api.heartbeat(&pool, "k8s-worker", 30);
    let dep = api.deployment(&pool, "default");
    let run = api.run(&dep, -60);
    api.set_state(&run, json!({"type": "PENDING"}));
    api.patch(&format!("/flow_runs/{}", run.id), json!({"infrastructure_pid": "prefect-jobs:hello-abc12"}));
    api.log(&run, "prefect.flow_runs.worker", 20, &format!("Worker 'k8s-worker' submitting flow run '{}'", run.id));
    std::thread::sleep(Duration::from_millis(1500));
    (api, run)
}

/// Prefect 3: a deployment limit of 1 held by a Pending run; the next run is refused a slot
/// (AwaitingConcurrencySlot): slots.deployment-full names the holder, run.awaiting-slot follows.
#[test]
fn deployment_full_p3() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("depfull", "process");
    api.heartbeat(&pool, "w1", 30);
    let dep = api.deployment_with(&pool, "default", json!({"concurrency_limit": 1}));
    let holder = api.run(&dep, -600);
    assert_eq!(api.propose_state(&holder, json!({"type": "PENDING"}))["status"], "ACCEPT");
    let run = api.run(&dep, -600);
    let r = api.propose_state(&run, json!({"type": "PENDING"}));
    assert_eq!(r["status"], "REJECT", "{r}");
    assert_eq!(state_name(s, &run), "AwaitingConcurrencySlot");
    api.poll(&pool, &["default"]);
    let v = doctor(s, "deployment_full", &run.id, &[], 2);
    let ids = finding_ids(&v);
    assert_eq!(ids[0], "slots.deployment-full", "{ids:?}");
    assert!(ids.contains(&"run.awaiting-slot".to_string()));
    assert!(v["findings"][0]["evidence"].to_string().contains(&holder.id));
}

/// Prefect 3 with 30 s deployment leases: a run Pending past its lease gives the slot back while
/// still Pending: lease.expired.
#[test]
fn lease_expired_p3() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("lease", "process");
    api.heartbeat(&pool, "w1", 300);
    let dep = api.deployment_with(&pool, "default", json!({"concurrency_limit": 2}));
    let run = api.run(&dep, -60);
    assert_eq!(api.propose_state(&run, json!({"type": "PENDING"}))["status"], "ACCEPT");
    wait_for("the repossessor to free the expired lease's slot", Duration::from_secs(120), || {
        let d = api.get(&format!("/deployments/{}", dep.id));
        (d["global_concurrency_limit"]["active_slots"] == 0).then_some(())
    });
    let out = s.unstuck(&["doctor", &run.id, "-o", "json", "--pending-threshold", "1s"]);
    out.expect_code(2);
    let v = out.json();
    assert!(finding_ids(&v).contains(&"lease.expired".to_string()), "{v:#}");
    assert_eq!(item(&v, "concurrency"), "warn");
}

/// The server's Date header says 2 minutes later than this machine: clock.skew (via a proxy that
/// rewrites the header; the rest of the answers are the real server's).
#[test]
fn clock_skew_p3() {
    use crate::harness::proxy::{Fault, Proxy};
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("clock", "process");
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    let proxy = Proxy::start(&s.url, |_, _| {
        let ahead = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&ahead).expect("date");
        Fault::PassWithHeaders(vec![("date", date)])
    });
    let out = harness::unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"]);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "worker.none", "ages are judged on the server's clock");
    let skew = v["findings"].as_array().and_then(|f| f.iter().find(|f| f["id"] == "clock.skew")).cloned();
    assert!(skew.is_some_and(|f| f["title"].as_str().unwrap_or_default().contains("ahead of this machine's")));
}

/// A deployment whose git_clone pull step cannot reach its repository, run by a real Prefect 3 process
/// worker: the run's logs hold "Executing deployment step: git_clone" and the run crashes; the git error
/// itself went to the worker's own output. infra.pull-step-failed names the step, above run.crashed.
#[test]
fn pull_step_fails() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("pullstep", "process");
    let steps = json!([{"prefect.deployments.steps.git_clone": {"repository": "https://127.0.0.1:9/acme/flows.git"}}]);
    let dep = api.deployment_with(&pool, "default", json!({"pull_steps": steps}));
    let run = api.run(&dep, -1);
    let worker = WorkerProc::start(s, &pool.name, &[], &[]);
    wait_for("the run to crash", Duration::from_secs(120), || (api.run_state(&run).0 == "CRASHED").then_some(()));
    api.wait_log(&run, "Executing deployment step: git_clone");
    let v = doctor(s, "pull_step_fails", &run.id, &[], 2);
    assert_eq!(v["verdict"]["primary"], "infra.pull-step-failed", "{v:#}");
    let f = &v["findings"][0];
    assert_eq!(f["title"], "The deployment's pull step git_clone failed in the run's infrastructure");
    assert!(finding_ids(&v).contains(&"run.crashed".to_string()));
    drop(worker);
}

/// A real Prefect 3 process worker whose job command (`true`) exits 0 without running the flow: the run
/// stays Submitting, the run's logs hold only the submission lines (no exit line is written for code 0),
/// and the worker's prefect.worker.executed-flow-run event carries status code 0: infra.exited-cleanly.
#[test]
fn job_exits_cleanly() {
    let s = harness::p3();
    let api = s.api();
    let pool = s.api().process_pool_with_command("exitsclean", "true");
    let dep = hello_deployment(s, &pool, "hello.py:hello", json!({}));
    let run = api.run(&dep, -1);
    let worker = WorkerProc::start(s, &pool.name, &[], &[]);
    api.wait_infra_pid(&run, Duration::from_secs(90));
    wait_for("the worker's executed-flow-run event", Duration::from_secs(60), || {
        let page = api.post(
            "/events/filter",
            json!({"filter": {"event": {"prefix": ["prefect.worker.executed-flow-run"]}, "related": {"id": [format!("prefect.flow-run.{}", run.id)]}}}),
        );
        page["events"].as_array().is_some_and(|e| !e.is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(1500));
    let v = doctor(s, "job_exits_cleanly", &run.id, &["--pending-threshold", "1s"], 2);
    assert_eq!(v["verdict"]["primary"], "infra.exited-cleanly", "{v:#}");
    let f = &v["findings"][0];
    assert!(f["evidence"][0].as_str().unwrap_or_default().contains("status code 0"), "{f}");
    assert!(!finding_ids(&v).contains(&"run.infra-not-started".to_string()));
    drop(worker);
}
