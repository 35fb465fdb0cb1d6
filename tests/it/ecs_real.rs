//! The ECS backend end to end: a real flow run on a real Prefect 3 server whose `infrastructure_pid`
//! is `<cluster>::<task arn>` of a task made in moto (tests/python/ecs_moto.py), read by the real AWS
//! SDK through `AWS_ENDPOINT_URL`, with a recording proxy in front of moto to see every operation.

use serde_json::{Value, json};

use crate::harness::proxy::{Fault, Proxy};
use crate::harness::{self, Server, api::Run};

/// What ecs_moto.py made.
struct Made {
    cluster: String,
    task_arn: String,
}

fn make_task(run_id: &str, secret: &str, reason: &str) -> Made {
    let (url, venv) = harness::moto();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/ecs_moto.py");
    let out = std::process::Command::new(venv.join("bin").join("python"))
        .arg(script)
        .args([url.as_str(), run_id, secret, reason])
        .output()
        .expect("run ecs_moto.py");
    assert!(out.status.success(), "ecs_moto.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("ecs_moto.py prints JSON");
    Made {
        cluster: v["cluster"].as_str().expect("cluster").to_string(),
        task_arn: v["task_arn"].as_str().expect("task_arn").to_string(),
    }
}

/// A Pending run of an ECS pool, past the threshold, whose worker is alive.
fn pending_run(s: &Server, job_variables: Value) -> (harness::api::Api, harness::api::Pool, Run) {
    let api = s.api();
    let pool = api.pool("ecs", "ecs");
    let dep = api.deployment(&pool, "default");
    let run = api.run_with(&dep, -60, json!({"job_variables": job_variables}));
    api.set_state(&run, json!({"type": "PENDING", "name": "Pending"}));
    api.heartbeat(&pool, "ecs-worker", 30);
    (api, pool, run)
}

pub fn doctor(s: &Server, endpoint: &str, run: &Run, extra: &[&str]) -> harness::Out {
    doctor_by(s, endpoint, run, extra, harness::unstuck_env)
}

/// `doctor`, run by `runner` (`harness::unstuck_env_measured` to measure its memory).
pub(crate) fn doctor_by(
    s: &Server,
    endpoint: &str,
    run: &Run,
    extra: &[&str],
    runner: harness::Runner,
) -> harness::Out {
    let mut args = vec!["doctor", run.id.as_str()];
    if !extra.contains(&"-o") {
        args.extend(["-o", "json"]);
    }
    if !extra.contains(&"--pending-threshold") {
        args.extend(["--pending-threshold", "1s"]);
    }
    args.extend_from_slice(extra);
    args.extend(["--api-url", &s.url]);
    runner(
        &args,
        &[
            ("AWS_ENDPOINT_URL", endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ],
    )
}

pub fn source<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["sources"].as_array().and_then(|s| s.iter().find(|s| s["name"] == name))
}

pub(crate) fn item<'a>(v: &'a Value, id: &str) -> (&'a str, &'a str) {
    let e = v["checklist"].as_array().and_then(|c| c.iter().find(|e| e["id"] == id)).expect("checklist item");
    (e["status"].as_str().unwrap_or_default(), e["detail"].as_str().unwrap_or_default())
}

/// The operations the proxy saw, from their `X-Amz-Target` (`AmazonEC2ContainerServiceV20141113.DescribeTasks`).
fn operations(proxy: &Proxy) -> Vec<String> {
    proxy
        .seen()
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
                .map(|(_, v)| v.rsplit('.').next().unwrap_or_default().to_string())
                .unwrap_or_else(|| format!("{} {}", r.method, r.path))
        })
        .collect()
}

/// Whether an operation is one deploy/aws/iam-policy.json grants (`AWS_ACTIONS`, checked against the
/// read-only policy in deploy.rs).
fn granted(operation: &str) -> bool {
    unstuck::policy::AWS_ACTIONS.iter().any(|(_, op)| *op == operation)
}

