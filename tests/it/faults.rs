//! Servers that are down, slow, rate-limiting or answering garbage, injected by a proxy in front of the
//! real Prefect 3 server: one clear line and exit 3 when the run cannot be diagnosed, a partial report
//! when only part of the evidence fails, and never a panic.

use std::time::Duration;

use crate::doctor_real::item;
use crate::harness::proxy::{Fault, Proxy, Seen};
use crate::harness::{self, Server, unstuck};

/// A Late run in a pool with no worker on `s` (a diagnosis with a known answer: worker.none).
fn late_run(s: &Server) -> harness::api::Run {
    let api = s.api();
    let pool = api.pool("proxy", "process");
    let dep = api.deployment(&pool, "default");
    api.late_run(&dep, 600)
}

fn is_run_read(r: &Seen) -> bool {
    r.method == "GET" && r.path.starts_with("/flow_runs/")
}

/// Nothing listens on the API port: exit 3 at once, one line naming the URL.
#[test]
fn api_down() {
    let out = unstuck(&["doctor", "00000000-0000-4000-8000-000000000001", "--api-url", "http://127.0.0.1:9/api"]);
    out.expect_code(3);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot reach the Prefect API at http://127.0.0.1:9/api"), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(5), "took {:?}", out.elapsed);
}

/// Every answer takes 20 s: the command gives up at --timeout with one line and exit 3.
#[test]
fn slow_server_hits_the_deadline() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |_, _| Fault::Delay(Duration::from_secs(20)));
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "--timeout", "2s"]);
    out.expect_code(3);
    assert!(out.stderr.contains("within the 2s time budget"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(6), "took {:?}", out.elapsed);
}

/// 429 with `Retry-After: 1` twice, then answers: the diagnosis succeeds after waiting as asked.
#[test]
fn rate_limited_then_answers() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |r, _| {
        static HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if is_run_read(r) && HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            Fault::Respond {
                status: 429,
                headers: vec![("retry-after", "1".into())],
                body: r#"{"detail":"slow down"}"#.into(),
            }
        } else {
            Fault::Pass
        }
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json", "-v"]);
    out.expect_code(2);
    assert_eq!(out.json()["verdict"]["primary"], "worker.none");
    assert!(out.elapsed >= Duration::from_secs(2), "Retry-After not honoured: {:?}", out.elapsed);
    assert_eq!(out.stderr.matches("retrying in").count(), 2, "{}", out.stderr);
}

/// 503 with an HTTP-date Retry-After, then answers.
#[test]
fn retry_after_as_http_date() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |r, _| {
        static HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if is_run_read(r) && HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
            let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&at).expect("date");
            Fault::Respond { status: 503, headers: vec![("retry-after", date)], body: "{}".into() }
        } else {
            Fault::Pass
        }
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"]);
    out.expect_code(2);
    assert!(out.elapsed >= Duration::from_millis(900), "{:?}", out.elapsed);
}

/// A Retry-After longer than the time budget is not waited for: exit 3 quickly, saying why.
#[test]
fn retry_after_beyond_the_budget() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |_, _| Fault::Respond {
        status: 429,
        headers: vec![("retry-after", "120".into())],
        body: r#"{"detail":"rate limited"}"#.into(),
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "--timeout", "5s"]);
    out.expect_code(3);
    assert!(out.elapsed < Duration::from_secs(3), "waited {:?}", out.elapsed);
    assert!(out.stderr.contains("HTTP 429") && out.stderr.contains("retry after 120s"), "{}", out.stderr);
}

/// Regression (issue 9): a server that answers 429 with `Retry-After: 0` forever gets the first try
/// and 5 retries, not a retry loop until the deadline.
#[test]
fn retry_after_does_not_extend_the_tries() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |r, _| {
        if is_run_read(r) {
            Fault::Respond { status: 429, headers: vec![("retry-after", "0".into())], body: "{}".into() }
        } else {
            Fault::Pass
        }
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "--timeout", "20s"]);
    out.expect_code(3);
    let reads = proxy.seen().iter().filter(|r| is_run_read(r)).count();
    assert_eq!(reads, 6, "one try and 5 retries of the run read");
    assert!(out.stderr.contains("HTTP 429"), "{}", out.stderr);
}

