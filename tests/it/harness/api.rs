//! Builds scenarios on a real Prefect server through its REST API (the test side may write; unstuck
//! may not). Retries the 503s a SQLite server gives under load.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Server, unique};

pub struct Api {
    http: reqwest::blocking::Client,
    base: String,
    auth: Option<(String, String)>,
    csrf: Option<(String, String)>,
    venv: std::path::PathBuf,
}

/// `prefect work-pool get-default-base-job-template --type process`, once per virtualenv.
fn default_process_template(venv: &std::path::Path) -> Value {
    static CACHE: std::sync::Mutex<Vec<(std::path::PathBuf, Value)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = cache.iter().find(|(p, _)| p == venv) {
        return v.clone();
    }
    let home = super::TempDir::new("prefect-home");
    let out = std::process::Command::new(venv.join("bin").join("prefect"))
        .args(["work-pool", "get-default-base-job-template", "--type", "process"])
        .env("PREFECT_HOME", home.path())
        .output()
        .expect("run prefect");
    assert!(out.status.success(), "get-default-base-job-template: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("template JSON");
    cache.push((venv.to_path_buf(), v.clone()));
    v
}

/// A work pool made for one test.
#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub name: String,
}

fn ts(offset_secs: i64) -> String {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_secs);
    t.to_string()
}

impl Api {
    pub fn new(server: &Server) -> Api {
        let http = super::http_client(Duration::from_secs(30));
        let auth = server.auth.as_ref().map(|a| {
            let (u, p) = a.split_once(':').expect("auth string user:password");
            (u.to_string(), p.to_string())
        });
        let mut api = Api { http, base: server.url.clone(), auth, csrf: None, venv: server.venv.clone() };
        if server.csrf {
            let client = unique("harness");
            let tok = api.call("GET", &format!("/csrf-token?client={client}"), None);
            api.csrf = Some((tok["token"].as_str().expect("csrf token").to_string(), client));
        }
        api
    }

