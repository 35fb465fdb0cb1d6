//! The Kubernetes backend end to end: a real flow run on a real Prefect server points at a recorded
//! cluster (fixtures/k8s/<scenario>, served by harness::kube_api to the real `kube` client through a
//! generated kubeconfig), and `doctor` must name the scenario's cause from what it reads over the wire.
//!
//! Each scenario is made current: its run id becomes the real run's, and every timestamp moves by the
//! time between the recording's "now" and this test's, so ages read as they did when recorded.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use crate::harness::kube_api::{Fault, KubeApi};
use crate::harness::{self, Server, TempDir, api::Run};

on_both!(legacy_and_current_pids_locate_the_job);

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("k8s")
}

pub(crate) fn meta(name: &str) -> Value {
    let text = std::fs::read_to_string(scenarios_dir().join(name).join("scenario.json")).expect("scenario.json");
    serde_json::from_str(&text).expect("scenario.json is JSON")
}

static TIMESTAMP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)""#).expect("regex"));

/// The pending threshold the scenarios are replayed with; the recordings used 300 s.
pub(crate) const THRESHOLD_SECS: u64 = 3;

/// A copy of the scenario for `run_id` on today's clock: ids replaced, and time compressed around the
/// recording's "now" by THRESHOLD_SECS / its threshold, so every age keeps its ratio to the threshold
/// (a pod Pending for 20 minutes against 5 becomes 12 s against 3).
pub(crate) fn materialise(name: &str, run_id: &str) -> TempDir {
    // A scenario whose timing cannot be scaled says so (`pipeline.compress_time: false`).
    materialise_with(name, run_id, meta(name)["pipeline"]["compress_time"].as_bool() != Some(false))
}

/// `materialise`, choosing whether to compress time (uncompressed: ages exactly as recorded).
fn materialise_with(name: &str, run_id: &str, compress: bool) -> TempDir {
    let m = meta(name);
    let recorded_now: jiff::Timestamp = m["now"].as_str().expect("now").parse().expect("now is RFC 3339");
    let factor = if compress {
        THRESHOLD_SECS as f64 / m["pending_threshold_seconds"].as_f64().expect("threshold")
    } else {
        1.0
    };
    let now = jiff::Timestamp::now();
    let from_id = m["run_id"].as_str().expect("run_id").to_string();
    let out = TempDir::new(&format!("k8s-{name}"));
    copy(&scenarios_dir().join(name), out.path(), &|text| {
        let text = text.replace(&from_id, run_id);
        TIMESTAMP
            .replace_all(&text, |c: &regex::Captures<'_>| {
                let t: jiff::Timestamp = c[1].parse().expect("fixture timestamp");
                let age = recorded_now.duration_since(t).as_secs_f64() * factor;
                let moved = now - jiff::SignedDuration::from_secs_f64(age);
                format!("\"{}\"", moved.round(jiff::Unit::Second).unwrap_or(moved))
            })
            .into_owned()
    });
    out
}

fn copy(from: &Path, to: &Path, edit: &dyn Fn(&str) -> String) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read scenario dir").flatten() {
        let p = entry.path();
        let target = to.join(entry.file_name());
        if p.is_dir() {
            copy(&p, &target, edit);
        } else {
            let text = std::fs::read_to_string(&p).expect("fixture is text");
            std::fs::write(&target, edit(&text)).expect("write fixture copy");
        }
    }
}

/// A run in `pool` in the scenario's state, with its pid, job variables and worker log lines.
fn scenario_run(s: &Server, dep: &harness::api::Deployment, name: &str, pid: Option<&str>) -> Run {
    let api = s.api();
    let m = meta(name);
    let job_variables = json!({"namespace": m["namespace"]});
    let run = api.run_with(dep, -60, json!({"job_variables": job_variables}));
    if m["saw_infrastructure_pending"].as_bool() == Some(true) {
        api.set_state(&run, json!({"type": "PENDING", "name": "InfrastructurePending"}));
    }
    let (ty, st) = (m["state"]["type"].as_str().expect("type"), m["state"]["name"].as_str().expect("name"));
    api.set_state(&run, json!({"type": ty, "name": st}));
    if let Some(pid) = pid {
        api.patch(&format!("/flow_runs/{}", run.id), json!({"infrastructure_pid": pid}));
    }
    for line in m["worker_log_lines"].as_array().into_iter().flatten() {
        api.log(&run, "prefect.flow_runs.worker", 40, line.as_str().unwrap_or_default());
    }
    run
}

