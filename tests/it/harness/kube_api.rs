//! A std-only stand-in for kube-apiserver that serves RECORDED real Kubernetes objects (`kubectl get -A
//! -o json` lists, container logs) to the real `kube` client, with label/field selectors, RBAC denials,
//! kubelet log errors, request recording and fault injection.
//!
//! No API server can be installed on the test machine, so this answers exactly what `unstuck` reads the
//! way kube-apiserver would: the same paths, list envelopes, `Status` bodies and messages (copied from
//! the Kubernetes source, named next to each), so the client code under test cannot tell the
//! difference for the read-only calls it makes. Anything that is not a read (or an access-review
//! create) is refused and recorded, so tests can prove the tool never writes.
//!
//! Fixture directory layout (one scenario):
//! `jobs.json`, `pods.json`, `events.json`, `events.k8s.io.json`, `nodes.json`, `resourcequotas.json`,
//! `limitranges.json`, `serviceaccounts.json`, `namespaces.json` (each a `kubectl get <r> -A -o json`
//! List; any may be missing = no objects), `logs/<ns>/<pod>/<container>[.previous].log`, and
//! `scenario.json` with optional `user`, `forbidden`, `access_review`, `logs_unavailable`, `version`.

// Each test uses its own subset of the faults and accessors.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// What to do with one request (chosen by the rule given to [`KubeApi::start_with`]).
pub enum Fault {
    /// Answer from the fixtures, like the apiserver would.
    Pass,
    /// Wait, then answer from the fixtures (client timeouts, slow clusters).
    Delay(Duration),
    /// Answer this instead (429 with `Retry-After`, 503, garbage bodies). The connection stays open,
    /// as an apiserver's would after a throttled request.
    Respond { status: u16, headers: Vec<(&'static str, String)>, body: String },
    /// Send the real answer's headers with its full `Content-Length`, then only half of the body, and
    /// close: the client sees a body cut short.
    Truncate,
    /// Like `Truncate`, but the connection then stalls instead of closing: the body never finishes
    /// (a timeout mid-body), until the client gives up or the server is dropped.
    StallBody,
    /// Close the connection without answering.
    Reset,
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The path without the query (`/api/v1/namespaces/prefect/pods`).
    pub path: String,
    /// The raw query string, still URL-encoded (`labelSelector=job-name%3Dx&limit=500`), or "".
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    /// The URL-decoded value of query parameter `name`, if sent.
    pub fn param(&self, name: &str) -> Option<String> {
        parse_query(&self.query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True for a watch request (`?watch=true|1`), which a diagnosis must never need.
    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch").as_deref(), Some("true" | "1"))
    }
}

type Rule = dyn Fn(&Seen, usize) -> Fault + Send + Sync;

/// The running server. Stops (and closes every connection) on drop.
pub struct KubeApi {
    /// `http://127.0.0.1:PORT`, the cluster `server` in [`KubeApi::kubeconfig`].
    pub url: String,
    token: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    addr: SocketAddr,
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

impl KubeApi {
    /// Serves the scenario in `dir` with no faults.
    pub fn start(dir: &Path) -> KubeApi {
        KubeApi::start_with(dir, |_, _| Fault::Pass)
    }

    /// Serves the scenario in `dir`; `rule` gets each request and how many came before it. Panics when
    /// a fixture file is not valid JSON (a broken fixture must fail the test, not look like an empty
    /// cluster).
    pub fn start_with(dir: &Path, rule: impl Fn(&Seen, usize) -> Fault + Send + Sync + 'static) -> KubeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind kube api");
        let addr = listener.local_addr().expect("kube api addr");
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        // A recognisable secret: tests assert it never appears in output or bundles.
        let token = format!("k8s-fixture-token-{}-{}-{n}", std::process::id(), addr.port());
        let cluster = Arc::new(Cluster::load(dir, addr, token.clone()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::new(Mutex::new(HashMap::new()));
        let rule: Arc<Rule> = Arc::new(rule);
        {
            let (seen, stop, conns) = (seen.clone(), stop.clone(), conns.clone());
            thread::spawn(move || {
                let mut next_id = 0u64;
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    next_id += 1;
                    let id = next_id;
                    if let Ok(clone) = conn.try_clone() {
                        lock(&conns).insert(id, clone);
                    }
                    let (seen, rule, cluster, conns) = (seen.clone(), rule.clone(), cluster.clone(), conns.clone());
                    thread::spawn(move || {
                        let _ = serve_connection(&conn, &seen, &*rule, &cluster);
                        let _ = conn.shutdown(Shutdown::Both);
                        lock(&conns).remove(&id);
                    });
                }
            });
        }
        KubeApi { url: format!("http://{addr}"), token, seen, stop, conns, addr }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// The bearer token the kubeconfig carries and the server demands (401 without it).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Writes `dir/kubeconfig` for this server: cluster, user (bearer token) and context `fixture`
    /// with default `namespace`, set as current-context. Returns its path (for `KUBECONFIG`).
    pub fn kubeconfig(&self, dir: &Path, namespace: &str) -> PathBuf {
        fs::create_dir_all(dir).expect("kubeconfig dir");
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: {url}\n\
             contexts:\n- name: fixture\n  context:\n    cluster: fixture\n    user: fixture\n    namespace: {ns}\n\
             current-context: fixture\npreferences: {{}}\nusers:\n- name: fixture\n  user:\n    token: {token}\n",
            url = self.url,
            ns = yaml_str(namespace),
            token = self.token,
        );
        fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for conn in lock(&self.conns).values() {
            let _ = conn.shutdown(Shutdown::Both); // wakes threads blocked on keep-alive reads
        }
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default() // a JSON string is a valid YAML scalar
}

// ---------------------------------------------------------------------------------------------------
// HTTP/1.1: keep-alive, Content-Length bodies, `Connection: close`.

struct Response {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response::raw(status, "application/json", serde_json::to_vec(body).unwrap_or_default())
    }
    fn raw(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status, content_type, headers: vec![], body }
    }
}

fn serve_connection(conn: &TcpStream, seen: &Mutex<Vec<Seen>>, rule: &Rule, cluster: &Cluster) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn.try_clone()?;
    loop {
        let Some((req, close)) = read_request(&mut reader)? else { return Ok(()) };
        let nth = {
            let mut s = lock(seen);
            s.push(req.clone());
            s.len() - 1
        };
        let fault = rule(&req, nth);
        let stall = matches!(fault, Fault::StallBody);
        let truncate = stall || matches!(fault, Fault::Truncate);
        let resp = match fault {
            Fault::Reset => return Ok(()),
            Fault::Respond { status, headers, body } => {
                let mut r = Response::raw(status, "application/json", body.into_bytes());
                for (k, v) in headers {
                    if k.eq_ignore_ascii_case("content-type") {
                        r.content_type = "";
                    }
                    r.headers.push((k.to_string(), v));
                }
                r
            }
            Fault::Delay(d) => {
                thread::sleep(d);
                cluster.handle(&req)
            }
            Fault::Pass | Fault::Truncate | Fault::StallBody => cluster.handle(&req),
        };
        write_response(&mut out, &resp, close, truncate)?;
        if stall {
            // Returns when the client hangs up or the server is dropped (which shuts the socket down).
            let mut sink = [0u8; 64];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            return Ok(());
        }
        if close || truncate {
            return Ok(());
        }
    }
}

/// Reads one request; `None` when the client closed the connection between requests. The bool says
/// whether the connection must close after the answer.
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<(Seen, bool)>> {
    let mut line = String::new();
    loop {
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break; // tolerate stray CRLFs between requests (RFC 9112 §2.2)
        }
        line.clear();
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let version = parts.next().unwrap_or("HTTP/1.1").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let connection = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let close = if version == "HTTP/1.0" { !connection.contains("keep-alive") } else { connection.contains("close") };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    let body = String::from_utf8_lossy(&body).into_owned();
    Ok(Some((Seen { method, path, query, headers, body }, close)))
}

fn write_response(out: &mut TcpStream, resp: &Response, close: bool, truncate: bool) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason_phrase(resp.status));
    if !resp.content_type.is_empty() && resp.status != 204 {
        head.push_str(&format!("Content-Type: {}\r\n", resp.content_type));
    }
    head.push_str("Cache-Control: no-cache, private\r\n");
    head.push_str(&format!("Audit-Id: {}\r\n", audit_id()));
    head.push_str(&format!("Date: {}\r\n", http_date(SystemTime::now())));
    head.push_str("X-Content-Type-Options: nosniff\r\n");
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if resp.status != 204 {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    if close || truncate {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if truncate {
        out.write_all(&resp.body[..resp.body.len() / 2])?;
    } else {
        out.write_all(&resp.body)?;
    }
    out.flush()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        410 => "Gone",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn audit_id() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    // Civil-from-days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mon =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(month - 1) as usize];
    format!("{weekday}, {day:02} {mon} {year} {:02}:{:02}:{:02} GMT", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `url.ParseQuery` order-preserving: `+` is a space, `%XX` decoded.
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// Status bodies, worded as kube-apiserver words them.

/// `metav1.Status` with the apiserver's field order.
fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut s = Map::new();
    s.insert("kind".into(), json!("Status"));
    s.insert("apiVersion".into(), json!("v1"));
    s.insert("metadata".into(), json!({}));
    s.insert("status".into(), json!("Failure"));
    s.insert("message".into(), json!(message));
    s.insert("reason".into(), json!(reason));
    if let Some(d) = details {
        s.insert("details".into(), d);
    }
    s.insert("code".into(), json!(code));
    Response::json(code, &Value::Object(s))
}

/// `StatusDetails` as `NewNotFound`/`NewForbidden` fill it (empty fields omitted, as Go's omitempty).
fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        d.insert("kind".into(), json!(kind));
    }
    Value::Object(d)
}

/// `schema.GroupResource.String()`: `pods`, `jobs.batch`.
fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() { resource.to_string() } else { format!("{resource}.{group}") }
}

/// Go's `%q` for the strings that occur here.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// k8s.io/apimachinery/pkg/api/errors `NewNotFound`: `pods "x" not found`, `jobs.batch "x" not found`.
fn not_found(resource: &str, group: &str, name: &str) -> Response {
    let msg = format!("{} {} not found", qualified(resource, group), go_quote(name));
    status(404, "NotFound", &msg, Some(details(name, group, resource)))
}

/// A path no route serves: what the apiserver's NotFound handler answers (`NewGenericServerResponse`
/// wording for 404, empty details).
fn no_route() -> Response {
    status(404, "NotFound", "the server could not find the requested resource", Some(json!({})))
}

fn bad_request(message: &str) -> Response {
    status(400, "BadRequest", message, None)
}

// ---------------------------------------------------------------------------------------------------
// Resources and their field selectors.

#[derive(Clone, Copy, PartialEq)]
enum FieldRules {
    Pod,
    Node,
    Namespace,
    CoreEvent,
    EventsV1,
    Job,
    /// `runtime.DefaultMetaV1FieldSelectorConversion`: kinds with no registered conversion func.
    MetaOnly,
}

struct Resource {
    plural: &'static str,
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    namespaced: bool,
    file: &'static str,
    fields: FieldRules,
}

impl Resource {
    fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
}

#[rustfmt::skip]
const RESOURCES: &[Resource] = &[
    Resource { plural: "pods", group: "", version: "v1", kind: "Pod", namespaced: true, file: "pods.json", fields: FieldRules::Pod },
    Resource { plural: "events", group: "", version: "v1", kind: "Event", namespaced: true, file: "events.json", fields: FieldRules::CoreEvent },
    Resource { plural: "nodes", group: "", version: "v1", kind: "Node", namespaced: false, file: "nodes.json", fields: FieldRules::Node },
    Resource { plural: "namespaces", group: "", version: "v1", kind: "Namespace", namespaced: false, file: "namespaces.json", fields: FieldRules::Namespace },
    Resource { plural: "resourcequotas", group: "", version: "v1", kind: "ResourceQuota", namespaced: true, file: "resourcequotas.json", fields: FieldRules::MetaOnly },
    Resource { plural: "limitranges", group: "", version: "v1", kind: "LimitRange", namespaced: true, file: "limitranges.json", fields: FieldRules::MetaOnly },
    Resource { plural: "serviceaccounts", group: "", version: "v1", kind: "ServiceAccount", namespaced: true, file: "serviceaccounts.json", fields: FieldRules::MetaOnly },
    Resource { plural: "jobs", group: "batch", version: "v1", kind: "Job", namespaced: true, file: "jobs.json", fields: FieldRules::Job },
    Resource { plural: "events", group: "events.k8s.io", version: "v1", kind: "Event", namespaced: true, file: "events.k8s.io.json", fields: FieldRules::EventsV1 },
];

fn find_resource(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// How a field label reads its value out of the wire object.
enum FieldValue {
    /// A dotted path; absent reads as "".
    Str(&'static str),
    /// A bool; absent reads as "false" (ToSelectableFields always sets it).
    Bool(&'static str),
    /// An integer; absent reads as "0".
    Int(&'static str),
    /// The first non-empty of two paths (core Event `source`: source.component, else reportingComponent).
    Either(&'static str, &'static str),
    /// Accepted by the conversion func but never set by ToSelectableFields: always "".
    Never,
}

/// Validates a field label like the kind's `AddFieldLabelConversionFunc` (400 text on refusal) and
/// says where its value lives. Sources: pkg/apis/core/v1/conversion.go (Pod, Node, Namespace, Event),
/// pkg/apis/events/v1/conversion.go (events.k8s.io), pkg/apis/batch/v1/conversion.go (Job),
/// staging/src/k8s.io/apimachinery/pkg/runtime/conversion.go (the metadata-only default); values as
/// pkg/registry/core/{pod,event}/strategy.go ToSelectableFields compute them.
fn field_label(rules: FieldRules, label: &str) -> Result<FieldValue, String> {
    use FieldValue::*;
    let unsupported = || format!("field label not supported: {label}");
    match rules {
        FieldRules::Pod => match label {
            "metadata.name" => Ok(Str("metadata.name")),
            "metadata.namespace" => Ok(Str("metadata.namespace")),
            "spec.nodeName" | "spec.host" => Ok(Str("spec.nodeName")),
            "spec.restartPolicy" => Ok(Str("spec.restartPolicy")),
            "spec.schedulerName" => Ok(Str("spec.schedulerName")),
            "spec.serviceAccountName" => Ok(Str("spec.serviceAccountName")),
            "spec.hostNetwork" => Ok(Bool("spec.hostNetwork")),
            "status.phase" => Ok(Str("status.phase")),
            "status.podIP" => Ok(Str("status.podIP")),
            "status.podIPs" => Ok(Never),
            "status.nominatedNodeName" => Ok(Str("status.nominatedNodeName")),
            _ => Err(unsupported()),
        },
        FieldRules::Node => match label {
            "metadata.name" => Ok(Str("metadata.name")),
            "spec.unschedulable" => Ok(Bool("spec.unschedulable")),
            _ => Err(unsupported()),
        },
        FieldRules::Namespace => match label {
            "metadata.name" => Ok(Str("metadata.name")),
            "status.phase" => Ok(Str("status.phase")),
            _ => Err(unsupported()),
        },
        FieldRules::CoreEvent => match label {
            "metadata.name" => Ok(Str("metadata.name")),
            "metadata.namespace" => Ok(Str("metadata.namespace")),
            "involvedObject.kind" => Ok(Str("involvedObject.kind")),
            "involvedObject.namespace" => Ok(Str("involvedObject.namespace")),
            "involvedObject.name" => Ok(Str("involvedObject.name")),
            "involvedObject.uid" => Ok(Str("involvedObject.uid")),
            "involvedObject.apiVersion" => Ok(Str("involvedObject.apiVersion")),
            "involvedObject.resourceVersion" => Ok(Str("involvedObject.resourceVersion")),
            "involvedObject.fieldPath" => Ok(Str("involvedObject.fieldPath")),
            "reason" => Ok(Str("reason")),
            "reportingComponent" => Ok(Str("reportingComponent")),
            "source" => Ok(Either("source.component", "reportingComponent")),
            "type" => Ok(Str("type")),
            _ => Err(unsupported()),
        },
        FieldRules::EventsV1 => match label {
            "metadata.name" => Ok(Str("metadata.name")),
            "metadata.namespace" => Ok(Str("metadata.namespace")),
            "regarding.kind" => Ok(Str("regarding.kind")),
            "regarding.namespace" => Ok(Str("regarding.namespace")),
            "regarding.name" => Ok(Str("regarding.name")),
            "regarding.uid" => Ok(Str("regarding.uid")),
            "regarding.apiVersion" => Ok(Str("regarding.apiVersion")),
            "regarding.resourceVersion" => Ok(Str("regarding.resourceVersion")),
            "regarding.fieldPath" => Ok(Str("regarding.fieldPath")),
            "reportingController" => Ok(Str("reportingController")),
            "reason" => Ok(Str("reason")),
            "source" => Ok(Either("deprecatedSource.component", "reportingController")),
            "type" => Ok(Str("type")),
            _ => Err(unsupported()),
        },
        FieldRules::Job => match label {
            "metadata.name" => Ok(Str("metadata.name")),
            "metadata.namespace" => Ok(Str("metadata.namespace")),
            "status.successful" => Ok(Int("status.succeeded")),
            _ => Err(format!("field label {} not supported for Job", go_quote(label))),
        },
        FieldRules::MetaOnly => match label {
            "metadata.name" => Ok(Str("metadata.name")),
            "metadata.namespace" => Ok(Str("metadata.namespace")),
            _ => Err(format!(
                "{} is not a known field selector: only {}, {}",
                go_quote(label),
                go_quote("metadata.name"),
                go_quote("metadata.namespace")
            )),
        },
    }
}

fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, k| v.get(k))
}

fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn field_value(obj: &Value, how: &FieldValue) -> String {
    match how {
        FieldValue::Str(p) => scalar(at(obj, p)),
        FieldValue::Bool(p) => at(obj, p).and_then(Value::as_bool).unwrap_or(false).to_string(),
        FieldValue::Int(p) => at(obj, p).and_then(Value::as_i64).unwrap_or(0).to_string(),
        FieldValue::Either(a, b) => {
            let first = scalar(at(obj, a));
            if first.is_empty() { scalar(at(obj, b)) } else { first }
        }
        FieldValue::Never => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------------
// The fixtures and the apiserver behaviour over them.

struct Forbid {
    verb: String,
    resource: String,
    group: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
}

struct LogsUnavailable {
    namespace: String,
    pod: String,
    container: String,
    previous: bool,
    message: String,
}

struct Cluster {
    dir: PathBuf,
    addr: SocketAddr,
    token: String,
    user: String,
    objects: HashMap<(&'static str, &'static str), Vec<Value>>,
    list_rv: HashMap<(&'static str, &'static str), String>,
    forbidden: Vec<Forbid>,
    access_review: Option<Value>,
    logs_unavailable: Vec<LogsUnavailable>,
    version: Option<Value>,
}

fn read_list(path: &Path) -> Option<(Vec<Value>, String)> {
    let text = fs::read_to_string(path).ok()?;
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()));
    let rv = scalar(at(&v, "metadata.resourceVersion"));
    let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    Some((items, rv))
}

fn s(v: &Value, key: &str) -> String {
    scalar(v.get(key))
}

fn opt_s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

impl Cluster {
    fn load(dir: &Path, addr: SocketAddr, token: String) -> Cluster {
        let mut objects = HashMap::new();
        let mut list_rv = HashMap::new();
        for r in RESOURCES {
            if let Some((items, rv)) = read_list(&dir.join(r.file)) {
                objects.insert((r.group, r.plural), items);
                list_rv.insert((r.group, r.plural), rv);
            }
        }
        // One Event store behind two APIs, like the apiserver: whichever file is missing is converted
        // from the other (pkg/apis/events/v1/conversion.go).
        match (objects.contains_key(&("", "events")), objects.contains_key(&("events.k8s.io", "events"))) {
            (true, false) => {
                let conv = objects[&("", "events")].iter().map(core_event_to_v1).collect();
                objects.insert(("events.k8s.io", "events"), conv);
            }
            (false, true) => {
                let conv = objects[&("events.k8s.io", "events")].iter().map(v1_event_to_core).collect();
                objects.insert(("", "events"), conv);
            }
            // Both recorded: each API serves every event, its own and the other's converted.
            (true, true) => {
                let core = objects[&("", "events")].clone();
                let v1 = objects[&("events.k8s.io", "events")].clone();
                if let Some(list) = objects.get_mut(&("", "events")) {
                    list.extend(v1.iter().map(v1_event_to_core));
                }
                if let Some(list) = objects.get_mut(&("events.k8s.io", "events")) {
                    list.extend(core.iter().map(core_event_to_v1));
                }
            }
            (false, false) => {}
        }
        // A real cluster always has its namespaces; without namespaces.json, every namespace an object
        // lives in (plus the built-in ones) exists and is Active.
        if !objects.contains_key(&("", "namespaces")) {
            let mut names: Vec<String> =
                vec!["default".into(), "kube-node-lease".into(), "kube-public".into(), "kube-system".into()];
            for items in objects.values() {
                for o in items {
                    let ns = scalar(at(o, "metadata.namespace"));
                    if !ns.is_empty() && !names.contains(&ns) {
                        names.push(ns);
                    }
                }
            }
            names.sort();
            let items = names
                .iter()
                .map(|n| {
                    json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}, "resourceVersion": "1"},
                       "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
                })
                .collect();
            objects.insert(("", "namespaces"), items);
        }

        let scenario: Value = match fs::read_to_string(dir.join("scenario.json")) {
            Ok(t) => {
                serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}/scenario.json is not JSON: {e}", dir.display()))
            }
            Err(_) => json!({}),
        };
        let arr = |k: &str| scenario.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        let forbidden = arr("forbidden")
            .iter()
            .map(|f| Forbid {
                verb: s(f, "verb"),
                resource: s(f, "resource"),
                group: opt_s(f, "group"),
                namespace: opt_s(f, "namespace"),
                name: opt_s(f, "name"),
            })
            .collect();
        let logs_unavailable = arr("logs_unavailable")
            .iter()
            .map(|l| LogsUnavailable {
                namespace: s(l, "namespace"),
                pod: s(l, "pod"),
                container: s(l, "container"),
                previous: l.get("previous").and_then(Value::as_bool).unwrap_or(false),
                message: s(l, "message"),
            })
            .collect();
        Cluster {
            dir: dir.to_path_buf(),
            addr,
            token,
            user: opt_s(&scenario, "user").unwrap_or_else(|| "system:serviceaccount:prefect:unstuck".into()),
            objects,
            list_rv,
            forbidden,
            access_review: scenario.get("access_review").cloned(),
            logs_unavailable,
            version: scenario.get("version").cloned(),
        }
    }

