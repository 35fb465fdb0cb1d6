//! Faults of the infrastructure backends, injected by the recorded Kubernetes API server
//! (harness::kube_api) and by the proxy in front of the recorded AWS API (harness::ecs_api): bodies
//! that stall or are cut, resets, throttling with a dated Retry-After, 5xx bursts, malformed JSON,
//! huge answers, values a newer cluster may send. Each ends with the backend's source saying what
//! happened in one line, the Prefect side of the diagnosis still printed, within --timeout, in bounded
//! memory, and never a panic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ecs_real::{self, REPLAY_THRESHOLD_SECS, operation_of, replayed};
use crate::faults::rss;
use crate::harness;
use crate::harness::kube_api::{Fault as KubeFault, KubeApi};
use crate::harness::proxy::{Fault, Proxy};
use crate::k8s_real::{self, kube_source};

/// The Kubernetes pid of the recorded scenarios.
const JOB_PID: &str = "prefect:grinning-chimera-x7k2p";
const JOB_PATH: &str = "/apis/batch/v1/namespaces/prefect/jobs/grinning-chimera-x7k2p";

/// 50 MB: the size of the huge answers.
const HUGE: usize = 50 << 20;
/// The peak RSS a run with a huge answer must stay below (KiB): far less than the answer.
const RSS_BOUND_KIB: u64 = 60 * 1024;

/// A failed source's detail is one readable line, and the run printed no panic or backtrace.
fn assert_one_clear_line(src: &Value, out: &harness::Out) {
    let detail = src["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty() && !detail.contains('\n'), "one line: {src}");
    assert!(detail.len() < 600, "a line, not a dump: {detail}");
    for noise in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!out.stderr.contains(noise), "{noise} on stderr: {}", out.stderr);
    }
}

/// The table output of the same run: the failure is one line of its Sources section.
fn assert_table_names(out: &harness::Out, says: &str) {
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(says)).collect();
    assert!(!lines.is_empty(), "the table says {says:?}:\n{}", out.stdout);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// A body that stalls halfway (headers sent), and connections reset on every request: each fails the
/// Kubernetes source within --timeout with one line, and the Prefect finding still prints (exit 2);
/// one reset on the Job read is retried and the diagnosis is Kubernetes'.
#[test]
fn kubernetes_stalled_and_reset_connections() {
    let s = harness::p3();
    let (run, dir, _pool) = k8s_real::stuck_in(s, "image-pull-not-found", JOB_PID, true);
    for (name, says) in [("stall", "did not answer in time"), ("reset", "unreachable")] {
        let kube = KubeApi::start_with(dir.path(), move |_, _| match name {
            "stall" => KubeFault::StallBody,
            _ => KubeFault::Reset,
        });
        let out = k8s_real::doctor(s, &kube, dir.path(), &run, &["--timeout", "3s"]);
        assert!(out.elapsed < Duration::from_secs(8), "{name}: within --timeout: {:?}", out.elapsed);
        let v = out.json();
        let src = kube_source(&v);
        assert_eq!(src["status"], "failed", "{name}: {src}");
        assert!(src["detail"].as_str().unwrap_or_default().contains(says), "{name}: {src}");
        assert_one_clear_line(&src, &out);
        assert_eq!(v["verdict"]["primary"], "run.infra-not-started", "{name}: Prefect's finding prints: {v:#}");
        out.expect_code(2);
        let table = k8s_real::doctor(s, &kube, dir.path(), &run, &["--timeout", "3s", "-o", "table"]);
        assert_table_names(&table, says);
        table.expect_code(2);
    }

    let reset = AtomicUsize::new(0);
    let kube = KubeApi::start_with(dir.path(), move |seen, _| {
        if seen.path == JOB_PATH && reset.fetch_add(1, Ordering::SeqCst) == 0 {
            KubeFault::Reset
        } else {
            KubeFault::Pass
        }
    });
    let out = k8s_real::doctor(s, &kube, dir.path(), &run, &[]);
    out.expect_code(2);
    assert_eq!(out.json()["verdict"]["primary"], "k8s.image-pull");
    assert_eq!(kube.seen().iter().filter(|r| r.path == JOB_PATH).count(), 2, "the reset read was retried");
}