/// A task stopped because its image could not be pulled: doctor names ecs.image-pull from the task's
/// stoppedReason, judges the infrastructure items from the task, reports the "ecs" source, sends only
/// reads, and never prints (or saves) the secret planted in the task definition's environment.
#[test]
fn stopped_task_names_its_cause_reading_only() {
    let s = harness::p3();
    let (url, _) = harness::moto();
    let (_api, _pool, run) = pending_run(s, json!({}));
    let secret = format!("s3cr3t-{}", &run.id[..8]);
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/prefecthq/nope:latest: docker.io/prefecthq/nope:latest: not found";
    let made = make_task(&run.id, &secret, reason);
    s.api().patch(
        &format!("/flow_runs/{}", run.id),
        json!({"infrastructure_pid": format!("{}::{}", made.cluster, made.task_arn)}),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));

    let proxy = Proxy::start(&url, |_, _| Fault::Pass);
    let dir = harness::TempDir::new("ecs-bundle");
    let bundle = dir.path().join("bundle.json");
    let out = doctor(s, &proxy.url, &run, &["--save-evidence", bundle.to_str().expect("utf8")]);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "ecs.image-pull", "{}", out.stdout);
    assert_eq!(out.code, 2, "a stuck run is critical: {}", out.stderr);
    let ecs = source(&v, "ecs").expect("an ecs source");
    assert_eq!(ecs["status"], "collected", "{ecs}");
    assert!(ecs["detail"].as_str().unwrap_or_default().contains(&made.cluster), "{ecs}");
    for id in ["image-pull", "permissions", "capacity", "infrastructure"] {
        let (status, detail) = item(&v, id);
        assert_ne!(status, "unknown", "{id} is judged from the task: {detail}");
    }
    assert_eq!(item(&v, "image-pull").0, "fail");

    let ops = operations(&proxy);
    assert!(ops.iter().any(|o| o == "DescribeTasks"), "DescribeTasks was sent: {ops:?}");
    assert!(ops.iter().any(|o| o == "DescribeTaskDefinition"), "{ops:?}");
    assert!(ops.iter().any(|o| o == "GetLogEvents"), "the log tail was read: {ops:?}");
    for o in &ops {
        assert!(granted(o), "{o} reached AWS but is not in AWS_ACTIONS");
    }
    // Every operation passed the policy interceptor, which counted it.
    assert_eq!(ecs["requests"].as_u64(), Some(ops.len() as u64), "{ecs} vs {ops:?}");
    let saved = std::fs::read_to_string(&bundle).expect("bundle saved");
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr), ("bundle", &saved)] {
        assert!(!text.contains(&secret), "the planted secret leaked into {what}");
    }
    // The bundle holds the task definition and the log tail, redacted, and replays to the same cause.
    let b: Value = serde_json::from_str(&saved).expect("bundle JSON");
    let td = &b["body"]["ecs"]["value"]["task_definition"]["value"];
    assert_eq!(td["containerDefinitions"][0]["name"], "prefect", "{td}");
    let env = td["containerDefinitions"][0]["environment"].as_array().expect("environment kept");
    let password = env.iter().find(|e| e["name"] == "DATABASE_PASSWORD").expect("the variable is kept by name");
    assert!(password["value"].as_str().is_some_and(|v| !v.is_empty() && v != secret), "{password}");
    let tail = &b["body"]["ecs"]["value"]["logs"];
    assert_eq!(tail["kind"], "log-tail", "{tail}");
    assert_eq!(tail["lines"].as_array().map(Vec::len), Some(2), "{tail}");
    let replay = harness::unstuck_env(&["doctor", "--evidence", bundle.to_str().expect("utf8"), "-o", "json"], &[]);
    assert_eq!(replay.json()["verdict"]["primary"], "ecs.image-pull", "{}", replay.stdout);
}