    fn items(&self, r: &Resource) -> &[Value] {
        self.objects.get(&(r.group, r.plural)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The denial a `forbidden` rule gives this request, worded like
    /// staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go `forbiddenMessage`
    /// wrapped by apimachinery `NewForbidden`.
    fn forbid(
        &self,
        verb: &str,
        resource: &str,
        subresource: &str,
        group: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Response> {
        let full = if subresource.is_empty() { resource.to_string() } else { format!("{resource}/{subresource}") };
        let hit = self.forbidden.iter().any(|f| {
            (f.verb == verb || f.verb == "*")
                && (f.resource == full || f.resource == "*")
                && f.group.as_deref().is_none_or(|g| g == group)
                && f.namespace.as_deref().is_none_or(|n| n == namespace)
                && f.name.as_deref().is_none_or(|n| n == name)
        });
        if !hit {
            return None;
        }
        let why = if namespace.is_empty() {
            format!(
                "User {} cannot {verb} resource {} in API group {} at the cluster scope",
                go_quote(&self.user),
                go_quote(&full),
                go_quote(group)
            )
        } else {
            format!(
                "User {} cannot {verb} resource {} in API group {} in the namespace {}",
                go_quote(&self.user),
                go_quote(&full),
                go_quote(group),
                go_quote(namespace)
            )
        };
        let q = qualified(resource, group);
        let msg = if name.is_empty() {
            format!("{q} is forbidden: {why}")
        } else {
            format!("{q} {} is forbidden: {why}", go_quote(name))
        };
        Some(status(403, "Forbidden", &msg, Some(details(name, group, resource))))
    }

    fn handle(&self, req: &Seen) -> Response {
        let path = req.path.trim_end_matches('/');
        let open = matches!(path, "/version" | "/healthz" | "/livez" | "/readyz");
        let authorized = req.header("authorization").is_some_and(|h| h == format!("Bearer {}", self.token));
        if !authorized && !open {
            return status(401, "Unauthorized", "Unauthorized", None);
        }
        let segs: Vec<String> = path.split('/').filter(|s| !s.is_empty()).map(|s| percent_decode(s, false)).collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();

        if req.method == "POST" {
            return match segs.as_slice() {
                [
                    "apis",
                    "authorization.k8s.io",
                    "v1",
                    kind @ ("selfsubjectaccessreviews" | "subjectaccessreviews"),
                ] => self.access_review(kind, req),
                _ => method_not_allowed(),
            };
        }
        if req.method != "GET" {
            return method_not_allowed();
        }
        if req.is_watch() {
            // Watches are never served: a diagnosis reads a snapshot, and tests assert none was sent.
            return method_not_allowed();
        }
        match segs.as_slice() {
            [] => Response::json(
                200,
                &json!({"paths": ["/api", "/api/v1", "/apis", "/apis/authorization.k8s.io/v1", "/apis/batch/v1", "/apis/events.k8s.io/v1", "/version"]}),
            ),
            ["version"] => Response::json(200, &self.version_info()),
            ["healthz" | "livez" | "readyz"] => Response::raw(200, "text/plain; charset=utf-8", b"ok".to_vec()),
            ["api"] => Response::json(
                200,
                &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.addr.to_string()}]}),
            ),
            ["apis"] => Response::json(200, &api_group_list()),
            ["apis", group] => match api_groups().into_iter().find(|g| g["name"] == *group) {
                Some(mut g) => {
                    g["kind"] = json!("APIGroup");
                    g["apiVersion"] = json!("v1");
                    Response::json(200, &g)
                }
                None => no_route(),
            },
            ["api", "v1"] => self.resource_list("", "v1"),
            ["apis", group, version] => self.resource_list(group, version),
            ["api", "v1", rest @ ..] => self.route("", "v1", rest, req),
            ["apis", group, version, rest @ ..] => self.route(group, version, rest, req),
            _ => no_route(),
        }
    }

    fn route(&self, group: &str, version: &str, rest: &[&str], req: &Seen) -> Response {
        let res = |plural: &str| find_resource(group, version, plural);
        match rest {
            // Namespaces are cluster-scoped: /api/v1/namespaces[/{name}].
            ["namespaces"] if group.is_empty() => self.list(res("namespaces").unwrap(), "", req),
            ["namespaces", name] if group.is_empty() => self.get(res("namespaces").unwrap(), "", name),
            ["namespaces", ns, plural] => match res(plural) {
                Some(r) if r.namespaced => self.list(r, ns, req),
                _ => no_route(),
            },
            ["namespaces", ns, plural, name] => match res(plural) {
                Some(r) if r.namespaced => self.get(r, ns, name),
                _ => no_route(),
            },
            ["namespaces", ns, "pods", name, "log"] if group.is_empty() => self.logs(ns, name, req),
            [plural] => match res(plural) {
                Some(r) => self.list(r, "", req),
                None => no_route(),
            },
            [plural, name] => match res(plural) {
                Some(r) if !r.namespaced => self.get(r, "", name),
                _ => no_route(),
            },
            _ => no_route(),
        }
    }

    fn get(&self, r: &Resource, ns: &str, name: &str) -> Response {
        if let Some(denied) = self.forbid("get", r.plural, "", r.group, ns, name) {
            return denied;
        }
        let found = self.items(r).iter().find(|o| {
            scalar(at(o, "metadata.name")) == name && (!r.namespaced || scalar(at(o, "metadata.namespace")) == ns)
        });
        match found {
            Some(o) => Response::json(200, &with_type(o, r)),
            None => not_found(r.plural, r.group, name),
        }
    }

    /// A list, filtered and paged like the apiserver: labelSelector, fieldSelector, limit/continue
    /// (the continue token is an offset into the filtered, name-sorted list).
    fn list(&self, r: &Resource, ns: &str, req: &Seen) -> Response {
        if let Some(denied) = self.forbid("list", r.plural, "", r.group, ns, "") {
            return denied;
        }
        let labels = match selector::parse_labels(&req.param("labelSelector").unwrap_or_default()) {
            Ok(l) => l,
            Err(e) => return bad_request(&e),
        };
        let fields = match selector::parse_fields(&req.param("fieldSelector").unwrap_or_default()) {
            Ok(f) => f,
            Err(e) => return bad_request(&e),
        };
        // Field labels go through the kind's conversion func first (handlers/get.go: Transform, then
        // NewBadRequest(err.Error())); terms are sorted as fields.parseSelector sorts them.
        let mut checked = Vec::new();
        for t in &fields {
            match field_label(r.fields, &t.field) {
                Ok(how) => checked.push((how, t)),
                Err(e) => return bad_request(&e),
            }
        }
        let mut items: Vec<&Value> = self
            .items(r)
            .iter()
            .filter(|o| !r.namespaced || ns.is_empty() || scalar(at(o, "metadata.namespace")) == ns)
            .filter(|o| labels.matches(o.pointer("/metadata/labels")))
            .filter(|o| checked.iter().all(|(how, t)| (field_value(o, how) == t.value) != t.negated))
            .collect();
        // etcd order: by key, i.e. namespace then name.
        items.sort_by_key(|o| (scalar(at(o, "metadata.namespace")), scalar(at(o, "metadata.name"))));

        let start = match req.param("continue").filter(|c| !c.is_empty()) {
            Some(tok) => match tok.strip_prefix("fixture-offset-").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n.min(items.len()),
                None => return bad_request(&format!("continue key is not valid: {tok}")),
            },
            None => 0,
        };
        let limit = req.param("limit").and_then(|l| l.parse::<usize>().ok()).filter(|&l| l > 0);
        let end = limit.map_or(items.len(), |l| (start + l).min(items.len()));

        let rv = self.resource_version(r);
        let mut meta = Map::new();
        meta.insert("resourceVersion".into(), json!(rv));
        if end < items.len() {
            meta.insert("continue".into(), json!(format!("fixture-offset-{end}")));
            meta.insert("remainingItemCount".into(), json!(items.len() - end));
        }
        // Items in a list carry no kind/apiVersion on the wire (kubectl adds them client-side).
        let page: Vec<Value> = items[start..end].iter().map(|o| without_type(o)).collect();
        let mut list = Map::new();
        list.insert("kind".into(), json!(format!("{}List", r.kind)));
        list.insert("apiVersion".into(), json!(r.api_version()));
        list.insert("metadata".into(), Value::Object(meta));
        list.insert("items".into(), Value::Array(page));
        Response::json(200, &Value::Object(list))
    }

    fn resource_version(&self, r: &Resource) -> String {
        if let Some(rv) = self.list_rv.get(&(r.group, r.plural)).filter(|rv| !rv.is_empty()) {
            return rv.clone();
        }
        let max = self
            .objects
            .values()
            .flatten()
            .filter_map(|o| scalar(at(o, "metadata.resourceVersion")).parse::<u64>().ok())
            .max();
        max.unwrap_or(1).to_string()
    }

    /// pods/log: the apiserver's container choice (pkg/registry/core/pod/strategy.go LogLocation and
    /// validateContainer), then the kubelet's answer (pkg/kubelet/kubelet_pods.go
    /// validateContainerLogStatus), relayed as a 400 Status by the apiserver's response checker.
    fn logs(&self, ns: &str, name: &str, req: &Seen) -> Response {
        if let Some(denied) = self.forbid("get", "pods", "log", "", ns, name) {
            return denied;
        }
        let pods = find_resource("", "v1", "pods").unwrap();
        let Some(pod) = self
            .items(pods)
            .iter()
            .find(|o| scalar(at(o, "metadata.name")) == name && scalar(at(o, "metadata.namespace")) == ns)
        else {
            return not_found("pods", "", name);
        };
        let names = |key: &str| -> Vec<String> {
            at(pod, key)
                .and_then(Value::as_array)
                .map(|cs| cs.iter().map(|c| s(c, "name")).collect())
                .unwrap_or_default()
        };
        let (init, main, ephemeral) =
            (names("spec.initContainers"), names("spec.containers"), names("spec.ephemeralContainers"));
        let requested = req.param("container").unwrap_or_default();
        let container = if requested.is_empty() {
            match main.len() {
                1 => main[0].clone(),
                0 => return bad_request(&format!("a container name must be specified for pod {name}")),
                _ => {
                    let all: Vec<String> = init.iter().chain(&main).chain(&ephemeral).cloned().collect();
                    return bad_request(&format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        all.join(" ")
                    ));
                }
            }
        } else if init.contains(&requested) || main.contains(&requested) || ephemeral.contains(&requested) {
            requested
        } else {
            return bad_request(&format!("container {requested} is not valid for pod {name}"));
        };
        let previous = matches!(req.param("previous").as_deref(), Some("true" | "1"));
        let tail = match int_param(req, "tailLines") {
            Ok(v) => v,
            Err(r) => return r,
        };
        let limit = match int_param(req, "limitBytes") {
            Ok(v) => v,
            Err(r) => return r,
        };
        // A pod not yet scheduled has no kubelet to ask: the apiserver streams nothing (204).
        if scalar(at(pod, "spec.nodeName")).is_empty() {
            return Response::raw(204, "", vec![]);
        }
        if let Some(u) = self
            .logs_unavailable
            .iter()
            .find(|u| u.namespace == ns && u.pod == name && u.container == container && u.previous == previous)
        {
            return bad_request(&u.message);
        }
        let file = self.dir.join("logs").join(ns).join(name).join(if previous {
            format!("{container}.previous.log")
        } else {
            format!("{container}.log")
        });
        let text = match fs::read(&file) {
            Ok(t) => t,
            Err(_) => match kubelet_refusal(pod, name, &container, previous) {
                Some(msg) => return bad_request(&msg),
                None => Vec::new(), // the container exists and simply wrote nothing
            },
        };
        let mut out = tail_lines(&text, tail);
        if let Some(l) = limit {
            out.truncate(l as usize);
        }
        Response::raw(200, "text/plain", out)
    }

    /// SelfSubjectAccessReview / SubjectAccessReview create: the spec echoed back with a status.
    /// `scenario.json` `access_review` answers every review; without it, the `forbidden` rules do.
    fn access_review(&self, kind: &str, req: &Seen) -> Response {
        let (group, resource) = ("authorization.k8s.io", kind);
        if let Some(denied) = self.forbid("create", resource, "", group, "", "") {
            return denied;
        }
        let kind_name =
            if kind == "selfsubjectaccessreviews" { "SelfSubjectAccessReview" } else { "SubjectAccessReview" };
        let body: Value = match serde_json::from_str(&req.body) {
            Ok(v) => v,
            Err(e) => {
                return bad_request(&format!(
                    "the object provided is unrecognized (must be of type {kind_name}): couldn't get version/kind; json parse error: {e}"
                ));
            }
        };
        let spec = body.get("spec").cloned().unwrap_or(json!({}));
        let status_obj = match &self.access_review {
            Some(a) => {
                let mut st = Map::new();
                st.insert("allowed".into(), json!(a.get("allowed").and_then(Value::as_bool).unwrap_or(false)));
                if let Some(reason) = a.get("reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                    st.insert("reason".into(), json!(reason));
                }
                if let Some(denied) = a.get("denied").and_then(Value::as_bool).filter(|d| *d) {
                    st.insert("denied".into(), json!(denied));
                }
                Value::Object(st)
            }
            None => {
                let ra = spec.get("resourceAttributes").cloned().unwrap_or(json!({}));
                let denied = self
                    .forbid(
                        &s(&ra, "verb"),
                        &s(&ra, "resource"),
                        &s(&ra, "subresource"),
                        &s(&ra, "group"),
                        &s(&ra, "namespace"),
                        &s(&ra, "name"),
                    )
                    .is_some();
                json!({"allowed": !denied})
            }
        };
        let mut out = Map::new();
        out.insert("kind".into(), json!(kind_name));
        out.insert("apiVersion".into(), json!("authorization.k8s.io/v1"));
        out.insert("metadata".into(), json!({"creationTimestamp": null}));
        out.insert("spec".into(), spec);
        out.insert("status".into(), status_obj);
        Response::json(201, &Value::Object(out))
    }

    fn version_info(&self) -> Value {
        self.version.clone().unwrap_or_else(|| {
            json!({"major": "1", "minor": "31", "emulationMajor": "1", "emulationMinor": "31",
                   "gitVersion": "v1.31.4", "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
                   "gitTreeState": "clean", "buildDate": "2024-12-10T11:38:16Z", "goVersion": "go1.22.9",
                   "compiler": "gc", "platform": "linux/amd64"})
        })
    }

    fn resource_list(&self, group: &str, version: &str) -> Response {
        let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        let mut resources: Vec<Value> = RESOURCES
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .map(|r| {
                json!({"name": r.plural, "singularName": r.kind.to_ascii_lowercase(), "namespaced": r.namespaced,
                       "kind": r.kind, "verbs": ["get", "list", "watch"]})
            })
            .collect();
        if group.is_empty() && version == "v1" {
            resources.push(
                json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}),
            );
        }
        if group == "authorization.k8s.io" && version == "v1" {
            for (name, kind) in [
                ("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                ("subjectaccessreviews", "SubjectAccessReview"),
            ] {
                resources.push(json!({"name": name, "singularName": kind.to_ascii_lowercase(), "namespaced": false, "kind": kind, "verbs": ["create"]}));
            }
        }
        if resources.is_empty() {
            return no_route();
        }
        Response::json(
            200,
            &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }
}