/// A 502 and a dropped connection are retried transparently.
#[test]
fn transient_failures_are_retried() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |_, n| match n {
        0 => Fault::Reset,
        1 => Fault::Respond { status: 502, headers: vec![], body: "bad gateway".into() },
        _ => Fault::Pass,
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"]);
    out.expect_code(2);
    assert_eq!(out.json()["verdict"]["primary"], "worker.none");
}

/// A burst of 503, 502 and 504 on the run read, then the answer: each is retried and the diagnosis
/// succeeds.
#[test]
fn a_burst_of_5xx_is_retried() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |r, _| {
        static HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        if !is_run_read(r) {
            return Fault::Pass;
        }
        match HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            n @ 0..=2 => Fault::Respond { status: [503, 502, 504][n], headers: vec![], body: "upstream".into() },
            _ => Fault::Pass,
        }
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"]);
    out.expect_code(2);
    assert_eq!(out.json()["verdict"]["primary"], "worker.none");
    assert_eq!(proxy.seen().iter().filter(|r| is_run_read(r)).count(), 4, "three failures, then the answer");
}

/// The run endpoint answers HTML with 200: exit 3, one line quoting the start of the body.
#[test]
fn garbage_for_the_run() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |r, _| {
        if is_run_read(r) {
            Fault::Respond { status: 200, headers: vec![], body: "<html><body>Welcome to nginx</body></html>".into() }
        } else {
            Fault::Pass
        }
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url]);
    out.expect_code(3);
    assert!(
        out.stderr.contains("not what a Prefect server sends") && out.stderr.contains("Welcome to nginx"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1);
}

/// Only the workers endpoint fails (500, then garbage): the rest of the diagnosis still prints,
/// the source says what failed, and worker-alive is unknown with the reason.
#[test]
fn one_endpoint_failing_gives_a_partial_report() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("partial", "process");
    api.pause_pool(&pool);
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    for fault in [500u16, 200] {
        let proxy = Proxy::start(&s.url, move |r, _| {
            if r.path.ends_with("/workers/filter") {
                let body = if fault == 200 { "[{\"nonsense\": true}]" } else { "{\"detail\":\"database is locked\"}" };
                Fault::Respond { status: fault, headers: vec![], body: body.into() }
            } else {
                Fault::Pass
            }
        });
        let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"]);
        out.expect_code(2);
        let v = out.json();
        assert_eq!(v["verdict"]["primary"], "pool.paused", "the paused pool is still found");
        assert_eq!(item(&v, "worker-alive"), "unknown");
        let detail = v["sources"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("failed: workers:"), "{detail}");
    }
}

/// Every request every command sends (doctor, with --observe too, the three slots commands, health in
/// JSON and Prometheus) is a GET or a POST to a read-only endpoint; none polls a queue or heartbeats
/// (recorded on the wire by the proxy).
#[test]
fn traffic_is_read_only() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("readonly", "process");
    api.queue(&pool, "other");
    api.heartbeat(&pool, "w1", 30);
    let dep = api.deployment(&pool, "default");
    let run = api.late_run(&dep, 600);
    let proxy = Proxy::start(&s.url, |_, _| Fault::Pass);
    for name_or_id in [run.id.as_str(), run.name.as_str()] {
        unstuck(&["doctor", name_or_id, "--api-url", &proxy.url, "-o", "json"]).expect_code(2);
    }
    // Every other command that talks to the API, on the same wire.
    let url = proxy.url.as_str();
    unstuck(&["doctor", &run.id, "--api-url", url, "--observe", "2s", "-o", "json"]).expect_code(2);
    unstuck(&["work-pool", "slots", &pool.name, "--api-url", url, "-o", "json"]);
    unstuck(&["work-queue", "slots", "default", "--pool", &pool.name, "--api-url", url, "-o", "json"]);
    unstuck(&["deployment", "slots", &dep.id, "--api-url", url, "-o", "json"]);
    unstuck(&["health", "--pool", &pool.name, "--api-url", url, "-o", "json"]);
    unstuck(&["health", "--pool", &pool.name, "--api-url", url, "-o", "prometheus"]);
    let seen = proxy.seen();
    assert!(seen.len() >= 30, "{seen:?}");
    for endpoint in ["/concurrency_status", "/workers/filter", "/queues/filter", "/logs/filter"] {
        assert!(
            seen.iter().any(|r| r.path.contains(endpoint)),
            "no command reached {endpoint}: the test lost coverage"
        );
    }
    for r in &seen {
        let last = r.path.split('?').next().unwrap_or("").rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
        let ok = r.method == "GET"
            || (r.method == "POST" && ["filter", "count", "paginate", "concurrency_status"].contains(&last));
        assert!(ok, "not read-only: {} {}", r.method, r.path);
        assert!(!r.path.contains("get_scheduled_flow_runs") && !r.path.contains("heartbeat"), "{}", r.path);
        let ua = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("user-agent")).map(|(_, v)| v.as_str());
        assert!(ua.is_some_and(|u| u.starts_with("unstuck/")), "user agent {ua:?}");
    }
    // The queue we did not poll is still unpolled: unstuck did not mark it.
    let queue = api.get(&format!("/work_pools/{}/queues/other", pool.name));
    assert!(queue["last_polled"].is_null(), "{queue}");
}

