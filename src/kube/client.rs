//! The Kubernetes API client: the user's kubeconfig (or the in-cluster config) through the `kube`
//! crate, with the read-only policy as a layer of its service stack, so no request leaves unjudged.
//! Bodies are read with a size bound (a log past it keeps its end), 429/5xx and dropped connections are
//! retried within the deadline (after `Retry-After`, in seconds or as a date), and every answer is
//! turned into a typed error a collector can report.

use std::cell::Cell;
use std::time::Duration;

use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use crate::evidence::{Failure, FailureKind};
use crate::policy::{self, Refused};

/// Largest body read for a list or an object (a namespace with thousands of events stays far below).
const MAX_BODY: usize = 16 << 20;
/// Attempts for a request that failed in a way worth retrying (429, 5xx, a dropped connection).
const ATTEMPTS: u32 = 3;

/// What `--kube-context` / `--no-kube` and the environment say.
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    pub context: Option<String>,
    pub disabled: bool,
}

/// Why a Kubernetes request gave no object.
#[derive(Debug, Clone)]
pub enum KubeError {
    /// 403: RBAC refused it; the API server's message names the user, verb and resource.
    Forbidden(String),
    /// 404.
    NotFound,
    /// 400: for pod logs, the kubelet's reason (a container that never ran): evidence, not a failure.
    BadRequest(String),
    /// 401: the kubeconfig's credentials were rejected or could not be obtained.
    Credentials(String),
    Unreachable(String),
    Timeout,
    Refused(Refused),
    Other(String),
}

impl KubeError {
    pub fn failure(&self, needs: Option<String>) -> Failure {
        let (kind, message) = match self {
            KubeError::Forbidden(m) => (FailureKind::Forbidden, format!("forbidden: {m}")),
            KubeError::NotFound => (FailureKind::NotFound, "not found".to_string()),
            KubeError::BadRequest(m) => (FailureKind::Other, format!("bad request: {m}")),
            KubeError::Credentials(m) => (FailureKind::Credentials, format!("credentials rejected: {m}")),
            KubeError::Unreachable(m) => (FailureKind::Unreachable, format!("the Kubernetes API is unreachable: {m}")),
            KubeError::Timeout => (FailureKind::Timeout, "the Kubernetes API did not answer in time".to_string()),
            KubeError::Refused(r) => (FailureKind::Other, r.to_string()),
            KubeError::Other(m) => (FailureKind::Other, m.clone()),
        };
        Failure { kind, message, needs: needs.filter(|_| kind == FailureKind::Forbidden) }
    }
}

/// A connected client and what it counts.
pub struct KubeClient {
    client: kube::Client,
    /// The kubeconfig context's namespace (or the pod's own, in a cluster).
    pub default_namespace: String,
    /// The API server, for the sources section (credentials are never part of it).
    pub server: String,
    deadline: Instant,
    requests: Cell<u64>,
}

