//! Property tests of every parser unstuck feeds with what servers, workers, kubelets, AWS and users
//! write: none panics on any input, and each round-trips what it formats or is handed in the shape it
//! documents. proptest (not cargo-fuzz) so they run in plain `cargo test` on stable and shrink a
//! failure to a minimal input; `CASES` inputs per property, more with `PROPTEST_CASES`.

use std::time::Duration;

use proptest::prelude::*;

use crate::checks::ecs::classify;
use crate::checks::k8s::{image, job, scheduling};
use crate::evidence::ecs::{parse_infrastructure_pid, parse_task_arn};
use crate::evidence::kube::parse_quantity;
use crate::infra::{self, Infra};

const CASES: u32 = 512;

/// `CASES`, or `PROPTEST_CASES` when set (a longer run: `PROPTEST_CASES=20000 cargo test --lib proptests`).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES)
}

/// Any text, with the characters the parsers split on over-represented.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9:/ ,.=_()\\-\"']{0,200}",
        "[:/0-9a-f-]{0,80}",
        proptest::collection::vec(
            prop_oneof![Just("::"), Just(":"), Just("/"), Just(" "), Just("0"), Just("a")],
            0..40
        )
        .prop_map(|v| v.concat()),
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// `infrastructure_pid` in any shape, for any pool type.
    #[test]
    fn infrastructure_pid_never_panics(pid in text(), pool in prop::option::of(text())) {
        let _ = infra::parse(&pid, pool.as_deref()).describe();
        let _ = parse_infrastructure_pid(&pid);
        let _ = parse_task_arn(&pid);
    }

    /// The Kubernetes worker's `<namespace>:<job>` and `<cluster uid>:<namespace>:<job>` round-trip.
    #[test]
    fn kubernetes_pid_round_trips(ns in name(), job in name(), uid in prop::option::of("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")) {
        let pid = match &uid {
            Some(u) => format!("{u}:{ns}:{job}"),
            None => format!("{ns}:{job}"),
        };
        match infra::parse(&pid, Some("kubernetes")) {
            Infra::Kubernetes { cluster_uid, namespace, job: j } => {
                prop_assert_eq!(namespace, ns);
                prop_assert_eq!(j, job);
                prop_assert_eq!(cluster_uid, uid);
            }
            other => prop_assert!(false, "{pid} parsed as {other:?}"),
        }
    }

    /// The ECS worker's `<cluster>::<task arn>` round-trips, whatever the ARN format (old or new).
    #[test]
    fn ecs_pid_round_trips(cluster in name(), region in "[a-z]{2}-[a-z]{4,9}-[1-9]", account in "[0-9]{12}", id in "[0-9a-f]{32}", new_format in any::<bool>()) {
        let arn = if new_format {
            format!("arn:aws:ecs:{region}:{account}:task/{cluster}/{id}")
        } else {
            format!("arn:aws:ecs:{region}:{account}:task/{id}")
        };
        let pid = format!("{cluster}::{arn}");
        prop_assert_eq!(parse_infrastructure_pid(&pid), Some((cluster.as_str(), arn.as_str())));
        let parsed = parse_task_arn(&arn).expect("a task ARN");
        prop_assert_eq!(parsed.region, region.as_str());
        prop_assert_eq!(parsed.account, account.as_str());
        prop_assert_eq!(parsed.task_id, id.as_str());
        prop_assert_eq!(parsed.cluster, new_format.then_some(cluster.as_str()));
        match infra::parse(&pid, None) {
            Infra::Ecs { cluster: c, task_arn } => {
                prop_assert_eq!(c, cluster);
                prop_assert_eq!(task_arn, arn);
            }
            other => prop_assert!(false, "{pid} parsed as {other:?}"),
        }
    }

    /// The scheduler's "0/N nodes are available: …" in any shape; generated ones keep their counts.
    #[test]
    fn scheduler_messages(msg in text(), total in 1u32..500, cpu in 0u32..500, taint in 0u32..500) {
        let _ = scheduling::parse_scheduler_message(&msg).main_class();
        let made = format!(
            "0/{total} nodes are available: {cpu} Insufficient cpu, {taint} node(s) had untolerated taint {{dedicated: gpu}}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        );
        let m = scheduling::parse_scheduler_message(&made);
        prop_assert_eq!(m.total, Some(total));
        let counts: Vec<Option<u32>> = m.reasons.iter().map(|r| r.nodes).collect();
        prop_assert_eq!(counts, vec![Some(cpu), Some(taint)]);
        prop_assert!(m.preemption.is_some());
    }

    /// Kubelet pull failures and quota admissions: any reason and message.
    #[test]
    fn kubelet_reasons(reason in text(), message in text()) {
        let (class, _) = image::classify_pull(&reason, &message);
        prop_assert!(!class.is_empty());
        let _ = job::parse_exceeded_quota(&message);
        let _ = parse_quantity(&message);
    }

    /// A generated "exceeded quota" message gives each resource with its figures.
    #[test]
    fn quota_messages_round_trip(quota in name(), cpu in 1u32..64, mem in 1u32..512) {
        let msg = format!(
            "pods \"p\" is forbidden: exceeded quota: {quota}, requested: limits.cpu={cpu},limits.memory={mem}Gi, used: limits.cpu=0,limits.memory=0, limited: limits.cpu=1,limits.memory=1Gi"
        );
        let got = job::parse_exceeded_quota(&msg);
        prop_assert_eq!(got.len(), 2);
        prop_assert_eq!(&got[0].quota, &quota);
        prop_assert_eq!(&got[0].requested, &cpu.to_string());
        prop_assert_eq!(&got[1].requested, &format!("{mem}Gi"));
    }

    /// Kubernetes quantities: integers, decimal and binary suffixes.
    #[test]
    fn quantities_round_trip(n in 0u32..100_000, suffix in prop::sample::select(vec![("", 1.0), ("m", 1e-3), ("k", 1e3), ("Ki", 1024.0), ("Mi", 1048576.0), ("Gi", 1073741824.0)])) {
        let got = parse_quantity(&format!("{n}{}", suffix.0)).expect("a quantity");
        let want = f64::from(n) * suffix.1;
        prop_assert!((got - want).abs() <= want.abs() * 1e-9, "{n}{}: {got} vs {want}", suffix.0);
    }

    /// ECS stop reasons, container reasons and the worker's lines: every classifier on any text.
    #[test]
    fn ecs_reasons(t in text()) {
        let _ = classify::family(&t);
        let _ = classify::pull(&t).map(|p| p.token());
        let _ = classify::is_ecr(&t);
        let _ = classify::init(&t).map(|(w, c)| (w.token(), c.token()));
        let _ = classify::start(&t).map(|s| s.token());
        let _ = classify::start_hint(&t);
        let _ = classify::network(&t).map(|n| n.token());
        let _ = classify::capacity(&t).map(|c| c.token());
        let _ = classify::register_failed(&t);
        let _ = classify::cluster_not_found(&t);
    }

    /// A CannotPullContainerError cut at 255 characters anywhere is still a pull failure.
    #[test]
    fn cut_pull_reasons_stay_pull_failures(image in "[a-z0-9./-]{3,120}", cut in 30usize..255) {
        let reason = format!("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image}:latest: not found");
        let cut: String = reason.chars().take(cut).collect();
        prop_assert!(classify::pull(&cut).is_some(), "{cut}");
    }

    /// Log lines: every pattern over any message.
    #[test]
    fn log_patterns(msg in text()) {
        let _ = crate::checks::logs::last_exception(&msg);
        let _ = crate::checks::logs::error_of(&msg);
        let _ = crate::checks::logs::is_submit_failure(&msg);
        let line = crate::prefect::types::LogLine { name: Some("prefect.flow_runs.worker".into()), level: 40, message: msg, timestamp: None };
        let _ = crate::checks::logs::records(std::slice::from_ref(&line));
        let _ = crate::checks::logs::quote(&line);
    }

    /// Durations as flags take them: any text, and every whole number of seconds or formatted duration.
    #[test]
    fn durations(t in text(), secs in 0u64..(365 * 24 * 3600)) {
        let _ = crate::cli::parse_duration(&t);
        prop_assert_eq!(crate::cli::parse_duration(&secs.to_string()), Ok(Duration::from_secs(secs)));
        let formatted = humantime::format_duration(Duration::from_secs(secs)).to_string();
        prop_assert_eq!(crate::cli::parse_duration(&formatted), Ok(Duration::from_secs(secs)));
    }

    /// `Retry-After` as seconds (whole or fractional) and as an HTTP date; anything else is ignored.
    #[test]
    fn retry_after(t in text(), secs in 0u32..100_000, ahead in 10i64..86_400) {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&t) {
            let _ = crate::prefect::client::parse_retry_after(&v);
        }
        let v = reqwest::header::HeaderValue::from_str(&secs.to_string()).expect("header");
        prop_assert_eq!(crate::prefect::client::parse_retry_after(&v), Some(Duration::from_secs(u64::from(secs))));
        let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(ahead);
        let date = at.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        prop_assert_eq!(crate::prefect::client::parse_http_date(&date).map(|t| t.as_second()), Some(at.as_second()));
        let v = reqwest::header::HeaderValue::from_str(&date).expect("header");
        let wait = crate::prefect::client::parse_retry_after(&v).expect("a wait");
        prop_assert!(wait.as_secs() <= ahead.unsigned_abs() && wait.as_secs() + 5 >= ahead.unsigned_abs(), "{date}: {wait:?}");
    }

    /// API timestamps, run references and deployment references.
    #[test]
    fn references(t in text()) {
        let _ = crate::prefect::types::parse_ts(&t);
        let _ = crate::prefect::collect::parse_run_ref(&t);
        let _ = crate::prefect::slots::parse_deployment_ref(&t);
    }

    /// profiles.toml as users and `prefect profile` write it, and anything else: a clear error or a
    /// configuration, never a panic; a generated profile's URL is the one used.
    #[test]
    fn profiles_toml(t in text(), profile in name(), port in 1024u16..65535) {
        let dir = std::env::temp_dir().join(format!("unstuck-proptest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let path = dir.join(format!("{profile}.toml"));
        let flags = crate::config::ApiFlags { api_url: None, profile: None };
        std::fs::write(&path, &t).expect("write");
        let p = path.to_string_lossy().into_owned();
        let env = |k: &str| (k == "PREFECT_PROFILES_PATH").then(|| p.clone());
        let _ = crate::config::resolve(&flags, &env);
        let toml = format!("active = \"{profile}\"\n\n[profiles.{profile}]\nPREFECT_API_URL = \"http://127.0.0.1:{port}/api\"\n");
        std::fs::write(&path, toml).expect("write");
        let got = crate::config::resolve(&flags, &env).expect("a configuration");
        prop_assert_eq!(got.url.as_str().trim_end_matches('/'), format!("http://127.0.0.1:{port}/api"));
        let _ = std::fs::remove_file(&path);
    }

    /// Evidence bundles: any text, and a real bundle cut anywhere or with a byte changed, is a
    /// message, never a panic; the bundle itself round-trips.
    #[test]
    fn bundles(t in text(), cut in 0usize..=100, flip in 0usize..=100) {
        let _ = crate::commands::parse_bundle(&t);
        let real = include_str!("../fixtures/bundles/p3-worker-offline.json");
        let at = |pct: usize| {
            let mut i = real.len() * pct / 100;
            while !real.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        if cut < 100 {
            prop_assert!(crate::commands::parse_bundle(&real[..at(cut)]).is_err());
        }
        let i = at(flip);
        let mut changed = real.to_string();
        if i < changed.len() {
            changed.replace_range(i..i + changed[i..].chars().next().map_or(0, char::len_utf8), "\u{0}");
            let _ = crate::commands::parse_bundle(&changed);
        }
        let (bundle, warning) = crate::commands::parse_bundle(real).expect("the fixture loads");
        prop_assert!(warning.is_none());
        let again = serde_json::to_string(&bundle).expect("serialise");
        let (back, _) = crate::commands::parse_bundle(&again).expect("reloads");
        prop_assert_eq!(serde_json::to_value(&back).expect("json"), serde_json::to_value(&bundle).expect("json"));
    }

    /// A secret planted anywhere in any text never survives the redactor.
    #[test]
    fn redactor_removes_planted_secrets(before in text(), after in text(), secret in "[A-Za-z0-9_]{12,40}") {
        let r = crate::redact::Redactor::new([secret.clone()]);
        let text = format!("{before}{secret}{after}");
        let out = r.redact(&text);
        prop_assert!(!out.contains(&secret), "{out}");
    }
}