/// Without a pid, the task is found by ListTasks on the job's `cluster` variable and its
/// prefect.io/flow-run-id tag.
#[test]
fn task_found_by_tag_on_the_jobs_cluster() {
    let s = harness::p3();
    let (url, _) = harness::moto();
    let api = s.api();
    let pool = api.pool("ecs", "ecs");
    let dep = api.deployment(&pool, "default");
    let run = api.run_with(&dep, -60, json!({}));
    let made = make_task(&run.id, "unused-secret-value", "Task stopped by user");
    api.patch(&format!("/flow_runs/{}", run.id), json!({"job_variables": {"cluster": made.cluster}}));
    api.set_state(&run, json!({"type": "PENDING", "name": "Pending"}));
    api.heartbeat(&pool, "ecs-worker", 30);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = doctor(s, &url, &run, &[]);
    let v = out.json();
    let bundle_like = source(&v, "ecs").expect("an ecs source");
    assert_eq!(bundle_like["status"], "collected", "{bundle_like}");
    let detail = bundle_like["detail"].as_str().unwrap_or_default();
    let id = made.task_arn.rsplit('/').next().unwrap_or_default();
    assert!(detail.contains(id), "the tagged task was found: {detail}");
}

/// No AWS configuration at all: the ECS source is skipped with the hint, and doctor still answers.
#[test]
fn no_aws_configuration_is_skipped_with_a_hint() {
    let s = harness::p3();
    let (_api, _pool, run) = pending_run(s, json!({}));
    s.api().patch(
        &format!("/flow_runs/{}", run.id),
        json!({"infrastructure_pid": "prefect::arn:aws:ecs:us-east-1:123456789012:task/prefect/0123456789abcdef"}),
    );
    let started = std::time::Instant::now();
    let out = harness::unstuck_env(&["doctor", run.id.as_str(), "-o", "json", "--api-url", &s.url], &[]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "no wait on instance metadata");
    let v = out.json();
    let (status, detail) = item(&v, "image-pull");
    assert_eq!(status, "unknown", "{detail}");
    assert!(
        detail.contains("AWS not configured") && detail.contains("--aws-profile"),
        "the checklist says how to configure AWS: {detail}"
    );
    let ecs = source(&v, "ecs").expect("an ecs source");
    assert_eq!(ecs["status"], "skipped", "{ecs}");
    assert!(ecs["detail"].as_str().unwrap_or_default().starts_with("AWS not configured"), "{ecs}");
}

