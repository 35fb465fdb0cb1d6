//! The Prefect REST client: every request goes through the read-only policy, carries the configured
//! credentials, handles CSRF when the server demands it, and retries 408/429/502/503 (honouring
//! `Retry-After`) within the command's deadline.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use jiff::Timestamp;
use reqwest::header::{DATE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::config::{ApiConfig, Auth};
use crate::evidence::{Failure, FailureKind};
use crate::policy::{self, Op, Refused};
use crate::redact::Redactor;

/// Why a request failed, in words a user can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the Prefect API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("no answer from the Prefect API at {url} within the {budget} time budget (raise it with --timeout)")]
    Timeout { url: String, budget: String },
    #[error("the Prefect API rejected the credentials (HTTP {status} on {path}): {hint}")]
    Unauthorized { path: String, status: u16, hint: String },
    #[error("{path}: forbidden (HTTP 403): {detail}")]
    Forbidden { path: String, detail: String },
    #[error("{path}: not found (HTTP 404): {detail}")]
    NotFound { path: String, detail: String },
    #[error("{path}: HTTP {status}{}: {detail}", retry_note(*.retry_after))]
    Transient { path: String, status: u16, detail: String, retry_after: Option<Duration> },
    #[error("{path}: HTTP {status}: {detail}")]
    Status { path: String, status: u16, detail: String },
    #[error("{path}: the answer is not what a Prefect server sends ({reason}); it starts with {excerpt:?}")]
    Decode { path: String, reason: String, excerpt: String },
    #[error("{path}: the server redirected to {location}; point unstuck at that URL instead")]
    Redirect { path: String, location: String },
    #[error("{path}: the connection failed mid-request: {reason}")]
    Transport { path: String, reason: String },
    #[error("{path}: the answer is larger than {} MiB; not read", .limit >> 20)]
    TooLarge { path: String, limit: usize },
    #[error(transparent)]
    Refused(#[from] Refused),
}

fn retry_note(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (asked to retry after {}s, beyond the time budget)", d.as_secs()),
        None => " (still failing after retries)".into(),
    }
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }

    /// Statuses Prefect's own client retries, plus dropped connections.
    fn is_retryable(&self) -> bool {
        matches!(self, ApiError::Transient { .. } | ApiError::Transport { .. })
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error as evidence: its kind, and the message (already redacted).
    pub fn failure(&self) -> Failure {
        let kind = match self {
            ApiError::Unreachable { .. } => FailureKind::Unreachable,
            ApiError::Timeout { .. } => FailureKind::Timeout,
            ApiError::Unauthorized { .. } => FailureKind::Credentials,
            ApiError::Forbidden { .. } => FailureKind::Forbidden,
            ApiError::NotFound { .. } => FailureKind::NotFound,
            _ => FailureKind::Other,
        };
        Failure::new(kind, self.to_string())
    }

    /// Errors that make the whole diagnosis impossible (no server, no access), as opposed to one
    /// endpoint failing.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ApiError::Unreachable { .. } | ApiError::Unauthorized { .. } | ApiError::Timeout { .. })
    }
}

/// A path under the Prefect API root, built from segments that the `url` crate percent-encodes, so a
/// pool called `p/get_scheduled_flow_runs` can never change which endpoint is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    segments: Vec<String>,
    query: Vec<(&'static str, String)>,
}

impl ApiPath {
    /// `ApiPath::new(["work_pools", name, "queues", "filter"])`.
    pub fn new<S: AsRef<str>>(segments: impl IntoIterator<Item = S>) -> Self {
        ApiPath { segments: segments.into_iter().map(|s| s.as_ref().to_string()).collect(), query: Vec::new() }
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    /// The request URL: the root's path, then each segment encoded on its own. A name that is a dot
    /// segment (`..`) would climb out of its place in any URL spelling (`%2e%2e` too), so it is refused.
    pub fn url(&self, root: &url::Url) -> Result<url::Url, Refused> {
        if self.segments.iter().any(|s| s == "." || s == "..") {
            return Err(Refused { what: format!("a request to {self}"), reason: "a name that is a dot segment" });
        }
        let mut url = root.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(&self.segments);
        }
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(self.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }
}

/// A fixed endpoint written in the code (`"/flow_runs/filter"`); a trailing slash is kept, as some
/// Prefect routes need it (`/flow_run_states/`). Only `'static` text converts, never user input.
impl From<&'static str> for ApiPath {
    fn from(path: &'static str) -> Self {
        ApiPath::new(path.strip_prefix('/').unwrap_or(path).split('/'))
    }
}