/// A run of a fresh Kubernetes pool with a live worker, in the scenario's state past the threshold,
/// and the scenario made current for it (time compressed unless `compress` is false).
pub(crate) fn stuck_in(s: &Server, name: &str, pid: &str, compress: bool) -> (Run, TempDir, harness::api::Pool) {
    let api = s.api();
    let pool = api.pool("k8s", "kubernetes");
    let dep = api.deployment(&pool, "default");
    let run = scenario_run(s, &dep, name, Some(pid));
    let dir = materialise_with(name, &run.id, compress);
    api.heartbeat(&pool, "k8s-worker", 30);
    std::thread::sleep(std::time::Duration::from_secs(THRESHOLD_SECS + 1));
    (run, dir, pool)
}

/// `doctor` against the recorded cluster.
pub(crate) fn doctor(s: &Server, kube: &KubeApi, dir: &Path, run: &Run, extra: &[&str]) -> harness::Out {
    doctor_with(s, &kube.kubeconfig(dir, "default"), run, extra)
}

/// `doctor` with this kubeconfig (its server may be gone).
pub(crate) fn doctor_with(s: &Server, kubeconfig: &Path, run: &Run, extra: &[&str]) -> harness::Out {
    doctor_by(s, kubeconfig, run, extra, harness::unstuck_env)
}

/// `doctor_with`, run by `runner` (`harness::unstuck_env_measured` to measure its memory).
pub(crate) fn doctor_by(
    s: &Server,
    kubeconfig: &Path,
    run: &Run,
    extra: &[&str],
    runner: harness::Runner,
) -> harness::Out {
    let threshold = format!("{THRESHOLD_SECS}s");
    let mut args = vec!["doctor", run.id.as_str(), "--pending-threshold", threshold.as_str()];
    if !extra.contains(&"-o") {
        args.extend(["-o", "json"]);
    }
    args.extend_from_slice(extra);
    args.extend(["--api-url", &s.url]);
    let kc = kubeconfig.to_str().expect("utf8").to_string();
    runner(&args, &[("KUBECONFIG", kc.as_str())])
}

/// The report's Kubernetes source.
pub(crate) fn kube_source(v: &Value) -> Value {
    v["sources"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "kubernetes")).cloned().unwrap_or_default()
}

pub(crate) fn item<'a>(v: &'a Value, id: &str) -> (&'a str, &'a str) {
    let e = v["checklist"].as_array().and_then(|c| c.iter().find(|e| e["id"] == id)).expect("checklist item");
    (e["status"].as_str().unwrap_or_default(), e["detail"].as_str().unwrap_or_default())
}

/// Every request the server saw was a read (or an access review) that the shipped RBAC grants
/// (`KUBE_GRANTS`, checked against deploy/kubernetes in deploy.rs), and the token never leaked.
fn assert_read_only(kube: &KubeApi, out: &harness::Out) {
    for r in kube.seen() {
        let review = r.method == "POST" && r.path.ends_with("subjectaccessreviews");
        assert!(r.method == "GET" || review, "a write reached Kubernetes: {} {}", r.method, r.path);
        assert!(!r.is_watch(), "a watch reached Kubernetes: {}", r.path);
        let op = unstuck::policy::kube_op(&r.method, &r.path, Some(&r.query)).expect("a resource request");
        let granted = unstuck::policy::KUBE_GRANTS.iter().any(|(v, g, res, sub)| {
            *v == op.verb && *g == op.group && *res == op.resource && sub.map(str::to_string) == op.subresource
        });
        assert!(granted, "{} {} is not in KUBE_GRANTS: {op:?}", r.method, r.path);
    }
    assert!(!out.stdout.contains(kube.token()) && !out.stderr.contains(kube.token()), "the kubeconfig token leaked");
}

