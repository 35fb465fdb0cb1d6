//! Prefect 2 agents, for real: `prefect agent start` processes from the Prefect 2.20.26 virtualenv
//! against the real Prefect 2 server. Agents leave no worker rows; what they leave is each polled
//! queue's `last_polled`, and that is what unstuck judges.

use serde_json::{Value, json};

use crate::harness::{self, Server, agent::AgentProc, api::Pool, unique};

fn item<'a>(v: &'a Value, id: &str) -> (&'a str, &'a str) {
    let e = v["checklist"].as_array().and_then(|c| c.iter().find(|e| e["id"] == id)).expect("checklist item");
    (e["status"].as_str().unwrap_or_default(), e["detail"].as_str().unwrap_or_default())
}

fn agent_pool(s: &Server) -> Pool {
    let name = unique("agents");
    s.api().post("/work_pools/", json!({"name": name, "type": "prefect-agent"}));
    Pool { name }
}

/// An agent pool with a deployment on its `default` queue and a live agent that has polled it.
fn polled_pool(s: &Server) -> (Pool, harness::api::Deployment, AgentProc) {
    let api = s.api();
    let pool = agent_pool(s);
    let dep = api.deployment(&pool, "default");
    let agent = AgentProc::start(s, &["--pool", &pool.name, "--work-queue", "default"]);
    agent.wait_polled(&api, &pool.name, "default");
    (pool, dep, agent)
}

fn doctor(s: &Server, run: &str) -> harness::Out {
    s.unstuck(&["doctor", run, "-o", "json", "--late-threshold", "1s"])
}

/// An agent pool nobody ever started an agent for: agent.none, not worker.none, and the fix starts
/// an agent on the run's queue; unstuck itself never polls (last_polled stays empty).
#[test]
fn no_agent_ever() {
    let s = harness::p2();
    let api = s.api();
    let pool = agent_pool(s);
    let dep = api.deployment(&pool, "default");
    let run = api.run(&dep, -120);
    let out = doctor(s, &run.id);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "agent.none", "{v:#}");
    let f = &v["findings"][0];
    assert!(f["detail"].as_str().unwrap_or_default().contains("has ever been polled"), "{f}");
    assert_eq!(
        f["remediation"][0],
        format!("Start an agent for the run's queue: prefect agent start --pool {} --work-queue default", pool.name)
    );
    assert_eq!(item(&v, "worker-alive").0, "fail");
    let q = api.get(&format!("/work_pools/{}/queues/default", pool.name));
    assert!(q["last_polled"].is_null(), "unstuck polled the queue: {q}");
}

/// `prefect agent start --match prod-…` polls only the matching queues of default-agent-pool; a
/// deployment with no work pool whose queue does not match is never picked up: queue.not-polled with
/// the agent wording and the prefix the agent was started with.
#[test]
fn agent_match_misses_the_runs_queue() {
    let s = harness::p2();
    let api = s.api();
    let prefix = format!("{}-", unique("prod"));
    for q in ["a", "b"] {
        api.post("/work_queues/", json!({"name": format!("{prefix}{q}")}));
    }
    let queue = unique("etl");
    api.post("/work_queues/", json!({"name": queue}));
    let flow = api.post("/flows/", json!({"name": unique("flow")}));
    let dep = api.post(
        "/deployments/",
        json!({"name": unique("dep"), "flow_id": flow["id"], "work_queue_name": queue, "entrypoint": "flows.py:hello"}),
    );
    let dep = harness::api::Deployment { id: dep["id"].as_str().expect("id").to_string() };
    let run = api.run(&dep, -120);
    let agent = AgentProc::start(s, &["--match", &prefix]);
    agent.wait_polled(&api, "default-agent-pool", &format!("{prefix}a"));
    let out = doctor(s, &run.id);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "queue.not-polled", "{v:#}\nagent log:\n{}", agent.log());
    let f = &v["findings"][0];
    assert_eq!(f["title"], format!("No agent polls queue '{queue}' of agent pool 'default-agent-pool'"));
    assert!(f["detail"].as_str().unwrap_or_default().contains("--match 'prod-"), "{f}");
    assert!(f["detail"].as_str().unwrap_or_default().contains("deployments that name no work pool"), "{f}");
    assert_eq!(f["remediation"][0], format!("Start an agent for this queue: prefect agent start --work-queue {queue}"));
    assert!(agent.log().contains("Matched new work queues"), "{}", agent.log());
}

/// An agent polled the pool, then died (SIGKILL); its last poll is back-dated three minutes, as if
/// it died then: agent.none says how long ago the pool was last polled.
#[test]
fn agent_killed_after_polling() {
    let s = harness::p2();
    let api = s.api();
    let (pool, dep, mut agent) = polled_pool(s);
    agent.kill();
    // A poll the agent sent just before it died may reach the server after the back-dating: back-date
    // until the queue keeps it.
    let queue = format!("/work_pools/{}/queues/default", pool.name);
    harness::wait_for("the queue to keep its back-dated last poll", std::time::Duration::from_secs(20), || {
        let three_min_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(180)).to_string();
        api.patch(&queue, json!({"last_polled": three_min_ago}));
        std::thread::sleep(std::time::Duration::from_millis(500));
        let polled: Option<jiff::Timestamp> = api.get(&queue)["last_polled"].as_str().and_then(|t| t.parse().ok());
        polled.filter(|t| jiff::Timestamp::now().duration_since(*t).as_secs() >= 170).map(|_| ())
    });
    let run = api.run(&dep, -120);
    let out = doctor(s, &run.id);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "agent.none", "{v:#}");
    let f = &v["findings"][0];
    assert!(f["detail"].as_str().unwrap_or_default().contains("has been polled for 3m"), "{f}");
    // "3m ago", or "3m 1s ago" on a slow machine: the back-dating is to the second, the check a little later.
    let evidence = f["evidence"][0].as_str().unwrap_or_default();
    assert!(evidence.starts_with("queue 'default': last polled 3m") && evidence.ends_with(" ago"), "{evidence}");
}

