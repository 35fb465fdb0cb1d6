//! The read-only policy (SPEC 3): the one gate every request of every backend passes through.
//!
//! unstuck never changes what it inspects. A request is described as an [`Op`] and judged by [`check`]
//! before it is sent:
//! - Prefect: `GET`, and `POST` only to endpoints that read (`…/filter`, `…/count`, `…/paginate`,
//!   `…/concurrency_status`, which covers `/events/filter` and `/logs/filter`), judged on the final
//!   URL the server will route (percent-decoded, dot-segments resolved). Worker poll endpoints
//!   (`get_scheduled_flow_runs`, `/work_queues/{id}/get_runs`) and heartbeats are refused by name,
//!   because they mark queues as polled and workers as alive.
//! - Kubernetes: `get` and `list`, plus `create` of access reviews (which change nothing).
//! - AWS: `Describe*`, `List*`, `Get*` and `FilterLogEvents`.

use std::borrow::Cow;

use url::Url;

/// One request, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// A Prefect REST call: the method and the final URL, relative to the configured API root.
    Prefect { method: &'a str, url: &'a Url, root: &'a Url },
    /// A Kubernetes API call: verb (`get`, `list`, `watch`, `create`, …), API group (`""` for core),
    /// resource (plural) and subresource (`log`).
    Kube { verb: &'a str, group: &'a str, resource: &'a str, subresource: Option<&'a str> },
    /// An AWS API call: service (`ecs`, `logs`) and operation (`DescribeTasks`).
    Aws { service: &'a str, operation: &'a str },
}

/// A request the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the read-only policy: {what} ({reason})")]
pub struct Refused {
    /// The request in words: `POST /flow_runs/x/set_state`, `kubernetes delete batch/jobs`, `ecs:StopTask`.
    pub what: String,
    pub reason: &'static str,
}

/// Path suffixes of Prefect POST endpoints that only read.
const PREFECT_READ_POSTS: &[&str] = &["filter", "count", "paginate", "concurrency_status"];

/// Prefect endpoints that have side effects even though they may look like reads.
const PREFECT_NEVER: &[&str] =
    &["get_scheduled_flow_runs", "get_runs", "heartbeat", "set_state", "increment", "decrement", "bulk_increment"];

/// Kubernetes resources unstuck may `create`: reviews that answer a question and store nothing.
const KUBE_REVIEWS: &[&str] = &["selfsubjectaccessreviews", "subjectaccessreviews"];

/// Every Kubernetes (verb, group, resource, subresource) unstuck sends: what `deploy/kubernetes/rbac.yaml`
/// grants, no more. `check` allows any get/list; this list is what the collectors actually ask for.
pub const KUBE_GRANTS: &[(&str, &str, &str, Option<&str>)] = &[
    ("get", "batch", "jobs", None),
    ("list", "batch", "jobs", None),
    ("list", "", "pods", None),
    ("get", "", "pods", Some("log")),
    ("list", "", "events", None),
    ("get", "", "nodes", None),
    ("list", "", "resourcequotas", None),
    ("list", "", "limitranges", None),
    ("get", "", "serviceaccounts", None),
    ("create", "authorization.k8s.io", "subjectaccessreviews", None),
];

/// Every AWS action unstuck calls: what `deploy/aws/iam-policy.json` grants, no more.
pub const AWS_ACTIONS: &[(&str, &str)] = &[
    ("ecs", "DescribeTasks"),
    ("ecs", "DescribeTaskDefinition"),
    ("ecs", "DescribeClusters"),
    ("ecs", "DescribeCapacityProviders"),
    ("ecs", "ListTasks"),
    ("logs", "GetLogEvents"),
];

/// Judges one request.
pub fn check(op: &Op<'_>) -> Result<(), Refused> {
    match *op {
        Op::Prefect { method, url, root } => prefect(method, url, root),
        Op::Kube { verb, group, resource, subresource } => kube(verb, group, resource, subresource),
        Op::Aws { service, operation } => aws(service, operation),
    }
}