fn method_not_allowed() -> Response {
    status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", Some(json!({})))
}

fn int_param(req: &Seen, name: &str) -> Result<Option<i64>, Response> {
    match req.param(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| bad_request(&format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(&v)))),
    }
}

/// The kubelet's refusal for a container whose log the fixtures do not hold, from its recorded status
/// (pkg/kubelet/kubelet_pods.go validateContainerLogStatus); `None` = it has a log, just empty.
fn kubelet_refusal(pod: &Value, pod_name: &str, container: &str, previous: bool) -> Option<String> {
    let (c, p) = (go_quote(container), go_quote(pod_name));
    if previous {
        // The fixture holds no previous log, so there is no previous instance to read.
        return Some(format!("previous terminated container {c} in pod {p} not found"));
    }
    let status = ["status.containerStatuses", "status.initContainerStatuses", "status.ephemeralContainerStatuses"]
        .iter()
        .filter_map(|k| at(pod, k).and_then(Value::as_array))
        .flatten()
        .find(|st| s(st, "name") == container);
    let Some(st) = status else {
        return Some(format!("container {c} in pod {p} is not available"));
    };
    let state = st.get("state").cloned().unwrap_or(json!({}));
    let last = at(st, "lastState.terminated");
    let has_id = |v: Option<&Value>| v.is_some_and(|t| !s(t, "containerID").is_empty());
    if state.get("running").is_some() {
        return None;
    }
    if let Some(t) = state.get("terminated") {
        return if has_id(Some(t)) || has_id(last) {
            None
        } else {
            Some(format!("container {c} in pod {p} is terminated"))
        };
    }
    if last.is_some() {
        return if has_id(last) { None } else { Some(format!("container {c} in pod {p} is terminated")) };
    }
    if let Some(w) = state.get("waiting") {
        return Some(match s(w, "reason").as_str() {
            "ErrImagePull" => format!("container {c} in pod {p} is waiting to start: image can't be pulled"),
            "ImagePullBackOff" => {
                format!("container {c} in pod {p} is waiting to start: trying and failing to pull image")
            }
            reason => format!("container {c} in pod {p} is waiting to start: {reason}"),
        });
    }
    Some(format!("container {c} in pod {p} is waiting to start - no logs yet"))
}

