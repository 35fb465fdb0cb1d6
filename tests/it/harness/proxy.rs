//! A small HTTP/1.1 proxy in front of a real Prefect server that records every request and injects
//! faults: delays, error statuses with headers (429 + Retry-After), garbage or huge bodies, dropped
//! connections, bodies cut short or stalled halfway.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What to do with one request.
pub enum Fault {
    /// Forward to the real server.
    Pass,
    /// Forward, then set these response headers (e.g. a skewed `date`).
    PassWithHeaders(Vec<(&'static str, String)>),
    /// Wait, then forward.
    Delay(Duration),
    /// Answer without forwarding.
    Respond { status: u16, headers: Vec<(&'static str, String)>, body: String },
    /// Close the connection without answering.
    Reset,
    /// Forward, then send the real answer's headers (its full `Content-Length`) and half its body, and
    /// close: a body cut short (truncated JSON).
    Cut,
    /// Forward, then send the real answer's headers and half its body, and stall: the body never
    /// finishes (a timeout mid-body) until the client gives up.
    StallBody,
}

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path relative to the API root, with query (`/flow_runs/filter`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The request body, as text.
    pub body: String,
}

type Rule = dyn Fn(&Seen, usize) -> Fault + Send + Sync;

pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Proxy {
    /// Starts a proxy for the API at `upstream` (`http://127.0.0.1:4200/api`). `rule` gets each
    /// request and how many requests came before it.
    pub fn start(upstream: &str, rule: impl Fn(&Seen, usize) -> Fault + Send + Sync + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.trim_end_matches('/').to_string();
        let rule: Arc<Rule> = Arc::new(rule);
        let http = super::http_client(Duration::from_secs(60));
        {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (seen, rule, http, upstream) = (seen.clone(), rule.clone(), http.clone(), upstream.clone());
                    thread::spawn(move || {
                        let _ = handle(conn, &seen, &*rule, &http, &upstream);
                    });
                }
            });
        }
        Proxy { url: format!("http://{addr}/api"), seen, stop, addr }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn handle(
    conn: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    rule: &Rule,
    http: &reqwest::blocking::Client,
    upstream: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let full_path = parts.next().unwrap_or("/").to_string();
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

    let rel = full_path.strip_prefix("/api").unwrap_or(&full_path).to_string();
    let req = Seen {
        method: method.clone(),
        path: rel.clone(),
        headers: headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let nth = {
        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
        s.push(req.clone());
        s.len() - 1
    };
    let mut conn = conn;
    let mut overrides = vec![];
    let mut half = None;
    match rule(&req, nth) {
        Fault::Reset => return Ok(()),
        Fault::Respond { status, headers, body } => {
            let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
            write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return conn.flush();
        }
        Fault::Delay(d) => thread::sleep(d),
        Fault::PassWithHeaders(h) => overrides = h,
        Fault::Pass => {}
        Fault::Cut => half = Some(false),
        Fault::StallBody => half = Some(true),
    }
    let mut up = http.request(method.parse().unwrap_or(reqwest::Method::GET), format!("{upstream}{rel}"));
    for (k, v) in &headers {
        if !["host", "connection", "content-length"].contains(&k.to_ascii_lowercase().as_str()) {
            up = up.header(k, v);
        }
    }
    if !body.is_empty() {
        up = up.body(body);
    }
    let resp = match up.send() {
        Ok(r) => r,
        Err(_) => return Ok(()),
    };
    let status = resp.status().as_u16();
    let mut pass_headers = String::new();
    for (k, v) in resp.headers() {
        let k = k.as_str();
        if ["content-type", "date", "retry-after", "location"].contains(&k) && !overrides.iter().any(|(o, _)| *o == k) {
            pass_headers.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or("")));
        }
    }
    for (k, v) in &overrides {
        pass_headers.push_str(&format!("{k}: {v}\r\n"));
    }
    let bytes = resp.bytes().unwrap_or_default();
    write!(conn, "HTTP/1.1 {status} X\r\n{pass_headers}content-length: {}\r\nconnection: close\r\n\r\n", bytes.len())?;
    match half {
        None => conn.write_all(&bytes)?,
        Some(stall) => {
            conn.write_all(&bytes[..bytes.len() / 2])?;
            conn.flush()?;
            if stall {
                // Longer than any --timeout a test passes; the client must give up by itself.
                thread::sleep(Duration::from_secs(60));
            }
            return Ok(());
        }
    }
    conn.flush()
}
