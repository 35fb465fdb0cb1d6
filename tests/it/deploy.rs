//! The shipped least-privilege grants agree with the read-only policy both ways (SPEC 3, 11): every
//! rule is something the policy allows, and everything the collectors send (`KUBE_GRANTS`) is granted.

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
