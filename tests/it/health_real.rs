//! `unstuck health` on real Prefect 3 and 2 servers with pools in different conditions: healthy, no
//! worker, paused, full, stuck runs, at risk. Every output format is checked by its own consumer: the
//! JSON by its schema, JUnit by an XML parser, Prometheus by prometheus_client's parser.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{self, Server, api::Pool, unstuck, unstuck_env};
use crate::schema::{assert_valid, validator};

on_both!(fleet_in_different_conditions, warnings_and_fail_on, all_pools_and_machine_formats);

/// Five pools: healthy, no worker with a Late run, paused with a Late run, full with a Late run, and
/// one with a run stuck in Pending. Returns them in that order.
fn build_fleet(s: &Server) -> Vec<Pool> {
    let api = s.api();
    let healthy = api.pool("fleet-ok", "process");
    api.heartbeat(&healthy, "w-ok", 30);
    api.poll(&healthy, &["default"]);

    let noworker = api.pool("fleet-noworker", "process");
    api.run(&api.deployment(&noworker, "default"), -900);

    let paused = api.pool("fleet-paused", "process");
    api.heartbeat(&paused, "w-paused", 30);
    let dep = api.deployment(&paused, "default");
    api.pause_pool(&paused);
    api.run(&dep, -900);

    let full = api.pool("fleet-full", "process");
    api.set_pool_limit(&full, 1);
    api.heartbeat(&full, "w-full", 30);
    let dep = api.deployment(&full, "default");
    api.run_with(&dep, -60, json!({"state": {"type": "RUNNING"}}));
    api.run(&dep, -900);
    api.poll(&full, &["default"]);

    let stuck = api.pool("fleet-stuck", "process");
    api.heartbeat(&stuck, "w-stuck", 30);
    let run = api.run(&api.deployment(&stuck, "default"), -60);
    api.set_state(&run, json!({"type": "PENDING"}));
    std::thread::sleep(Duration::from_millis(1500));
    vec![healthy, noworker, paused, full, stuck]
}

fn pool_args(pools: &[Pool]) -> Vec<String> {
    pools.iter().flat_map(|p| ["--pool".to_string(), p.name.clone()]).collect()
}

fn row<'a>(v: &'a Value, pool: &Pool) -> &'a Value {
    v["pools"].as_array().and_then(|p| p.iter().find(|r| r["name"] == pool.name.as_str())).expect("pool row")
}

/// The findings about one pool, by id.
fn ids_for(v: &Value, pool: &Pool) -> Vec<String> {
    let ranks: Vec<u64> = row(v, pool)["findings"].as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
    ranks
        .iter()
        .filter_map(|r| v["findings"].as_array()?.iter().find(|f| f["rank"] == *r))
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect()
}

/// Each condition gets the right verdict and primary finding; the table and JSON agree; exit 2.
fn fleet_in_different_conditions(s: &Server) {
    let pools = build_fleet(s);
    let mut args: Vec<String> = ["health", "-o", "json", "--pending-threshold", "1s"].map(String::from).to_vec();
    args.extend(pool_args(&pools));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.unstuck(&args);
    out.expect_code(2);
    let v = out.json();
    assert_valid(&validator("health.schema.json"), &v);
    let [healthy, noworker, paused, full, stuck] = &pools[..] else { unreachable!() };
    assert_eq!(row(&v, healthy)["verdict"], "ok");
    assert_eq!(row(&v, healthy)["workers"], json!({"online": 1, "offline": 0}));
    assert_eq!(row(&v, noworker)["verdict"], "critical");
    assert!(ids_for(&v, noworker).contains(&"worker.none".to_string()));
    assert_eq!(row(&v, noworker)["runs"]["late"], 1);
    assert_eq!(row(&v, paused)["verdict"], "critical");
    assert_eq!(ids_for(&v, paused)[0], "pool.paused");
    assert_eq!(row(&v, full)["verdict"], "critical");
    assert_eq!(row(&v, full)["slots"], json!({"active": 1, "limit": 1}));
    assert!(ids_for(&v, full).contains(&"slots.pool-full".to_string()), "{:?}", ids_for(&v, full));
    assert_eq!(row(&v, stuck)["verdict"], "critical");
    assert_eq!(row(&v, stuck)["runs"]["pending_stuck"], 1);
    // The stuck run was diagnosed: its primary cause is reported with the run as subject.
    let run_finding = v["findings"].as_array().into_iter().flatten().find(|f| {
        f["subject"].as_str().is_some_and(|s| s.starts_with("flow-run/"))
            && f["title"].as_str().is_some_and(|t| t.starts_with("Run '"))
    });
    assert_eq!(run_finding.map(|f| f["id"].clone()), Some(json!("run.orphaned")), "{v:#}");

    let mut table_args = args.clone();
    table_args.retain(|a| *a != "-o" && *a != "json");
    let table = s.unstuck(&table_args);
    table.expect_code(2);
    assert!(table.stdout.starts_with("CRITICAL: 4 of 5 pools cannot run work"), "{}", table.stdout);
    assert!(table.stdout.contains(&format!("[work-pool/{}]", noworker.name)), "{}", table.stdout);
}