/// Every recorded scenario, through a real run on Prefect 3: the primary cause (and its sub-class and
/// the message it rests on) is what the recording shows, the infrastructure items are judged rather
/// than unknown, and only reads went to the cluster.
#[test]
fn every_scenario_names_its_cause() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("k8s", "kubernetes");
    let dep = api.deployment(&pool, "default");
    let mut names: Vec<String> = std::fs::read_dir(scenarios_dir())
        .expect("fixtures/k8s")
        .flatten()
        .filter(|e| e.path().join("scenario.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 30, "the recorded scenarios are there: {names:?}");
    // Every run first, then past the threshold: each is stuck when diagnosed.
    let runs: Vec<(Run, TempDir)> = names
        .iter()
        .map(|name| {
            let run = scenario_run(s, &dep, name, meta(name)["infrastructure_pid"].as_str());
            let dir = materialise(name, &run.id);
            (run, dir)
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(THRESHOLD_SECS + 1));
    let mut failures = Vec::new();
    for (name, (run, dir)) in names.iter().zip(&runs) {
        let m = meta(name);
        // The worker that created the Job is alive: only Kubernetes explains the run.
        api.heartbeat(&pool, "k8s-worker", 30);
        let kube = KubeApi::start(dir.path());
        let out = doctor(s, &kube, dir.path(), run, &[]);
        assert_read_only(&kube, &out);
        let v = out.json();
        let expect = &m["expect"];
        let primary = v["verdict"]["primary"].as_str();
        // Where the whole pipeline sees more than the Kubernetes layer alone (the container's log behind
        // a crash loop), `pipeline` in scenario.json says what and why; the Kubernetes finding stays.
        let want = m["pipeline"]["primary"].as_str().or(expect["primary"].as_str());
        let findings: Vec<&Value> = v["findings"].as_array().into_iter().flatten().collect();
        let mut problems = Vec::new();
        match want {
            Some(want) if primary != Some(want) => problems.push(format!("primary {primary:?}, want {want}")),
            None if v["verdict"]["status"] == "critical" => {
                problems.push(format!("critical {primary:?}, want no cause"))
            }
            _ => {}
        }
        // A stuck run is critical (2); a Running one with a risk is a warning (1).
        let want_code = match (want, m["state"]["type"].as_str()) {
            (None, _) => 0,
            (Some(_), Some("PENDING")) => 2,
            (Some(_), _) => 1,
        };
        if out.code != want_code {
            problems.push(format!("exit {}, want {want_code}", out.code));
        }
        let named = expect["primary"].as_str().and_then(|id| findings.iter().find(|f| f["id"] == id));
        if let (Some(d), Some(f)) = (expect["detail_contains"].as_str(), named) {
            let text = format!("{} {}", f["title"], f["detail"]);
            if !text.contains(d) {
                problems.push(format!("detail lacks {d:?}: {text}"));
            }
        }
        if let (Some(e), Some(f)) = (expect["evidence_contains"].as_str(), named) {
            let lines: Vec<&str> = f["evidence"].as_array().into_iter().flatten().filter_map(|l| l.as_str()).collect();
            if !lines.iter().any(|l| l.contains(e)) {
                problems.push(format!("evidence lacks {e:?}: {}", f["evidence"]));
            }
        }
        if expect["primary"].is_string() && named.is_none() {
            problems.push(format!("{} not found", expect["primary"]));
        }
        let absent = if m["pipeline"]["absent"].is_array() { &m["pipeline"]["absent"] } else { &expect["absent"] };
        for absent in absent.as_array().into_iter().flatten() {
            let ids: Vec<&str> =
                v["findings"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
            if ids.contains(&absent.as_str().unwrap_or_default()) {
                problems.push(format!("{absent} should be absent: {ids:?}"));
            }
        }
        for id in ["image-pull", "permissions", "capacity", "infrastructure"] {
            let (status, detail) = item(&v, id);
            if status == "unknown" && (detail.contains("not configured") || detail.contains("Prefect API only")) {
                problems.push(format!("{id} not judged from Kubernetes: {detail}"));
            }
        }
        let kube_source = v["sources"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "kubernetes")).cloned();
        match kube_source {
            Some(src) if src["status"] == "collected" => {}
            other => problems.push(format!("kubernetes source: {other:?}")),
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} scenarios wrong:\n{}", failures.len(), failures.join("\n"));
}

/// Prefect 3 records `<namespace>:<job>`, the Prefect 2 worker and KubernetesJob block
/// `<cluster uid>:<namespace>:<job>`: both find the Job, and the run's own label finds its pods while
/// the other run's Job and pods in the same namespace are left alone.
fn legacy_and_current_pids_locate_the_job(s: &Server) {
    let pid = match s.version {
        harness::Gen::P3 => "prefect:grinning-chimera-x7k2p",
        harness::Gen::P2 => "6f1c2b9e-1d1f-4b8e-9a51-0b8f6f1f2c3d:prefect:grinning-chimera-x7k2p",
    };
    let (run, dir, _pool) = stuck_in(s, "image-pull-not-found", pid, true);
    let kube = KubeApi::start(dir.path());
    let out = doctor(s, &kube, dir.path(), &run, &[]);
    out.expect_code(2);
    assert_read_only(&kube, &out);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "k8s.image-pull", "{v:#}");
    assert_eq!(item(&v, "image-pull").0, "fail");
    let seen: Vec<String> = kube.seen().iter().map(|r| r.path.clone()).collect();
    assert!(seen.iter().any(|p| p == "/apis/batch/v1/namespaces/prefect/jobs/grinning-chimera-x7k2p"), "{seen:#?}");
}

/// A 403 on listing pods fails the Kubernetes source naming what unstuck needs, and the Prefect
/// findings still print; an API server that is down or slow is reported within --timeout.
#[test]
fn kubernetes_failures_are_reported_and_the_rest_still_prints() {
    let s = harness::p3();
    let (run, dir, _pool) = stuck_in(s, "image-pull-not-found", "prefect:grinning-chimera-x7k2p", true);

    // Forbidden to list pods.
    let kube = KubeApi::start_with(dir.path(), |seen, _| {
        if seen.path.ends_with("/pods") {
            Fault::Respond {
                status: 403,
                headers: vec![],
                body: r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:ops:unstuck\" cannot list resource \"pods\" in API group \"\" in the namespace \"prefect\"","reason":"Forbidden","code":403}"#.into(),
            }
        } else {
            Fault::Pass
        }
    });
    let out = doctor(s, &kube, dir.path(), &run, &[]);
    let v = out.json();
    let src = kube_source(&v);
    assert_eq!(src["status"], "failed", "{src}");
    assert!(src["detail"].as_str().unwrap_or_default().contains("list pods in namespace prefect"), "{src}");
    assert_eq!(item(&v, "image-pull").0, "unknown");
    assert!(item(&v, "image-pull").1.contains("forbidden"), "{:?}", item(&v, "image-pull"));
    assert_eq!(v["verdict"]["primary"], "run.infra-not-started", "Prefect's own finding still prints: {v:#}");
    drop(kube);

    // Down (nothing listens), then slow (every answer later than the deadline): each a failed source,
    // within --timeout.
    let down = KubeApi::start(dir.path());
    let down_config = down.kubeconfig(&dir.path().join("down"), "default");
    drop(down);
    let slow = KubeApi::start_with(dir.path(), |_, _| Fault::Delay(std::time::Duration::from_secs(20)));
    let slow_config = slow.kubeconfig(&dir.path().join("slow"), "default");
    for (config, says) in [(&down_config, "unreachable"), (&slow_config, "did not answer in time")] {
        let out = doctor_with(s, config, &run, &["--timeout", "3s"]);
        let src = kube_source(&out.json());
        assert_eq!(src["status"], "failed", "{src}");
        assert!(src["detail"].as_str().unwrap_or_default().contains(says), "{src}");
        assert!(out.elapsed < std::time::Duration::from_secs(6), "within --timeout: {:?}", out.elapsed);
    }

    // Not configured at all: skipped with the hint, never an error.
    let out =
        harness::unstuck_env(&["doctor", &run.id, "-o", "json", "--pending-threshold", "1s", "--api-url", &s.url], &[]);
    let v = out.json();
    let (status, detail) = item(&v, "image-pull");
    assert_eq!(status, "unknown");
    assert!(detail.contains("Kubernetes not configured: pass --kube-context or set KUBECONFIG"), "{detail}");
    // --no-kube: not consulted at all.
    let quiet = KubeApi::start(dir.path());
    let out = doctor(s, &quiet, dir.path(), &run, &["--no-kube"]);
    assert!(quiet.seen().is_empty(), "{:?}", quiet.seen());
    assert!(item(&out.json(), "image-pull").1.contains("--no-kube"), "{}", out.stdout);
}

const PLANTED: &[&str] = &[
    "pnu_plantedK8sApiKey0123456789abcdef",
    "Hunter2-planted-db-password",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPLANTED01",
    "eyJhbGciOiJIUzI1NiJ9.plantedBearer.c2lnbmF0dXJl",
];

/// Secrets a worker really puts in a Job (PREFECT_API_KEY in plain text in the pod's env), in
/// container args and in log lines never reach stdout, stderr or a saved bundle; the env itself is
/// collected (its names are there), so the test fails if the pods are not read at all.
#[test]
fn secrets_in_pods_and_logs_never_leak() {
    let s = harness::p3();
    let (run, dir, _pool) = stuck_in(s, "crash-loop", "prefect:grinning-chimera-x7k2p", true);
    plant(dir.path());
    let kube = KubeApi::start(dir.path());
    let bundle = dir.path().join("bundle.json");
    let json = doctor(s, &kube, dir.path(), &run, &["--save-evidence", bundle.to_str().expect("utf8")]);
    json.expect_code(2);
    let table = doctor(s, &kube, dir.path(), &run, &["-o", "table"]);
    let saved = std::fs::read_to_string(&bundle).expect("bundle written");
    assert!(saved.contains("PREFECT_API_KEY"), "the pods' env was collected");
    assert!(saved.contains("ModuleNotFoundError"), "the container log was collected");
    for secret in PLANTED {
        for (what, text) in
            [("json", &json.stdout), ("table", &table.stdout), ("stderr", &json.stderr), ("bundle", &saved)]
        {
            assert!(!text.contains(secret), "{secret} leaked into the {what}");
        }
    }
    assert_read_only(&kube, &json);
}

/// Plants the secrets in every pod's containers (env, args) and every container log of a scenario copy.
fn plant(dir: &Path) {
    let pods_path = dir.join("pods.json");
    let mut pods: Value = serde_json::from_str(&std::fs::read_to_string(&pods_path).expect("pods.json")).expect("json");
    for pod in pods["items"].as_array_mut().expect("items") {
        for c in pod["spec"]["containers"].as_array_mut().expect("containers") {
            c["env"] = json!([
                {"name": "PREFECT_API_URL", "value": "https://api.prefect.cloud/api/accounts/a/workspaces/w"},
                {"name": "PREFECT_API_KEY", "value": PLANTED[0]},
                {"name": "DB_PASSWORD", "value": PLANTED[1]},
            ]);
            c["args"] = json!(["prefect", "flow-run", "execute", "--aws-secret", PLANTED[2]]);
        }
    }
    std::fs::write(&pods_path, serde_json::to_string(&pods).expect("json")).expect("write pods");
    plant_logs(&dir.join("logs"));
}

fn plant_logs(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            plant_logs(&p);
        } else if p.extension().is_some_and(|e| e == "log") {
            let mut text = std::fs::read_to_string(&p).expect("log");
            text.push_str(&format!(
                "export PREFECT_API_KEY={}\nrequest headers: {{'Authorization': 'Bearer {}'}}\n",
                PLANTED[0], PLANTED[3]
            ));
            std::fs::write(&p, text).expect("write log");
        }
    }
}