/// The path the server will route, as segments: relative to the API root, percent-decoded (a name
/// holding `%2F` becomes a separator, as Starlette decodes it), dot-segments refused.
fn routed_segments<'a>(url: &'a Url, root: &Url) -> Result<Vec<Cow<'a, str>>, &'static str> {
    if url.scheme() != root.scheme() || url.host_str() != root.host_str() || url.port() != root.port() {
        return Err("not the configured Prefect API");
    }
    let root_path = root.path().trim_end_matches('/');
    let rest = url.path().strip_prefix(root_path).ok_or("outside the Prefect API root")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err("outside the Prefect API root");
    }
    let decoded = percent_decode(rest).ok_or("a path that is not UTF-8 once decoded")?;
    let mut segments = Vec::new();
    for s in decoded.split('/').filter(|s| !s.is_empty()) {
        if s == "." || s == ".." {
            return Err("path traversal");
        }
        segments.push(Cow::Owned(s.to_string()));
    }
    Ok(segments)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).ok()?);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn prefect(method: &str, url: &Url, root: &Url) -> Result<(), Refused> {
    let what = || format!("{method} {}", url.path());
    let refuse = |reason| Refused { what: what(), reason };
    let segments = routed_segments(url, root).map_err(refuse)?;
    // Prefect's GETs only read; their segments may be user names (a pool called "heartbeat").
    if method.eq_ignore_ascii_case("GET") {
        return Ok(());
    }
    if !method.eq_ignore_ascii_case("POST") {
        return Err(refuse("only GET and read-only POST requests are allowed"));
    }
    // A POST endpoint is named by its last segment.
    let last = segments.last().map(|s| s.as_ref()).unwrap_or_default();
    if PREFECT_NEVER.iter().any(|n| last.eq_ignore_ascii_case(n)) {
        return Err(refuse("endpoint with side effects (polls, heartbeats, state changes)"));
    }
    if PREFECT_READ_POSTS.contains(&last) { Ok(()) } else { Err(refuse("POST is only allowed to read-only endpoints")) }
}

fn kube(verb: &str, group: &str, resource: &str, subresource: Option<&str>) -> Result<(), Refused> {
    let gr = if group.is_empty() { resource.to_string() } else { format!("{group}/{resource}") };
    let sub = subresource.map(|s| format!("/{s}")).unwrap_or_default();
    let refuse = |reason| Refused { what: format!("kubernetes {verb} {gr}{sub}"), reason };
    match (verb, group, resource, subresource) {
        // Secrets are never read, not even listed: their values are what must not leak.
        (_, "", "secrets", _) => Err(refuse("secrets are never read")),
        ("get", "", "pods", Some("log")) => Ok(()),
        ("get" | "list", _, _, None) => Ok(()),
        ("create", "authorization.k8s.io", r, None) if KUBE_REVIEWS.contains(&r) => Ok(()),
        ("get" | "list", _, _, Some(_)) => Err(refuse("no subresource but pod logs is read")),
        _ => Err(refuse("only get and list (and access reviews) are allowed")),
    }
}

/// Judges a Kubernetes HTTP request as the API server will route it: the method and the
/// percent-decoded path give the verb, group, resource and subresource (the server's own request-info
/// resolution: `/api/v1/namespaces/{ns}/{resource}/{name}/{subresource}`, `/apis/{group}/{version}/…`).
/// Paths that are not resources (`/version`, discovery) are refused: unstuck never needs them.
pub fn check_kube_request(method: &str, path: &str, query: Option<&str>) -> Result<(), Refused> {
    let op = kube_op(method, path, query)?;
    check(&Op::Kube { verb: op.verb, group: &op.group, resource: &op.resource, subresource: op.subresource.as_deref() })
}

/// A Kubernetes request as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeOp {
    pub verb: &'static str,
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
}

/// The verb, group, resource and subresource the API server resolves a request to.
pub fn kube_op(method: &str, path: &str, query: Option<&str>) -> Result<KubeOp, Refused> {
    let refuse = |reason| Refused { what: format!("kubernetes {method} {path}"), reason };
    let decoded = percent_decode(path).ok_or_else(|| refuse("a path that is not UTF-8 once decoded"))?;
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(refuse("path traversal"));
    }
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return Err(refuse("not a resource path")),
    };
    // `namespaces/{ns}/{resource}…` scopes a resource; `namespaces[/{name}]` is the resource itself.
    let rest = match rest {
        ["namespaces", _ns, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub] => (*resource, Some(*name), Some(*sub)),
        _ => return Err(refuse("not a resource path")),
    };
    let watch = query.is_some_and(|q| {
        q.split('&').any(|kv| matches!(kv.split_once('='), Some(("watch", v)) if v != "false" && v != "0"))
    });
    let verb = match (method.to_ascii_uppercase().as_str(), name) {
        ("GET", _) if watch => "watch",
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        _ => return Err(refuse("an HTTP method the API server does not route")),
    };
    Ok(KubeOp {
        verb,
        group: group.to_string(),
        resource: resource.to_string(),
        subresource: subresource.map(str::to_string),
    })
}