/// `/work_pools/my pool/queues/filter?x=y`, as a person reads it (for messages).
impl std::fmt::Display for ApiPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.segments {
            write!(f, "/{s}")?;
        }
        for (i, (k, v)) in self.query.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

/// Prefect's default page limit (`PREFECT_SERVER_API_DEFAULT_LIMIT`, also the largest it accepts).
pub const MAX_PAGE: usize = 200;

/// Largest answer read. A page of 200 runs stays far below; a server (or proxy) that ignores the
/// `limit` it was sent must not make unstuck buffer whatever it sends.
pub const MAX_BODY: usize = 16 << 20;

/// Retries after the first try of a request (Prefect's own client retries 5 times too).
pub const MAX_RETRIES: usize = 5;

/// The server's clock as read from a `Date` header, and ours at the same moment.
#[derive(Debug, Clone, Copy)]
pub struct ClockSample {
    pub server: Timestamp,
    pub local: Timestamp,
}

/// CSRF state shared by concurrent requests: asking for a new token replaces the old one on the
/// server, so only one request may refresh it at a time.
struct Csrf {
    supported: bool,
    client_id: String,
    token: tokio::sync::Mutex<Option<String>>,
    generation: AtomicU64,
    disabled_on_server: AtomicBool,
}

pub struct Client {
    http: reqwest::Client,
    /// The API root as configured (`http://127.0.0.1:4200/api`), and as text for messages.
    root: url::Url,
    base: String,
    auth: Auth,
    auth_hint: String,
    csrf: Csrf,
    deadline: Instant,
    budget: Duration,
    verbose: u8,
    redactor: Redactor,
    clock: Mutex<Option<ClockSample>>,
    requests: AtomicU64,
    /// The server's page size limit: 200 unless the server said it is lower (a 422 "Invalid limit").
    page_limit: AtomicUsize,
}