/// `n` log lines of `message_bytes` each, as `/logs/filter` answers them.
pub(crate) fn log_lines_json(n: usize, message_bytes: usize) -> String {
    let message = "x".repeat(message_bytes);
    let line = format!(
        r#"{{"name":"prefect.flow_runs","level":20,"message":"{message}","timestamp":"2026-11-21T11:30:00.000000Z","flow_run_id":null,"task_run_id":null}}"#
    );
    let mut body = String::with_capacity(n * (line.len() + 1) + 2);
    body.push('[');
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&line);
    }
    body.push(']');
    body
}

/// The measured peak RSS of a run, in KiB.
pub(crate) fn rss(out: &harness::Out) -> u64 {
    out.peak_rss_kib.expect("a measured run")
}

/// The Prefect source's detail.
fn prefect_detail(v: &serde_json::Value) -> String {
    v["sources"][0]["detail"].as_str().unwrap_or_default().to_string()
}

/// Headers sent, then the body stops halfway and stalls: for the run itself, exit 3 at --timeout with
/// one line; for a side read (the logs), the deadline still ends it and the reads that answered print.
#[test]
fn body_stalls_mid_answer() {
    let s = harness::p3();
    let run = late_run(s);
    let proxy = Proxy::start(&s.url, |r, _| if is_run_read(r) { Fault::StallBody } else { Fault::Pass });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "--timeout", "3s"]);
    out.expect_code(3);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("within the 3s time budget"), "{}", out.stderr);
    assert!(out.elapsed < Duration::from_secs(8), "took {:?}", out.elapsed);

    let proxy =
        Proxy::start(&s.url, |r, _| if r.path.starts_with("/logs/filter") { Fault::StallBody } else { Fault::Pass });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "--timeout", "3s", "-o", "json"]);
    assert!(out.elapsed < Duration::from_secs(8), "took {:?}", out.elapsed);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "worker.none", "the run, pool and workers still judge it: {v:#}");
    assert!(prefect_detail(&v).contains("logs"), "the unread logs are named: {}", prefect_detail(&v));
    out.expect_code(2);
}

/// A body cut short (its `Content-Length` promised more): the cut run read is retried and the
/// diagnosis succeeds; a side read cut every time is named in the sources, the rest still prints.
#[test]
fn truncated_bodies() {
    let s = harness::p3();
    let run = late_run(s);
    let cut_once = std::sync::atomic::AtomicBool::new(false);
    let proxy = Proxy::start(&s.url, move |r, _| {
        if is_run_read(r) && !cut_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Fault::Cut
        } else {
            Fault::Pass
        }
    });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"]);
    out.expect_code(2);
    assert_eq!(out.json()["verdict"]["primary"], "worker.none");
    assert_eq!(proxy.seen().iter().filter(|r| is_run_read(r)).count(), 2, "the cut read was retried");

    let proxy = Proxy::start(&s.url, |r, _| if r.path.ends_with("/workers/filter") { Fault::Cut } else { Fault::Pass });
    let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json", "--timeout", "20s"]);
    let v = out.json();
    assert!(prefect_detail(&v).contains("failed: workers:"), "{}", prefect_detail(&v));
    assert_eq!(item(&v, "worker-alive"), "unknown");
    assert!(
        v["verdict"]["primary"].as_str().is_some_and(|p| p.starts_with("run.") || p.starts_with("worker.")),
        "{v:#}"
    );
}