/// Whether there is any Kubernetes configuration to use; `None` means "not configured" (skipped).
fn configured(settings: &KubeSettings, env: &dyn Fn(&str) -> Option<String>) -> bool {
    settings.context.is_some()
        || env("KUBECONFIG").is_some_and(|v| !v.is_empty())
        || env("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty())
        || env("HOME").is_some_and(|h| std::path::Path::new(&h).join(".kube").join("config").exists())
}

/// How connecting ended when it did not give a client.
pub enum NotConnected {
    /// No configuration at all: a backend not configured is skipped, not an error.
    NotConfigured,
    Failed(Failure),
}

impl KubeClient {
    pub async fn connect(settings: &KubeSettings, budget: Duration) -> Result<KubeClient, NotConnected> {
        let env = |k: &str| std::env::var(k).ok();
        if !configured(settings, &env) {
            return Err(NotConnected::NotConfigured);
        }
        let loaded = match &settings.context {
            Some(context) => {
                let opts = kube::config::KubeConfigOptions { context: Some(context.clone()), ..Default::default() };
                kube::Config::from_kubeconfig(&opts).await.map_err(|e| e.to_string())
            }
            None => kube::Config::infer().await.map_err(|e| e.to_string()),
        };
        let mut config = loaded.map_err(|e| {
            NotConnected::Failed(Failure::new(
                FailureKind::Other,
                format!("cannot load the Kubernetes configuration: {e}"),
            ))
        })?;
        config.connect_timeout = Some(budget.min(Duration::from_secs(10)));
        config.read_timeout = Some(budget);
        let server = config.cluster_url.to_string();
        let default_namespace = config.default_namespace.clone();
        let layer = tower::filter::FilterLayer::new(|req: http::Request<kube::client::Body>| {
            let uri = req.uri();
            policy::check_kube_request(req.method().as_str(), uri.path(), uri.query()).map(|()| req)
        });
        let builder = kube::client::ClientBuilder::try_from(config).map_err(|e| {
            NotConnected::Failed(Failure::new(FailureKind::Other, format!("cannot set up the Kubernetes client: {e}")))
        })?;
        let client = builder.with_layer(&layer).build();
        Ok(KubeClient { client, default_namespace, server, deadline: Instant::now() + budget, requests: Cell::new(0) })
    }

    pub fn request_count(&self) -> u64 {
        self.requests.get()
    }

    /// GET a JSON object or list.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, KubeError> {
        let body = self.send(http::Method::GET, path, None, Bound::Whole(MAX_BODY)).await?;
        serde_json::from_slice(&body).map_err(|e| KubeError::Other(format!("unexpected answer for {path}: {e}")))
    }

    /// POST a JSON body (access reviews only: the policy refuses anything else).
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T, KubeError> {
        let bytes = serde_json::to_vec(body).map_err(|e| KubeError::Other(e.to_string()))?;
        let answer = self.send(http::Method::POST, path, Some(bytes), Bound::Whole(MAX_BODY)).await?;
        serde_json::from_slice(&answer).map_err(|e| KubeError::Other(format!("unexpected answer for {path}: {e}")))
    }

    /// GET text (pod logs): its last `limit` bytes, from the first whole line in them. The request asks
    /// for a bounded tail (`tailLines`, `limitBytes`); an answer longer than that is still read to its
    /// end, so what is kept is the end of the log, and memory stays bounded.
    pub async fn text(&self, path: &str, limit: usize) -> Result<String, KubeError> {
        let body = self.send(http::Method::GET, path, None, Bound::Tail(limit)).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    async fn send(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
        limit: Bound,
    ) -> Result<Vec<u8>, KubeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(KubeError::Timeout);
            }
            self.requests.set(self.requests.get() + 1);
            let outcome = tokio::time::timeout(left, self.once(method.clone(), path, body.clone(), limit)).await;
            let (err, retry_after) = match outcome {
                Err(_) => return Err(KubeError::Timeout),
                Ok(Ok(bytes)) => return Ok(bytes),
                Ok(Err(e)) => e,
            };
            let retriable = retry_after.is_some() || matches!(err, KubeError::Unreachable(_));
            let wait = retry_after.unwrap_or(Duration::from_millis(200 << attempt)).min(Duration::from_secs(5));
            if !retriable || attempt >= ATTEMPTS || Instant::now() + wait >= self.deadline {
                return Err(err);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt; the error comes with a delay when it is worth retrying (429 and 5xx).
    async fn once(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Vec<u8>>,
        limit: Bound,
    ) -> Result<Vec<u8>, (KubeError, Option<Duration>)> {
        let mut req = http::Request::builder().method(method).uri(path);
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(kube::client::Body::from(body.unwrap_or_default()))
            .map_err(|e| (KubeError::Other(format!("cannot build the request {path}: {e}")), None))?;
        let res = self.client.send(req).await.map_err(|e| (client_error(e), None))?;
        let status = res.status();
        let retry_after =
            res.headers().get(http::header::RETRY_AFTER).and_then(crate::prefect::client::parse_retry_after);
        let too_large =
            |limit: usize| KubeError::Other(format!("the answer for {path} is larger than {} MiB", limit >> 20));
        let announced =
            res.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let bytes = match limit {
            // Refused by its Content-Length before any of it is read, else as it streams in.
            Bound::Whole(limit) if announced.is_some_and(|n| n > limit as u64) => return Err((too_large(limit), None)),
            Bound::Whole(limit) => match read_whole(res.into_body(), limit).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Err((too_large(limit), None)),
                Err(e) => return Err((cut_off(path, &e), None)),
            },
            Bound::Tail(limit) => read_tail(res.into_body(), limit).await.map_err(|e| (cut_off(path, &e), None))?,
        };
        if status.is_success() {
            return Ok(bytes);
        }
        let message = status_message(&bytes).unwrap_or_else(|| format!("HTTP {status}"));
        Err(match status.as_u16() {
            400 => (KubeError::BadRequest(message), None),
            401 => (KubeError::Credentials(message), None),
            403 => (KubeError::Forbidden(message), None),
            404 => (KubeError::NotFound, None),
            429 | 500 | 502 | 503 | 504 => (
                KubeError::Other(format!("HTTP {status}: {message}")),
                Some(retry_after.unwrap_or(Duration::from_millis(300))),
            ),
            _ => (KubeError::Other(format!("HTTP {status}: {message}")), None),
        })
    }
}

/// How much of an answer is read.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// All of it, or an error past this many bytes (JSON cannot be cut).
    Whole(usize),
    /// Its last this many bytes (a log's tail).
    Tail(usize),
}

fn cut_off(path: &str, e: &dyn std::fmt::Display) -> KubeError {
    KubeError::Unreachable(format!("the answer for {path} was cut off: {e}"))
}

