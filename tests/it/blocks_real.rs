//! Prefect 2 deployments with real infrastructure block documents (KubernetesJob, ECSTask, Process)
//! on the real Prefect 2 server: the block is read (read-only, secrets never shown), described in the
//! header, and a KubernetesJob block's namespace tells the Kubernetes locator where to look.

use serde_json::{Value, json};

use crate::ecs_real::{
    REPLAY_THRESHOLD_SECS, doctor as doctor_ecs, materialise as materialise_ecs, scenario_meta, source,
};
use crate::harness::kube_api::KubeApi;
use crate::harness::{self, api::Api, api::Pool, unique};
use crate::k8s_real::{THRESHOLD_SECS, doctor as doctor_kube, kube_source, materialise, meta};

const PLANTED: &str = "pnu_plantedBlockEnvKey0123456789abcd";

/// Creates a block document of the block type `slug` with `data`; returns its id.
fn block(api: &Api, slug: &str, data: Value) -> String {
    let bt = api.get(&format!("/block_types/slug/{slug}"));
    let schemas = api.post("/block_schemas/filter", json!({"block_schemas": {"block_type_id": {"any_": [bt["id"]]}}}));
    let schema = schemas.as_array().and_then(|s| s.first()).cloned().expect("a schema for the block type");
    let doc = api.post(
        "/block_documents/",
        json!({"name": unique(slug), "block_type_id": bt["id"], "block_schema_id": schema["id"], "data": data}),
    );
    doc["id"].as_str().expect("block document id").to_string()
}

fn agent_pool(api: &Api) -> Pool {
    let name = unique("blocks");
    api.post("/work_pools/", json!({"name": name, "type": "prefect-agent"}));
    Pool { name }
}

/// Each block type is read and described in the header (text and JSON); the env values it sets
/// (a PREFECT_API_KEY among them) never appear, its env names do.
#[test]
fn infrastructure_blocks_are_described() {
    let s = harness::p2();
    let api = s.api();
    let pool = agent_pool(&api);
    for (slug, data, want) in [
        (
            "kubernetes-job",
            json!({"namespace": "flows", "image": "acme/etl:1.0", "env": {"PREFECT_API_KEY": PLANTED, "EXTRA": "x"}}),
            "Kubernetes Job block",
        ),
        (
            "ecs-task",
            json!({"cluster": "prod-cluster", "image": "acme/etl:1.0", "env": {"PREFECT_API_KEY": PLANTED}}),
            "ECS Task block",
        ),
        (
            "process",
            json!({"command": ["python", "-m", "prefect.engine"], "env": {"PREFECT_API_KEY": PLANTED}}),
            "Process block",
        ),
    ] {
        let id = block(&api, slug, data);
        let dep = api.deployment_with(&pool, "default", json!({"infrastructure_document_id": id}));
        let run = api.run(&dep, 3600);
        let bundle = harness::TempDir::new("block-bundle");
        let path = bundle.path().join("b.json");
        let out = s.unstuck(&["doctor", &run.id, "-o", "json", "--save-evidence", path.to_str().expect("utf8")]);
        let v = out.json();
        let infra = v["target"]["infrastructure"].as_str().unwrap_or_default().to_string();
        assert!(infra.starts_with(want), "{slug}: {infra}");
        let table = s.unstuck(&["doctor", &run.id, "--color", "never"]);
        assert!(table.stdout.contains(&format!("Infra     {infra}")), "{slug}: {}", table.stdout);
        let saved = std::fs::read_to_string(&path).expect("bundle");
        assert!(saved.contains("PREFECT_API_KEY"), "{slug}: env names are kept");
        for text in [&out.stdout, &table.stdout, &saved] {
            assert!(!text.contains(PLANTED), "{slug}: the block's env value leaked");
        }
        match slug {
            "kubernetes-job" => {
                assert!(infra.contains("namespace flows") && infra.contains("image acme/etl:1.0"), "{infra}")
            }
            "ecs-task" => assert!(infra.contains("cluster prod-cluster"), "{infra}"),
            _ => assert!(infra.contains("command python -m prefect.engine"), "{infra}"),
        }
    }
}

