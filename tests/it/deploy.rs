//! The shipped least-privilege grants agree with the read-only policy both ways (SPEC 3, 11): every
//! rule is something the policy allows, and everything the collectors send (`KUBE_GRANTS`) is granted.
//! The exporter's Deployment runs under the account those grants are bound to, on the port it probes.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use unstuck::policy::{self, KUBE_GRANTS, Op};

type Grant = (String, String, String, Option<String>);

#[derive(Deserialize)]
struct Doc {
    kind: String,
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
}

/// The (verb, group, resource, subresource) each `kind` document of a manifest grants.
fn grants(file: &str, kind: &str) -> BTreeSet<Grant> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeSet::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let doc = Doc::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}"));
        if doc.kind != kind {
            continue;
        }
        for rule in doc.rules {
            for g in &rule.api_groups {
                for r in &rule.resources {
                    let (resource, sub) = match r.split_once('/') {
                        Some((r, s)) => (r.to_string(), Some(s.to_string())),
                        None => (r.clone(), None),
                    };
                    for v in &rule.verbs {
                        assert_ne!(v, "*", "{file}: no wildcard verbs");
                        assert_ne!(r, "*", "{file}: no wildcard resources");
                        out.insert((v.clone(), g.clone(), resource.clone(), sub.clone()));
                    }
                }
            }
        }
    }
    assert!(!out.is_empty(), "{file} has a {kind}");
    out
}

fn sent() -> BTreeSet<Grant> {
    KUBE_GRANTS
        .iter()
        .map(|(v, g, r, s)| (v.to_string(), g.to_string(), r.to_string(), s.map(str::to_string)))
        .collect()
}

fn allowed(g: &Grant) -> bool {
    policy::check(&Op::Kube { verb: &g.0, group: &g.1, resource: &g.2, subresource: g.3.as_deref() }).is_ok()
}

/// Cluster-scoped resources a namespaced Role cannot grant.
const CLUSTER_SCOPED: &[&str] = &["nodes", "subjectaccessreviews"];

#[test]
fn cluster_role_is_exactly_what_the_collector_sends() {
    let granted = grants("rbac.yaml", "ClusterRole");
    for g in &granted {
        assert!(allowed(g), "rbac.yaml grants {g:?}, which the read-only policy refuses");
    }
    assert_eq!(granted, sent(), "rbac.yaml and KUBE_GRANTS differ");
}

#[test]
fn namespaced_role_is_the_same_minus_cluster_scoped_reads() {
    let granted = grants("role-namespaced.yaml", "Role");
    for g in &granted {
        assert!(allowed(g), "role-namespaced.yaml grants {g:?}, which the read-only policy refuses");
    }
    let want: BTreeSet<Grant> = sent().into_iter().filter(|g| !CLUSTER_SCOPED.contains(&g.2.as_str())).collect();
    assert_eq!(granted, want, "role-namespaced.yaml and KUBE_GRANTS differ");
}

/// deploy/aws/iam-policy.json grants exactly the AWS actions the ECS collector calls (`AWS_ACTIONS`),
/// each of which the read-only policy allows; nothing is a wildcard.
#[test]
fn iam_policy_is_exactly_what_the_collector_calls() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/aws/iam-policy.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("iam-policy.json")).expect("JSON");
    let mut granted = BTreeSet::new();
    for st in doc["Statement"].as_array().expect("statements") {
        assert_eq!(st["Effect"], "Allow");
        for a in st["Action"].as_array().expect("actions") {
            let a = a.as_str().expect("action");
            assert!(!a.contains('*'), "no wildcard actions: {a}");
            let (service, operation) = a.split_once(':').expect("service:Operation");
            assert!(policy::check(&Op::Aws { service, operation }).is_ok(), "{a} is refused by the policy");
            granted.insert((service.to_string(), operation.to_string()));
        }
    }
    let calls: BTreeSet<(String, String)> =
        unstuck::policy::AWS_ACTIONS.iter().map(|(s, o)| (s.to_string(), o.to_string())).collect();
    assert_eq!(granted, calls, "iam-policy.json and AWS_ACTIONS differ");
}

/// Every document of a manifest, as YAML values.
fn documents(file: &str) -> Vec<serde_yaml::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_yaml::Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