/// IAM refuses DescribeTasks: the ECS source fails as forbidden, naming the permission unstuck needs,
/// and the Prefect side of the diagnosis still prints.
#[test]
fn access_denied_names_the_permission() {
    let s = harness::p3();
    let (url, _) = harness::moto();
    let (_api, _pool, run) = pending_run(s, json!({}));
    s.api().patch(
        &format!("/flow_runs/{}", run.id),
        json!({"infrastructure_pid": "prefect::arn:aws:ecs:us-east-1:123456789012:task/prefect/0123456789abcdef"}),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let proxy = Proxy::start(&url, |_, _| {
        Fault::Respond {
        status: 400,
        headers: vec![("content-type", "application/x-amz-json-1.1".into())],
        body: r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:DescribeTasks"}"#.into(),
    }
    });
    let out = doctor(s, &proxy.url, &run, &[]);
    let v = out.json();
    let ecs = source(&v, "ecs").expect("an ecs source");
    assert_eq!(ecs["status"], "failed", "{ecs}");
    let detail = ecs["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("unstuck needs ecs:DescribeTasks"), "{detail}");
    assert_eq!(operations(&proxy), ["DescribeTasks"], "nothing more was tried");
    let (status, why) = item(&v, "permissions");
    assert_eq!(status, "unknown", "{why}");
    assert!(why.contains("ecs:DescribeTasks") || why.contains("not authorized"), "{why}");
    // No ECS evidence, so the run's stuck infrastructure is what the Prefect side says.
    assert_eq!(v["verdict"]["primary"], "run.infra-not-started", "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------------------
// Every recorded scenario (fixtures/ecs), served over the AWS JSON 1.1 protocol by harness::ecs_api to
// the real SDK: the shapes moto cannot produce (stopCode, exit codes, PROVISIONING, missing objects).

pub fn scenario_meta(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(ecs_fixtures().join(name).join("scenario.json")).expect("read"))
        .expect("JSON")
}

/// A run on the real server in the recorded scenario's state (its pid and worker lines too), and
/// the scenario materialised for it.
fn recorded_run(api: &harness::api::Api, dep: &harness::api::Deployment, name: &str) -> (Run, harness::TempDir) {
    let m = scenario_meta(name);
    let run = api.run_with(dep, -60, json!({"job_variables": {"cluster": m["cluster"]}}));
    let (ty, st) = (m["state_type"].as_str().expect("type"), m["state_name"].as_str().unwrap_or("Pending"));
    api.set_state(&run, json!({"type": ty, "name": st}));
    if let Some(pid) = m["infrastructure_pid"].as_str() {
        api.patch(&format!("/flow_runs/{}", run.id), json!({"infrastructure_pid": pid}));
    }
    for line in m["worker_log_lines"].as_array().into_iter().flatten() {
        api.log(&run, "prefect.flow_runs.worker", 40, line.as_str().unwrap_or_default());
    }
    let dir = materialise(name, &run.id);
    (run, dir)
}

fn ecs_fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("ecs")
}

/// The pending threshold the scenarios are replayed with; the recordings used 300 s.
pub const REPLAY_THRESHOLD_SECS: u64 = 3;

/// A copy of the scenario for `run_id` on today's clock: the run id replaced, and every epoch-second
/// timestamp moved so its age before the recording's "now" keeps its ratio to the threshold.
pub fn materialise(name: &str, run_id: &str) -> harness::TempDir {
    let from = ecs_fixtures().join(name);
    let m: Value = serde_json::from_str(&std::fs::read_to_string(from.join("scenario.json")).expect("scenario"))
        .expect("scenario JSON");
    let recorded_now: jiff::Timestamp = m["now"].as_str().expect("now").parse().expect("RFC 3339");
    let factor = REPLAY_THRESHOLD_SECS as f64 / m["pending_threshold_seconds"].as_f64().unwrap_or(300.0);
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let recorded = recorded_now.as_second() as f64;
    let epoch = regex::Regex::new(r"\b(1[5-8]\d{8}(?:\.\d+)?)\b").expect("regex");
    let from_id = m["run_id"].as_str().expect("run_id").to_string();
    let out = harness::TempDir::new(&format!("ecs-{name}"));
    for entry in std::fs::read_dir(&from).expect("scenario dir").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("fixture");
        let text = text.replace(&from_id, run_id);
        let text = epoch.replace_all(&text, |c: &regex::Captures<'_>| {
            let t: f64 = c[1].parse().unwrap_or(recorded);
            format!("{:.3}", now - (recorded - t) * factor)
        });
        std::fs::write(out.path().join(entry.file_name()), text.as_bytes()).expect("write fixture");
    }
    out
}

