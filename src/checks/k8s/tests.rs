//! Scenario tests over the recorded fixtures, plus the parsers and the model's leniency.

use std::collections::HashSet;

use super::testkit::{load_scenario, scenarios};
use super::*;
use crate::checks::{Item, ItemStatus};
use crate::evidence::kube::{EventV1, JobRef, KubeEvidence, List, Pod, parse_quantity};

/// Every id of SPEC 7's Kubernetes table, plus infra.exited-cleanly for a Job.
fn spec_ids() -> Vec<&'static str> {
    crate::checks::testkit::SPEC_IDS
        .iter()
        .copied()
        .filter(|id| id.starts_with("k8s.") || *id == "infra.exited-cleanly")
        .collect()
}

fn all_text(f: &crate::checks::Finding) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}",
        f.title,
        f.detail,
        f.evidence.join("\n"),
        f.remediation.join("\n"),
        f.subject.clone().unwrap_or_default()
    )
}

/// Each check id is registered once, documented, and SPEC 7's Kubernetes table is covered exactly.
#[test]
fn catalogue_is_complete_and_unique() {
    let mut seen = HashSet::new();
    for c in CHECKS {
        assert!(seen.insert(c.id), "duplicate {}", c.id);
        assert!(spec_ids().contains(&c.id), "{} not in SPEC 7", c.id);
        assert!(
            !c.title.is_empty() && c.explanation.contains("What it does") && c.explanation.contains("Why it matters"),
            "{} docs",
            c.id
        );
        assert!(!c.remediation.is_empty(), "{} remediation", c.id);
        assert_eq!(c.backend, crate::checks::Backend::Infrastructure);
    }
    for id in spec_ids() {
        assert!(seen.contains(id), "{id} not implemented");
    }
    assert_eq!(REGISTRY.len() + 1, CHECKS.len(), "registry and CHECKS disagree");
    for (r, c) in REGISTRY.iter().zip(CHECKS.iter()) {
        assert_eq!(r.info.id, c.id, "REGISTRY and CHECKS orders differ");
    }
}

