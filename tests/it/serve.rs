//! `unstuck serve`, the Prometheus exporter: scraped by a real Prometheus server against a real
//! Prefect 3 server; behind a slow proxy (`unstuck_up 0`, never a hung scrape); one scan at a time,
//! shared by every scrape; its HTTP surface, SIGTERM and bad addresses.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::proxy::{Fault, Proxy};
use crate::harness::{self, TempDir, scratch_home, unstuck, wait_for};

/// A running `unstuck serve --listen 127.0.0.1:0 ...`, killed by pid on drop.
struct Served {
    child: Child,
    /// The address it announced on stderr (`127.0.0.1:PORT`).
    addr: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        let dir = TempDir::new("serve");
        let log = dir.path().join("serve.log");
        let file = std::fs::File::create(&log).expect("serve log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_unstuck"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_clear()
            .env("HOME", scratch_home())
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        let mut child = cmd.spawn().expect("start unstuck serve");
        let addr = wait_for("unstuck serve to listen", Duration::from_secs(20), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("unstuck serve exited ({status}) before listening:\n{text}");
            }
            let (_, rest) = text.split_once("serving http://")?;
            rest.split('/').next().map(str::to_string)
        });
        Served { child, addr, log, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal}");
    }

    /// Its exit status, if it exits within `within`.
    fn exited_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Prometheus server scraping one target every second, killed by pid on drop.
struct PrometheusProc {
    child: Child,
    url: String,
    dir: TempDir,
}

impl PrometheusProc {
    fn start(target: &str) -> PrometheusProc {
        let dir = TempDir::new("prometheus");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: unstuck\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("prometheus.yml");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("prometheus log");
        let child = Command::new(harness::prometheus())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        PrometheusProc { child, url: format!("http://127.0.0.1:{port}"), dir }
    }

    /// The value of the one series `query` selects through Prometheus's HTTP API, once it has one.
    fn value(&self, query: &str) -> Option<f64> {
        let url = url::Url::parse_with_params(&format!("{}/api/v1/query", self.url), [("query", query)]).ok()?;
        let v: Value = harness::http_client(Duration::from_secs(5)).get(url).send().ok()?.json().ok()?;
        let result = v["data"]["result"].as_array()?;
        assert!(result.len() <= 1, "{query} selects several series: {v}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for PrometheusProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// GET (or another method) on `url`: the status, the body and how long it took.
fn request(method: &str, url: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let http = harness::http_client(Duration::from_secs(30));
    let resp = http.request(method.parse().expect("method"), url).send().unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().unwrap_or_default(), started.elapsed())
}

/// The value of an unlabelled sample in exposition text.
fn sample(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_string))
}

/// A real Prometheus scrapes `serve` against a real Prefect 3 server: through Prometheus's own query
/// API the exporter is up, the scrape parsed (`up` 1), and the pool with a run stuck in Pending has
/// its stuck count and a critical verdict; every request the scans sent was a read.
#[test]
fn real_prometheus_reads_the_fleet() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("serve-stuck", "process");
    api.heartbeat(&pool, "w-serve", 60);
    let run = api.run(&api.deployment(&pool, "default"), -60);
    api.set_state(&run, json!({"type": "PENDING"}));
    let proxy = Proxy::start(&s.url, |_, _| Fault::Pass);
    let served = Served::start(&[
        "--interval",
        "1s",
        "--pending-threshold",
        "1s",
        "--pool",
        &pool.name,
        "--api-url",
        &proxy.url,
    ]);
    let prometheus = PrometheusProc::start(&served.addr);
    let stuck = format!("unstuck_pool_runs_pending_stuck{{pool=\"{}\"}}", pool.name);
    let verdict = format!("unstuck_pool_verdict{{pool=\"{}\"}}", pool.name);
    let seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("Prometheus to have scraped the stuck run", Duration::from_secs(60), || {
            (prometheus.value(&stuck)? >= 1.0).then_some(())
        });
    }));
    assert!(seen.is_ok(), "prometheus log:\n{}\nserve log:\n{}", prometheus.log(), served.log());
    assert_eq!(prometheus.value("unstuck_up"), Some(1.0));
    assert_eq!(prometheus.value("up{job=\"unstuck\"}"), Some(1.0), "Prometheus parsed every scrape");
    assert_eq!(prometheus.value(&stuck), Some(1.0));
    assert_eq!(prometheus.value(&verdict), Some(2.0), "critical");
    let workers = format!("unstuck_pool_workers{{pool=\"{}\",state=\"online\"}}", pool.name);
    assert_eq!(prometheus.value(&workers), Some(1.0));
    let scanned = prometheus.value("unstuck_last_scan_timestamp_seconds").expect("last scan timestamp");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    assert!((now - scanned).abs() < 30.0, "last scan at {scanned}, now {now}");
    // Scan after scan, the stuck run diagnosed each time: nothing but reads on the wire.
    let seen = proxy.seen();
    assert!(seen.iter().any(|r| r.path.contains("/logs/filter")), "the stuck run was diagnosed");
    for r in &seen {
        let last = r.path.split('?').next().unwrap_or("").rsplit('/').find(|p| !p.is_empty()).unwrap_or("");
        let read = r.method == "GET" || (r.method == "POST" && ["filter", "count", "paginate"].contains(&last));
        assert!(read && !r.path.contains("heartbeat"), "not read-only: {} {}", r.method, r.path);
    }
}

