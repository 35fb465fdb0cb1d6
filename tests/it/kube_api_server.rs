//! Tests of the recorded-Kubernetes server, driven by curl (and raw std sockets where the HTTP framing
//! itself is under test), against the small sample scenario in fixtures/kubeapi/sample.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::kube_api::{Fault, KubeApi};
use serde_json::{Value, json};

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/kubeapi").join(name)
}

fn sample() -> KubeApi {
    KubeApi::start(&fixtures("sample"))
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    /// Names of the items of a list answer.
    fn names(&self) -> Vec<String> {
        assert_eq!(self.status, 200, "{}", self.body);
        let mut n: Vec<String> = self.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    }
}

/// Runs curl; `auth` false sends no bearer token.
fn curl_full(api: &KubeApi, method: &str, path: &str, body: Option<&str>, auth: bool) -> Resp {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "--globoff", "--max-time", "10", "-X", method]);
    if auth {
        cmd.args(["-H", &format!("Authorization: Bearer {}", api.token())]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    cmd.arg(format!("{}{path}", api.url));
    let out = cmd.output().expect("run curl");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_http(&String::from_utf8_lossy(&out.stdout))
}

fn parse_http(raw: &str) -> Resp {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("").split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0);
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    Resp { status, headers, body: body.to_string() }
}

fn get(api: &KubeApi, path: &str) -> Resp {
    curl_full(api, "GET", path, None, true)
}

/// Percent-encodes a query value the way a client would.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn pods_with_labels(api: &KubeApi, sel: &str) -> Vec<String> {
    get(api, &format!("/api/v1/pods?labelSelector={}", enc(sel))).names()
}

fn with_fields(api: &KubeApi, path: &str, sel: &str) -> Resp {
    get(api, &format!("{path}?fieldSelector={}", enc(sel)))
}

fn v(names: &[&str]) -> Vec<String> {
    let mut n: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    n.sort();
    n
}

// ---------------------------------------------------------------------------------------------------

#[test]
fn lists_and_gets_have_the_apiserver_shapes() {
    let api = sample();
    let r = get(&api, "/api/v1/namespaces/prefect/pods");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let list = r.json();
    assert_eq!(list["kind"], "PodList");
    assert_eq!(list["apiVersion"], "v1");
    assert!(list["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().is_ok());
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|i| i["metadata"]["namespace"] == "prefect"));
    assert!(items.iter().all(|i| i.get("kind").is_none() && i.get("apiVersion").is_none()), "list items carry no type");

    assert_eq!(get(&api, "/api/v1/pods").names().len(), 6, "all namespaces");
    let jobs = get(&api, "/apis/batch/v1/namespaces/prefect/jobs").json();
    assert_eq!(jobs["kind"], "JobList");
    assert_eq!(jobs["apiVersion"], "batch/v1");
    assert_eq!(get(&api, "/apis/batch/v1/jobs").names(), v(&["flow-run-abc", "flow-run-old"]));

    let pod = get(&api, "/api/v1/namespaces/prefect/pods/pending-pod").json();
    assert_eq!((pod["kind"].as_str(), pod["apiVersion"].as_str()), (Some("Pod"), Some("v1")));
    assert_eq!(pod["status"]["phase"], "Pending");
    let job = get(&api, "/apis/batch/v1/namespaces/prefect/jobs/flow-run-abc").json();
    assert_eq!((job["kind"].as_str(), job["apiVersion"].as_str()), (Some("Job"), Some("batch/v1")));
    let node = get(&api, "/api/v1/nodes/node-1").json();
    assert_eq!(node["kind"], "Node");
    let sa = get(&api, "/api/v1/namespaces/prefect/serviceaccounts/prefect-worker").json();
    assert_eq!(sa["imagePullSecrets"][0]["name"], "regcred");
    assert_eq!(get(&api, "/api/v1/namespaces/prefect/limitranges").names(), v(&["defaults"]));
    assert_eq!(get(&api, "/api/v1/namespaces/default/resourcequotas").names(), Vec::<String>::new());
    // A namespace with nothing in it lists empty, as on a real cluster.
    assert_eq!(get(&api, "/api/v1/namespaces/elsewhere/pods").names(), Vec::<String>::new());
}