fn aws(service: &str, operation: &str) -> Result<(), Refused> {
    let refuse = |reason| Refused { what: format!("{service}:{operation}"), reason };
    let read = ["Describe", "List", "Get"].iter().any(|p| {
        operation.strip_prefix(p).is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
    }) || operation == "FilterLogEvents";
    // GetSecretValue / GetParameters would read the very secrets a task uses.
    let secret = matches!((service, operation), ("secretsmanager", _) | ("ssm", _) | ("kms", _));
    match (read, secret) {
        (_, true) => Err(refuse("secret stores are never read")),
        (true, false) => Ok(()),
        (false, false) => Err(refuse("only Describe*, List*, Get* and FilterLogEvents are allowed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefect_op(method: &str, path: &str) -> Result<(), Refused> {
        let root = Url::parse("http://127.0.0.1:4200/api").unwrap();
        let url = Url::parse(&format!("http://127.0.0.1:4200/api{path}")).unwrap();
        check(&Op::Prefect { method, url: &url, root: &root })
    }

    /// Everything unstuck needs to read from Prefect is allowed.
    #[test]
    fn prefect_reads_are_allowed() {
        for (m, p) in [
            ("GET", "/flow_runs/4171c0f6-b2f9-4c0d-9341-3e0cd528bfb9"),
            ("GET", "/admin/version"),
            ("GET", "/csrf-token?client=unstuck-1"),
            ("GET", "/flow_run_states/?flow_run_id=x"),
            ("GET", "/events/filter/next?page-token=abc"),
            ("POST", "/flow_runs/filter"),
            ("POST", "/flow_runs/count"),
            ("POST", "/flow_runs/paginate"),
            ("POST", "/work_pools/p/workers/filter"),
            ("POST", "/work_pools/p/queues/filter"),
            ("POST", "/work_pools/p/concurrency_status"),
            ("POST", "/work_queues/x/concurrency_status"),
            ("POST", "/logs/filter"),
            ("POST", "/events/filter"),
            ("GET", "/work_pools/heartbeat"),
            ("POST", "/work_pools/heartbeat/queues/filter"),
            ("GET", "/deployments/name/increment/nightly"),
            ("POST", "/work_pools/my%20pool/queues/filter"),
        ] {
            assert_eq!(prefect_op(m, p), Ok(()), "{m} {p}");
        }
    }

    /// Writes, polls and heartbeats are refused, however the path is spelled: percent-encoded,
    /// with dot-segments (resolved by URL parsing before the judgement), or with a fragment.
    #[test]
    fn prefect_writes_and_polls_are_refused() {
        for (m, p) in [
            ("POST", "/work_pools/p/get_scheduled_flow_runs"),
            ("POST", "/work_queues/x/get_runs"),
            ("POST", "/work_pools/p/workers/heartbeat"),
            ("POST", "/flow_runs/x/set_state"),
            ("POST", "/flow_runs/"),
            ("POST", "/deployments/x/create_flow_run"),
            ("POST", "/v2/concurrency_limits/increment"),
            ("POST", "/flow_runs/filter/../x/set_state"),
            ("POST", "/flow_runs/filter/%2e%2e/x/set_state"),
            ("POST", "/work_pools/p/get_scheduled_flow_runs#/filter"),
            ("POST", "/work_pools/p%2Fget_scheduled_flow_runs"),
            ("POST", "/work_pools/p/%67et_scheduled_flow_runs"),
            ("POST", "/work_pools/p/workers/heartbeat?x=/filter"),
            ("PATCH", "/flow_runs/x"),
            ("DELETE", "/flow_runs/x"),
            ("PUT", "/work_pools/p"),
        ] {
            assert!(prefect_op(m, p).is_err(), "{m} {p} should be refused");
        }
        // A path that climbs out of the API root is refused even for GET.
        assert!(prefect_op("GET", "/../admin").is_err());
        // Another host is never the Prefect API.
        let root = Url::parse("http://127.0.0.1:4200/api").unwrap();
        let other = Url::parse("http://evil.example/api/flow_runs/filter").unwrap();
        assert!(check(&Op::Prefect { method: "GET", url: &other, root: &root }).is_err());
    }

    /// Kubernetes: get/list and access reviews only; never secrets, never writes.
    #[test]
    fn kube_ops() {
        let op = |verb, group, resource, sub| check(&Op::Kube { verb, group, resource, subresource: sub });
        for (v, g, r, s) in KUBE_GRANTS {
            assert_eq!(op(v, g, r, *s), Ok(()), "{v} {g}/{r} {s:?}");
        }
        for (v, g, r, s) in [
            ("delete", "batch", "jobs", None),
            ("create", "batch", "jobs", None),
            ("patch", "", "pods", None),
            ("watch", "", "pods", None),
            ("create", "", "pods", Some("exec")),
            ("get", "", "pods", Some("exec")),
            ("get", "", "secrets", None),
            ("list", "", "secrets", None),
            ("create", "authorization.k8s.io", "localsubjectaccessreviews2", None),
        ] {
            assert!(op(v, g, r, s).is_err(), "{v} {g}/{r} {s:?} should be refused");
        }
    }

    /// Kubernetes requests are judged as the API server routes them, however they are spelled.
    #[test]
    fn kube_requests() {
        for (m, p, q) in [
            ("GET", "/apis/batch/v1/namespaces/prefect/jobs/etl-x7k2p", None),
            ("GET", "/apis/batch/v1/namespaces/prefect/jobs", Some("labelSelector=prefect.io%2Fflow-run-id%3Dx")),
            ("GET", "/api/v1/pods", Some("labelSelector=a%3Db")),
            ("GET", "/api/v1/namespaces/prefect/pods/p/log", Some("container=prefect-job&previous=true")),
            ("GET", "/api/v1/namespaces", None),
            ("GET", "/api/v1/nodes/node-1", None),
            ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", None),
            ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", None),
        ] {
            assert_eq!(check_kube_request(m, p, q), Ok(()), "{m} {p} {q:?}");
        }
        for (m, p, q) in [
            ("DELETE", "/apis/batch/v1/namespaces/prefect/jobs/etl", None),
            ("DELETE", "/api/v1/namespaces/prefect/pods", None),
            ("POST", "/apis/batch/v1/namespaces/prefect/jobs", None),
            ("PATCH", "/api/v1/namespaces/prefect/pods/p", None),
            ("GET", "/api/v1/namespaces/prefect/pods", Some("watch=true")),
            ("GET", "/api/v1/namespaces/prefect/secrets/s", None),
            ("GET", "/api/v1/namespaces/prefect/%73ecrets", None),
            ("GET", "/api/v1/namespaces/prefect/pods/p%2Fexec", None),
            ("POST", "/api/v1/namespaces/prefect/pods/p/exec", None),
            ("GET", "/api/v1/namespaces/prefect/pods/../secrets/s", None),
            ("GET", "/version", None),
            ("GET", "/healthz", None),
        ] {
            assert!(check_kube_request(m, p, q).is_err(), "{m} {p} {q:?} should be refused");
        }
    }

    /// AWS: reads only, and never the secret stores.
    #[test]
    fn aws_ops() {
        let op = |service, operation| check(&Op::Aws { service, operation });
        for (s, o) in AWS_ACTIONS {
            assert_eq!(op(s, o), Ok(()), "{s}:{o}");
        }
        for (s, o) in [
            ("ecs", "StopTask"),
            ("ecs", "RunTask"),
            ("ecs", "RegisterTaskDefinition"),
            ("ecs", "Listen"),
            ("ecs", "Getaway"),
            ("logs", "PutLogEvents"),
            ("logs", "CreateLogStream"),
            ("secretsmanager", "GetSecretValue"),
            ("ssm", "GetParameters"),
        ] {
            assert!(op(s, o).is_err(), "{s}:{o} should be refused");
        }
    }
}
