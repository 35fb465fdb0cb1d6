//! Planted secrets never reach stdout, stderr or a saved evidence bundle.

use serde_json::json;

use crate::harness::{self, Server, TempDir, unstuck_env};

const PLANTED_KEY: &str = "pnu_PlantedApiKey0123456789abcdefXYZ";
const PLANTED: &[&str] = &[
    PLANTED_KEY,
    "planted-aws-secret-value",
    "planted-db-password",
    "pnu_PlantedInStateMessage0000000000",
    "AKIAPLANTED000000000",
    "planted-bearer-token-zzz",
];

/// Secrets in the environment, the credentials, job variables and a state message are redacted
/// everywhere (Prefect 3 with basic auth).
#[test]
fn secrets_never_leak_p3() {
    secrets_never_leak(harness::p3_secure());
}

/// The same on Prefect 2.
#[test]
fn secrets_never_leak_p2() {
    secrets_never_leak(harness::p2());
}

fn secrets_never_leak(s: &Server) {
    let api = s.api();
    let pool = api.pool("secret", "process");
    let dep = api.deployment(&pool, "default");
    let run = api.run_with(
        &dep,
        -600,
        json!({"job_variables": {"env": {"AWS_SECRET_ACCESS_KEY": "planted-aws-secret-value", "DB_PASSWORD": "planted-db-password"}, "image": "acme/flows:1"}}),
    );
    api.set_state(
        &run,
        json!({"type": "CRASHED", "message": "Failed to submit flow run to infrastructure: PermissionError: \
            key pnu_PlantedInStateMessage0000000000 (AKIAPLANTED000000000) rejected; Authorization: Bearer planted-bearer-token-zzz"}),
    );
    let dir = TempDir::new("bundle");
    let bundle = dir.path().join("bundle.json");
    let mut envs = vec![("PREFECT_API_KEY", PLANTED_KEY)];
    if let Some(a) = &s.auth {
        envs.push(("PREFECT_API_AUTH_STRING", a.as_str()));
    }
    let mut secrets: Vec<String> = PLANTED.iter().map(|s| s.to_string()).collect();
    if let Some((_, password)) = s.auth.as_deref().and_then(|a| a.split_once(':')) {
        secrets.push(password.to_string());
    }
    let bundle_arg = bundle.to_str().expect("utf8");
    let mut outputs = Vec::new();
    for args in [
        vec!["doctor", run.id.as_str(), "-o", "json", "--save-evidence", bundle_arg, "-vv"],
        vec!["doctor", run.id.as_str(), "--color", "always", "-vv"],
        vec!["doctor", run.id.as_str(), "-o", "markdown"],
    ] {
        let mut a = args.clone();
        a.extend(["--api-url", s.url.as_str()]);
        let out = unstuck_env(&a, &envs);
        out.expect_code(2);
        outputs.push((format!("{args:?} stdout"), out.stdout));
        outputs.push((format!("{args:?} stderr"), out.stderr));
    }
    let saved = std::fs::read_to_string(&bundle).expect("bundle written");
    assert!(saved.contains("[REDACTED]"), "the bundle kept the (redacted) job variables");
    assert!(saved.contains("acme/flows:1"), "non-secret job variables survive");
    outputs.push(("bundle".into(), saved));
    // The replay of the saved bundle is clean too.
    let replay = unstuck_env(&["doctor", "--evidence", bundle_arg, "-o", "json"], &[]);
    replay.expect_code(2);
    outputs.push(("replay".into(), replay.stdout));
    for (what, text) in &outputs {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{secret} leaked into {what}:\n{text}");
        }
    }
}

/// A key kept only in profiles.toml (no PREFECT_API_KEY in the environment) and secrets written into
/// the run's log lines in several shapes (the profile's key echoed verbatim, NAME=value, a password in
/// a URL, a bearer token) never reach any output of doctor, slots or health, nor a bundle.
#[test]
fn secrets_in_profiles_and_log_lines_never_leak() {
    const PROFILE_KEY: &str = "planted-profile-key-0987654321";
    let s = harness::p3();
    let api = s.api();
    let pool = api.pool("secretlogs", "process");
    api.set_pool_limit(&pool, 1);
    let dep = api.deployment(&pool, "default");
    let holder = api.run_with(&dep, -600, json!({"state": {"type": "RUNNING"}}));
    let run = api.run(&dep, -600);
    let lines = [
        format!("Worker 'w1' submitting flow run '{}' with key {PROFILE_KEY}", run.id),
        "Failed to submit flow run: DB_PASSWORD=planted-log-db-password rejected".to_string(),
        "connecting to postgresql://app:planted-log-url-password@db:5432/flows".to_string(),
        "retrying with header Authorization: Bearer planted-log-bearer-token-01".to_string(),
    ];
    for r in [&run, &holder] {
        for l in &lines {
            api.log(r, "prefect.flow_runs.worker", 40, l);
        }
    }
    let home = TempDir::new("profile");
    let profiles = home.path().join("profiles.toml");
    std::fs::write(
        &profiles,
        format!(
            "active = \"ci\"\n\n[profiles.ci]\nPREFECT_API_URL = \"{}\"\nPREFECT_API_KEY = \"{PROFILE_KEY}\"\n",
            s.url
        ),
    )
    .expect("profiles.toml");
    let profiles = profiles.to_str().expect("utf8").to_string();
    let envs = [("PREFECT_PROFILES_PATH", profiles.as_str())];
    let bundle = home.path().join("bundle.json");
    let bundle_arg = bundle.to_str().expect("utf8");
    let mut outputs = Vec::new();
    for args in [
        vec!["doctor", run.id.as_str(), "-o", "json", "--save-evidence", bundle_arg, "-vv"],
        vec!["doctor", run.id.as_str(), "--color", "always", "-vv"],
        vec!["doctor", run.id.as_str(), "-o", "markdown"],
        vec!["work-pool", "slots", pool.name.as_str(), "-o", "json", "-vv"],
        vec!["work-pool", "slots", pool.name.as_str()],
        vec!["health", "--pool", pool.name.as_str(), "-o", "json", "-vv"],
        vec!["health", "--pool", pool.name.as_str(), "-o", "prometheus"],
        vec!["health", "--pool", pool.name.as_str(), "-o", "junit"],
    ] {
        let out = unstuck_env(&args, &envs);
        assert!(out.code >= 0 && out.code <= 2, "{args:?}: exit {}: {}", out.code, out.stderr);
        outputs.push((format!("{args:?} stdout"), out.stdout));
        outputs.push((format!("{args:?} stderr"), out.stderr));
    }
    let saved = std::fs::read_to_string(&bundle).expect("bundle written");
    assert!(saved.contains("rejected"), "the log lines were collected");
    outputs.push(("bundle".into(), saved));
    let secrets = [PROFILE_KEY, "planted-log-db-password", "planted-log-url-password", "planted-log-bearer-token-01"];
    for (what, text) in &outputs {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} leaked into {what}:\n{text}");
        }
    }
}