/// A pool at risk only (its only worker is gone, nothing waits): a warning, exit 0 unless
/// --fail-on warning (exit 1). An unknown pool: exit 3.
fn warnings_and_fail_on(s: &Server) {
    let api = s.api();
    let pool = api.pool("fleet-risk", "process");
    api.heartbeat(&pool, "w-gone", 1);
    std::thread::sleep(Duration::from_millis(3500));
    let out = s.unstuck(&["health", "--pool", &pool.name, "-o", "json"]);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["verdict"]["status"], "warning");
    assert_eq!(v["findings"][0]["id"], "worker.offline");
    assert_eq!(v["findings"][0]["kind"], "risk");
    s.unstuck(&["health", "--pool", &pool.name, "--fail-on", "warning"]).expect_code(1);
    let junit = s.unstuck(&["health", "--pool", &pool.name, "-o", "junit", "--fail-on", "warning"]);
    assert_eq!(parse_junit(s, &junit.stdout)["failures"], 1);
    let junit = s.unstuck(&["health", "--pool", &pool.name, "-o", "junit"]);
    assert_eq!(parse_junit(s, &junit.stdout)["failures"], 0, "below --fail-on: reported, not failed");
    let out = s.unstuck(&["health", "--pool", "no-such-pool-anywhere"]);
    out.expect_code(3);
    assert!(out.stderr.contains("work pool 'no-such-pool-anywhere' not found"), "{}", out.stderr);
}

/// Python, from the Prefect 3 virtualenv (it has prometheus_client), reading stdin.
fn python(script: &str, input: &str) -> String {
    let python = harness::p3().venv.join("bin").join("python");
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("python");
    assert!(out.status.success(), "python failed: {}\ninput:\n{input}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Parses JUnit XML with Python's XML parser; returns the totals and, per suite, its testcases.
fn parse_junit(_s: &Server, xml: &str) -> Value {
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == "testsuites", root.tag
suites = {}
for suite in root.findall("testsuite"):
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases)
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failed)
    suites[suite.get("name")] = {"cases": [c.get("name") for c in cases], "failed": failed}
print(json.dumps({"tests": int(root.get("tests")), "failures": int(root.get("failures")), "suites": suites}))
"#;
    serde_json::from_str(&python(script, xml)).expect("junit summary")
}

/// Parses Prometheus text exposition with prometheus_client's own parser; returns samples.
fn parse_prometheus(text: &str) -> Value {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    assert family.type == "gauge", family
    for s in family.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    serde_json::from_str(&python(script, text)).expect("samples")
}