/// Every request to the Prefect API hangs for 30 s; with --timeout 2s the first scrape answers
/// `unstuck_up 0` once that scan gives up (within timeout + 2 s), and later scrapes answer at once.
#[test]
fn slow_api_is_up_0_not_a_hung_scrape() {
    let s = harness::p3();
    let proxy = Proxy::start(&s.url, |_, _| Fault::Delay(Duration::from_secs(30)));
    let served = Served::start(&["--timeout", "2s", "--interval", "1m", "--api-url", &proxy.url]);
    let (status, body, took) = request("GET", &served.url("/metrics"));
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(4), "the scrape took {took:?}");
    assert_eq!(sample(&body, "unstuck_up").as_deref(), Some("0"), "{body}");
    assert!(sample(&body, "unstuck_scan_duration_seconds").is_some(), "{body}");
    assert!(!proxy.seen().is_empty(), "the scan did reach the (slow) API");
    let (status, body, took) = request("GET", &served.url("/metrics"));
    assert_eq!((status, sample(&body, "unstuck_up").as_deref()), (200, Some("0")));
    assert!(took < Duration::from_secs(1), "a later scrape took {took:?}");
    assert!(served.log().contains("time budget"), "the failure is logged: {}", served.log());
}

/// Reading the pool takes 3 s and a scan is due every second: while a scan is in flight, concurrent
/// scrapes start none of their own (they all get that one scan's answer), and each scan starts only
/// once the previous one has ended.
#[test]
fn one_scan_at_a_time() {
    let s = harness::p3();
    let pool = s.api().pool("serve-one", "process");
    let pool_read = format!("/work_pools/{}", pool.name);
    let starts = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let proxy = {
        let starts = starts.clone();
        Proxy::start(&s.url, move |r, _| {
            if r.method == "GET" && r.path == pool_read {
                starts.lock().unwrap_or_else(|e| e.into_inner()).push(Instant::now());
                Fault::Delay(Duration::from_secs(3))
            } else {
                Fault::Pass
            }
        })
    };
    let count = || starts.lock().unwrap_or_else(|e| e.into_inner()).len();
    let served =
        Served::start(&["--interval", "1s", "--timeout", "10s", "--pool", &pool.name, "--api-url", &proxy.url]);
    wait_for("the first scan to read the pool", Duration::from_secs(10), || (count() >= 1).then_some(()));
    let scrapes: Vec<_> = (0..6)
        .map(|_| {
            let url = served.url("/metrics");
            std::thread::spawn(move || request("GET", &url))
        })
        .collect();
    let answers: Vec<(u16, String, Duration)> = scrapes.into_iter().map(|t| t.join().expect("scrape")).collect();
    let stamps: Vec<Option<String>> =
        answers.iter().map(|(_, body, _)| sample(body, "unstuck_last_scan_timestamp_seconds")).collect();
    for (status, body, _) in &answers {
        assert_eq!((*status, sample(body, "unstuck_up").as_deref()), (200, Some("1")), "{body}\n{}", served.log());
    }
    assert!(stamps.iter().all(|t| t.is_some() && *t == stamps[0]), "one scan answered every scrape: {stamps:?}");
    wait_for("two more scans", Duration::from_secs(20), || (count() >= 3).then_some(()));
    let starts = starts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(2900), "a scan started {gap:?} after the previous one: overlap");
    }
}

