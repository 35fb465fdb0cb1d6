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

/// Writes `text` as a bundle file in a scratch directory and replays it with `doctor`.
fn replay_text(text: &str) -> harness::Out {
    let scratch = harness::TempDir::new("bundle");
    let path = scratch.path().join("bundle.json");
    std::fs::write(&path, text).expect("write bundle");
    unstuck(&["doctor", "--evidence", path.to_str().expect("utf8"), "-o", "json"])
}

/// One line on stderr, no panic, no backtrace.
fn one_line(out: &harness::Out) -> &str {
    let err = out.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
    err
}

/// A bundle cut short (a copy interrupted, a disk full) at any of several places says it is
/// truncated; another format, older or newer and not replayable, says which and who wrote it.
#[test]
fn truncated_and_foreign_bundles_say_why() {
    let text = std::fs::read_to_string(dir().join("p3-worker-offline.json")).expect("bundle");
    for cut in [1, text.len() / 3, text.len() / 2, text.len() - 3] {
        let out = replay_text(&text[..cut]);
        out.expect_code(64);
        assert!(
            one_line(&out).contains("ends early: the evidence bundle is truncated"),
            "cut at {cut}: {}",
            out.stderr
        );
    }
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["format"] = serde_json::json!(0);
    let out = replay_text(&v.to_string());
    out.expect_code(64);
    assert!(one_line(&out).contains("is an evidence bundle of format 0 (written by unstuck "), "{}", out.stderr);
    // A newer format whose body this unstuck does not know: named, with what to do.
    v["format"] = serde_json::json!(7);
    v["tool"]["version"] = serde_json::json!("9.0.0");
    v["body"]["kind"] = serde_json::json!("fleet-forecast");
    let out = replay_text(&v.to_string());
    out.expect_code(64);
    let err = one_line(&out);
    assert!(err.contains("is format 7, written by unstuck 9.0.0") && err.contains("upgrade unstuck"), "{err}");
}

/// A bundle from a newer unstuck with fields this one does not know (at the top, in the body, in a
/// run, in a source) replays to the same report, with a one-line warning saying so.
#[test]
fn newer_bundle_with_unknown_fields_replays() {
    let stem = "p3-worker-offline";
    let text = std::fs::read_to_string(dir().join(format!("{stem}.json"))).expect("bundle");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["format"] = serde_json::json!(2);
    v["tool"]["version"] = serde_json::json!("3.1.0");
    v["signature"] = serde_json::json!({"alg": "ed25519", "value": "…"});
    v["body"]["gpu_quota"] = serde_json::json!({"requested": 1});
    v["body"]["flow_run"]["sla"] = serde_json::json!("PT5M");
    if let Some(first) = v["sources"].as_array_mut().and_then(|s| s.first_mut()) {
        first["latency_histogram"] = serde_json::json!([1, 2, 3]);
    }
    let out = replay_text(&v.to_string());
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join(format!("{stem}.report.json"))).expect("report"))
            .expect("report json");
    let got = out.json();
    assert_eq!(got["verdict"], want["verdict"], "{}", out.stdout);
    assert_eq!(got["findings"], want["findings"]);
    out.expect_code(2);
    let err = one_line(&out);
    assert!(err.contains("warning:") && err.contains("is format 2, written by unstuck 3.1.0"), "{err}");
    assert!(err.contains("replays what it understands"), "{err}");
}