/// The last `n` lines (kubelet tail semantics: a final line without newline still counts).
fn tail_lines(text: &[u8], n: Option<i64>) -> Vec<u8> {
    let Some(n) = n else { return text.to_vec() };
    if n <= 0 {
        return Vec::new();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return text[i + 1..].to_vec();
            }
        }
    }
    text.to_vec()
}

fn with_type(o: &Value, r: &Resource) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(r.kind));
    m.insert("apiVersion".into(), json!(r.api_version()));
    if let Some(obj) = o.as_object() {
        for (k, v) in obj {
            if k != "kind" && k != "apiVersion" {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(m)
}

fn without_type(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("kind");
        m.remove("apiVersion");
    }
    o
}

fn api_groups() -> Vec<Value> {
    ["batch", "events.k8s.io", "authorization.k8s.io"]
        .iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect()
}

fn api_group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": api_groups()})
}

/// core/v1 Event → events.k8s.io/v1 Event (Convert_core_Event_To_v1_Event).
fn core_event_to_v1(e: &Value) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("Event"));
    m.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    let copy = |m: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = e.get(from) {
            m.insert(to.into(), v.clone());
        }
    };
    copy(&mut m, "metadata", "metadata");
    m.insert("eventTime".into(), e.get("eventTime").cloned().unwrap_or(Value::Null));
    copy(&mut m, "series", "series");
    copy(&mut m, "reportingComponent", "reportingController");
    copy(&mut m, "reportingInstance", "reportingInstance");
    copy(&mut m, "action", "action");
    copy(&mut m, "reason", "reason");
    copy(&mut m, "involvedObject", "regarding");
    copy(&mut m, "related", "related");
    copy(&mut m, "message", "note");
    copy(&mut m, "type", "type");
    copy(&mut m, "source", "deprecatedSource");
    copy(&mut m, "firstTimestamp", "deprecatedFirstTimestamp");
    copy(&mut m, "lastTimestamp", "deprecatedLastTimestamp");
    copy(&mut m, "count", "deprecatedCount");
    Value::Object(m)
}