/// A KubernetesJob block's namespace is where the Kubernetes locator searches when the run recorded
/// no Job: the recorded "worker may not create Jobs in namespace flows" scenario is found there.
#[test]
fn kubernetes_job_block_namespace_locates_the_run() {
    let s = harness::p2();
    let api = s.api();
    let pool = agent_pool(&api);
    let id = block(&api, "kubernetes-job", json!({"namespace": "flows", "image": "acme/etl:1.0"}));
    let dep = api.deployment_with(&pool, "default", json!({"infrastructure_document_id": id}));
    let run = api.run(&dep, -60);
    api.set_state(&run, json!({"type": "PENDING", "name": "Pending"}));
    for line in meta("forbidden-worker-rbac")["worker_log_lines"].as_array().into_iter().flatten() {
        api.log(&run, "prefect.flow_runs.worker", 40, line.as_str().unwrap_or_default());
    }
    let dir = materialise("forbidden-worker-rbac", &run.id);
    std::thread::sleep(std::time::Duration::from_secs(THRESHOLD_SECS + 1));
    let kube = KubeApi::start(dir.path());
    let out = doctor_kube(s, &kube, dir.path(), &run, &[]);
    let v = out.json();
    let seen: Vec<String> = kube.seen().iter().map(|r| r.path.clone()).collect();
    assert!(seen.iter().any(|p| p.starts_with("/apis/batch/v1/namespaces/flows/jobs")), "searched flows: {seen:#?}");
    assert_eq!(kube_source(&v)["status"], "collected", "{v:#}");
    assert_eq!(v["verdict"]["primary"], "k8s.forbidden", "{v:#}");
}

/// Prefect 2 and ECS: an ECSTask block's cluster is where the ECS locator searches by the run's tag
/// when the run recorded no task (the recorded PROVISIONING task is found among the cluster's), and a
/// Prefect 2 run whose `infrastructure_pid` is `<cluster>::<task arn>` is read by the pid; each names
/// its ECS cause.
#[test]
fn ecs_task_block_and_prefect2_pid_locate_the_task() {
    let s = harness::p2();
    let api = s.api();
    let pool = agent_pool(&api);
    let by_tag = {
        let m = scenario_meta("capacity-provisioning");
        let id = block(&api, "ecs-task", json!({"cluster": m["cluster"], "image": "acme/etl:1.0"}));
        let dep = api.deployment_with(&pool, "default", json!({"infrastructure_document_id": id}));
        let run = api.run(&dep, -60);
        api.set_state(&run, json!({"type": "PENDING", "name": "Pending"}));
        let dir = materialise_ecs("capacity-provisioning", &run.id);
        (run, dir, "ecs.capacity")
    };
    let by_pid = {
        let m = scenario_meta("image-pull-not-found");
        let dep = api.deployment(&pool, "default");
        let run = api.run(&dep, -60);
        api.set_state(&run, json!({"type": "PENDING", "name": "Pending"}));
        api.patch(&format!("/flow_runs/{}", run.id), json!({"infrastructure_pid": m["infrastructure_pid"]}));
        let dir = materialise_ecs("image-pull-not-found", &run.id);
        (run, dir, "ecs.image-pull")
    };
    std::thread::sleep(std::time::Duration::from_secs(REPLAY_THRESHOLD_SECS + 1));
    let threshold = format!("{REPLAY_THRESHOLD_SECS}s");
    for (run, dir, want) in [by_tag, by_pid] {
        let server = harness::ecs_api::EcsApi::start(dir.path());
        let out = doctor_ecs(s, &server.url, &run, &["--pending-threshold", &threshold]);
        let v = out.json();
        assert_eq!(source(&v, "ecs").map(|e| e["status"].clone()), Some(json!("collected")), "{want}: {v:#}");
        assert_eq!(v["verdict"]["primary"], want, "{}", out.stdout);
        out.expect_code(2);
        let seen = server.seen();
        match want {
            "ecs.capacity" => {
                assert!(seen.iter().any(|o| o == "ListTasks"), "searched by tag: {seen:?}");
                let detail = source(&v, "ecs").and_then(|e| e["detail"].as_str()).unwrap_or_default().to_string();
                assert!(detail.contains("in cluster prefect-flows"), "the block's cluster: {detail}");
            }
            _ => assert!(!seen.iter().any(|o| o == "ListTasks"), "read by the pid alone: {seen:?}"),
        }
    }
}