#[test]
fn namespaces_are_derived_when_not_recorded() {
    let api = sample();
    let names = get(&api, "/api/v1/namespaces").names();
    assert!(names.contains(&"prefect".to_string()) && names.contains(&"kube-system".to_string()), "{names:?}");
    let ns = get(&api, "/api/v1/namespaces/prefect").json();
    assert_eq!((ns["kind"].as_str(), ns["status"]["phase"].as_str()), (Some("Namespace"), Some("Active")));
    assert_eq!(with_fields(&api, "/api/v1/namespaces", "status.phase=Active").names().len(), names.len());
    let r = get(&api, "/api/v1/namespaces/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "namespaces \"nope\" not found");
}

#[test]
fn label_selectors_each_operator() {
    let api = sample();
    let prefect_jobs = v(&["flow-run-abc-xyz12", "pending-pod", "pull-fail", "img-err"]);
    assert_eq!(pods_with_labels(&api, "app=prefect-job"), prefect_jobs);
    assert_eq!(pods_with_labels(&api, "app==prefect-job"), prefect_jobs);
    assert_eq!(pods_with_labels(&api, "app!=prefect-job"), v(&["multi-pod", "other-pod"]));
    assert_eq!(pods_with_labels(&api, "tier"), v(&["flow-run-abc-xyz12", "pending-pod", "multi-pod"]));
    assert_eq!(pods_with_labels(&api, "!tier"), v(&["pull-fail", "img-err", "other-pod"]));
    assert_eq!(
        pods_with_labels(&api, "job-name in (flow-run-abc, flow-run-ghi)"),
        v(&["flow-run-abc-xyz12", "pull-fail"])
    );
    assert_eq!(
        pods_with_labels(&api, "job-name notin (flow-run-abc)"),
        v(&["pending-pod", "pull-fail", "img-err", "multi-pod", "other-pod"]),
        "notin also matches pods without the label"
    );
    assert_eq!(pods_with_labels(&api, "app=prefect-job,tier=worker"), v(&["flow-run-abc-xyz12", "pending-pod"]));
    assert_eq!(pods_with_labels(&api, "app=prefect-job, !tier"), v(&["pull-fail", "img-err"]));
    assert_eq!(pods_with_labels(&api, "release>2"), v(&["other-pod"]));
    assert_eq!(pods_with_labels(&api, "release<2"), Vec::<String>::new());
    assert_eq!(
        pods_with_labels(&api, "prefect.io/flow-run-id=0b2f3c9e-6d1a-4c4e-9a57-3f1e2d4c5b6a"),
        v(&["flow-run-abc-xyz12"])
    );
    // `+` in a query is a space (Go's url.ParseQuery), as clients that encode spaces as + rely on.
    assert_eq!(get(&api, "/api/v1/pods?labelSelector=job-name+in+(flow-run-ghi)").names(), v(&["pull-fail"]));
    // Selectors combine with namespaces and with each other.
    let r = get(
        &api,
        &format!(
            "/api/v1/namespaces/prefect/pods?labelSelector={}&fieldSelector={}",
            enc("tier"),
            enc("status.phase=Running")
        ),
    );
    assert_eq!(r.names(), v(&["flow-run-abc-xyz12", "multi-pod"]));

    let bad = get(&api, &format!("/api/v1/pods?labelSelector={}", enc("app in prefect")));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["reason"], "BadRequest");
    assert!(bad.json()["message"].as_str().unwrap().starts_with("unable to parse requirement"), "{}", bad.body);
}

#[test]
fn pod_field_selectors() {
    let api = sample();
    let pods = "/api/v1/pods";
    assert_eq!(with_fields(&api, pods, "metadata.name=multi-pod").names(), v(&["multi-pod"]));
    assert_eq!(with_fields(&api, pods, "metadata.namespace=default").names(), v(&["other-pod"]));
    assert_eq!(with_fields(&api, pods, "spec.nodeName=node-1").names(), v(&["flow-run-abc-xyz12", "multi-pod"]));
    assert_eq!(
        with_fields(&api, pods, "spec.host=node-1").names(),
        v(&["flow-run-abc-xyz12", "multi-pod"]),
        "legacy alias"
    );
    assert_eq!(with_fields(&api, pods, "spec.nodeName=").names(), v(&["pending-pod"]), "unscheduled");
    assert_eq!(with_fields(&api, pods, "status.phase==Running").names(), v(&["flow-run-abc-xyz12", "multi-pod"]));
    assert_eq!(
        with_fields(&api, pods, "status.phase!=Pending,metadata.namespace=prefect").names(),
        v(&["flow-run-abc-xyz12", "multi-pod"])
    );
    assert_eq!(with_fields(&api, pods, "spec.serviceAccountName=prefect-worker").names().len(), 3);
    assert_eq!(with_fields(&api, pods, "spec.hostNetwork=true").names(), v(&["other-pod"]));
    assert_eq!(with_fields(&api, pods, "spec.restartPolicy=Always").names(), v(&["multi-pod"]));
    assert_eq!(with_fields(&api, pods, "status.podIP=10.244.1.7").names(), v(&["flow-run-abc-xyz12"]));

    // The exact apiserver body for a field the kind does not support.
    let r = with_fields(&api, "/api/v1/namespaces/prefect/pods", "spec.containers.image=x");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"field label not supported: spec.containers.image","reason":"BadRequest","code":400}"#
    );
    let r = with_fields(&api, pods, "foo");
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("invalid selector: 'foo'; can't understand 'foo'"))
    );
}