/// events.k8s.io/v1 Event → core/v1 Event (Convert_v1_Event_To_core_Event).
fn v1_event_to_core(e: &Value) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!("Event"));
    m.insert("apiVersion".into(), json!("v1"));
    let copy = |m: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = e.get(from) {
            m.insert(to.into(), v.clone());
        }
    };
    copy(&mut m, "metadata", "metadata");
    copy(&mut m, "regarding", "involvedObject");
    copy(&mut m, "reason", "reason");
    copy(&mut m, "note", "message");
    m.insert("source".into(), e.get("deprecatedSource").cloned().unwrap_or(json!({})));
    m.insert("firstTimestamp".into(), e.get("deprecatedFirstTimestamp").cloned().unwrap_or(Value::Null));
    m.insert("lastTimestamp".into(), e.get("deprecatedLastTimestamp").cloned().unwrap_or(Value::Null));
    copy(&mut m, "deprecatedCount", "count");
    copy(&mut m, "type", "type");
    m.insert("eventTime".into(), e.get("eventTime").cloned().unwrap_or(Value::Null));
    copy(&mut m, "series", "series");
    copy(&mut m, "action", "action");
    copy(&mut m, "related", "related");
    copy(&mut m, "reportingController", "reportingComponent");
    copy(&mut m, "reportingInstance", "reportingInstance");
    Value::Object(m)
}

