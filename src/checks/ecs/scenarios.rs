//! The recorded scenarios of fixtures/ecs: each loads like the collector would select it, and must rank
//! its expected finding first, with the expected sub-class and the quoted AWS message.

use std::time::Duration;

use jiff::Timestamp;

use super::testkit::{finding_text, load_scenario, rank, scenario_dirs};
use super::{RunView, checklist, run_all};
use crate::checks::{Item, ItemStatus, Kind};
use crate::evidence::ecs::{
    Container, ContainerLogs, EcsEvidence, Failure, KeyValue, Located, Lookup, Task, TaskDefinition,
};

/// Every scenario: the expected primary, its sub-class and quoted message, the expected companions,
/// no finding mentions another run's (or the worker's) task, and the checklist fails the primary's item.
#[test]
fn every_scenario_ranks_its_cause_first() {
    let dirs = scenario_dirs();
    assert!(dirs.len() >= 20, "only {} scenarios", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let s = load_scenario(dir);
        let run = s.run_view();
        let findings = rank(run_all(&s.evidence, &run));
        let ids: Vec<&str> = findings.iter().map(|f| f.id).collect();
        let mut fail = |msg: String| failures.push(format!("{}: {msg} (found {ids:?})", s.name));
        if s.expect.primary.is_empty() {
            if !findings.is_empty() {
                fail("expected no findings".into());
            }
        } else {
            match findings.first() {
                Some(p) if p.id == s.expect.primary => {
                    if let Some(d) = &s.expect.detail_contains {
                        if !p.detail.contains(d.as_str()) {
                            fail(format!("detail {:?} lacks {d:?}", p.detail));
                        }
                    }
                    if let Some(e) = &s.expect.evidence_contains {
                        if !p.evidence.iter().any(|l| l.contains(e.as_str())) {
                            fail(format!("evidence {:?} does not quote {e:?}", p.evidence));
                        }
                    }
                    if p.subject.is_none() || p.remediation.is_empty() {
                        fail("primary lacks a subject or remediation".into());
                    }
                }
                _ => fail(format!("primary is not {}", s.expect.primary)),
            }
        }
        for id in &s.expect.also {
            if !ids.contains(&id.as_str()) {
                fail(format!("{id} missing"));
            }
        }
        for id in &s.expect.absent {
            if ids.contains(&id.as_str()) {
                fail(format!("{id} should not be found"));
            }
        }
        for f in &findings {
            let text = finding_text(f);
            for other in &s.other_task_arns {
                let other_id = other.rsplit('/').next().unwrap_or(other);
                if text.contains(other_id) {
                    fail(format!("{} mentions another task {other}", f.id));
                }
            }
        }
        let list = checklist(&s.evidence, &run, &findings);
        assert_eq!(
            list.iter().map(|(i, _, _)| *i).collect::<Vec<_>>(),
            [Item::Infrastructure, Item::ImagePull, Item::Permissions, Item::Capacity]
        );
        if let Some(p) = findings.first().filter(|p| p.kind == Kind::Cause) {
            let items = super::finding_items(p);
            for (item, status, detail) in &list {
                if items.contains(item) && (*status != ItemStatus::Fail || !detail.starts_with(p.id)) {
                    fail(format!("checklist {item:?} is {status:?} {detail:?}, expected a fail naming {}", p.id));
                }
            }
        }
        // Same evidence, same findings; and a saved bundle replays to the same findings.
        let again = rank(run_all(&s.evidence, &run));
        assert_eq!(format!("{findings:?}"), format!("{again:?}"), "{}: not deterministic", s.name);
        let bundle = serde_json::to_string(&s.evidence).unwrap_or_default();
        let replayed: EcsEvidence = serde_json::from_str(&bundle).unwrap_or_else(|e| panic!("{}: bundle: {e}", s.name));
        let replay = rank(run_all(&replayed, &run));
        assert_eq!(format!("{findings:?}"), format!("{replay:?}"), "{}: replay differs", s.name);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Where the locator listed tasks, the responses really hold other runs' tasks and the worker's own.
#[test]
fn by_tag_scenarios_hold_decoys() {
    let by_tag: Vec<_> = scenario_dirs()
        .iter()
        .map(|d| load_scenario(d))
        .filter(|s| matches!(s.evidence.located, Located::ByTag { .. }))
        .collect();
    assert!(by_tag.len() >= 3, "only {} by-tag scenarios", by_tag.len());
    for s in by_tag {
        assert!(s.other_task_arns.len() >= 2, "{}: no decoy tasks", s.name);
    }
}

/// A container reason cut at 255 characters still classifies, through the task's stoppedReason.
#[test]
fn cut_container_reason_classified_via_stopped_reason() {
    let dir = super::testkit::fixtures_dir().join("image-pull-network");
    let s = load_scenario(&dir);
    let task = s.evidence.task.found().expect("task");
    let reason = task.containers.first().and_then(|c| c.reason.as_deref()).unwrap_or_default();
    assert_eq!(reason.chars().count(), 255, "the fixture's container reason is the cut one");
    assert!(
        !reason.contains("i/o timeout") && task.stopped_reason.as_deref().unwrap_or_default().contains("i/o timeout")
    );
    let findings = rank(run_all(&s.evidence, &s.run_view()));
    let p = findings.first().expect("a finding");
    assert!(p.detail.starts_with("network"), "{}", p.detail);
    assert!(p.evidence.iter().any(|e| e.starts_with("stoppedReason:") && e.contains("i/o timeout")));

    // Without the stoppedReason, the cut reason alone still says it is a pull failure.
    let mut cut = s.evidence.clone();
    if let Lookup::Found(t) = &mut cut.task {
        t.stopped_reason = None;
    }
    let findings = rank(run_all(&cut, &s.run_view()));
    assert_eq!(findings.first().map(|f| f.id), Some("ecs.image-pull"));
    // A reason cut before it says why is "other", never a guess; the stoppedReason then supplies the why.
    let full = "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref \
                123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:latest: pulling from host \
                123456789012.dkr.ecr.us-east-1.amazonaws.com failed with status code [manifests latest]: 403 Forbidden";
    let cut_reason: String = full.chars().take(255).collect();
    assert!(!cut_reason.contains("403"));
    let mut ev = cut.clone();
    if let Lookup::Found(t) = &mut ev.task {
        if let Some(c) = t.containers.first_mut() {
            c.reason = Some(cut_reason);
        }
    }
    let only_cut = rank(run_all(&ev, &s.run_view()));
    assert!(only_cut.first().is_some_and(|f| f.detail.starts_with("other")), "{only_cut:?}");
    if let Lookup::Found(t) = &mut ev.task {
        t.stopped_reason = Some(full.to_string());
    }
    let with_full = rank(run_all(&ev, &s.run_view()));
    assert!(with_full.first().is_some_and(|f| f.detail.starts_with("unauthorized")), "{with_full:?}");
}

fn view<'a>(lines: &'a [String], state: &'a str) -> RunView<'a> {
    let now = Timestamp::from_second(1_732_201_200).unwrap_or(Timestamp::UNIX_EPOCH);
    RunView {
        run_id: "4f6c3e2a-1b7d-4e55-9a0c-2d8e6f1a3b5c",
        state_type: state,
        state_name: "Pending",
        state_since: now,
        now,
        pending_threshold: Duration::from_secs(300),
        worker_log_lines: lines,
    }
}

fn evidence_with(task: Task) -> EcsEvidence {
    EcsEvidence {
        infrastructure_pid: None,
        located: Located::ByTag { cluster: "prefect".into(), listed: 1 },
        region: None,
        cluster: Lookup::NotChecked,
        task: Lookup::Found(task),
        task_definition: Lookup::NotChecked,
        capacity_providers: vec![],
        logs: None,
        unread: vec![],
    }
}

/// Odd input never panics: empty strings, unknown enum values, nameless containers, absurd numbers.
#[test]
fn odd_input_does_not_panic() {
    let odd_task = Task {
        task_arn: Some("not-an-arn".into()),
        last_status: Some("HIBERNATING".into()),
        stop_code: Some("InfrastructureHealth".into()),
        stopped_reason: Some(String::new()),
        containers: vec![
            Container { exit_code: Some(i64::MIN), ..Container::default() },
            Container {
                name: Some(String::new()),
                exit_code: Some(0),
                reason: Some("é".repeat(2000)),
                ..Container::default()
            },
        ],
        ..Task::default()
    };
    let lines = vec![String::new(), "RESOURCE:".into(), "Failed to run ECS task: RESOURCE:MEMORY".repeat(200)];
    for state in ["PENDING", "RUNNING", "CRASHED", "", "ÜNKNOWN"] {
        for ev in [
            evidence_with(odd_task.clone()),
            evidence_with(Task::default()),
            EcsEvidence {
                located: Located::NotFound { cluster: None, tried: String::new() },
                task: Lookup::Missing(Failure::default()),
                cluster: Lookup::Missing(Failure::default()),
                task_definition: Lookup::Found(TaskDefinition::default()),
                logs: Some(ContainerLogs::LogTail {
                    group: String::new(),
                    stream: String::new(),
                    lines: vec![],
                    truncated: true,
                }),
                ..evidence_with(Task::default())
            },
        ] {
            let run = view(&lines, state);
            let findings = run_all(&ev, &run);
            let _ = checklist(&ev, &run, &findings);
        }
    }
}

/// Exit codes of an essential container are explained; 137 goes to ecs.oom, not ecs.essential-exited.
#[test]
fn essential_exit_codes_are_explained() {
    let mk = |code: i64, reason: Option<&str>| Task {
        task_arn: Some("arn:aws:ecs:us-east-1:123456789012:task/prefect/0123456789abcdef0123456789abcdef".into()),
        last_status: Some("STOPPED".into()),
        stop_code: Some("EssentialContainerExited".into()),
        stopped_reason: Some("Essential container in task exited".into()),
        containers: vec![Container {
            name: Some("prefect".into()),
            exit_code: Some(code),
            reason: reason.map(str::to_string),
            ..Container::default()
        }],
        ..Task::default()
    };
    let lines: Vec<String> = vec![];
    let cases = [
        (1, "general error"),
        (127, "command not found"),
        (126, "not executable"),
        (139, "segmentation fault"),
        (143, "SIGTERM"),
        (125, "failed to run"),
    ];
    for (code, words) in cases {
        let f = rank(run_all(&evidence_with(mk(code, None)), &view(&lines, "PENDING")));
        let p = f.first().unwrap_or_else(|| panic!("{code}: no finding"));
        assert_eq!(p.id, "ecs.essential-exited", "{code}");
        assert!(p.title.contains(words), "{code}: {}", p.title);
    }
    let f = rank(run_all(&evidence_with(mk(137, None)), &view(&lines, "PENDING")));
    assert_eq!(f.first().map(|f| f.id), Some("ecs.oom"));
    assert!(!f.iter().any(|f| f.id == "ecs.essential-exited"));
    let f = rank(run_all(
        &evidence_with(mk(137, Some("OutOfMemoryError: Container killed due to memory usage"))),
        &view(&lines, "RUNNING"),
    ));
    assert_eq!(f.iter().map(|f| f.id).collect::<Vec<_>>(), ["ecs.oom"]);
    // A 137 after a user stop is the stop timeout's SIGKILL, not memory.
    let mut stopped = mk(137, None);
    stopped.stop_code = Some("UserInitiated".into());
    let f = run_all(&evidence_with(stopped), &view(&lines, "CRASHED"));
    assert!(!f.iter().any(|f| f.id == "ecs.oom"), "{f:?}");
}

/// exited-cleanly says whether PREFECT_API_URL reached the container, from overrides or the task definition.
#[test]
fn exited_cleanly_reports_the_api_url() {
    let dir = super::testkit::fixtures_dir().join("exited-cleanly");
    let s = load_scenario(&dir);
    let f = rank(run_all(&s.evidence, &s.run_view()));
    let p = f.first().expect("finding");
    assert!(p.evidence.iter().any(|e| e.contains("PREFECT_API_URL is not set")), "{:?}", p.evidence);
    let mut with_url = s.evidence.clone();
    if let Lookup::Found(t) = &mut with_url.task {
        if let Some(o) = t.overrides.as_mut().and_then(|o| o.container_overrides.first_mut()) {
            o.environment.push(KeyValue {
                name: Some("PREFECT_API_URL".into()),
                value: Some("http://prefect.internal:4200/api".into()),
            });
        }
    }
    let f = rank(run_all(&with_url, &s.run_view()));
    let p = f.first().expect("finding");
    assert!(
        p.evidence.iter().any(|e| e == "PREFECT_API_URL=http://prefect.internal:4200/api (RunTask override)"),
        "{:?}",
        p.evidence
    );
    // Not Pending any more: nothing to say.
    let mut running = s.run_view();
    running.state_type = "RUNNING";
    assert!(!run_all(&s.evidence, &running).iter().any(|f| f.id == "infra.exited-cleanly"));
    // An exit code 0 on a container that never stopped (never ran) is no clean exit.
    let mut never_ran = s.evidence.clone();
    if let Lookup::Found(t) = &mut never_ran.task {
        for c in &mut t.containers {
            c.last_status = Some("PENDING".into());
        }
    }
    assert!(!run_all(&never_ran, &s.run_view()).iter().any(|f| f.id == "infra.exited-cleanly"));
}

/// A healthy RUNNING task passes every ECS checklist item with what it shows.
#[test]
fn healthy_task_passes_the_checklist() {
    let s = load_scenario(&super::testkit::fixtures_dir().join("healthy-running"));
    let run = s.run_view();
    let findings = run_all(&s.evidence, &run);
    assert!(findings.is_empty(), "{findings:?}");
    for (item, status, detail) in checklist(&s.evidence, &run, &findings) {
        assert_eq!(status, ItemStatus::Pass, "{item:?}: {detail}");
        assert!(!detail.is_empty());
    }
}

/// Without any ECS task the checklist is unknown, and says why.
#[test]
fn no_task_checklist_is_unknown_with_why() {
    let ev = EcsEvidence {
        task: Lookup::NotChecked,
        located: Located::NotFound {
            cluster: Some("prefect".into()),
            tried: "no task tagged prefect.io/flow-run-id=x".into(),
        },
        ..evidence_with(Task::default())
    };
    let lines = vec![];
    let run = view(&lines, "PENDING");
    for (item, status, detail) in checklist(&ev, &run, &[]) {
        assert_eq!(status, ItemStatus::Unknown, "{item:?}");
        assert!(detail.contains("no task tagged"), "{detail}");
    }
}

/// A side read unstuck was refused (IAM) or could not finish is named in the evidence's words and in
/// the permissions item while the task is still waiting; the diagnosis from the task itself stands.
#[test]
fn refused_side_reads_are_named() {
    use crate::evidence::FailureKind;
    use crate::evidence::ecs::Unread;
    let s = load_scenario(&super::testkit::fixtures_dir().join("capacity-provisioning"));
    let mut ev = s.evidence.clone();
    ev.unread = vec![
        Unread {
            action: "logs:GetLogEvents".into(),
            kind: FailureKind::Forbidden,
            message: "AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized".into(),
        },
        Unread {
            action: "ecs:DescribeClusters".into(),
            kind: FailureKind::Other,
            message: "ThrottlingException: Rate exceeded".into(),
        },
    ];
    let detail = ev.unread_detail();
    assert!(detail.contains("not allowed to call logs:GetLogEvents"), "{detail}");
    assert!(detail.contains("could not read ecs:DescribeClusters: ThrottlingException: Rate exceeded"), "{detail}");
    assert!(!detail.contains("ecs:DescribeClusters (unstuck needs"), "{detail}");
    let run = s.run_view();
    let findings = rank(run_all(&ev, &run));
    assert_eq!(findings.first().map(|f| f.id), Some("ecs.capacity"));
    let (_, status, why) = checklist(&ev, &run, &[]).into_iter().find(|(i, ..)| *i == Item::Permissions).expect("item");
    assert_eq!(status, ItemStatus::Unknown, "{why}");
    assert!(why.ends_with("unstuck was not allowed logs:GetLogEvents"), "{why}");
    // Round trip: a bundle keeps what was not read.
    let back: EcsEvidence = serde_json::from_value(serde_json::to_value(&ev).expect("json")).expect("back");
    assert_eq!(back.unread, ev.unread);
}