/// 429 with an HTTP-date Retry-After on the Job read, and a burst of 500 then 502 on the pod list:
/// the throttled read waits until the date, the burst is retried, and the diagnosis is Kubernetes'.
#[test]
fn kubernetes_dated_retry_after_and_5xx_burst() {
    let s = harness::p3();
    let (run, dir, _pool) = k8s_real::stuck_in(s, "image-pull-not-found", JOB_PID, true);
    let job_reads: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let pod_lists = Arc::new(AtomicUsize::new(0));
    let (reads, lists) = (job_reads.clone(), pod_lists.clone());
    let kube = KubeApi::start_with(dir.path(), move |seen, _| {
        if seen.path == JOB_PATH {
            let mut reads = reads.lock().unwrap_or_else(|e| e.into_inner());
            reads.push(Instant::now());
            if reads.len() == 1 {
                let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
                let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&at).expect("date");
                return KubeFault::Respond {
                    status: 429,
                    headers: vec![("Retry-After", date)],
                    body: r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","code":429}"#.into(),
                };
            }
        }
        if seen.path.ends_with("/pods") {
            match lists.fetch_add(1, Ordering::SeqCst) {
                0 => return KubeFault::Respond { status: 500, headers: vec![], body: "internal error".into() },
                1 => {
                    return KubeFault::Respond {
                        status: 502,
                        headers: vec![],
                        body: "<html>bad gateway</html>".into(),
                    };
                }
                _ => {}
            }
        }
        KubeFault::Pass
    });
    let out = k8s_real::doctor(s, &kube, dir.path(), &run, &["--timeout", "20s"]);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "k8s.image-pull", "{v:#}");
    assert_eq!(kube_source(&v)["status"], "collected");
    let reads = job_reads.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(reads.len(), 2, "the throttled read was retried once");
    let waited = reads[1] - reads[0];
    assert!(waited >= Duration::from_millis(900), "the dated Retry-After was honoured: waited {waited:?}");
    assert!(pod_lists.load(Ordering::SeqCst) >= 3, "the burst was retried through");
}