/// Label and field selector grammar, after k8s.io/apimachinery/pkg/labels/selector.go and
/// pkg/fields/selector.go.
mod selector {
    use serde_json::Value;

    #[derive(Debug, PartialEq)]
    enum Op {
        Eq,
        NotEq,
        In,
        NotIn,
        Exists,
        DoesNotExist,
        Gt,
        Lt,
    }

    #[derive(Debug)]
    struct Requirement {
        key: String,
        op: Op,
        values: Vec<String>,
    }

    /// A parsed `labelSelector`: every requirement must hold (comma = AND).
    #[derive(Debug)]
    pub struct Labels(Vec<Requirement>);

    impl Labels {
        pub fn matches(&self, labels: Option<&Value>) -> bool {
            let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
            self.0.iter().all(|r| {
                let v = get(&r.key);
                match r.op {
                    Op::Eq | Op::In => v.is_some_and(|v| r.values.iter().any(|x| x == v)),
                    Op::NotEq | Op::NotIn => v.is_none_or(|v| !r.values.iter().any(|x| x == v)),
                    Op::Exists => v.is_some(),
                    Op::DoesNotExist => v.is_none(),
                    Op::Gt | Op::Lt => {
                        let (Some(v), Ok(bound)) = (v.and_then(|v| v.parse::<i64>().ok()), r.values[0].parse::<i64>())
                        else {
                            return false;
                        };
                        if r.op == Op::Gt { v > bound } else { v < bound }
                    }
                }
            })
        }
    }