/// Every fixture scenario yields its expected primary finding, sub-class and quoted evidence.
#[test]
fn every_scenario_diagnoses_as_expected() {
    let dirs = scenarios();
    assert!(dirs.len() >= 37, "only {} scenarios", dirs.len());
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let (kube, meta) = load_scenario(&dir);
        let run = meta.view();
        let ranked = rank(run_all(&kube, &run));
        let ids: Vec<&str> = ranked.iter().map(|f| f.id).collect();
        let e = &meta.expect;
        match (&e.primary, ranked.first()) {
            (None, None) => {}
            (None, Some(f)) => failures.push(format!("{name}: expected no findings, got {ids:?} ({})", f.title)),
            (Some(p), None) => failures.push(format!("{name}: expected {p}, got nothing")),
            (Some(p), Some(f)) => {
                if f.id != p {
                    failures.push(format!("{name}: expected primary {p}, got {ids:?}"));
                    continue;
                }
                if let Some(d) = &e.detail_contains {
                    if !f.detail.contains(d.as_str()) && !f.title.contains(d.as_str()) {
                        failures.push(format!("{name}: detail lacks {d:?}: {}", f.detail));
                    }
                }
                if let Some(q) = &e.evidence_contains {
                    if !f.evidence.iter().any(|l| l.contains(q.as_str())) {
                        failures.push(format!("{name}: no evidence line quotes {q:?}: {:#?}", f.evidence));
                    }
                }
                if f.subject
                    .as_deref()
                    .is_none_or(|s| !(s.starts_with("pod/") || s.starts_with("job/") || s.starts_with("namespace/")))
                {
                    failures.push(format!("{name}: subject {:?}", f.subject));
                }
                if f.remediation.is_empty() {
                    failures.push(format!("{name}: no remediation"));
                }
            }
        }
        for a in &e.absent {
            if ids.contains(&a.as_str()) {
                failures.push(format!("{name}: {a} must not be reported, got {ids:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Other runs' Jobs and pods share every scenario's namespace and never leak into findings.
#[test]
fn other_runs_never_appear_in_findings() {
    let others = ["amber-otter", "jolly-heron", "brisk-lemur"];
    for dir in scenarios() {
        let (kube, meta) = load_scenario(&dir);
        for p in &kube.pods {
            assert_eq!(
                p.metadata.label(RUN_LABEL),
                Some(meta.run_id.as_str()),
                "{}: selector took {}",
                dir.display(),
                p.name()
            );
        }
        for f in run_all(&kube, &meta.view()) {
            let text = all_text(&f);
            for o in others {
                assert!(!text.contains(o), "{}: finding {} mentions another run's {o}", dir.display(), f.id);
            }
        }
    }
}

/// A collector that widened its selector still cannot make another run's pod a finding.
#[test]
fn checks_ignore_pods_labelled_for_another_run() {
    let dir = super::testkit::fixtures_dir().join("healthy-running");
    let (mut kube, meta) = load_scenario(&dir);
    let all: List<Pod> = serde_json::from_str(&std::fs::read_to_string(dir.join("pods.json")).unwrap_or_default())
        .unwrap_or(List { items: Vec::new() });
    kube.pods = all.items; // every pod of the namespace, including the ImagePullBackOff one of another run
    let findings = run_all(&kube, &meta.view());
    assert!(
        findings.iter().all(|f| f.id != "k8s.image-pull" && f.id != "k8s.oom-killed"),
        "{:?}",
        findings.iter().map(|f| f.id).collect::<Vec<_>>()
    );
}

/// Missing fields, nulls, wrong types and unknown enum values deserialize and never panic a check.
#[test]
fn odd_input_does_not_panic() {
    let pod = serde_json::json!({
        "metadata": {"name": "p", "labels": null, "creationTimestamp": "not a time", "futureField": {"x": 1}},
        "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": 512, "cpu": null}}}], "schedulingGates": []},
        "status": {"phase": "Quantum", "conditions": [{"type": "PodScheduled", "status": "Maybe", "reason": "Unschedulable"}],
                   "containerStatuses": [{"name": "c", "restartCount": "3", "state": {"waiting": {"reason": "ImagePullBackOff"}},
                                          "lastState": {"terminated": {"exitCode": 1.0}}}]}
    });
    let p: Pod = serde_json::from_value(pod).unwrap_or_else(|e| panic!("lenient pod: {e}"));
    assert_eq!(p.metadata.creation_timestamp, None);
    assert_eq!(p.all_statuses().next().and_then(|s| s.restart_count), Some(3));
    let event = serde_json::json!({"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "FailedScheduling",
                                   "message": "garbage with no header", "lastTimestamp": 12, "series": {"lastObservedTime": null}});
    let e: crate::evidence::kube::Event =
        serde_json::from_value(event).unwrap_or_else(|e| panic!("lenient event: {e}"));
    let kube = KubeEvidence { pods: vec![p.clone()], events: vec![e], worker_pod: Some(p), ..Default::default() };
    let lines = vec!["jobs.batch is forbidden: User \"".to_string(), String::new()];
    let run = RunView {
        run_id: "",
        state_type: "WEIRD",
        state_name: "",
        state_since: jiff::Timestamp::UNIX_EPOCH,
        saw_infrastructure_pending: false,
        now: jiff::Timestamp::UNIX_EPOCH,
        pending_threshold: std::time::Duration::MAX,
        worker_log_lines: &lines,
    };
    let findings = run_all(&kube, &run);
    let _ = checklist(&kube, &run, &findings);
    let empty = KubeEvidence::default();
    assert!(run_all(&empty, &run).is_empty(), "empty evidence, odd state: nothing to say");
    assert_eq!(checklist(&empty, &run, &[]).len(), 4);
}

/// cpu and memory quantities in every notation the API uses.
#[test]
fn quantities() {
    let cases = [
        ("500m", 0.5),
        ("2", 2.0),
        ("1Gi", 1073741824.0),
        ("128974848", 128974848.0),
        ("1e3", 1000.0),
        ("129M", 129e6),
        ("123Mi", 123.0 * 1048576.0),
        ("100Ki", 102400.0),
        ("2.5G", 2.5e9),
        ("250u", 0.00025),
        ("1E", 1e18),
    ];
    for (q, v) in cases {
        let got = parse_quantity(q).unwrap_or_else(|| panic!("{q} did not parse"));
        assert!((got - v).abs() <= v.abs() * 1e-12, "{q}: {got} != {v}");
    }
    for bad in ["", "Gi", "abc", "1.2.3Mi", "--1"] {
        assert_eq!(parse_quantity(bad), None, "{bad:?}");
    }
    assert_eq!(crate::evidence::kube::format_quantity("limits.memory", "7Gi"), "7Gi");
    assert_eq!(crate::evidence::kube::format_quantity("requests.cpu", "500m"), "500m");
    assert_eq!(crate::evidence::kube::format_quantity("memory", "536870912"), "512Mi");
}