/// `/logs/filter` answers 50 MB (50,000 lines of 1 KB) to a request for 200: the answer is cut at a
/// bound, not buffered whole (peak RSS stays far below the body), the logs are named as unread in one
/// line, and the diagnosis stands; 50,000 short lines (5 MB) are read, and only a bounded number kept.
#[test]
fn huge_log_answers_are_bounded() {
    let s = harness::p3();
    let run = late_run(s);
    let huge: std::sync::Arc<String> = std::sync::Arc::new(log_lines_json(50_000, 1000));
    assert!(huge.len() > 50_000_000);
    let body = huge.clone();
    let proxy = Proxy::start(&s.url, move |r, _| {
        if r.path.starts_with("/logs/filter") {
            Fault::Respond { status: 200, headers: vec![], body: body.to_string() }
        } else {
            Fault::Pass
        }
    });
    let out = harness::unstuck_env_measured(
        &["doctor", &run.id, "--api-url", &proxy.url, "-o", "json", "--timeout", "20s"],
        &[],
    );
    eprintln!("50 MB /logs/filter: peak RSS {} KiB, {:?}", rss(&out), out.elapsed);
    assert!(rss(&out) < 60 * 1024, "peak RSS {} KiB for a 50 MB body", rss(&out));
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "worker.none", "{v:#}");
    let detail = prefect_detail(&v);
    assert!(detail.contains("logs") && detail.contains("larger than"), "{detail}");
    out.expect_code(2);

    let many = log_lines_json(50_000, 60);
    let proxy = Proxy::start(&s.url, move |r, _| {
        if r.path.starts_with("/logs/filter") {
            Fault::Respond { status: 200, headers: vec![], body: many.clone() }
        } else {
            Fault::Pass
        }
    });
    let dir = harness::TempDir::new("many-logs");
    let bundle = dir.path().join("bundle.json");
    let out = harness::unstuck_env_measured(
        &["doctor", &run.id, "--api-url", &proxy.url, "-o", "json", "--save-evidence", bundle.to_str().expect("utf8")],
        &[],
    );
    eprintln!("50,000 log lines: peak RSS {} KiB, {:?}", rss(&out), out.elapsed);
    out.expect_code(2);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).expect("bundle")).expect("bundle JSON");
    let kept = saved["body"]["logs"]["value"].as_array().map(Vec::len).unwrap_or_default();
    assert!((1..=400).contains(&kept), "{kept} lines kept of 50,000");
    assert!(rss(&out) < 60 * 1024, "peak RSS {} KiB", rss(&out));
}

/// The run read answers a state type this version does not know (one Prefect may add) and lacks every
/// optional field: no failure, the run is reported with its verbatim state, exit not 3.
#[test]
fn unknown_state_type_and_missing_fields() {
    let s = harness::p3();
    let run = late_run(s);
    let mut body = s.api().get(&format!("/flow_runs/{}", run.id));
    body["state_type"] = "HIBERNATING".into();
    body["state"]["type"] = "HIBERNATING".into();
    body["state"]["name"] = "Hibernating".into();
    let lean = serde_json::json!({"id": run.id, "name": run.name, "state_type": "HIBERNATING"});
    for (what, body) in [("unknown state", body), ("missing fields", lean)] {
        let text = body.to_string();
        let proxy = Proxy::start(&s.url, move |r, _| {
            if is_run_read(r) {
                Fault::Respond { status: 200, headers: vec![], body: text.clone() }
            } else {
                Fault::Pass
            }
        });
        let out = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"]);
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
        assert_ne!(out.code, 3, "{what}: {}\n{}", out.stdout, out.stderr);
        let v = out.json();
        assert_eq!(v["target"]["state"]["type"], "HIBERNATING", "{what}: {v:#}");
        assert_eq!(v["sources"][0]["status"], "collected", "{what}: {v:#}");
        let table = unstuck(&["doctor", &run.id, "--api-url", &proxy.url, "--color", "never"]);
        assert!(
            table.stdout.contains("HIBERNATING") || table.stdout.contains("Hibernating"),
            "{what}: {}",
            table.stdout
        );
    }
}