    fn is_key_char(c: char) -> bool {
        !(c.is_whitespace() || matches!(c, ',' | '=' | '!' | '(' | ')' | '<' | '>'))
    }

    struct P<'a> {
        s: &'a [char],
        i: usize,
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_whitespace() {
                self.i += 1;
            }
        }
        fn peek(&self) -> Option<char> {
            self.s.get(self.i).copied()
        }
        fn word(&mut self) -> String {
            let start = self.i;
            while self.i < self.s.len() && is_key_char(self.s[self.i]) {
                self.i += 1;
            }
            self.s[start..self.i].iter().collect()
        }
        fn found(&self) -> String {
            self.peek().map(String::from).unwrap_or_default()
        }
    }

    /// Parses a `labelSelector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a)`,
    /// `k>1`, `k<1`; comma = AND). Errors read `unable to parse requirement: ...` like the apiserver's
    /// 400 (approximate wording past that prefix).
    pub fn parse_labels(sel: &str) -> Result<Labels, String> {
        let chars: Vec<char> = sel.chars().collect();
        let mut p = P { s: &chars, i: 0 };
        let mut reqs = Vec::new();
        let err = |what: &str, p: &P| format!("unable to parse requirement: found '{}', expected: {what}", p.found());
        p.ws();
        if p.peek().is_none() {
            return Ok(Labels(reqs));
        }
        loop {
            p.ws();
            let negated = p.peek() == Some('!');
            if negated {
                p.i += 1;
                p.ws();
            }
            let key = p.word();
            if key.is_empty() {
                return Err(err("identifier", &p));
            }
            p.ws();
            let req = if negated {
                Requirement { key, op: Op::DoesNotExist, values: vec![] }
            } else {
                match p.peek() {
                    None | Some(',') => Requirement { key, op: Op::Exists, values: vec![] },
                    Some('=') => {
                        p.i += 1;
                        if p.peek() == Some('=') {
                            p.i += 1;
                        }
                        p.ws();
                        Requirement { key, op: Op::Eq, values: vec![p.word()] }
                    }
                    Some('!') => {
                        p.i += 1;
                        if p.peek() != Some('=') {
                            return Err(err("=", &p));
                        }
                        p.i += 1;
                        p.ws();
                        Requirement { key, op: Op::NotEq, values: vec![p.word()] }
                    }
                    Some(c @ ('<' | '>')) => {
                        p.i += 1;
                        p.ws();
                        let v = p.word();
                        if v.parse::<i64>().is_err() {
                            return Err(format!(
                                "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {v}"
                            ));
                        }
                        Requirement { key, op: if c == '>' { Op::Gt } else { Op::Lt }, values: vec![v] }
                    }
                    Some(_) => {
                        let save = p.i;
                        let op = match p.word().as_str() {
                            "in" => Op::In,
                            "notin" => Op::NotIn,
                            _ => {
                                p.i = save;
                                return Err(err("'=', '!=', '==', 'in', notin'", &p));
                            }
                        };
                        p.ws();
                        if p.peek() != Some('(') {
                            return Err(err("'('", &p));
                        }
                        p.i += 1;
                        let mut values = Vec::new();
                        loop {
                            p.ws();
                            values.push(p.word());
                            p.ws();
                            match p.peek() {
                                Some(',') => p.i += 1,
                                Some(')') => {
                                    p.i += 1;
                                    break;
                                }
                                _ => return Err(err("',' or ')'", &p)),
                            }
                        }
                        Requirement { key, op, values }
                    }
                }
            };
            reqs.push(req);
            p.ws();
            match p.peek() {
                None => return Ok(Labels(reqs)),
                Some(',') => p.i += 1,
                Some(_) => return Err(err("',' or end of selector", &p)),
            }
        }
    }

    /// One `fieldSelector` term.
    #[derive(Debug)]
    pub struct Term {
        pub field: String,
        pub value: String,
        pub negated: bool,
    }

    /// Parses a `fieldSelector` like fields.ParseSelector: terms split on unescaped commas and sorted,
    /// each `f=v`, `f==v` or `f!=v`, values unescaped (`\,` `\=` `\\`).
    pub fn parse_fields(sel: &str) -> Result<Vec<Term>, String> {
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut esc = false;
        for c in sel.chars() {
            if esc {
                cur.push('\\');
                cur.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == ',' {
                parts.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        if esc {
            cur.push('\\');
        }
        parts.push(cur);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let (field, op, raw) =
                split_term(part).ok_or_else(|| format!("invalid selector: '{sel}'; can't understand '{part}'"))?;
            terms.push(Term { field: field.to_string(), value: unescape(raw)?, negated: op == "!=" });
        }
        Ok(terms)
    }

    /// The first unescaped operator, trying `!=`, `==`, `=` at each position (fields.splitTerm).
    fn split_term(term: &str) -> Option<(&str, &str, &str)> {
        let b = term.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                i += 2;
                continue;
            }
            for op in ["!=", "==", "="] {
                if term[i..].starts_with(op) {
                    return Some((&term[..i], op, &term[i + op.len()..]));
                }
            }
            i += 1;
        }
        None
    }

    fn unescape(v: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some(n @ ('\\' | ',' | '=')) => out.push(n),
                    n => {
                        return Err(format!(
                            "invalid field selector: invalid escape sequence: \\{}",
                            n.map(String::from).unwrap_or_default()
                        ));
                    }
                }
            } else if c == ',' || c == '=' {
                return Err(format!("invalid field selector: unescaped character in value: {c}"));
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }
}