/// The scheduler's "0/N nodes are available" messages, as real clusters print them.
#[test]
fn scheduler_messages() {
    let m = parse_scheduler_message(
        "0/17 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/ci-builds-worker: ci-builds-worker}, 2 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector, 3 node(s) had untolerated taint {node-role.kubernetes.io/master: }, 6 node(s) had untolerated taint {node-role.kubernetes.io/ci-tests-worker: ci-tests-worker}. preemption: 0/17 nodes are available: 15 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod..",
    );
    assert_eq!(m.total, Some(17));
    assert_eq!(m.reasons.len(), 5, "{:#?}", m.reasons);
    assert_eq!(m.main_class(), ReasonClass::Taint);
    assert_eq!(m.insufficient(), vec!["memory"]);
    assert!(m.preemption.as_deref().is_some_and(|p| p.starts_with("0/17 nodes are available: 15 Preemption")));
    assert_eq!(
        m.reasons[0].reason,
        "node(s) had untolerated taint {node-role.kubernetes.io/ci-builds-worker: ci-builds-worker}"
    );

    let m = parse_scheduler_message(
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
    );
    assert_eq!((m.total, m.main_class(), m.insufficient()), (Some(3), ReasonClass::InsufficientResources, vec!["cpu"]));

    let m = parse_scheduler_message(
        "0/2 nodes are available: 2 node(s) had untolerated taint(s). no new claims to deallocate, preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    );
    assert_eq!(m.main_class(), ReasonClass::Taint);
    assert_eq!(m.reasons.len(), 2);

    let m = parse_scheduler_message(
        "0/6 nodes are available: 1 node(s) had untolerated taint {unschedulable: true}, 2 node(s) didn't match pod topology spread constraints, 3 node(s) had untolerated taint {node-role.kubernetes.io/master: }. preemption: 0/6 nodes are available: 2 node(s) didn't match pod topology spread constraints, 4 Preemption is not helpful for scheduling.",
    );
    assert_eq!(m.main_class(), ReasonClass::Taint);
    assert!(m.reasons.iter().any(|r| r.class == ReasonClass::Topology && r.nodes == Some(2)));

    let m = parse_scheduler_message("0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector.");
    assert_eq!(m.main_class(), ReasonClass::NodeAffinity);
    let m = parse_scheduler_message(
        "0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) didn't match Pod's node affinity/selector.",
    );
    assert_eq!(m.main_class(), ReasonClass::NodeAffinity);
    assert!(m.reasons.iter().any(|r| r.class == ReasonClass::Volume));
    let m = parse_scheduler_message(
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
    );
    assert_eq!(m.main_class(), ReasonClass::Volume);
    let m = parse_scheduler_message("0/12 nodes are available: 12 Insufficient nvidia.com/gpu.");
    assert_eq!(m.insufficient(), vec!["nvidia.com/gpu"]);
    let m = parse_scheduler_message("no nodes available to schedule pods");
    assert_eq!((m.total, m.main_class()), (None, ReasonClass::Other));
    let m = parse_scheduler_message("");
    assert!(m.reasons.is_empty());
}

/// events.k8s.io/v1 events convert to core/v1 shape, and newest() takes the series' last time.
#[test]
fn events_k8s_io_conversion() {
    let v1: EventV1 = serde_json::from_value(serde_json::json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "p.1", "namespace": "prefect"},
        "eventTime": "2026-11-21T11:10:00.482913Z",
        "series": {"count": 14, "lastObservedTime": "2026-11-21T11:29:00.120455Z"},
        "reportingController": "default-scheduler", "reason": "FailedScheduling",
        "note": "0/3 nodes are available: 3 Insufficient cpu.", "type": "Warning",
        "regarding": {"kind": "Pod", "name": "p", "namespace": "prefect", "uid": "u"},
        "deprecatedCount": null, "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null, "deprecatedSource": {}
    }))
    .unwrap_or_else(|e| panic!("v1 event: {e}"));
    let e = v1.into_core();
    assert_eq!(e.message, "0/3 nodes are available: 3 Insufficient cpu.");
    assert_eq!(e.involved_object.name, "p");
    assert_eq!(e.component(), "default-scheduler");
    assert_eq!(e.last_timestamp, None);
    assert_eq!(e.newest().map(|t| t.to_string()), Some("2026-11-21T11:29:00.120455Z".to_string()));
    assert_eq!(e.oldest().map(|t| t.to_string()), Some("2026-11-21T11:10:00.482913Z".to_string()));
    assert_eq!(e.times(), 14);
    assert!(e.is_about("Pod", "prefect", "p", "u") && !e.is_about("Pod", "prefect", "p", "other-uid"));
    // A legacy event: lastTimestamp newer than eventTime (null) wins.
    let core: crate::evidence::kube::Event = serde_json::from_value(serde_json::json!({
        "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "BackOff", "message": "m", "count": 80,
        "firstTimestamp": "2026-11-21T11:11:00Z", "lastTimestamp": "2026-11-21T11:29:40Z", "eventTime": null,
        "source": {"component": "kubelet", "host": "node-a"}
    }))
    .unwrap_or_else(|e| panic!("core event: {e}"));
    assert_eq!(core.newest().map(|t| t.to_string()), Some("2026-11-21T11:29:40Z".to_string()));
    assert_eq!(core.times(), 80);
}