/// `health` diagnoses its stuck runs with the same Kubernetes checks: a fleet scan names
/// ImagePullBackOff for the pool, not only "Pending".
#[test]
fn health_names_the_kubernetes_cause_of_a_stuck_run() {
    let s = harness::p3();
    let (_run, dir, pool) = stuck_in(s, "image-pull-not-found", "prefect:grinning-chimera-x7k2p", true);
    plant(dir.path());
    let kube = KubeApi::start(dir.path());
    let kc = kube.kubeconfig(dir.path(), "default");
    let kc = kc.to_str().expect("utf8").to_string();
    let threshold = format!("{THRESHOLD_SECS}s");
    let health = |format: &str| {
        harness::unstuck_env(
            &["health", "--pool", &pool.name, "-o", format, "--pending-threshold", &threshold, "--api-url", &s.url],
            &[("KUBECONFIG", kc.as_str())],
        )
    };
    let out = health("json");
    out.expect_code(2);
    let v = out.json();
    let ids: Vec<&str> = v["findings"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
    assert!(ids.contains(&"k8s.image-pull"), "{v:#}");
    assert_eq!(kube_source(&v)["status"], "collected", "{v:#}");
    assert_read_only(&kube, &out);
    // The pods' env, args and logs hold planted secrets: no output of health shows them.
    let outputs = [out, health("prometheus"), health("junit"), health("table")];
    for o in &outputs {
        for secret in PLANTED {
            assert!(!o.stdout.contains(secret) && !o.stderr.contains(secret), "{secret} leaked into health");
        }
    }
}

/// With UNSTUCK_CAPTURE_BUNDLES, captures fixtures/bundles/p3-k8s-image-pull.json (the README's
/// first example) from the recorded ImagePullBackOff on its recorded clock, with the reports printed
/// live; without it, checks the capture is there (bundles::replay_reproduces_reports replays it).
#[test]
fn capture_kubernetes_bundle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("bundles");
    let stem = "p3-k8s-image-pull";
    let bundle = dir.join(format!("{stem}.json"));
    if std::env::var_os("UNSTUCK_CAPTURE_BUNDLES").is_none() {
        assert!(bundle.exists(), "missing {}: recapture the bundles", bundle.display());
        return;
    }
    let s = harness::p3();
    let (run, scenario, _pool) = stuck_in(s, "image-pull-not-found", "prefect:grinning-chimera-x7k2p", false);
    let kube = KubeApi::start(scenario.path());
    let path = bundle.to_str().expect("utf8");
    let json = doctor_with(s, &kube.kubeconfig(scenario.path(), "default"), &run, &["--save-evidence", path]);
    json.expect_code(2);
    assert_eq!(json.json()["verdict"]["primary"], "k8s.image-pull");
    let replay = harness::unstuck(&["doctor", "--evidence", path, "-o", "json", "--api-url", "http://127.0.0.1:9/api"]);
    assert_eq!(replay.json(), json.json(), "the captured bundle does not replay to the live report");
    std::fs::write(dir.join(format!("{stem}.report.json")), &json.stdout).expect("write report");
    let table = harness::unstuck(&["doctor", "--evidence", path, "--color", "never"]);
    std::fs::write(dir.join(format!("{stem}.report.txt")), &table.stdout).expect("write table");
}

