//! A recorded ECS and CloudWatch Logs API for tests: serves one scenario of fixtures/ecs over the AWS
//! JSON 1.1 protocol (the operation is the `X-Amz-Target` header), with AWS's own error shapes for
//! what the recording does not hold, and records every operation it was sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::{Value, json};

pub struct EcsApi {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl EcsApi {
    /// Serves the scenario in `dir` (describe-tasks.json, describe-task-definition.json, …).
    pub fn start(dir: &Path) -> EcsApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind ecs api");
        let addr = listener.local_addr().expect("ecs api addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let dir = dir.to_path_buf();
        {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (seen, dir) = (seen.clone(), dir.clone());
                    thread::spawn(move || {
                        let _ = handle(conn, &seen, &dir);
                    });
                }
            });
        }
        EcsApi { url: format!("http://{addr}"), seen, stop, addr }
    }

    /// The operations sent so far (`DescribeTasks`, `GetLogEvents`, …).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for EcsApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn read(dir: &Path, file: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    Some(serde_json::from_str(&text).expect("fixture JSON"))
}

/// The answer to one operation: status and body.
fn answer(dir: &Path, op: &str, req: &Value) -> (u16, Value) {
    let error = |ty: &str, message: &str| (400, json!({"__type": ty, "message": message}));
    match op {
        "DescribeTasks" => match read(dir, "describe-tasks.json") {
            Some(v) => (200, v),
            None => error("ClusterNotFoundException", "Cluster not found."),
        },
        "ListTasks" => {
            let want = req["desiredStatus"].as_str().unwrap_or("RUNNING");
            let tasks = read(dir, "describe-tasks.json").unwrap_or_default();
            let arns: Vec<&Value> = tasks["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["desiredStatus"].as_str().unwrap_or("RUNNING") == want)
                .map(|t| &t["taskArn"])
                .collect();
            (200, json!({"taskArns": arns}))
        }
        "DescribeClusters" => match read(dir, "describe-clusters.json") {
            Some(v) => (200, v),
            None => (200, json!({"clusters": [], "failures": [{"arn": req["clusters"][0], "reason": "MISSING"}]})),
        },
        "DescribeTaskDefinition" => match read(dir, "describe-task-definition.json") {
            Some(v) => (200, v),
            None => error("ClientException", "Unable to describe task definition."),
        },
        "DescribeCapacityProviders" => {
            (200, read(dir, "describe-capacity-providers.json").unwrap_or(json!({"capacityProviders": []})))
        }
        "GetLogEvents" | "FilterLogEvents" => match read(dir, "log-events.json") {
            Some(v) => (200, v),
            None => error("ResourceNotFoundException", "The specified log stream does not exist."),
        },
        _ => error("AccessDeniedException", "not an operation this recording answers"),
    }
}

fn handle(conn: TcpStream, seen: &Mutex<Vec<String>>, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let (mut length, mut target) = (0usize, String::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("x-amz-target") {
                target = v.trim().rsplit('.').next().unwrap_or_default().to_string();
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    seen.lock().unwrap_or_else(|e| e.into_inner()).push(target.clone());
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let (status, answer) = answer(dir, &target, &req);
    let text = answer.to_string();
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )?;
    conn.flush()
}