/// The evidence serializes in kube shape and reads back identical (bundle replay).
#[test]
fn evidence_round_trips() {
    for dir in scenarios() {
        let (kube, _) = load_scenario(&dir);
        let json = serde_json::to_value(&kube).unwrap_or_else(|e| panic!("serialize: {e}"));
        if let Some(p) = json.get("pods").and_then(|p| p.get(0)) {
            assert!(p.pointer("/metadata/creationTimestamp").is_some(), "camelCase kube shape");
        }
        let back: KubeEvidence = serde_json::from_value(json).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(back, kube, "{}", dir.display());
    }
}

/// Both infrastructure_pid formats of the Kubernetes worker.
#[test]
fn infrastructure_pid_formats() {
    let j = JobRef::parse("prefect:grinning-chimera-x7k2p").unwrap_or_else(|| panic!("new format"));
    assert_eq!((j.namespace.as_str(), j.job.as_str(), j.cluster_uid), ("prefect", "grinning-chimera-x7k2p", None));
    let j =
        JobRef::parse("9f1c2e3a-0000-4000-8000-000000000001:flows:etl-abc12").unwrap_or_else(|| panic!("old format"));
    assert_eq!(j.cluster_uid.as_deref(), Some("9f1c2e3a-0000-4000-8000-000000000001"));
    assert_eq!((j.namespace.as_str(), j.job.as_str()), ("flows", "etl-abc12"));
    assert_eq!(JobRef::parse("17343"), None);
    assert_eq!(JobRef::parse(":job"), None);
    assert_eq!(JobRef::parse(""), None);
}

/// The quota admission message is parsed into requested/used/limited per resource.
#[test]
fn exceeded_quota_message() {
    let x = job::parse_exceeded_quota(
        "Error creating: pods \"j-\" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=2,limits.memory=1Gi, used: limits.cpu=2,limits.memory=1Gi, limited: limits.cpu=2,limits.memory=1Gi",
    );
    assert_eq!(x.len(), 2);
    assert_eq!(
        (x[1].resource.as_str(), x[1].requested.as_str(), x[1].used.as_str(), x[1].limited.as_str()),
        ("limits.memory", "1Gi", "1Gi", "1Gi")
    );
    assert_eq!(x[0].quota, "compute-resources");
    assert!(job::parse_exceeded_quota("failed quota: q: must specify limits.cpu").is_empty());
}

/// Pull errors are classified from the kubelet's own words.
#[test]
fn pull_error_classes() {
    let cases = [
        (
            "ErrImagePull",
            "rpc error: code = Unknown desc = Error response from daemon: manifest for oamdev/vela-core:0.3.1 not found: manifest unknown: manifest unknown",
            "not-found",
        ),
        (
            "ErrImagePull",
            "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
            "unauthorized",
        ),
        (
            "ErrImagePull",
            "Error reading manifest latest in docker.io/obsidiandynamics/kafdrop: toomanyrequests: You have reached your pull rate limit.",
            "rate-limited",
        ),
        ("ErrImagePull", "dial tcp 10.0.0.5:443: i/o timeout", "network"),
        ("InvalidImageName", "", "invalid-name"),
        ("ErrImageNeverPull", "Container image \"x\" is not present with pull policy of Never", "not-found"),
    ];
    for (reason, msg, class) in cases {
        assert_eq!(image::classify_pull(reason, msg).0, class, "{msg}");
    }
}