fn one<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
    let of_kind: Vec<_> = docs.iter().filter(|d| d["kind"].as_str() == Some(kind)).collect();
    assert_eq!(of_kind.len(), 1, "one {kind}");
    of_kind[0]
}

fn str_of(v: &serde_yaml::Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// A container port given by name or number, as its number.
fn port_number(container: &serde_yaml::Value, port: &serde_yaml::Value) -> u64 {
    match port.as_u64() {
        Some(n) => n,
        None => {
            let ports = container["ports"].as_sequence().expect("container ports");
            let named = ports.iter().find(|p| p["name"] == *port).unwrap_or_else(|| panic!("no port named {port:?}"));
            named["containerPort"].as_u64().expect("containerPort")
        }
    }
}

/// deploy/kubernetes/serve.yaml runs `unstuck serve` under the ServiceAccount rbac.yaml binds, in its
/// namespace, listening on every address; its probes hit /healthz on the served port; its Service (with
/// the prometheus.io annotations) targets that port; nothing runs as root or writes its filesystem, and
/// no secret value is written in it.
#[test]
fn serve_deployment_runs_serve_under_the_bound_account() {
    let rbac = documents("rbac.yaml");
    let account = one(&rbac, "ServiceAccount");
    let binding = one(&rbac, "ClusterRoleBinding");
    let bound = binding["subjects"].as_sequence().expect("subjects");
    let name = str_of(&account["metadata"]["name"]);
    let namespace = str_of(&account["metadata"]["namespace"]);
    assert!(bound.iter().any(|s| s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace));

    let docs = documents("serve.yaml");
    let deployment = one(&docs, "Deployment");
    assert_eq!(str_of(&deployment["metadata"]["namespace"]), namespace);
    let pod = &deployment["spec"]["template"];
    assert_eq!(str_of(&pod["spec"]["serviceAccountName"]), name, "the account rbac.yaml binds");
    let containers = pod["spec"]["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let argv: Vec<&str> = [&c["command"], &c["args"]]
        .into_iter()
        .flat_map(|v| v.as_sequence().into_iter().flatten())
        .map(str_of)
        .collect();
    assert_eq!(&argv[..2], ["unstuck", "serve"], "{argv:?}");
    let listen = argv.windows(2).find(|w| w[0] == "--listen").map(|w| w[1]).expect("--listen");
    let (host, port) = listen.rsplit_once(':').expect("IP:PORT");
    assert_eq!(host, "0.0.0.0", "reachable from the kubelet and Prometheus");
    let served: u64 = port.parse().expect("port");

    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &c[probe]["httpGet"];
        assert_eq!(str_of(&get["path"]), "/healthz", "{probe}");
        assert_eq!(port_number(c, &get["port"]), served, "{probe} port");
    }
    for r in ["requests", "limits"] {
        for what in ["cpu", "memory"] {
            assert!(c["resources"][r][what].as_str().is_some(), "resources.{r}.{what}");
        }
    }
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    let sc = &c["securityContext"];
    assert_eq!((&sc["allowPrivilegeEscalation"], &sc["readOnlyRootFilesystem"]), (&false.into(), &true.into()));
    let env = c["env"].as_sequence().expect("env");
    assert!(env.iter().all(|e| e.get("value").is_none()), "values come from a Secret, never written here");
    let url = env.iter().find(|e| e["name"] == "PREFECT_API_URL").expect("PREFECT_API_URL");
    assert!(url["valueFrom"]["secretKeyRef"]["name"].as_str().is_some(), "PREFECT_API_URL from a Secret");

    let service = one(&docs, "Service");
    assert_eq!(str_of(&service["metadata"]["namespace"]), namespace);
    let labels = &pod["metadata"]["labels"];
    let selector = service["spec"]["selector"].as_mapping().expect("selector");
    assert!(selector.iter().all(|(k, v)| labels[k] == *v), "the Service selects the pods");
    let ports = service["spec"]["ports"].as_sequence().expect("service ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(port_number(c, &ports[0]["targetPort"]), served, "the Service targets the served port");
    let notes = &service["metadata"]["annotations"];
    assert_eq!(str_of(&notes["prometheus.io/scrape"]), "true");
    assert_eq!(str_of(&notes["prometheus.io/path"]), "/metrics");
    assert_eq!(str_of(&notes["prometheus.io/port"]), ports[0]["port"].as_u64().expect("port").to_string());
}