#[test]
fn every_recorded_scenario_names_its_cause() {
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("ecsrec", "ecs");
    let dep = api.deployment(&pool, "default");
    let mut names: Vec<String> = std::fs::read_dir(ecs_fixtures())
        .expect("fixtures/ecs")
        .flatten()
        .filter(|e| e.path().join("scenario.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 30, "the recorded scenarios are there: {names:?}");
    let runs: Vec<(Run, harness::TempDir)> = names.iter().map(|name| recorded_run(&api, &dep, name)).collect();
    std::thread::sleep(std::time::Duration::from_secs(REPLAY_THRESHOLD_SECS + 1));
    let threshold = format!("{REPLAY_THRESHOLD_SECS}s");
    let mut failures = Vec::new();
    for (name, (run, dir)) in names.iter().zip(&runs) {
        let m = scenario_meta(name);
        api.heartbeat(&pool, "ecs-worker", 30);
        let server = harness::ecs_api::EcsApi::start(dir.path());
        let out = doctor(s, &server.url, run, &["--pending-threshold", &threshold]);
        for op in server.seen() {
            assert!(granted(&op), "{name}: {op} reached AWS but is not in AWS_ACTIONS");
        }
        let v = out.json();
        let primary = v["verdict"]["primary"].as_str();
        let want = m["expect"]["primary"].as_str().unwrap_or_default();
        let findings: Vec<&Value> = v["findings"].as_array().into_iter().flatten().collect();
        let mut problems = Vec::new();
        if want.is_empty() {
            if findings
                .iter()
                .any(|f| f["id"].as_str().is_some_and(|id| id.starts_with("ecs.")) && f["kind"] == "cause")
            {
                problems.push(format!("an ECS cause for a healthy task: {primary:?}"));
            }
        } else if primary != Some(want) {
            problems.push(format!("primary {primary:?}, want {want}"));
        }
        if let (Some(d), Some(f)) = (m["expect"]["detail_contains"].as_str(), findings.iter().find(|f| f["id"] == want))
        {
            let text = format!("{} {}", f["title"], f["detail"]);
            if !text.contains(d) {
                problems.push(format!("detail lacks {d:?}: {text}"));
            }
        }
        if source(&v, "ecs").map(|e| e["status"].clone()) != Some(json!("collected")) {
            problems.push(format!("ecs source {:?}", source(&v, "ecs")));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{} of {} scenarios differ:\n{}", failures.len(), names.len(), failures.join("\n"));
}

/// `health` diagnoses its stuck ECS runs with the same ECS checks: the fleet scan names the failed
/// image pull for the pool, and reports the ecs source.
#[test]
fn health_names_the_ecs_cause_of_a_stuck_run() {
    let s = harness::p3();
    let (url, _) = harness::moto();
    let (api, pool, run) = pending_run(s, json!({}));
    let reason = "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/prefecthq/nope:latest: docker.io/prefecthq/nope:latest: not found";
    let secret = "pnu_PlantedInTaskDefinitionEnv000000";
    let made = make_task(&run.id, secret, reason);
    api.patch(
        &format!("/flow_runs/{}", run.id),
        json!({"infrastructure_pid": format!("{}::{}", made.cluster, made.task_arn)}),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let proxy = Proxy::start(&url, |_, _| Fault::Pass);
    let health = |format: &str| {
        harness::unstuck_env(
            &["health", "--pool", &pool.name, "-o", format, "--pending-threshold", "1s", "--api-url", &s.url],
            &[
                ("AWS_ENDPOINT_URL", proxy.url.as_str()),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "us-east-1"),
            ],
        )
    };
    let out = health("json");
    out.expect_code(2);
    let v = out.json();
    let ids: Vec<&str> = v["findings"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
    assert!(ids.contains(&"ecs.image-pull"), "{v:#}");
    assert_eq!(source(&v, "ecs").map(|s| s["status"].clone()), Some(json!("collected")), "{v:#}");
    // Only reads reached AWS, and the task definition's planted secret shows in no output.
    let outputs = [out, health("prometheus"), health("junit"), health("table")];
    let ops = operations(&proxy);
    assert!(ops.iter().any(|o| o == "DescribeTasks"), "{ops:?}");
    for op in &ops {
        assert!(granted(op), "{op} reached AWS but is not in AWS_ACTIONS");
    }
    for o in &outputs {
        assert!(!o.stdout.contains(secret) && !o.stderr.contains(secret), "the task definition's secret leaked");
    }
}

/// One recorded scenario replayed for a run of a live worker's pool, past the threshold.
pub(crate) fn replayed(name: &str) -> (Run, harness::TempDir, harness::ecs_api::EcsApi) {
    let api = harness::p3().api();
    let pool = api.pool("ecsfault", "ecs");
    let dep = api.deployment(&pool, "default");
    let (run, dir) = recorded_run(&api, &dep, name);
    std::thread::sleep(std::time::Duration::from_secs(REPLAY_THRESHOLD_SECS + 1));
    api.heartbeat(&pool, "ecs-worker", 30);
    let server = harness::ecs_api::EcsApi::start(dir.path());
    (run, dir, server)
}

/// The `X-Amz-Target` operation of a request the proxy saw.
pub(crate) fn operation_of(r: &crate::harness::proxy::Seen) -> String {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
        .map(|(_, v)| v.rsplit('.').next().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn aws_error(ty: &str, message: &str) -> Fault {
    Fault::Respond {
        status: 400,
        headers: vec![("content-type", "application/x-amz-json-1.1".into())],
        body: json!({"__type": ty, "message": message}).to_string(),
    }
}

/// AWS throttles the first two DescribeTasks and refuses GetLogEvents (IAM): the throttled call is
/// retried within the deadline, the refused side read is named with the action unstuck needs, and the
/// diagnosis from the task itself (OOM) still stands, exit 2.
#[test]
fn throttling_is_retried_and_a_refused_side_read_is_named() {
    let s = harness::p3();
    let (run, _dir, server) = replayed("oom");
    let throttled = std::sync::atomic::AtomicUsize::new(0);
    let proxy = Proxy::start(&server.url, move |r, _| match operation_of(r).as_str() {
        "DescribeTasks" if throttled.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 => {
            aws_error("ThrottlingException", "Rate exceeded")
        }
        "GetLogEvents" => aws_error(
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/ci/unstuck is not authorized to perform: logs:GetLogEvents on resource: arn:aws:logs:us-east-1:123456789012:log-group:/ecs/prefect:log-stream:prefect/flow/abc because no identity-based policy allows the logs:GetLogEvents action",
        ),
        _ => Fault::Pass,
    });
    let threshold = format!("{REPLAY_THRESHOLD_SECS}s");
    let out = doctor(s, &proxy.url, &run, &["--pending-threshold", &threshold, "--timeout", "20"]);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "ecs.oom", "{}", out.stdout);
    let ops: Vec<String> = proxy.seen().iter().map(operation_of).collect();
    assert_eq!(ops.iter().filter(|o| *o == "DescribeTasks").count(), 3, "two throttled, one answered: {ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "GetLogEvents").count(), 1, "a denial is not retried: {ops:?}");
    let ecs = source(&v, "ecs").expect("an ecs source");
    assert_eq!(ecs["status"], "collected", "{ecs}");
    let detail = ecs["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("not allowed to call logs:GetLogEvents"), "{detail}");
    let (status, _) = item(&v, "infrastructure");
    assert_ne!(status, "unknown", "the task was read: {v:#}");
}

/// AWS throttles every call: within `--timeout` the ECS source fails saying it was throttled, the
/// Prefect side of the diagnosis still prints, and nothing hangs.
#[test]
fn throttling_that_never_ends_fails_the_source_within_the_timeout() {
    let s = harness::p3();
    let (run, _dir, server) = replayed("capacity-provisioning");
    let proxy = Proxy::start(&server.url, |_, _| aws_error("ThrottlingException", "Rate exceeded"));
    let threshold = format!("{REPLAY_THRESHOLD_SECS}s");
    let started = std::time::Instant::now();
    let out = doctor(s, &proxy.url, &run, &["--pending-threshold", &threshold, "--timeout", "8"]);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    let v = out.json();
    let ecs = source(&v, "ecs").expect("an ecs source");
    assert_eq!(ecs["status"], "failed", "{ecs}");
    let detail = ecs["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("throttled") || detail.contains("deadline"), "{detail}");
    assert!(proxy.seen().len() >= 2, "throttling was retried: {} requests", proxy.seen().len());
    // The Prefect side still names the stuck run.
    let primary = v["verdict"]["primary"].as_str().unwrap_or_default();
    assert!(primary.starts_with("run."), "{primary}: {}", out.stdout);
    out.expect_code(2);
}