    /// One request, retried on 5xx/429 (SQLite servers answer 503 under load); panics on other errors.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        for attempt in 0..12 {
            let mut req = self.http.request(method.parse().expect("method"), &url);
            if let Some((u, p)) = &self.auth {
                req = req.basic_auth(u, Some(p));
            }
            if let Some((token, client)) = &self.csrf {
                req = req.header("Prefect-Csrf-Token", token).header("Prefect-Csrf-Client", client);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            match req.send() {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().unwrap_or_default();
                    if status.is_success() {
                        return if text.is_empty() {
                            Value::Null
                        } else {
                            serde_json::from_str(&text).unwrap_or(Value::Null)
                        };
                    }
                    if !(status.is_server_error() || status.as_u16() == 429) || attempt == 11 {
                        panic!("{method} {path} -> {status}: {text}");
                    }
                }
                Err(e) if attempt == 11 => panic!("{method} {path}: {e}"),
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(250 * (attempt + 1)));
        }
        unreachable!()
    }

    pub fn get(&self, path: &str) -> Value {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        self.call("POST", path, Some(body))
    }

    pub fn patch(&self, path: &str, body: Value) -> Value {
        self.call("PATCH", path, Some(body))
    }

    /// A fresh work pool of `ty` (process unless a test needs another type).
    pub fn pool(&self, prefix: &str, ty: &str) -> Pool {
        let name = unique(prefix);
        self.post("/work_pools/", json!({"name": name, "type": ty}));
        Pool { name }
    }

    /// A process pool whose job template runs `command` instead of the flow: Prefect's own default
    /// template (printed by the installed Prefect), with the command variable's default replaced.
    pub fn process_pool_with_command(&self, prefix: &str, command: &str) -> Pool {
        let name = unique(prefix);
        let mut template = default_process_template(&self.venv);
        template["variables"]["properties"]["command"]["default"] = json!(command);
        self.post("/work_pools/", json!({"name": name, "type": "process", "base_job_template": template}));
        Pool { name }
    }

    pub fn queue(&self, pool: &Pool, name: &str) -> Value {
        self.post(&format!("/work_pools/{}/queues", pool.name), json!({"name": name}))
    }

    pub fn queue_id(&self, pool: &Pool, name: &str) -> String {
        let q = self.get(&format!("/work_pools/{}/queues/{name}", pool.name));
        q["id"].as_str().expect("queue id").to_string()
    }

    /// A deployment of a fresh flow in `pool`/`queue`.
    pub fn deployment(&self, pool: &Pool, queue: &str) -> Deployment {
        self.deployment_with(pool, queue, json!({}))
    }

    /// A deployment with extra fields (job_variables, path, entrypoint, concurrency...).
    pub fn deployment_with(&self, pool: &Pool, queue: &str, extra: Value) -> Deployment {
        let flow_name = unique("flow");
        let flow = self.post("/flows/", json!({"name": flow_name}));
        let name = unique("dep");
        let mut body = json!({
            "name": name,
            "flow_id": flow["id"],
            "work_pool_name": pool.name,
            "work_queue_name": queue,
            "entrypoint": "flows.py:hello",
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let dep = self.post("/deployments/", body);
        Deployment { id: dep["id"].as_str().expect("deployment id").to_string() }
    }

    /// A run of `dep` scheduled `offset_secs` from now (negative: in the past, so it is late).
    pub fn run(&self, dep: &Deployment, offset_secs: i64) -> Run {
        self.run_with(dep, offset_secs, json!({}))
    }

    /// A run scheduled `secs_ago` in the past, returned once the server's late-runs service has
    /// marked it Late (it does so 15 s after the scheduled time, checking every 5 s).
    pub fn late_run(&self, dep: &Deployment, secs_ago: i64) -> Run {
        let run = self.run(dep, -secs_ago);
        // The service lags when the machine is busy (the suite runs workers in parallel).
        super::wait_for("the server to mark the run Late", Duration::from_secs(150), || {
            (self.run_state(&run).1 == "Late").then_some(())
        });
        run
    }

    pub fn run_with(&self, dep: &Deployment, offset_secs: i64, extra: Value) -> Run {
        let when = ts(offset_secs);
        let mut body = json!({"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": when}}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let run = self.post(&format!("/deployments/{}/create_flow_run", dep.id), body);
        Run {
            id: run["id"].as_str().expect("run id").to_string(),
            name: run["name"].as_str().expect("run name").to_string(),
        }
    }

    /// Proposes a state the way a worker or engine does (no force): the server may refuse it.
    pub fn propose_state(&self, run: &Run, state: Value) -> Value {
        self.post(&format!("/flow_runs/{}/set_state", run.id), json!({"state": state}))
    }

    /// Writes a line to the run's logs, as a worker or an observer does.
    pub fn log(&self, run: &Run, logger: &str, level: u8, message: &str) {
        let line =
            json!({"name": logger, "level": level, "message": message, "timestamp": ts(0), "flow_run_id": run.id});
        self.post("/logs/", json!([line]));
    }

    pub fn set_pool_limit(&self, pool: &Pool, limit: u32) {
        self.patch(&format!("/work_pools/{}", pool.name), json!({"concurrency_limit": limit}));
    }

    pub fn set_queue_limit(&self, pool: &Pool, queue: &str, limit: u32) {
        let id = self.queue_id(pool, queue);
        self.patch(&format!("/work_queues/{id}"), json!({"concurrency_limit": limit}));
    }

    /// Waits until a line containing `text` has reached the run's logs (workers ship logs in batches).
    pub fn wait_log(&self, run: &Run, text: &str) {
        super::wait_for(&format!("a log line with {text:?}"), Duration::from_secs(30), || {
            let logs = self.post("/logs/filter", json!({"logs": {"flow_run_id": {"any_": [run.id]}}, "limit": 200}));
            logs.as_array()?.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains(text))).then_some(())
        });
    }

    /// The run's infrastructure pid once a worker has recorded it (`host:pid` on Prefect 2).
    pub fn wait_infra_pid(&self, run: &Run, timeout: Duration) -> u32 {
        super::wait_for("the worker to record the run's infrastructure", timeout, || self.infra_pid(run))
    }

    /// The run's infrastructure pid if a worker has recorded one.
    pub fn infra_pid(&self, run: &Run) -> Option<u32> {
        let pid = self.get(&format!("/flow_runs/{}", run.id))["infrastructure_pid"].as_str().map(str::to_string)?;
        pid.rsplit(':').next().and_then(|p| p.parse().ok())
    }

    pub fn set_state(&self, run: &Run, state: Value) {
        let r = self.post(&format!("/flow_runs/{}/set_state", run.id), json!({"state": state, "force": true}));
        assert_eq!(r["status"], "ACCEPT", "set_state {state}: {r}");
    }

    /// A worker heartbeat (what `prefect worker start` sends), with its interval.
    pub fn heartbeat(&self, pool: &Pool, worker: &str, interval_secs: u64) {
        self.post(
            &format!("/work_pools/{}/workers/heartbeat", pool.name),
            json!({"name": worker, "heartbeat_interval_seconds": interval_secs}),
        );
    }

    /// Polls the pool's named queues the way a worker does, and waits until the server has recorded
    /// the poll (Prefect 3 records it in a background task).
    pub fn poll(&self, pool: &Pool, queues: &[&str]) {
        let before = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
        self.post(&format!("/work_pools/{}/get_scheduled_flow_runs", pool.name), json!({"work_queue_names": queues}));
        for q in queues {
            super::wait_for(&format!("queue {q} to be marked polled"), Duration::from_secs(30), || {
                let polled = self.get(&format!("/work_pools/{}/queues/{q}", pool.name))["last_polled"]
                    .as_str()
                    .map(str::to_string)?;
                (polled.parse::<jiff::Timestamp>().ok()? >= before).then_some(())
            });
        }
    }

    pub fn pause_pool(&self, pool: &Pool) {
        self.patch(&format!("/work_pools/{}", pool.name), json!({"is_paused": true}));
    }

    pub fn pause_queue(&self, pool: &Pool, queue: &str) {
        let id = self.queue_id(pool, queue);
        self.patch(&format!("/work_queues/{id}"), json!({"is_paused": true}));
    }

    pub fn pause_deployment(&self, dep: &Deployment) {
        self.patch(&format!("/deployments/{}", dep.id), json!({"paused": true}));
    }

    pub fn delete_deployment(&self, dep: &Deployment) {
        self.call("DELETE", &format!("/deployments/{}", dep.id), None);
    }

    pub fn run_state(&self, run: &Run) -> (String, String) {
        let r = self.get(&format!("/flow_runs/{}", run.id));
        (r["state_type"].as_str().unwrap_or("").to_string(), r["state_name"].as_str().unwrap_or("").to_string())
    }
}