#[test]
fn event_field_selectors_on_both_apis() {
    let api = sample();
    let core = "/api/v1/namespaces/prefect/events";
    assert_eq!(with_fields(&api, core, "involvedObject.kind=Job").names(), v(&["flow-run-abc.182a3"]));
    assert_eq!(with_fields(&api, core, "involvedObject.name=pending-pod").names(), v(&["pending-pod.182a1"]));
    assert_eq!(
        with_fields(&api, "/api/v1/events", "involvedObject.namespace=default").names(),
        v(&["other-pod.182a4"])
    );
    assert_eq!(
        with_fields(&api, core, "involvedObject.uid=11111111-aaaa-4bbb-8ccc-000000000003").names(),
        v(&["pull-fail.182a2"])
    );
    assert_eq!(with_fields(&api, core, "reason=FailedScheduling").names(), v(&["pending-pod.182a1"]));
    assert_eq!(with_fields(&api, core, "type=Warning").names(), v(&["pending-pod.182a1", "pull-fail.182a2"]));
    assert_eq!(with_fields(&api, core, "type!=Warning").names(), v(&["flow-run-abc.182a3"]));
    assert_eq!(with_fields(&api, core, "metadata.name=pull-fail.182a2").names(), v(&["pull-fail.182a2"]));
    // `source` is source.component, falling back to reportingComponent.
    assert_eq!(
        with_fields(&api, "/api/v1/events", "source=kubelet").names(),
        v(&["other-pod.182a4", "pull-fail.182a2"])
    );
    assert_eq!(
        with_fields(&api, core, "involvedObject.kind=Pod,involvedObject.name=pull-fail,type=Warning").names(),
        v(&["pull-fail.182a2"])
    );
    let r = with_fields(&api, core, "regarding.name=pending-pod");
    assert_eq!((r.status, r.json()["message"].as_str()), (400, Some("field label not supported: regarding.name")));

    // events.k8s.io/v1 serves the same events in its own shape (converted: no events.k8s.io.json here).
    let ev = "/apis/events.k8s.io/v1/namespaces/prefect/events";
    let list = get(&api, ev).json();
    assert_eq!((list["kind"].as_str(), list["apiVersion"].as_str()), (Some("EventList"), Some("events.k8s.io/v1")));
    let first = &list["items"][0];
    assert!(first.get("note").is_some() && first.get("regarding").is_some() && first.get("involvedObject").is_none());
    assert_eq!(with_fields(&api, ev, "regarding.name=pending-pod").names(), v(&["pending-pod.182a1"]));
    assert_eq!(with_fields(&api, ev, "regarding.kind=Job").names(), v(&["flow-run-abc.182a3"]));
    assert_eq!(
        with_fields(&api, ev, "regarding.uid=11111111-aaaa-4bbb-8ccc-000000000002").names(),
        v(&["pending-pod.182a1"])
    );
    assert_eq!(with_fields(&api, ev, "reason=Failed,type=Warning").names(), v(&["pull-fail.182a2"]));
    assert_eq!(with_fields(&api, ev, "reportingController=job-controller").names(), v(&["flow-run-abc.182a3"]));
    assert_eq!(
        with_fields(&api, "/apis/events.k8s.io/v1/events", "regarding.namespace=default").names(),
        v(&["other-pod.182a4"])
    );
    let r = with_fields(&api, ev, "involvedObject.name=pending-pod");
    assert_eq!((r.status, r.json()["message"].as_str()), (400, Some("field label not supported: involvedObject.name")));
}