/// Every pool of the server (no --pool), in JUnit, Prometheus and Markdown; the fleet's pools appear
/// with the right figures; an unreachable API still yields `unstuck_up 0` for monitoring.
fn all_pools_and_machine_formats(s: &Server) {
    let pools = build_fleet(s);
    let [healthy, noworker, _, full, stuck] = &pools[..] else { unreachable!() };
    let junit = s.unstuck(&["health", "-o", "junit", "--pending-threshold", "1s"]);
    junit.expect_code(2);
    let j = parse_junit(s, &junit.stdout);
    let suite = |p: &Pool| j["suites"][format!("work-pool/{}", p.name)].clone();
    assert_eq!(suite(healthy)["failed"], json!([]));
    assert!(suite(healthy)["cases"].as_array().is_some_and(|c| c.len() >= 9), "one testcase per check");
    assert_eq!(suite(noworker)["failed"], json!(["worker.none"]));
    assert!(suite(full)["failed"].as_array().is_some_and(|f| f.contains(&json!("slots.pool-full"))), "{}", suite(full));
    assert!(
        suite(stuck)["failed"]
            .as_array()
            .is_some_and(|f| f.iter().any(|n| n.as_str().is_some_and(|n| n.starts_with("stuck run: ")))),
        "{}",
        suite(stuck)
    );

    let prom = s.unstuck(&["health", "-o", "prometheus", "--pending-threshold", "1s"]);
    prom.expect_code(2);
    let samples = parse_prometheus(&prom.stdout);
    let value = |name: &str, pool: &Pool, extra: Option<(&str, &str)>| {
        samples
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| {
                x["name"] == name
                    && x["labels"]["pool"] == pool.name.as_str()
                    && extra.is_none_or(|(k, v)| x["labels"][k] == v)
            })
            .and_then(|x| x["value"].as_f64())
    };
    assert_eq!(value("unstuck_pool_workers", healthy, Some(("state", "online"))), Some(1.0));
    assert_eq!(value("unstuck_pool_slots_limit", full, None), Some(1.0));
    assert_eq!(value("unstuck_pool_runs_late", noworker, None), Some(1.0));
    assert_eq!(value("unstuck_pool_runs_pending_stuck", stuck, None), Some(1.0));
    assert_eq!(value("unstuck_pool_verdict", noworker, None), Some(2.0));
    assert!(
        samples
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["name"] == "unstuck_findings" && x["labels"]["id"] == "worker.none")
    );

    let md = s.unstuck(&["health", "-o", "markdown", "--pool", &healthy.name, "--pool", &noworker.name]);
    md.expect_code(2);
    assert!(md.stdout.starts_with("## unstuck health"), "{}", md.stdout);
    assert!(md.stdout.contains(&format!("| `{}` | process |", noworker.name)), "{}", md.stdout);

    let down = unstuck(&["health", "-o", "prometheus", "--api-url", "http://127.0.0.1:9/api"]);
    down.expect_code(3);
    let samples = parse_prometheus(&down.stdout);
    let samples = samples.as_array().expect("samples");
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!((samples[0]["name"].as_str(), samples[0]["value"].as_f64()), (Some("unstuck_up"), Some(0.0)));
}

/// A saved health bundle replays to the same JSON, with no network.
#[test]
fn health_bundle_replays() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("fleet-bundle", "process");
    api.run(&api.deployment(&pool, "default"), -900);
    let dir = harness::TempDir::new("health-bundle");
    let path = dir.path().join("h.json");
    let path = path.to_str().expect("utf8");
    let live = s.unstuck(&["health", "--pool", &pool.name, "-o", "json", "--save-evidence", path]);
    live.expect_code(2);
    let replay = unstuck_env(&["health", "--evidence", path, "-o", "json"], &[]);
    replay.expect_code(2);
    assert_eq!(replay.json(), live.json());
}

/// Regression (issue 9): the fleet-wide read of stuck and late runs has a budget (10 pages; pages of 10
/// on this server); a busy pool that fills it must not leave a quiet pool unread. The quiet pool's
/// Late run, due after the busy pool's 120, is beyond the fleet budget: each pool is then read on its
/// own (3 pages each), the quiet pool's run is counted, and only the busy pool says its counts are
/// lower bounds.
#[test]
fn a_busy_pool_does_not_hide_a_quiet_one() {
    let s = harness::p3_small();
    let api = s.api();
    let (busy, quiet) = (api.pool("busy", "process"), api.pool("quiet", "process"));
    let (busy_dep, quiet_dep) = (api.deployment(&busy, "default"), api.deployment(&quiet, "default"));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..30 {
                    api.run(&busy_dep, -900);
                }
            });
        }
    });
    api.run(&quiet_dep, -600);
    let out = s.unstuck(&["health", "--pool", &busy.name, "--pool", &quiet.name, "-o", "json"]);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(row(&v, &quiet)["runs"]["late"], 1, "{}", row(&v, &quiet));
    assert!(row(&v, &quiet)["runs"].get("counts_are_lower_bounds").is_none(), "exact counts: the flag is left out");
    assert_eq!(row(&v, &quiet)["verdict"], "critical");
    assert_eq!(row(&v, &busy)["runs"]["counts_are_lower_bounds"], true);
    // Three pages of 10 that overlap by one row: 28 runs read of 120.
    assert!(row(&v, &busy)["runs"]["late"].as_u64().is_some_and(|n| (28..120).contains(&n)), "{}", row(&v, &busy));
}