/// The pod list answers 200 with JSON cut in the middle, then an HTML page: the source fails in one
/// line saying the answer was unexpected, and the Prefect finding still prints.
#[test]
fn kubernetes_malformed_answers() {
    let s = harness::p3();
    let (run, dir, _pool) = k8s_real::stuck_in(s, "image-pull-not-found", JOB_PID, true);
    for body in
        [r#"{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"#, "<html>Welcome to nginx</html>"]
    {
        let kube = KubeApi::start_with(dir.path(), move |seen, _| {
            if seen.path.ends_with("/pods") {
                KubeFault::Respond { status: 200, headers: vec![], body: body.into() }
            } else {
                KubeFault::Pass
            }
        });
        let out = k8s_real::doctor(s, &kube, dir.path(), &run, &[]);
        let v = out.json();
        let src = kube_source(&v);
        assert!(src["detail"].as_str().unwrap_or_default().contains("unexpected answer"), "{src}");
        assert_one_clear_line(&src, &out);
        assert_ne!(v["verdict"]["primary"], "k8s.image-pull", "no pods were read: {v:#}");
        assert!(v["verdict"]["primary"].as_str().is_some_and(|p| p.starts_with("run.")), "{v:#}");
        out.expect_code(2);
    }
}

/// A pod log answer of 50 MB from a server that ignores `tailLines` and `limitBytes` (both sent):
/// read to its end keeping only its tail, so the import error at the end still names the cause, with
/// the peak RSS far below the answer.
#[test]
fn kubernetes_huge_pod_log_keeps_a_bounded_tail() {
    let s = harness::p3();
    let (run, dir, _pool) = k8s_real::stuck_in(s, "crash-loop", JOB_PID, true);
    let log_dir = dir.path().join("logs/prefect/grinning-chimera-x7k2p-9zqvw");
    let recorded = std::fs::read_to_string(log_dir.join("prefect-job.previous.log")).expect("the recorded log");
    let mut huge = String::with_capacity(HUGE + recorded.len());
    let mut n = 0;
    while huge.len() < HUGE {
        huge.push_str(&format!("12:00:{:02} INFO    | prefect.flow_runs - downloading flow code, chunk {n}\n", n % 60));
        n += 1;
    }
    huge.push_str(&recorded);
    let huge = Arc::new(huge);
    let kube = KubeApi::start_with(dir.path(), move |seen, _| {
        if seen.path.ends_with("/log") {
            KubeFault::Respond {
                status: 200,
                headers: vec![("Content-Type", "text/plain".into())],
                body: huge.to_string(),
            }
        } else {
            KubeFault::Pass
        }
    });
    let kc = kube.kubeconfig(dir.path(), "default");
    let out = k8s_real::doctor_by(s, &kc, &run, &["--timeout", "20s"], harness::unstuck_env_measured);
    eprintln!("50 MB pod log: peak RSS {} KiB, {:?}", rss(&out), out.elapsed);
    let logs: Vec<_> = kube.seen().into_iter().filter(|r| r.path.ends_with("/log")).collect();
    assert!(!logs.is_empty(), "the log was read");
    for r in &logs {
        assert!(r.param("tailLines").is_some() && r.param("limitBytes").is_some(), "a bounded tail is asked: {r:?}");
    }
    assert!(rss(&out) < RSS_BOUND_KIB, "peak RSS {} KiB for a 50 MB log", rss(&out));
    let v = out.json();
    assert_eq!(kube_source(&v)["status"], "collected", "{v:#}");
    assert_eq!(v["verdict"]["primary"], "infra.import-error", "the log's tail was read: {v:#}");
    out.expect_code(2);
}

/// The pod list answers 50 MB (a namespace's worth of pods no real list of one Job's pods reaches):
/// refused at the bound, not buffered whole, the source says why in one line, Prefect's finding prints.
#[test]
fn kubernetes_huge_list_is_refused_at_the_bound() {
    let s = harness::p3();
    let (run, dir, _pool) = k8s_real::stuck_in(s, "image-pull-not-found", JOB_PID, true);
    let item = format!(
        r#"{{"metadata":{{"name":"filler","namespace":"prefect","annotations":{{"a":"{}"}}}}}}"#,
        "x".repeat(1000)
    );
    let mut huge = String::from(r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":["#);
    while huge.len() < HUGE {
        huge.push_str(&item);
        huge.push(',');
    }
    huge.push_str(&item);
    huge.push_str("]}");
    let huge = Arc::new(huge);
    let kube = KubeApi::start_with(dir.path(), move |seen, _| {
        if seen.path.ends_with("/pods") {
            KubeFault::Respond { status: 200, headers: vec![], body: huge.to_string() }
        } else {
            KubeFault::Pass
        }
    });
    let kc = kube.kubeconfig(dir.path(), "default");
    let out = k8s_real::doctor_by(s, &kc, &run, &["--timeout", "20s"], harness::unstuck_env_measured);
    eprintln!("50 MB pod list: peak RSS {} KiB, {:?}", rss(&out), out.elapsed);
    assert!(rss(&out) < RSS_BOUND_KIB, "peak RSS {} KiB for a 50 MB list", rss(&out));
    let v = out.json();
    let src = kube_source(&v);
    assert!(src["detail"].as_str().unwrap_or_default().contains("larger than 16 MiB"), "{src}");
    assert_one_clear_line(&src, &out);
    assert!(v["verdict"]["primary"].as_str().is_some_and(|p| p.starts_with("run.")), "{v:#}");
    out.expect_code(2);
}

/// Objects a newer (or odd) cluster may send: a pod phase "Weird" with a container waiting for a
/// reason no check knows, then pods and Jobs stripped of every optional field: no failure, the source
/// is collected and the diagnosis is sane (never unknown, never a panic).
#[test]
fn kubernetes_unknown_values_and_missing_fields() {
    let s = harness::p3();
    let (run, dir, _pool) = k8s_real::stuck_in(s, "image-pull-not-found", JOB_PID, true);
    let edit = |file: &str, f: &dyn Fn(&mut Value)| {
        let path = dir.path().join(file);
        let mut list: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
        for item in list["items"].as_array_mut().expect("items") {
            f(item);
        }
        std::fs::write(&path, list.to_string()).expect("write fixture");
    };
    edit("pods.json", &|pod| {
        pod["status"]["phase"] = "Weird".into();
        for c in pod["status"]["containerStatuses"].as_array_mut().into_iter().flatten() {
            c["state"] = serde_json::json!({"waiting": {"reason": "HibernatingImage"}});
        }
    });
    let kube = KubeApi::start(dir.path());
    let out = k8s_real::doctor(s, &kube, dir.path(), &run, &[]);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let v = out.json();
    assert_eq!(kube_source(&v)["status"], "collected", "{v:#}");
    assert_ne!(v["verdict"]["status"], "unknown", "{v:#}");
    out.expect_code(2);
    drop(kube);

    edit("pods.json", &|pod| {
        let meta = pod["metadata"].clone();
        *pod = serde_json::json!({"metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta["labels"]}});
    });
    edit("jobs.json", &|job| {
        let meta = job["metadata"].clone();
        *job = serde_json::json!({"metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta["labels"]}});
    });
    let kube = KubeApi::start(dir.path());
    let out = k8s_real::doctor(s, &kube, dir.path(), &run, &[]);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let v = out.json();
    assert_eq!(kube_source(&v)["status"], "collected", "{v:#}");
    assert!(v["verdict"]["primary"].is_string(), "a cause is still named: {v:#}");
    out.expect_code(2);
}

// ---------------------------------------------------------------------------------------------------
// AWS: the proxy in front of the recorded ECS + CloudWatch Logs API (a task killed for memory).

/// `doctor` for a replayed ECS scenario through `proxy`.
fn ecs_doctor(run: &harness::api::Run, proxy: &Proxy, extra: &[&str], runner: harness::Runner) -> harness::Out {
    let threshold = format!("{REPLAY_THRESHOLD_SECS}s");
    let mut args = vec!["--pending-threshold", threshold.as_str()];
    args.extend_from_slice(extra);
    ecs_real::doctor_by(harness::p3(), &proxy.url, run, &args, runner)
}

fn ecs_source(v: &Value) -> Value {
    ecs_real::source(v, "ecs").cloned().unwrap_or_default()
}

/// Within `within`, the ECS source failed in one line and the Prefect side still names the stuck run
/// (exit 2).
fn assert_ecs_failed_and_prefect_prints(out: &harness::Out, what: &str, within: Duration) {
    assert!(out.elapsed < within, "{what}: within --timeout: {:?}", out.elapsed);
    let v = out.json();
    let src = ecs_source(&v);
    assert_eq!(src["status"], "failed", "{what}: {src}");
    assert_one_clear_line(&src, out);
    let primary = v["verdict"]["primary"].as_str().unwrap_or_default();
    assert!(primary.starts_with("run."), "{what}: the Prefect side prints: {primary}");
    out.expect_code(2);
}

/// An answer in the AWS JSON 1.1 protocol's content type.
fn aws_answer(status: u16, body: impl Into<String>) -> Fault {
    Fault::Respond { status, headers: vec![("content-type", "application/x-amz-json-1.1".into())], body: body.into() }
}

fn count(proxy: &Proxy, op: &str) -> usize {
    proxy.seen().iter().filter(|r| operation_of(r) == op).count()
}

/// Every call is slow, stalls halfway through its body, or has its connection reset: the ECS source
/// fails in one line within --timeout, and the Prefect side still names the stuck run (exit 2).
#[test]
fn aws_slow_stalled_and_reset_connections() {
    let (run, _dir, server) = replayed("oom");
    for name in ["slow", "stall", "reset"] {
        let proxy = Proxy::start(&server.url, move |_, _| match name {
            "slow" => Fault::Delay(Duration::from_secs(20)),
            "stall" => Fault::StallBody,
            _ => Fault::Reset,
        });
        let out = ecs_doctor(&run, &proxy, &["--timeout", "4s"], harness::unstuck_env);
        assert_ecs_failed_and_prefect_prints(&out, name, Duration::from_secs(10));
        if name == "reset" {
            let table = ecs_doctor(&run, &proxy, &["--timeout", "4s", "-o", "table"], harness::unstuck_env);
            assert_table_names(&table, "AWS is unreachable");
            table.expect_code(2);
        }
    }
}

/// DescribeTasks answers 500, 502 (an HTML page) and 503, then the task: the SDK retries the burst
/// within the deadline and the diagnosis is the task's (ecs.oom).
#[test]
fn aws_5xx_burst_is_retried() {
    let (run, _dir, server) = replayed("oom");
    let calls = AtomicUsize::new(0);
    let proxy = Proxy::start(&server.url, move |r, _| {
        if operation_of(r) != "DescribeTasks" {
            return Fault::Pass;
        }
        let (status, body) = match calls.fetch_add(1, Ordering::SeqCst) {
            0 => (500, r#"{"__type":"ServerException","message":"Service unavailable"}"#),
            1 => (502, "<html><body>502 Bad Gateway</body></html>"),
            2 => (503, r#"{"__type":"ServiceUnavailableException","message":"try again"}"#),
            _ => return Fault::Pass,
        };
        aws_answer(status, body)
    });
    let out = ecs_doctor(&run, &proxy, &["--timeout", "20s"], harness::unstuck_env);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "ecs.oom", "{v:#}");
    assert_eq!(count(&proxy, "DescribeTasks"), 4, "three failures, then the answer");
    assert_eq!(ecs_source(&v)["status"], "collected");
}

/// DescribeTasks cut short once is retried; cut every time, or answering JSON cut in the middle or an
/// HTML page with 200, the source fails in one line and the Prefect side still prints.
#[test]
fn aws_truncated_and_malformed_json() {
    let (run, _dir, server) = replayed("oom");
    let cut = AtomicUsize::new(0);
    let proxy = Proxy::start(&server.url, move |r, _| {
        if operation_of(r) == "DescribeTasks" && cut.fetch_add(1, Ordering::SeqCst) == 0 {
            Fault::Cut
        } else {
            Fault::Pass
        }
    });
    let out = ecs_doctor(&run, &proxy, &["--timeout", "20s"], harness::unstuck_env);
    assert_eq!(out.json()["verdict"]["primary"], "ecs.oom", "{}", out.stdout);
    assert_eq!(count(&proxy, "DescribeTasks"), 2, "the cut answer was retried");

    for (what, body) in
        [("cut", None), ("malformed", Some(r#"{"tasks":[{"taskArn":"arn:aws:ecs:"#)), ("html", Some("<html>hi</html>"))]
    {
        let proxy = Proxy::start(&server.url, move |r, _| match (operation_of(r).as_str(), body) {
            ("DescribeTasks", None) => Fault::Cut,
            ("DescribeTasks", Some(body)) => aws_answer(200, body),
            _ => Fault::Pass,
        });
        let out = ecs_doctor(&run, &proxy, &["--timeout", "6s"], harness::unstuck_env);
        assert_ecs_failed_and_prefect_prints(&out, what, Duration::from_secs(12));
    }
}

/// GetLogEvents answers 50 MB (50,000 events of 1 KB) to a request for 50: the answer is refused at a
/// bound rather than buffered (peak RSS far below it), the log is named as unread, and the task's own
/// diagnosis stands.
#[test]
fn aws_huge_log_events_are_bounded() {
    let (run, _dir, server) = replayed("oom");
    let event =
        format!(r#"{{"timestamp":1732200800000,"message":"{}","ingestionTime":1732200800210}}"#, "x".repeat(1000));
    let mut huge = String::with_capacity(HUGE + 200);
    huge.push_str(r#"{"events":["#);
    for i in 0..50_000 {
        if i > 0 {
            huge.push(',');
        }
        huge.push_str(&event);
    }
    huge.push_str(r#"],"nextForwardToken":"f/1/s","nextBackwardToken":"b/1/s"}"#);
    let huge = Arc::new(huge);
    let proxy = Proxy::start(&server.url, move |r, _| {
        if operation_of(r) == "GetLogEvents" { aws_answer(200, huge.to_string()) } else { Fault::Pass }
    });
    let out = ecs_doctor(&run, &proxy, &["--timeout", "20s"], harness::unstuck_env_measured);
    eprintln!("50 MB GetLogEvents: peak RSS {} KiB, {:?}", rss(&out), out.elapsed);
    assert!(rss(&out) < RSS_BOUND_KIB, "peak RSS {} KiB for a 50 MB answer", rss(&out));
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "ecs.oom", "{v:#}");
    let src = ecs_source(&v);
    assert_eq!(src["status"], "collected", "{src}");
    assert!(src["detail"].as_str().unwrap_or_default().contains("logs:GetLogEvents"), "{src}");
    assert_one_clear_line(&src, &out);
    out.expect_code(2);
}

/// A task in a status this version does not know ("HIBERNATING", containers too), then a task with
/// nothing but its ARN and status: the source is collected, no panic, and the diagnosis is sane.
#[test]
fn aws_unknown_status_and_missing_fields() {
    let (run, dir, server) = replayed("oom");
    let path = dir.path().join("describe-tasks.json");
    let mut tasks: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
    let task = &mut tasks["tasks"][0];
    task["lastStatus"] = "HIBERNATING".into();
    task["desiredStatus"] = "HIBERNATING".into();
    task["stopCode"] = "SomethingNew".into();
    for c in task["containers"].as_array_mut().into_iter().flatten() {
        c["lastStatus"] = "HIBERNATING".into();
    }
    let lean =
        serde_json::json!({"tasks": [{"taskArn": task["taskArn"], "lastStatus": "HIBERNATING"}], "failures": []});
    for (what, body) in [("unknown status", tasks.clone()), ("missing fields", lean)] {
        std::fs::write(&path, body.to_string()).expect("write fixture");
        let proxy = Proxy::start(&server.url, |_, _| Fault::Pass);
        let out = ecs_doctor(&run, &proxy, &[], harness::unstuck_env);
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
        let v = out.json();
        assert_eq!(ecs_source(&v)["status"], "collected", "{what}: {v:#}");
        assert_ne!(v["verdict"]["status"], "unknown", "{what}: {v:#}");
        assert!(v["verdict"]["primary"].is_string(), "{what}: {v:#}");
        out.expect_code(2);
    }
}
