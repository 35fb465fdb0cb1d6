//! Evidence bundles in fixtures/bundles/, captured from real scenarios on real servers: replaying each
//! reproduces the report that was printed when it was captured, with no network.
//!
//! Recapture with `UNSTUCK_CAPTURE_BUNDLES=1 ./scripts/test bundles::capture` after changing what
//! evidence holds.

use std::path::{Path, PathBuf};

use crate::doctor_real::{self, Case};
use crate::harness::{self, Server, unstuck};

type Setup = fn(&Server) -> Case;

/// Bundles captured elsewhere (they need more than a Prefect server): stem, primary, exit code.
/// p3-k8s-image-pull: `k8s_real::capture_kubernetes_bundle`, against a recorded cluster.
const CAPTURED_ELSEWHERE: &[(&str, &str, i32)] = &[("p3-k8s-image-pull", "k8s.image-pull", 2)];

/// Each bundle: file stem, server, scenario, the primary finding its report must have, exit code.
fn bundles() -> Vec<(&'static str, &'static Server, Setup, &'static str, i32)> {
    vec![
        ("p3-no-worker", harness::p3(), doctor_real::setup_no_worker, "worker.none", 2),
        ("p2-no-worker", harness::p2(), doctor_real::setup_no_worker, "worker.none", 2),
        ("p3-worker-offline", harness::p3(), doctor_real::setup_worker_offline, "worker.offline", 2),
        ("p3-queue-not-polled", harness::p3(), doctor_real::setup_queue_not_polled, "queue.not-polled", 2),
        ("p3-pool-paused", harness::p3(), doctor_real::setup_pool_paused, "pool.paused", 2),
        ("p2-pool-paused", harness::p2(), doctor_real::setup_pool_paused, "pool.paused", 2),
        ("p3-orphaned-pending", harness::p3(), doctor_real::setup_orphaned_pending, "run.orphaned", 2),
        ("p2-orphaned-pending", harness::p2(), doctor_real::setup_orphaned_pending, "run.orphaned", 2),
        ("p3-crashed-137", harness::p3(), doctor_real::setup_crashed_137, "run.crashed", 2),
        ("p2-crashed-137", harness::p2(), doctor_real::setup_crashed_137, "run.crashed", 2),
    ]
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("bundles")
}

/// Without UNSTUCK_CAPTURE_BUNDLES, checks the fixtures are all there; with it, rebuilds each scenario
/// on its real server and saves the bundle and the reports printed live.
#[test]
fn capture() {
    let capture = std::env::var_os("UNSTUCK_CAPTURE_BUNDLES").is_some();
    for (stem, server, setup, primary, code) in bundles() {
        let bundle = dir().join(format!("{stem}.json"));
        if !capture {
            assert!(bundle.exists(), "missing {}: recapture the bundles", bundle.display());
            continue;
        }
        let case = setup(server);
        let path = bundle.to_str().expect("utf8");
        let mut args = vec!["doctor", case.run.id.as_str(), "-o", "json", "--save-evidence", path];
        args.extend(case.args.iter().copied());
        let json = server.unstuck(&args);
        json.expect_code(code);
        assert_eq!(json.json()["verdict"]["primary"], primary, "{stem}");
        // Check what was captured before keeping it: the bundle is a bundle of this run, and replaying it
        // gives exactly the report printed live (the table is kept from that replay).
        let replay = unstuck(&["doctor", "--evidence", path, "-o", "json", "--api-url", "http://127.0.0.1:9/api"]);
        replay.expect_code(code);
        assert_eq!(replay.json(), json.json(), "{stem}: the captured bundle does not replay to the live report");
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("bundle json");
        assert_eq!(saved["body"]["flow_run"]["id"], case.run.id.as_str(), "{stem}: a bundle of another run");
        std::fs::write(dir().join(format!("{stem}.report.json")), &json.stdout).expect("write report");
        let table = unstuck(&["doctor", "--evidence", path, "--color", "never"]);
        std::fs::write(dir().join(format!("{stem}.report.txt")), &table.stdout).expect("write table");
    }
}

/// Replaying each bundle offline reproduces the JSON report printed when it was captured, and its table.
#[test]
fn replay_reproduces_reports() {
    let all = bundles().into_iter().map(|(stem, _, _, primary, code)| (stem, primary, code));
    for (stem, primary, code) in all.chain(CAPTURED_ELSEWHERE.iter().copied()) {
        let bundle = dir().join(format!("{stem}.json"));
        let path = bundle.to_str().expect("utf8");
        let out = unstuck(&["doctor", "--evidence", path, "-o", "json", "--api-url", "http://127.0.0.1:9/api"]);
        out.expect_code(code);
        let want = std::fs::read_to_string(dir().join(format!("{stem}.report.json"))).expect("report");
        let got: serde_json::Value = out.json();
        let want: serde_json::Value = serde_json::from_str(&want).expect("report json");
        assert_eq!(got, want, "{stem}: the replay differs from the live report");
        assert_eq!(got["verdict"]["primary"], primary, "{stem}");
        let table = unstuck(&["doctor", "--evidence", path, "--color", "never"]);
        let want = std::fs::read_to_string(dir().join(format!("{stem}.report.txt"))).expect("table");
        assert_eq!(table.stdout, want, "{stem}: the replayed table differs");
    }
}

/// Replaying a bundle for a different run than the one named is a usage error.
#[test]
fn replay_checks_the_run_argument() {
    let path = dir().join("p3-no-worker.json");
    let out = unstuck(&["doctor", "someone-else", "--evidence", path.to_str().expect("utf8")]);
    out.expect_code(64);
    assert!(out.stderr.contains("the bundle is about flow run"), "{}", out.stderr);
}

/// Not-a-bundle and missing files are usage errors with one line.
#[test]
fn bad_bundles() {
    let out = unstuck(&["doctor", "--evidence", "/nonexistent/bundle.json"]);
    out.expect_code(64);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = unstuck(&["doctor", "--evidence", manifest.to_str().expect("utf8")]);
    out.expect_code(64);
    assert!(out.stderr.contains("is not JSON"), "{}", out.stderr);
}