#[test]
fn other_kinds_field_selectors_and_their_refusals() {
    let api = sample();
    // nodes: list is forbidden in this scenario, so use a server without rules.
    let open = KubeApi::start(&scratch_copy("nodes-open", &[]));
    assert_eq!(with_fields(&open, "/api/v1/nodes", "spec.unschedulable=true").names(), v(&["node-2"]));
    assert_eq!(with_fields(&open, "/api/v1/nodes", "spec.unschedulable=false").names(), v(&["node-1"]));
    assert_eq!(with_fields(&open, "/api/v1/nodes", "metadata.name=node-1").names(), v(&["node-1"]));
    let r = with_fields(&open, "/api/v1/nodes", "metadata.namespace=x");
    assert_eq!(r.json()["message"], "field label not supported: metadata.namespace", "nodes are cluster-scoped");

    let jobs = "/apis/batch/v1/namespaces/prefect/jobs";
    assert_eq!(with_fields(&api, jobs, "status.successful=1").names(), v(&["flow-run-old"]));
    assert_eq!(with_fields(&api, jobs, "status.successful=0").names(), v(&["flow-run-abc"]));
    assert_eq!(with_fields(&api, jobs, "metadata.name=flow-run-abc").names(), v(&["flow-run-abc"]));
    let r = with_fields(&api, jobs, "status.active=1");
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (400, Some("field label \"status.active\" not supported for Job"))
    );

    let sas = "/api/v1/namespaces/prefect/serviceaccounts";
    assert_eq!(with_fields(&api, sas, "metadata.name=prefect-worker").names(), v(&["prefect-worker"]));
    let r = with_fields(&api, sas, "secrets.name=x");
    assert_eq!(
        r.json()["message"],
        "\"secrets.name\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    let r = with_fields(&api, "/api/v1/namespaces/prefect/limitranges", "spec.limits=x");
    assert_eq!(r.status, 400);
}

/// A copy of the sample scenario with a different scenario.json (extra keys merged over `{}`).
fn scratch_copy(name: &str, scenario: &[(&str, Value)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kubeapi-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&fixtures("sample"), &dir);
    let mut s = serde_json::Map::new();
    for (k, val) in scenario {
        s.insert(k.to_string(), val.clone());
    }
    std::fs::write(dir.join("scenario.json"), Value::Object(s).to_string()).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn missing_objects_get_the_real_404() {
    let api = sample();
    let r = get(&api, "/api/v1/namespaces/prefect/pods/x");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#
    );
    let r = get(&api, "/apis/batch/v1/namespaces/prefect/jobs/nope");
    assert_eq!(
        r.body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"jobs.batch \"nope\" not found","reason":"NotFound","details":{"name":"nope","group":"batch","kind":"jobs"},"code":404}"#
    );
    // The right name in the wrong namespace is not found either.
    assert_eq!(get(&api, "/api/v1/namespaces/default/pods/multi-pod").status, 404);
    let r = get(&api, "/api/v1/namespaces/prefect/pods/x/log");
    assert_eq!((r.status, r.json()["message"].as_str()), (404, Some("pods \"x\" not found")));
    let r = get(&api, "/apis/apps/v1/namespaces/prefect/deployments");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "the server could not find the requested resource");
}

#[test]
fn forbidden_rules_answer_the_real_403() {
    let api = sample();
    let r = get(&api, "/api/v1/namespaces/prefect/resourcequotas");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourcequotas is forbidden: User \"system:serviceaccount:prefect:unstuck\" cannot list resource \"resourcequotas\" in API group \"\" in the namespace \"prefect\"","reason":"Forbidden","details":{"kind":"resourcequotas"},"code":403}"#
    );
    let r = get(&api, "/api/v1/nodes");
    assert_eq!(
        r.json()["message"],
        "nodes is forbidden: User \"system:serviceaccount:prefect:unstuck\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
    );
    let r = get(&api, "/apis/batch/v1/namespaces/prefect/jobs/flow-run-old");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "jobs.batch \"flow-run-old\" is forbidden: User \"system:serviceaccount:prefect:unstuck\" cannot get resource \"jobs\" in API group \"batch\" in the namespace \"prefect\"",
               "reason": "Forbidden", "details": {"name": "flow-run-old", "group": "batch", "kind": "jobs"}, "code": 403})
    );
    // Rules are precise: other verbs, names and namespaces are unaffected.
    assert_eq!(get(&api, "/apis/batch/v1/namespaces/prefect/jobs/flow-run-abc").status, 200);
    assert_eq!(get(&api, "/api/v1/namespaces/default/resourcequotas").status, 200);
    assert_eq!(get(&api, "/api/v1/nodes/node-1").status, 200);

    // A scenario's own user, and a denial of pod logs (the subresource is named in the message).
    let dir = scratch_copy(
        "logs-denied",
        &[
            ("user", json!("system:serviceaccount:ops:reader")),
            ("forbidden", json!([{"verb": "get", "resource": "pods/log", "namespace": "prefect"}])),
        ],
    );
    let api = KubeApi::start(&dir);
    let r = get(&api, "/api/v1/namespaces/prefect/pods/multi-pod/log?container=main");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        "pods \"multi-pod\" is forbidden: User \"system:serviceaccount:ops:reader\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"prefect\""
    );
    assert_eq!(get(&api, "/api/v1/namespaces/prefect/pods/multi-pod").status, 200);
}

