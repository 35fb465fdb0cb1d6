//! `unstuck serve`: a Prometheus exporter. One scan of the fleet at a time runs in the background,
//! starting every interval; /metrics answers from the last finished scan, so a slow or hung Prefect
//! API shows as `unstuck_up 0`, never as a hung scrape.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::{oneshot, watch};

use crate::report::health::{prometheus_down, prometheus_scan};
use crate::{Failure, exit};

/// What one scan produced: `health`'s metric families, or why the fleet could not be read.
pub(crate) type ScanResult = Result<String, String>;

/// How `serve` runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub listen: SocketAddr,
    /// A scan starts this long after the previous one started (or right after it ends, when slower).
    pub interval: Duration,
    /// The deadline of one scan (`--timeout`).
    pub timeout: Duration,
    /// No notices on stderr.
    pub quiet: bool,
}

/// Beyond its own deadline a scan gets this long to report before it counts as failed.
const SCAN_GRACE: Duration = Duration::from_secs(1);
/// A client has this long to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a request head may take in memory (hyper's smallest buffer limit is 8 KiB).
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The most header lines a request may have.
const MAX_HEADERS: usize = 64;
/// Connections open at once; more are closed on arrival (each holds up to `MAX_REQUEST_HEAD`).
const MAX_CONNECTIONS: usize = 128;
/// After SIGTERM, responses in flight get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The metrics text of the last finished scan (`None` until the first one ends).
type Latest = watch::Receiver<Option<Bytes>>;

/// Binds `opts.listen`, scans with `scan` in the background and serves until SIGTERM or Ctrl-C.
pub(crate) fn run(opts: Options, scan: impl Fn() -> ScanResult + Send + Sync + 'static) -> Result<u8, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unknown(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        // Before anything else: a SIGTERM that comes once the port answers is never missed.
        let stop = shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| Failure::unknown(format!("cannot listen on {}: {e}", opts.listen)))?;
        let addr = listener.local_addr().unwrap_or(opts.listen);
        if !opts.quiet {
            eprintln!(
                "unstuck: serving http://{addr}/metrics and /healthz, scanning every {}",
                humantime::format_duration(opts.interval)
            );
        }
        let (tx, latest) = watch::channel(None);
        tokio::select! {
            served = serve(listener, latest, opts, stop) => served,
            () = scan_loop(Arc::new(scan), opts, tx) => Ok(exit::OK),
        }
    })
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT); the handlers are installed by this call, not when polled.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl Future<Output = ()>, Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let watch = |kind: SignalKind| signal(kind).map_err(|e| Failure::unknown(format!("cannot watch for signals: {e}")));
    let (mut term, mut int) = (watch(SignalKind::terminate())?, watch(SignalKind::interrupt())?);
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl Future<Output = ()>, Failure> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Scans for ever, one at a time: each in a thread of its own (the collectors run their own
/// runtime), bounded by the scan deadline; publishes each outcome to `tx`.
async fn scan_loop(scan: Arc<dyn Fn() -> ScanResult + Send + Sync>, opts: Options, tx: watch::Sender<Option<Bytes>>) {
    let mut ticks = tokio::time::interval(opts.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let started = Instant::now();
        let (done_tx, mut done) = oneshot::channel();
        let job = scan.clone();
        let spawned = std::thread::Builder::new().name("unstuck-scan".into()).spawn(move || {
            let _ = done_tx.send(job());
        });
        let result = match spawned {
            Err(e) => Err(format!("cannot start a scan: {e}")),
            Ok(_) => match tokio::time::timeout(opts.timeout + SCAN_GRACE, &mut done).await {
                Ok(answer) => answer.unwrap_or_else(|_| Err("the scan ended without an answer".to_string())),
                Err(_) => {
                    let budget = humantime::format_duration(opts.timeout);
                    publish(&tx, Err(format!("the scan did not end within its {budget} time budget")), started, opts);
                    // Still reading the API: wait for it to end, so that two scans never overlap.
                    let _ = done.await;
                    continue;
                }
            },
        };
        publish(&tx, result, started, opts);
    }
}

/// Renders a scan's outcome with `serve`'s own families and makes it what scrapes get.
fn publish(tx: &watch::Sender<Option<Bytes>>, result: ScanResult, started: Instant, opts: Options) {
    let ended = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut text = match result {
        Ok(families) => families,
        Err(why) => {
            if !opts.quiet {
                eprintln!("unstuck: warning: the scan failed: {why}");
            }
            prometheus_down()
        }
    };
    text.push_str(&prometheus_scan(ended.as_secs_f64(), started.elapsed()));
    tx.send_replace(Some(Bytes::from(text)));
}

/// Accepts connections until `stop`, then lets the responses in flight finish.
async fn serve(
    listener: tokio::net::TcpListener,
    latest: Latest,
    opts: Options,
    stop: impl Future<Output = ()>,
) -> Result<u8, Failure> {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .max_headers(MAX_HEADERS);
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: pass, rather than spin.
                    if !opts.quiet {
                        eprintln!("unstuck: warning: cannot accept a connection: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Too many open already: this one is closed (dropped) unanswered.
            continue;
        };
        let latest = latest.clone();
        let service = hyper::service::service_fn(move |req| respond(req, latest.clone(), opts));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    if !opts.quiet {
        eprintln!("unstuck: stopping: finishing the responses in flight");
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(exit::OK)
}

/// The endpoints: /metrics and /healthz, GET or HEAD; anything else is 404 or 405.
async fn respond(req: Request<Incoming>, latest: Latest, opts: Options) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/healthz" {
        return Ok(text(StatusCode::NOT_FOUND, "not found: try /metrics or /healthz\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    if path == "/healthz" {
        return Ok(text(StatusCode::OK, "ok\n"));
    }
    let mut r = text(StatusCode::OK, metrics(latest, opts).await);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    Ok(r)
}

/// The last scan's metrics; only before the first scan has ended does a scrape wait for it, and no
/// longer than a scan may take.
async fn metrics(mut latest: Latest, opts: Options) -> Bytes {
    let first = async { latest.wait_for(Option::is_some).await.is_ok() };
    let _ = tokio::time::timeout(opts.timeout + SCAN_GRACE, first).await;
    let scan = latest.borrow().clone();
    scan.unwrap_or_else(|| Bytes::from(prometheus_down()))
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}