/// The checklist names the failing finding, or says concretely what was seen, or why it cannot tell.
#[test]
fn checklist_items() {
    let dir = super::testkit::fixtures_dir();
    let (kube, meta) = load_scenario(&dir.join("image-pull-not-found"));
    let run = meta.view();
    let list = checklist(&kube, &run, &run_all(&kube, &run));
    let pull = list.iter().find(|(i, _, _)| *i == Item::ImagePull).unwrap_or_else(|| panic!("image-pull item"));
    assert_eq!(pull.1, ItemStatus::Fail);
    assert!(pull.2.starts_with("k8s.image-pull"), "{}", pull.2);
    let cap = list.iter().find(|(i, _, _)| *i == Item::Capacity).unwrap_or_else(|| panic!("capacity"));
    assert_eq!(cap.1, ItemStatus::Pass);
    assert!(cap.2.contains("node-a"), "{}", cap.2);

    let (kube, meta) = load_scenario(&dir.join("healthy-running"));
    let run = meta.view();
    let list = checklist(&kube, &run, &run_all(&kube, &run));
    for (item, status, detail) in &list {
        assert_eq!(*status, ItemStatus::Pass, "{item:?}: {detail}");
    }
    assert!(list.iter().any(|(_, _, d)| d.contains("image pulled")));

    let (kube, meta) = load_scenario(&dir.join("job-create-failed-quota"));
    let run = meta.view();
    let list = checklist(&kube, &run, &run_all(&kube, &run));
    assert!(
        list.iter()
            .any(|(i, s, d)| *i == Item::Permissions && *s == ItemStatus::Fail && d.contains("k8s.job-create-failed"))
    );
    assert!(list.iter().any(|(i, s, d)| *i == Item::ImagePull && *s == ItemStatus::Unknown && d == "no pod yet"));

    let (kube, meta) = load_scenario(&dir.join("waiting-for-node"));
    let run = meta.view();
    let list = checklist(&kube, &run, &run_all(&kube, &run));
    assert!(list.iter().any(|(i, s, _)| *i == Item::Capacity && *s == ItemStatus::Warn));
}

/// The quota scenario's evidence states the parsed numbers and the quota's current use.
#[test]
fn quota_numbers_are_stated() {
    let (kube, meta) = load_scenario(&super::testkit::fixtures_dir().join("job-create-failed-quota"));
    let f = run_all(&kube, &meta.view())
        .into_iter()
        .find(|f| f.id == "k8s.job-create-failed")
        .unwrap_or_else(|| panic!("finding"));
    assert!(f.detail.contains("limits.memory: requested 2Gi + used 7Gi > limit 8Gi"), "{}", f.detail);
    assert!(f.evidence.iter().any(|l| l.contains("used 7Gi of 8Gi (free 1Gi)")), "{:#?}", f.evidence);
    assert!(f.remediation.iter().any(|r| r == "kubectl -n prefect get resourcequota"), "{:#?}", f.remediation);
    assert_eq!(f.subject.as_deref(), Some("job/prefect/grinning-chimera-x7k2p"));
}

/// An exit 137 from ContainerStatusUnknown is explained, never called an OOM kill.
#[test]
fn container_status_unknown_is_not_oom() {
    let (kube, meta) = load_scenario(&super::testkit::fixtures_dir().join("evicted-container-status-unknown-137"));
    let findings = run_all(&kube, &meta.view());
    assert!(findings.iter().all(|f| f.id != "k8s.oom-killed"));
    let f = findings.iter().find(|f| f.id == "k8s.evicted").unwrap_or_else(|| panic!("evicted"));
    assert!(f.evidence.iter().any(|l| l.contains("ContainerStatusUnknown (exit code 137)")), "{:#?}", f.evidence);
}

/// The image-pull finding says BackOff never crashes the run and quotes the kubelet's 400 for logs.
#[test]
fn image_pull_says_it_never_crashes() {
    let (kube, meta) = load_scenario(&super::testkit::fixtures_dir().join("image-pull-not-found"));
    let f = run_all(&kube, &meta.view())
        .into_iter()
        .find(|f| f.id == "k8s.image-pull")
        .unwrap_or_else(|| panic!("finding"));
    assert!(f.detail.contains("never fails the pod or the run"), "{}", f.detail);
    assert!(f.evidence.iter().any(|l| l.contains("is waiting to start: trying and failing to pull image")));
    assert!(f.remediation.iter().any(|r| r == "kubectl -n prefect describe pod grinning-chimera-x7k2p-9zqvw"));
    assert!(
        f.remediation.iter().any(|r| r.contains("--field-selector involvedObject.name=grinning-chimera-x7k2p-9zqvw"))
    );
    assert!(f.remediation.iter().any(|r| r.contains("--job-variable image=")));
}