#[test]
fn logs_honour_tail_limit_previous_and_container() {
    let api = sample();
    let base = "/api/v1/namespaces/prefect/pods/flow-run-abc-xyz12/log";
    let full = get(&api, base);
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type"), Some("text/plain"));
    assert_eq!(full.body.lines().count(), 10);
    assert!(full.body.starts_with("10:02:01.000 | INFO"));

    let tail = get(&api, &format!("{base}?container=prefect-job&tailLines=3"));
    assert_eq!(tail.body.lines().collect::<Vec<_>>().len(), 3);
    assert!(tail.body.starts_with("10:02:08.000") && tail.body.ends_with("line 10\n"), "{}", tail.body);
    assert_eq!(get(&api, &format!("{base}?tailLines=0")).body, "");
    assert_eq!(get(&api, &format!("{base}?tailLines=100")).body, full.body);

    let limited = get(&api, &format!("{base}?limitBytes=20"));
    assert_eq!(limited.body, full.body[..20]);
    let both = get(&api, &format!("{base}?tailLines=2&limitBytes=12"));
    assert_eq!(both.body, "10:02:09.000", "tail first, then the byte limit");

    let prev = get(&api, &format!("{base}?previous=true"));
    assert_eq!(prev.status, 200);
    assert!(prev.body.contains("ModuleNotFoundError"));
    assert_eq!(
        get(&api, &format!("{base}?previous=true&tailLines=1")).body,
        "ModuleNotFoundError: No module named 'flows'\n"
    );

    let multi = "/api/v1/namespaces/prefect/pods/multi-pod/log";
    assert_eq!(get(&api, &format!("{multi}?container=main")).body, "worker started\npolling work pool 'k8s'\n");
    // A running container that wrote nothing has an empty log, not an error.
    let side = get(&api, &format!("{multi}?container=sidecar"));
    assert_eq!((side.status, side.body.as_str()), (200, ""));
    // Not scheduled yet: the apiserver has no kubelet to ask and streams nothing.
    assert_eq!(get(&api, "/api/v1/namespaces/prefect/pods/pending-pod/log").status, 204);
}