/// Reads `body` to its end; `None` once it passes `limit` bytes (the rest is never read).
async fn read_whole(mut body: kube::client::Body, limit: usize) -> Result<Option<Vec<u8>>, BodyError> {
    let mut all: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if all.len() + data.len() > limit {
                return Ok(None);
            }
            all.extend_from_slice(&data);
        }
    }
    Ok(Some(all))
}

type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Reads `body` to its end, keeping at most `limit` bytes: the last ones, from the first line that
/// starts within them when anything was dropped.
async fn read_tail(mut body: kube::client::Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut kept: Vec<u8> = Vec::new();
    let mut dropped = false;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            kept.extend_from_slice(&data);
            // Drop in batches (at twice the limit) so each byte is moved a bounded number of times.
            if kept.len() > limit.saturating_mul(2) {
                kept.drain(..kept.len() - limit);
                dropped = true;
            }
        }
    }
    if kept.len() > limit {
        kept.drain(..kept.len() - limit);
        dropped = true;
    }
    if dropped {
        let first_line = kept.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
        kept.drain(..first_line);
    }
    Ok(kept)
}

/// The `message` of a Kubernetes `Status` body, else the start of the text.
fn status_message(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v.get("message").and_then(|m| m.as_str()).map(str::to_string),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            (!text.is_empty()).then(|| text.chars().take(300).collect())
        }
    }
}

fn client_error(e: kube::Error) -> KubeError {
    // The policy's refusal comes back as the service error of the filter layer.
    if let kube::Error::Service(inner) = &e {
        if let Some(r) = inner.downcast_ref::<Refused>() {
            return KubeError::Refused(r.clone());
        }
    }
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !chain.contains(&s_text) {
            chain.push_str(": ");
            chain.push_str(&s_text);
        }
        source = s.source();
    }
    match e {
        kube::Error::Auth(_) => KubeError::Credentials(chain),
        _ if chain.to_ascii_lowercase().contains("timed out") || chain.contains("deadline") => KubeError::Timeout,
        _ => KubeError::Unreachable(chain),
    }
}

/// A request path from segments (each percent-encoded as needed) and query pairs.
pub fn path(segments: &[&str], query: &[(&str, &str)]) -> String {
    // Only the path and query of this URL are used; the host is a placeholder. Were it unparsable, "/"
    // is a request the policy refuses: the read fails with a message, nothing panics.
    let Ok(mut url) = Url::parse("http://kubernetes.invalid/") else { return "/".to_string() };
    if let Ok(mut s) = url.path_segments_mut() {
        // A name that is a dot-segment would move the request elsewhere: send it as a literal name.
        s.clear().extend(segments.iter().map(|seg| match *seg {
            "." | ".." => seg.replace('.', "%2E"),
            other => other.to_string(),
        }));
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_built_from_segments() {
        assert_eq!(
            path(&["api", "v1", "namespaces", "prefect", "pods"], &[("labelSelector", "prefect.io/flow-run-id=x")]),
            "/api/v1/namespaces/prefect/pods?labelSelector=prefect.io%2Fflow-run-id%3Dx"
        );
        // A name cannot climb out of its place in the path: `..` stays a (non-existent) name.
        let p = path(&["api", "v1", "namespaces", "..", "pods"], &[]);
        assert_eq!(p, "/api/v1/namespaces/%252E%252E/pods");
        let p = path(&["api", "v1", "namespaces", "a/b", "pods"], &[]);
        assert_eq!(p, "/api/v1/namespaces/a%2Fb/pods");
    }

    /// A log longer than the bound keeps its end, from a whole line; a short one is kept whole.
    #[tokio::test]
    async fn a_long_log_keeps_its_tail() {
        let log: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        let tail = read_tail(kube::client::Body::from(log.clone().into_bytes()), 100).await.unwrap();
        let text = String::from_utf8(tail).unwrap();
        assert!(text.len() <= 100 && text.starts_with("line ") && text.ends_with("line 9999\n"), "{text:?}");
        let short = read_tail(kube::client::Body::from(b"one\ntwo\n".to_vec()), 100).await.unwrap();
        assert_eq!(short, b"one\ntwo\n");
    }

    /// A JSON answer past the bound is refused, not kept in part; one within it is read whole.
    #[tokio::test]
    async fn a_body_past_the_bound_is_refused() {
        let big = kube::client::Body::from(vec![b' '; 101]);
        assert_eq!(read_whole(big, 100).await.unwrap(), None);
        let small = kube::client::Body::from(b"{}".to_vec());
        assert_eq!(read_whole(small, 100).await.unwrap().as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn not_configured_without_any_source() {
        let none = |_: &str| None;
        assert!(!configured(&KubeSettings::default(), &none));
        let kc = |k: &str| (k == "KUBECONFIG").then(|| "/x".to_string());
        assert!(configured(&KubeSettings::default(), &kc));
        let ctx = KubeSettings { context: Some("kind".into()), disabled: false };
        assert!(configured(&ctx, &none));
    }
}