/// An API server that throttles (429 with Retry-After), answers a side read with 503s, or cuts
/// every body short: the throttled read is retried and succeeds, the broken side read is reported as
/// not read (the diagnosis still names the cause), and cut bodies fail the source with what happened.
#[test]
fn kubernetes_faults_are_retried_or_reported() {
    let s = harness::p3();
    let (run, dir, _pool) = stuck_in(s, "image-pull-not-found", "prefect:grinning-chimera-x7k2p", true);

    let throttled = std::sync::atomic::AtomicBool::new(false);
    let kube = KubeApi::start_with(dir.path(), move |seen, _| {
        if seen.path.ends_with("/jobs/grinning-chimera-x7k2p")
            && !throttled.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Fault::Respond {
                status: 429,
                headers: vec![("Retry-After", "1".into())],
                body: r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","code":429}"#.into(),
            };
        }
        if seen.path.ends_with("/events") {
            return Fault::Respond { status: 503, headers: vec![], body: "upstream connect error".into() };
        }
        Fault::Pass
    });
    let out = doctor(s, &kube, dir.path(), &run, &[]);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "k8s.image-pull", "the container status alone still names it: {v:#}");
    let job_reads = kube.seen().iter().filter(|r| r.path.ends_with("/jobs/grinning-chimera-x7k2p")).count();
    assert_eq!(job_reads, 2, "the throttled read was retried once");
    let src = kube_source(&v);
    assert_eq!(src["status"], "collected", "{src}");
    assert!(
        src["detail"].as_str().unwrap_or_default().contains("could not read list events in namespace prefect"),
        "{src}"
    );
    drop(kube);

    let cut = KubeApi::start_with(dir.path(), |_, _| Fault::Truncate);
    let out = doctor(s, &cut, dir.path(), &run, &["--timeout", "10s"]);
    let src = kube_source(&out.json());
    assert_eq!(src["status"], "failed", "{src}");
    assert!(src["detail"].as_str().unwrap_or_default().contains("cut off"), "{src}");
}