#[test]
fn log_refusals_are_the_real_400s() {
    let api = sample();
    let multi = "/api/v1/namespaces/prefect/pods/multi-pod/log";
    let r = get(&api, multi);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"a container name must be specified for pod multi-pod, choose one of: [init-setup main sidecar]","reason":"BadRequest","code":400}"#
    );
    let r = get(&api, &format!("{multi}?container=nope"));
    assert_eq!(r.json()["message"], "container nope is not valid for pod multi-pod");
    let r = get(&api, &format!("{multi}?container=main&previous=true"));
    assert_eq!(r.json()["message"], "previous terminated container \"main\" in pod \"multi-pod\" not found");

    // From scenario.json logs_unavailable.
    let r = get(&api, "/api/v1/namespaces/prefect/pods/pull-fail/log?container=prefect-job");
    assert_eq!((r.status, r.json()["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(
        r.json()["message"],
        "container \"prefect-job\" in pod \"pull-fail\" is waiting to start: trying and failing to pull image"
    );
    // Not listed there: worked out from the pod's recorded container status, as the kubelet does.
    let r = get(&api, "/api/v1/namespaces/prefect/pods/img-err/log");
    assert_eq!(
        r.json()["message"],
        "container \"prefect-job\" in pod \"img-err\" is waiting to start: image can't be pulled"
    );
    let r = get(&api, "/api/v1/namespaces/prefect/pods/img-err/log?previous=true");
    assert_eq!(r.json()["message"], "previous terminated container \"prefect-job\" in pod \"img-err\" not found");

    let r = get(&api, "/api/v1/namespaces/prefect/pods/multi-pod/log?container=main&tailLines=x");
    assert_eq!(r.status, 400);
}

#[test]
fn access_reviews_echo_the_spec_with_a_status() {
    let api = sample();
    let body = json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "spec": {"resourceAttributes": {"verb": "list", "resource": "nodes"}}});
    let r = curl_full(
        &api,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        Some(&body.to_string()),
        true,
    );
    assert_eq!(r.status, 201);
    let out = r.json();
    assert_eq!(out["kind"], "SelfSubjectAccessReview");
    assert_eq!(out["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(out["spec"], body["spec"], "spec echoed");
    assert_eq!(out["status"], json!({"allowed": false}), "denied by the scenario's forbidden rule");

    let body = json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "subresource": "log", "namespace": "prefect"}}});
    let r = curl_full(
        &api,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        Some(&body.to_string()),
        true,
    );
    assert_eq!(r.json()["status"], json!({"allowed": true}));

    let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "system:serviceaccount:prefect:prefect-worker", "groups": ["system:serviceaccounts"],
                 "resourceAttributes": {"verb": "list", "resource": "resourcequotas", "namespace": "prefect"}}});
    let r =
        curl_full(&api, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", Some(&body.to_string()), true);
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["kind"], "SubjectAccessReview");
    assert_eq!(r.json()["spec"], body["spec"]);
    assert_eq!(r.json()["status"]["allowed"], false);

    // A scenario's fixed answer wins, reason included.
    let api = KubeApi::start(&fixtures("review"));
    let body = json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "prefect"}}});
    let r = curl_full(
        &api,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        Some(&body.to_string()),
        true,
    );
    assert_eq!(r.json()["status"], json!({"allowed": false, "reason": "no RBAC policy matched"}));
    // That scenario has no object files: everything lists empty, and its user is named in denials.
    assert_eq!(get(&api, "/apis/batch/v1/namespaces/prefect/jobs").names(), Vec::<String>::new());
    let r = get(&api, "/api/v1/namespaces/prefect/pods");
    assert_eq!(
        r.json()["message"],
        "pods is forbidden: User \"system:serviceaccount:ops:reader\" cannot list resource \"pods\" in API group \"\" in the namespace \"prefect\""
    );
}

#[test]
fn every_request_is_recorded_and_writes_are_refused() {
    let api = sample();
    get(&api, "/api/v1/namespaces/prefect/pods?labelSelector=job-name%3Dflow-run-abc&limit=500");
    let body = r#"{"spec":{"resourceAttributes":{"verb":"list","resource":"pods"}}}"#;
    curl_full(&api, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", Some(body), true);
    for method in ["DELETE", "PATCH", "PUT"] {
        let r = curl_full(&api, method, "/api/v1/namespaces/prefect/pods/pending-pod", Some("{}"), true);
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.json()["reason"], "MethodNotAllowed");
    }
    let r = curl_full(&api, "POST", "/api/v1/namespaces/prefect/pods", Some("{}"), true);
    assert_eq!(r.status, 405, "creating a pod");
    let r = get(&api, "/api/v1/namespaces/prefect/pods?watch=true");
    assert_eq!(r.status, 405, "watches are not served");

    let seen = api.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "DELETE", "PATCH", "PUT", "POST", "GET"]);
    let first = &seen[0];
    assert_eq!(first.path, "/api/v1/namespaces/prefect/pods");
    assert_eq!(first.query, "labelSelector=job-name%3Dflow-run-abc&limit=500");
    assert_eq!(first.param("labelSelector").as_deref(), Some("job-name=flow-run-abc"));
    assert_eq!(first.param("limit").as_deref(), Some("500"));
    assert_eq!(first.header("authorization"), Some(format!("Bearer {}", api.token()).as_str()));
    assert!(first.header("user-agent").unwrap().starts_with("curl/"));
    assert_eq!(seen[1].body, body);
    assert!(!first.is_watch() && seen[6].is_watch());
    // What a read-only test asserts.
    let writes: Vec<_> = seen
        .iter()
        .filter(|s| !(s.method == "GET" && !s.is_watch() || s.method == "POST" && s.path.ends_with("accessreviews")))
        .collect();
    assert_eq!(writes.len(), 5);
}

#[test]
fn the_bearer_token_is_required() {
    let api = sample();
    let r = curl_full(&api, "GET", "/api/v1/namespaces/prefect/pods", None, false);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
    );
    assert_eq!(curl_full(&api, "GET", "/version", None, false).status, 200, "/version is public");
}