/// With --interval 1m, scrapes after the first scan are answered from the cache: the API is read once.
#[test]
fn scrapes_within_the_interval_share_one_scan() {
    let s = harness::p3();
    let pool = s.api().pool("serve-cache", "process");
    let proxy = Proxy::start(&s.url, |_, _| Fault::Pass);
    let served = Served::start(&["--interval", "1m", "--pool", &pool.name, "--api-url", &proxy.url]);
    let pool_reads = || {
        let path = format!("/work_pools/{}", pool.name);
        proxy.seen().iter().filter(|r| r.method == "GET" && r.path == path).count()
    };
    let (_, first, _) = request("GET", &served.url("/metrics"));
    assert_eq!(sample(&first, "unstuck_up").as_deref(), Some("1"), "{first}\n{}", served.log());
    let (_, second, took) = request("GET", &served.url("/metrics"));
    let (_, third, _) = request("GET", &served.url("/metrics"));
    assert!(took < Duration::from_secs(1), "a cached scrape took {took:?}");
    assert_eq!(pool_reads(), 1, "one scan for three scrapes");
    let stamp = |t: &str| sample(t, "unstuck_last_scan_timestamp_seconds");
    assert!(stamp(&first).is_some());
    assert_eq!((stamp(&second), stamp(&third)), (stamp(&first), stamp(&first)));
    let health = format!("unstuck_pool_verdict{{pool=\"{}\"}}", pool.name);
    assert!(third.contains(&health), "health's families are served: {third}");
}

/// /healthz is 200 "ok"; other paths 404; POST 405 with Allow; HEAD has no body; an oversized request
/// head is refused. SIGTERM while a scrape waits: that response is still sent, then exit 0.
#[test]
fn http_surface_and_sigterm() {
    let s = harness::p3();
    let proxy = Proxy::start(&s.url, |_, _| Fault::Delay(Duration::from_secs(30)));
    let mut served = Served::start(&["--timeout", "5s", "--api-url", &proxy.url]);
    let (status, body, _) = request("GET", &served.url("/healthz"));
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _, _) = request("GET", &served.url("/nope"));
    assert_eq!(status, 404);
    let (status, _, _) = request("POST", &served.url("/metrics"));
    assert_eq!(status, 405);
    let resp = harness::http_client(Duration::from_secs(10)).head(served.url("/healthz")).send().expect("HEAD");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().unwrap_or_default(), "");

    let mut conn = TcpStream::connect(&served.addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let big = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(20 * 1024));
    let _ = conn.write_all(big.as_bytes());
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "an oversized head: {answer}");

    // The first scrape waits for the first scan (5 s against a hung API); SIGTERM comes meanwhile.
    let url = served.url("/metrics");
    let scrape = std::thread::spawn(move || request("GET", &url));
    wait_for("the scan to reach the API", Duration::from_secs(10), || (!proxy.seen().is_empty()).then_some(()));
    std::thread::sleep(Duration::from_millis(300));
    served.signal("TERM");
    let (status, body, _) = scrape.join().expect("scrape");
    assert_eq!((status, sample(&body, "unstuck_up").as_deref()), (200, Some("0")), "{body}");
    let status = served.exited_within(Duration::from_secs(3));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", served.log());
    assert!(!served.log().contains("panicked"), "{}", served.log());

    // Idle: SIGTERM ends it within a couple of seconds.
    let mut idle = Served::start(&["--api-url", &proxy.url]);
    idle.signal("TERM");
    assert_eq!(idle.exited_within(Duration::from_secs(2)).and_then(|s| s.code()), Some(0), "{}", idle.log());
}

/// A bad --listen is a usage error said in its first line (exit 64); a port in use is one line and a
/// non-zero exit; neither panics.
#[test]
fn bad_listen_addresses() {
    for bad in ["nope", "127.0.0.1", "localhost:9464", "127.0.0.1:99999"] {
        let out = unstuck(&["serve", "--listen", bad, "--api-url", "http://127.0.0.1:9/api"]);
        out.expect_code(64);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(first.contains("--listen") && first.contains("expected IP:PORT"), "{bad}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = unstuck(&["serve", "--listen", &addr, "--api-url", "http://127.0.0.1:9/api"]);
    assert_ne!(out.code, 0);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("cannot listen on {addr}")), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