/// A live agent polls the run's queue and the run is due in an hour: not stuck, and the worker-alive
/// item passes from the queue polls.
#[test]
fn healthy_agent_run_is_not_stuck() {
    let s = harness::p2();
    let api = s.api();
    let (_pool, dep, agent) = polled_pool(s);
    let run = api.run(&dep, 3600);
    let out = doctor(s, &run.id);
    out.expect_code(0);
    let v = out.json();
    assert_eq!(v["verdict"]["status"], "ok", "{v:#}");
    let (status, detail) = item(&v, "worker-alive");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("agents poll 1 queue of the pool"), "{detail}");
    drop(agent);
}

/// Two real agents poll one queue every second; `--observe` measures the queue's polls and names the
/// over-polling with the agent wording and Prefect's agent default, and the poll pattern shows the
/// second agent (`pollers.duplicate`, with the poll times). One agent alone shows no such pattern.
///
/// The pattern is statistical: two agents whose polls land within one 0.5 s sample of each other
/// look like one. Each window of 12 s finds them about nine times in ten (a simulation of Prefect's
/// clamped-Poisson poll jitter), so up to four windows are observed; every one of them must name the
/// over-polling.
#[test]
fn two_agents_on_one_queue_observed() {
    let s = harness::p2();
    let api = s.api();
    let (pool, dep, first) = polled_pool(s);
    // Due in an hour, so the agents leave it alone while they are observed.
    let run = api.run(&dep, 3600);
    let finding =
        |v: &Value, id: &str| v["findings"].as_array().and_then(|f| f.iter().find(|f| f["id"] == id)).cloned();
    let alone = s.unstuck(&["doctor", &run.id, "-o", "json", "--observe", "10s"]).json();
    assert_eq!(finding(&alone, "pollers.duplicate"), None, "one agent is not two: {alone:#}");

    let second = AgentProc::start(s, &["--pool", &pool.name, "--work-queue", "default"]);
    second.wait_polled(&api, &pool.name, "default");
    let mut duplicate = None;
    for _ in 0..4 {
        let v = s.unstuck(&["doctor", &run.id, "-o", "json", "--observe", "12s"]).json();
        let f = finding(&v, "poll.too-frequent");
        let f = f.unwrap_or_else(|| panic!("poll.too-frequent: {v:#}\nagent log:\n{}", second.log()));
        assert_eq!(
            f["title"],
            format!("The agents of pool '{}' poll far more often than Prefect's default", pool.name)
        );
        let evidence = f["evidence"].to_string();
        assert!(evidence.contains("queue 'default': polled") && evidence.contains("(default 15s)"), "{evidence}");
        assert!(f["remediation"][0].as_str().unwrap_or_default().contains("PREFECT_AGENT_QUERY_INTERVAL"), "{f}");
        duplicate = finding(&v, "pollers.duplicate");
        if duplicate.is_some() {
            break;
        }
    }
    let d = duplicate.expect("pollers.duplicate in one of four observed windows");
    assert_eq!(d["title"], "More than one agent appears to poll queue 'default'", "{d}");
    assert_eq!(d["kind"], "risk", "{d}");
    assert!(d["evidence"][0].as_str().unwrap_or_default().starts_with("queue 'default' polled at "), "{d}");
    assert!(d["remediation"][0].as_str().unwrap_or_default().contains("prefect agent start --pool"), "{d}");
    drop((first, second));
}

/// A real agent runs a deployment whose Process block's command (`true`) exits 0 without running the
/// flow: the run stays Pending with the agent's `<host>:<pid>`, and "Process '…' exited cleanly." goes to
/// the agent's own output only. run.infra-not-started names a clean exit as its first suspicion.
#[test]
fn agent_process_exits_cleanly() {
    let s = harness::p2();
    let api = s.api();
    let pool = agent_pool(s);
    let bt = api.get("/block_types/slug/process");
    let schemas = api.post("/block_schemas/filter", json!({"block_schemas": {"block_type_id": {"any_": [bt["id"]]}}}));
    let doc = api.post(
        "/block_documents/",
        json!({"name": unique("process"), "block_type_id": bt["id"], "block_schema_id": schemas[0]["id"], "data": {"command": ["true"]}}),
    );
    let dep = api.deployment_with(&pool, "default", json!({"infrastructure_document_id": doc["id"]}));
    let run = api.run(&dep, -1);
    let agent = AgentProc::start(s, &["--pool", &pool.name, "--work-queue", "default"]);
    api.wait_infra_pid(&run, std::time::Duration::from_secs(90));
    harness::wait_for("the agent to see the process exit", std::time::Duration::from_secs(60), || {
        agent.log().contains("exited cleanly").then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = s.unstuck(&["doctor", &run.id, "-o", "json", "--pending-threshold", "1s"]);
    out.expect_code(2);
    let v = out.json();
    assert_eq!(v["verdict"]["primary"], "run.infra-not-started", "{v:#}");
    let detail = v["findings"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("first suspicion: the process exited cleanly"), "{detail}");
    assert!(v["target"]["infrastructure"].as_str().unwrap_or_default().starts_with("Process block"), "{v:#}");
    drop(agent);
}