#[test]
fn discovery_endpoints() {
    let api = sample();
    let version = get(&api, "/version").json();
    assert_eq!(version["major"], "1");
    assert!(version["gitVersion"].as_str().unwrap().starts_with("v1."));
    let apis = get(&api, "/api").json();
    assert_eq!((apis["kind"].as_str(), apis["versions"][0].as_str()), (Some("APIVersions"), Some("v1")));
    let groups = get(&api, "/apis").json();
    assert_eq!(groups["kind"], "APIGroupList");
    let names: Vec<&str> = groups["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["batch", "events.k8s.io", "authorization.k8s.io"]);
    let core = get(&api, "/api/v1").json();
    assert_eq!(core["kind"], "APIResourceList");
    let res: Vec<&str> = core["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    for want in
        ["pods", "pods/log", "events", "nodes", "namespaces", "resourcequotas", "limitranges", "serviceaccounts"]
    {
        assert!(res.contains(&want), "{want} in {res:?}");
    }
    assert_eq!(get(&api, "/apis/batch/v1").json()["resources"][0]["name"], "jobs");
    assert_eq!(get(&api, "/apis/batch").json()["kind"], "APIGroup");
    assert_eq!(get(&api, "/apis/authorization.k8s.io/v1").json()["resources"].as_array().unwrap().len(), 2);
}

#[test]
fn limit_and_continue_page_through_a_list() {
    let api = sample();
    let mut names = Vec::new();
    let mut path = "/api/v1/pods?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = get(&api, &path).json();
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        names.extend(items.iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()));
        match page["metadata"]["continue"].as_str() {
            Some(tok) => {
                assert!(page["metadata"]["remainingItemCount"].as_u64().unwrap() > 0);
                path = format!("/api/v1/pods?limit=2&continue={}", enc(tok));
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    names.sort();
    assert_eq!(names, get(&api, "/api/v1/pods").names());
    assert_eq!(get(&api, "/api/v1/pods?limit=2&continue=garbage").status, 400);
}

// --- faults -----------------------------------------------------------------------------------------

#[test]
fn fault_delay() {
    let api = KubeApi::start_with(&fixtures("sample"), |s, _| {
        if s.path.ends_with("/jobs") { Fault::Delay(Duration::from_millis(400)) } else { Fault::Pass }
    });
    let t = Instant::now();
    assert_eq!(get(&api, "/api/v1/namespaces/prefect/pods").status, 200);
    assert!(t.elapsed() < Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(get(&api, "/apis/batch/v1/namespaces/prefect/jobs").names().len(), 2);
    assert!(t.elapsed() >= Duration::from_millis(400));
}

#[test]
fn fault_respond_429_then_pass() {
    let api = KubeApi::start_with(&fixtures("sample"), |_, nth| {
        if nth == 0 {
            Fault::Respond {
                status: 429,
                headers: vec![("Retry-After", "1".to_string())],
                body: r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}"#.to_string(),
            }
        } else {
            Fault::Pass
        }
    });
    let r = get(&api, "/api/v1/namespaces/prefect/pods");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json()["reason"], "TooManyRequests");
    assert_eq!(get(&api, "/api/v1/namespaces/prefect/pods").status, 200, "only the first request is throttled");
    assert_eq!(api.seen().len(), 2);
}

#[test]
fn fault_respond_503_with_garbage() {
    let api = KubeApi::start_with(&fixtures("sample"), |_, _| Fault::Respond {
        status: 503,
        headers: vec![("Content-Type", "text/html".to_string())],
        body: "<html>upstream connect error</html>".to_string(),
    });
    let r = get(&api, "/api/v1/nodes");
    assert_eq!(r.status, 503);
    assert_eq!(r.header("content-type"), Some("text/html"), "the rule's content type replaces the default");
    assert_eq!(r.body, "<html>upstream connect error</html>");
}

/// Sends raw requests on one connection and reads until the server closes it.
fn raw_exchange(api: &KubeApi, requests: &str) -> String {
    let addr = api.url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(requests.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_get(api: &KubeApi, path: &str, close: bool) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\n{}\r\n",
        api.token(),
        if close { "Connection: close\r\n" } else { "" }
    )
}

#[test]
fn fault_truncate_sends_less_than_content_length() {
    let api = KubeApi::start_with(&fixtures("sample"), |_, _| Fault::Truncate);
    let out = raw_exchange(&api, &raw_get(&api, "/api/v1/namespaces/prefect/pods", false));
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    let declared: usize = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
    assert!(!body.is_empty() && body.len() < declared, "{} of {declared}", body.len());
    // curl sees the cut as a transfer error.
    let c = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-H", &format!("Authorization: Bearer {}", api.token())])
        .arg(format!("{}/api/v1/nodes/node-1", api.url))
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(18), "CURLE_PARTIAL_FILE: {}", String::from_utf8_lossy(&c.stderr));
}

#[test]
fn fault_reset_closes_without_answering() {
    let api = KubeApi::start_with(&fixtures("sample"), |_, _| Fault::Reset);
    let out = raw_exchange(&api, &raw_get(&api, "/api/v1/namespaces/prefect/pods", false));
    assert_eq!(out, "");
    let c = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("{}/api/v1/pods", api.url))
        .output()
        .unwrap();
    assert_eq!(c.status.code(), Some(52), "CURLE_GOT_NOTHING: {}", String::from_utf8_lossy(&c.stderr));
    assert_eq!(api.seen().len(), 2, "reset requests are still recorded");
}