/// A response body and the headers we care about.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Client {
    /// Builds a client for `cfg` with a deadline `budget` from now.
    pub fn new(cfg: &ApiConfig, budget: Duration, verbose: u8, redactor: Redactor) -> Result<Client, String> {
        // The process-wide crypto provider (`crate::install_crypto_provider`) is installed by `main`;
        // this is a no-op then, and makes the client usable from a library caller too.
        crate::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("unstuck/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(budget.min(Duration::from_secs(10)));
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA bundle {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("cannot parse the CA bundle {}: {e}", path.display()))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if cfg.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        // A plain-HTTP API needs no roots: loading the system's (a bundle and a directory of a few
        // hundred files) is most of a run's start-up time against a local server.
        if cfg.url.scheme() == "http" && cfg.ca_file.is_none() {
            builder = builder.tls_certs_only(std::iter::empty());
        }
        let http = builder.build().map_err(|e| format!("cannot set up the HTTP client: {}", error_chain(&e)))?;
        let auth_hint = match &cfg.auth {
            Auth::None => "no credentials are configured: set PREFECT_API_AUTH_STRING=user:password for a \
                           self-hosted server with basic auth, or PREFECT_API_KEY for Prefect Cloud"
                .to_string(),
            Auth::Bearer(_) => "check PREFECT_API_KEY (is the key valid for this workspace?)".to_string(),
            Auth::Basic { .. } => "check PREFECT_API_AUTH_STRING (it must match the server's \
                                   PREFECT_SERVER_API_AUTH_STRING)"
                .to_string(),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        Ok(Client {
            http,
            root: cfg.url.clone(),
            base: cfg.url.as_str().trim_end_matches('/').to_string(),
            auth: cfg.auth.clone(),
            auth_hint,
            csrf: Csrf {
                supported: cfg.csrf_support,
                client_id: format!("unstuck-{}-{nanos}", std::process::id()),
                token: tokio::sync::Mutex::new(None),
                generation: AtomicU64::new(0),
                disabled_on_server: AtomicBool::new(false),
            },
            deadline: Instant::now() + budget,
            budget,
            verbose,
            redactor,
            clock: Mutex::new(None),
            requests: AtomicU64::new(0),
            page_limit: AtomicUsize::new(MAX_PAGE),
        })
    }

    /// The API root this client talks to (credentials never appear in it).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The first `Date` header seen, with the local time it arrived.
    pub fn clock(&self) -> Option<ClockSample> {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many HTTP requests were sent (retries and CSRF token fetches included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The largest `limit` this server accepts, as learnt so far.
    pub fn page_size(&self) -> usize {
        self.page_limit.load(Ordering::Relaxed)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: impl Into<ApiPath>) -> Result<T, ApiError> {
        self.call(Method::GET, &path.into(), None).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: impl Into<ApiPath>,
        body: &serde_json::Value,
    ) -> Result<T, ApiError> {
        self.call(Method::POST, &path.into(), Some(body)).await
    }

    /// The final URL of a request, judged by the read-only policy before anything is sent.
    fn url(&self, method: &Method, path: &ApiPath) -> Result<url::Url, Refused> {
        let url = path.url(&self.root)?;
        policy::check(&Op::Prefect { method: method.as_str(), url: &url, root: &self.root })?;
        Ok(url)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &ApiPath,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let result = self.call_once(method.clone(), path, body).await;
        // A server started with a lower PREFECT_SERVER_API_DEFAULT_LIMIT refuses our page size: learn
        // its limit and ask again with it (pagers read `page_size` to know a short page).
        let Err(ApiError::Status { status: 422, detail, .. }) = &result else { return result };
        let Some(n) = invalid_limit(detail).filter(|n| *n > 0) else { return result };
        self.page_limit.fetch_min(n, Ordering::Relaxed);
        let mut smaller = body.cloned().unwrap_or_default();
        let mut changed = false;
        for key in ["limit", "flow_run_limit"] {
            if smaller.get(key).and_then(|v| v.as_u64()).is_some_and(|l| l > n as u64) {
                smaller[key] = serde_json::json!(n);
                changed = true;
            }
        }
        if !changed {
            return result;
        }
        self.call_once(method, path, Some(&smaller)).await
    }

    async fn call_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &ApiPath,
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let op = || self.once_with_csrf(method.clone(), path, body);
        let retrying = op
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(250))
                    .with_max_delay(Duration::from_secs(8))
                    .with_max_times(MAX_RETRIES)
                    .with_jitter(),
            )
            .sleep(tokio::time::sleep)
            .when(ApiError::is_retryable)
            .adjust(|err, backoff| {
                // No backoff left means the tries are used up, whatever Retry-After says. Retry-After
                // is a minimum; never sleep past the deadline (give up instead).
                let backoff = backoff?;
                let wait = err.retry_after().map_or(backoff, |ra| ra.max(backoff));
                Instant::now().checked_add(wait).is_some_and(|at| at < self.deadline).then_some(wait)
            })
            .notify(|err, wait| {
                if self.verbose > 0 {
                    eprintln!("unstuck: retrying in {} ms after: {err}", wait.as_millis());
                }
            });
        let raw = match tokio::time::timeout_at(self.deadline, retrying).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ApiError::Timeout {
                    url: self.base.clone(),
                    budget: humantime::format_duration(self.budget).to_string(),
                });
            }
        };
        serde_json::from_slice(&raw.body).map_err(|e| ApiError::Decode {
            path: path.to_string(),
            reason: e.to_string(),
            excerpt: self.excerpt(&raw.body),
        })
    }

    /// One request; on a CSRF rejection, fetch a token (once, shared) and try again.
    async fn once_with_csrf(
        &self,
        method: Method,
        path: &ApiPath,
        body: Option<&serde_json::Value>,
    ) -> Result<Raw, ApiError> {
        let generation = self.csrf.generation.load(Ordering::SeqCst);
        let raw = self.send(method.clone(), path, body).await?;
        if raw.status == StatusCode::FORBIDDEN && method != Method::GET && self.is_csrf_rejection(&raw) {
            self.refresh_csrf(generation).await?;
            let raw = self.send(method, path, body).await?;
            return self.classify(path, raw);
        }
        self.classify(path, raw)
    }

    fn is_csrf_rejection(&self, raw: &Raw) -> bool {
        self.csrf.supported
            && !self.csrf.disabled_on_server.load(Ordering::SeqCst)
            && String::from_utf8_lossy(&raw.body).contains("CSRF")
    }

    async fn refresh_csrf(&self, seen_generation: u64) -> Result<(), ApiError> {
        let mut slot = self.csrf.token.lock().await;
        if self.csrf.generation.load(Ordering::SeqCst) != seen_generation {
            return Ok(()); // another request refreshed it while we waited
        }
        let path = ApiPath::from("/csrf-token").query("client", &self.csrf.client_id);
        let raw = self.send(Method::GET, &path, None).await?;
        if raw.status == StatusCode::UNPROCESSABLE_ENTITY {
            self.csrf.disabled_on_server.store(true, Ordering::SeqCst);
            return Ok(());
        }
        let raw = self.classify(&path, raw)?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: String,
        }
        let token: Token = serde_json::from_slice(&raw.body).map_err(|e| ApiError::Decode {
            path: "/csrf-token".into(),
            reason: e.to_string(),
            excerpt: self.excerpt(&raw.body),
        })?;
        *slot = Some(token.token);
        self.csrf.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Sends one HTTP request and reads the whole body; maps transport failures.
    async fn send(&self, method: Method, path: &ApiPath, body: Option<&serde_json::Value>) -> Result<Raw, ApiError> {
        let url = self.url(&method, path)?;
        let mut req = self.http.request(method.clone(), url);
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(key) => req.bearer_auth(key.expose()),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
        };
        if method != Method::GET {
            if let Some(token) = self.csrf.token.lock().await.clone() {
                req = req.header("Prefect-Csrf-Token", token).header("Prefect-Csrf-Client", &self.csrf.client_id);
            }
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = Instant::now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req.send().await.map_err(|e| self.transport_error(path, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        self.record_clock(&headers);
        let body = self.bounded_body(path, resp).await?;
        if self.verbose > 0 {
            let extra = if self.verbose > 1 { format!(", {} bytes", body.len()) } else { String::new() };
            eprintln!("unstuck: {method} {path} -> {} ({} ms{extra})", status.as_u16(), started.elapsed().as_millis());
        }
        Ok(Raw { status, headers, body })
    }

    /// The body, read chunk by chunk and refused past MAX_BODY (by its `Content-Length` before any
    /// of it is read), so memory stays bounded whatever the server sends.
    async fn bounded_body(&self, path: &ApiPath, mut resp: reqwest::Response) -> Result<Vec<u8>, ApiError> {
        let too_large = || ApiError::TooLarge { path: path.to_string(), limit: MAX_BODY };
        let announced = resp.content_length().unwrap_or(0);
        if announced > MAX_BODY as u64 {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(path, &e))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport_error(&self, path: &ApiPath, e: &reqwest::Error) -> ApiError {
        let mut reason = self.redactor.redact(&error_chain(e)).into_owned();
        if reason.contains("certificate") {
            reason.push_str(
                " (the server's TLS certificate is not trusted: point PREFECT_API_SSL_CERT_FILE at its CA bundle, \
                 or set PREFECT_API_TLS_INSECURE_SKIP_VERIFY=true to skip verification)",
            );
        }
        if e.is_connect() {
            ApiError::Unreachable { url: self.base.clone(), reason }
        } else if e.is_timeout() {
            ApiError::Timeout { url: self.base.clone(), budget: humantime::format_duration(self.budget).to_string() }
        } else {
            ApiError::Transport { path: path.to_string(), reason }
        }
    }

    /// Turns a status code into success or a typed error.
    fn classify(&self, path: &ApiPath, raw: Raw) -> Result<Raw, ApiError> {
        let status = raw.status;
        if status.is_success() {
            return Ok(raw);
        }
        let detail = self.detail(&raw.body);
        let path = path.to_string();
        Err(match status.as_u16() {
            401 => ApiError::Unauthorized { path, status: 401, hint: self.auth_hint.clone() },
            403 => ApiError::Forbidden { path, detail },
            404 => ApiError::NotFound { path, detail },
            408 | 429 | 502 | 503 | 504 => ApiError::Transient {
                path,
                status: status.as_u16(),
                detail,
                retry_after: raw.headers.get(RETRY_AFTER).and_then(parse_retry_after),
            },
            300..=399 => ApiError::Redirect {
                path,
                location: raw
                    .headers
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .map(|l| self.redactor.redact(l).into_owned())
                    .unwrap_or_else(|| "(no Location header)".into()),
            },
            s => ApiError::Status { path, status: s, detail },
        })
    }

    /// The server's error message: `detail` or `exception_message` from a JSON body, else the text.
    fn detail(&self, body: &[u8]) -> String {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            for key in ["detail", "exception_message", "message"] {
                match v.get(key) {
                    Some(serde_json::Value::String(s)) => return self.redactor.redact(s).into_owned(),
                    Some(other) if !other.is_null() => {
                        return self.redactor.redact(&other.to_string()).into_owned();
                    }
                    _ => {}
                }
            }
        }
        let text = self.excerpt(body);
        if text.is_empty() { "(empty body)".into() } else { text }
    }

    fn excerpt(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut cut: String = text.chars().take(120).collect();
        if text.chars().count() > 120 {
            cut.push('…');
        }
        self.redactor.redact(cut.trim()).into_owned()
    }

    fn record_clock(&self, headers: &HeaderMap) {
        let Some(server) = headers.get(DATE).and_then(|v| v.to_str().ok()).and_then(parse_http_date) else {
            return;
        };
        let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        if clock.is_none() {
            *clock = Some(ClockSample { server, local: Timestamp::now() });
        }
    }
}

/// The limit in Prefect's "Invalid limit: must be less than or equal to 10." (422).
fn invalid_limit(detail: &str) -> Option<usize> {
    let rest = detail.split("must be less than or equal to").nth(1)?;
    rest.trim().trim_end_matches('.').trim().parse().ok()
}

/// `Retry-After: <seconds>` or `Retry-After: <HTTP-date>`.
pub fn parse_retry_after(v: &HeaderValue) -> Option<Duration> {
    let s = v.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<f64>() {
        // Negative or NaN is garbage; beyond what a Duration holds means "not within any budget".
        let garbage = secs.is_nan() || secs < 0.0;
        return (!garbage).then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let at = parse_http_date(s)?;
    let now = Timestamp::now();
    let delta = at.duration_since(now);
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(s: &str) -> Option<Timestamp> {
    jiff::fmt::rfc2822::parse(s).ok().map(|z| z.timestamp())
}

/// "error sending request: tcp connect error: Connection refused (os error 111)" from a nested error.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let msg = err.to_string();
        if !parts.iter().any(|p| p.contains(&msg)) {
            parts.push(msg);
        }
        cur = err.source();
    }
    // The first message repeats the URL; the rest says what actually happened.
    if parts.len() > 1 {
        parts.remove(0);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths are built from segments: names are encoded, literal endpoints keep their trailing slash.
    #[test]
    fn api_paths() {
        let root = url::Url::parse("http://127.0.0.1:4200/api").unwrap();
        let p = ApiPath::new(["work_pools", "my pool/x?", "queues", "filter"]);
        assert_eq!(
            p.url(&root).unwrap().as_str(),
            "http://127.0.0.1:4200/api/work_pools/my%20pool%2Fx%3F/queues/filter"
        );
        let states = ApiPath::from("/flow_run_states/").query("flow_run_id", "a b");
        assert_eq!(states.url(&root).unwrap().as_str(), "http://127.0.0.1:4200/api/flow_run_states/?flow_run_id=a+b");
        // The url crate resolves a ".." segment (it would read /work_pools): such a name is refused.
        assert!(ApiPath::new(["work_pools", "..", "x", "get_runs"]).url(&root).is_err());
        let cloud = url::Url::parse("https://api.prefect.cloud/api/accounts/a/workspaces/w").unwrap();
        let filter = ApiPath::from("/flow_runs/filter").url(&cloud).unwrap();
        assert_eq!(filter.path(), "/api/accounts/a/workspaces/w/flow_runs/filter");
    }

    /// Retry-After accepts seconds and HTTP dates; garbage is ignored.
    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after(&HeaderValue::from_static("3")), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("0.5")), Some(Duration::from_millis(500)));
        let past = parse_retry_after(&HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert_eq!(past, Some(Duration::ZERO));
        let future = Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let header = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&future).unwrap();
        let d = parse_retry_after(&HeaderValue::from_str(&header).unwrap()).unwrap();
        assert!(d > Duration::from_secs(110) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
        assert_eq!(parse_retry_after(&HeaderValue::from_static("-1")), None);
        assert_eq!(parse_retry_after(&HeaderValue::from_static("1e20")), Some(Duration::MAX), "no panic");
    }

    /// Prefect's 422 for a limit above its page size names the limit.
    #[test]
    fn invalid_limit_message() {
        assert_eq!(invalid_limit("Invalid limit: must be less than or equal to 10."), Some(10));
        assert_eq!(invalid_limit("Invalid limit: must be less than or equal to 200."), Some(200));
        assert_eq!(invalid_limit("something else"), None);
    }

    /// A server Date header parses.
    #[test]
    fn http_date() {
        let t = parse_http_date("Sat, 21 Nov 2026 13:23:16 GMT").unwrap();
        assert_eq!(t.to_string(), "2026-11-21T13:23:16Z");
    }
}