#[test]
fn rule_sees_the_request_and_its_index() {
    let count = Arc::new(AtomicUsize::new(0));
    let c2 = count.clone();
    let api = KubeApi::start_with(&fixtures("sample"), move |s, nth| {
        assert_eq!(nth, c2.fetch_add(1, Ordering::SeqCst));
        if s.param("labelSelector").as_deref() == Some("tier") { Fault::Reset } else { Fault::Pass }
    });
    assert_eq!(get(&api, "/api/v1/pods").status, 200);
    let c = Command::new("curl")
        .args(["-sS", "-H", &format!("Authorization: Bearer {}", api.token())])
        .arg(format!("{}/api/v1/pods?labelSelector=tier", api.url))
        .output()
        .unwrap();
    assert!(!c.status.success());
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

// --- connections ------------------------------------------------------------------------------------

#[test]
fn keep_alive_serves_several_requests_per_connection() {
    let api = sample();
    let reqs = format!(
        "{}{}{}",
        raw_get(&api, "/api/v1/namespaces/prefect/pods/pending-pod", false),
        raw_get(&api, "/apis/batch/v1/namespaces/prefect/jobs/nope", false),
        raw_get(&api, "/version", true)
    );
    let out = raw_exchange(&api, &reqs);
    assert_eq!(out.matches("HTTP/1.1 ").count(), 3, "{out}");
    assert!(out.starts_with("HTTP/1.1 200 OK"));
    assert!(out.contains("HTTP/1.1 404 Not Found"));
    assert!(out.trim_end().ends_with('}'), "the last answer is complete before the close");
    assert_eq!(out.matches("Connection: close").count(), 1);
    assert_eq!(api.seen().len(), 3);

    // A POST body with Content-Length does not bleed into the next request on the connection.
    let body = r#"{"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}}"#;
    let reqs = format!(
        "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}{}",
        api.token(),
        body.len(),
        raw_get(&api, "/api", true)
    );
    let out = raw_exchange(&api, &reqs);
    assert!(out.starts_with("HTTP/1.1 201 Created"));
    assert!(out.contains("\"APIVersions\""));
}

#[test]
fn drop_stops_the_server_and_closes_idle_connections() {
    let api = sample();
    let addr = api.url.trim_start_matches("http://").to_string();
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(raw_get(&api, "/version", false).as_bytes()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    assert!(idle.read(&mut buf).unwrap() > 0);
    drop(api);
    // The idle keep-alive connection is closed rather than left hanging...
    let mut rest = Vec::new();
    let t = Instant::now();
    let _ = idle.read_to_end(&mut rest);
    assert!(t.elapsed() < Duration::from_secs(4));
    // ...and nothing listens any more.
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect(&addr).is_err());
}

#[test]
fn kubeconfig_points_at_the_server_with_a_token() {
    let api = sample();
    let dir = std::env::temp_dir().join(format!("kubeapi-kc-{}", std::process::id()));
    let path = api.kubeconfig(&dir, "prefect");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("server: {}", api.url)));
    assert!(api.url.starts_with("http://127.0.0.1:"));
    assert!(text.contains(&format!("token: {}", api.token())));
    assert!(text.contains("namespace: \"prefect\""));
    assert!(text.contains("current-context: fixture"));
    assert!(text.contains("- name: fixture\n  context:\n    cluster: fixture\n    user: fixture\n"));
    // Each server has its own secret.
    assert_ne!(sample().token(), api.token());
}
