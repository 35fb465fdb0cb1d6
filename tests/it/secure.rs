//! Servers with basic auth (`PREFECT_SERVER_API_AUTH_STRING`) and CSRF protection, and credentials
//! that come from a Prefect profile.

use crate::harness::proxy::{Fault, Proxy};
use crate::harness::{self, Server, TempDir, unstuck_env};

fn no_worker_run(s: &Server) -> harness::api::Run {
    let api = s.api();
    let pool = api.pool("csrf", "process");
    let dep = api.deployment(&pool, "default");
    api.late_run(&dep, 600)
}

/// A wrong auth string: one line saying the credentials were rejected and what to check; exit 3.
#[test]
fn wrong_credentials() {
    let s = harness::p3_secure();
    let out = unstuck_env(
        &["doctor", "00000000-0000-4000-8000-000000000001", "--api-url", &s.url],
        &[("PREFECT_API_AUTH_STRING", "admin:wrong-password")],
    );
    out.expect_code(3);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("rejected the credentials (HTTP 401"), "{}", out.stderr);
    assert!(out.stderr.contains("PREFECT_API_AUTH_STRING"), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-password"), "the secret leaked: {}", out.stderr);
}

/// No credentials at all against a server that wants them: the hint says which variable to set.
#[test]
fn missing_credentials() {
    let s = harness::p3_secure();
    let out = unstuck_env(&["doctor", "grinning-chimera", "--api-url", &s.url], &[]);
    out.expect_code(3);
    assert!(out.stderr.contains("no credentials are configured"), "{}", out.stderr);
}

/// Prefect 3 with basic auth and CSRF: unstuck fetches a CSRF token once and diagnoses the run.
#[test]
fn csrf_and_basic_auth_p3() {
    csrf_server(harness::p3_secure());
}

/// Prefect 2 with CSRF protection.
#[test]
fn csrf_p2() {
    csrf_server(harness::p2_csrf());
}

fn csrf_server(s: &Server) {
    let run = no_worker_run(s);
    let proxy = Proxy::start(&s.url, |_, _| Fault::Pass);
    let mut envs = vec![];
    if let Some(a) = &s.auth {
        envs.push(("PREFECT_API_AUTH_STRING", a.as_str()));
    }
    let out = unstuck_env(&["doctor", &run.id, "--api-url", &proxy.url, "-o", "json"], &envs);
    out.expect_code(2);
    assert_eq!(out.json()["verdict"]["primary"], "worker.none");
    let seen = proxy.seen();
    let token_fetches = seen.iter().filter(|r| r.path.starts_with("/csrf-token")).count();
    assert_eq!(token_fetches, 1, "one shared token for all concurrent requests: {seen:?}");
    let last_post = seen.iter().rev().find(|r| r.method == "POST").expect("a POST");
    assert!(last_post.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("prefect-csrf-token")), "{last_post:?}");
}

/// URL and auth string come from the active profile in $PREFECT_HOME/profiles.toml.
#[test]
fn credentials_from_profile() {
    let s = harness::p3_secure();
    let run = no_worker_run(s);
    let home = TempDir::new("prefect-home");
    let auth = s.auth.as_deref().expect("auth");
    std::fs::write(
        home.path().join("profiles.toml"),
        format!(
            "active = \"local\"\n\n[profiles.local]\nPREFECT_API_URL = \"{}\"\nPREFECT_API_AUTH_STRING = \"{auth}\"\n",
            s.url
        ),
    )
    .expect("profiles");
    let prefect_home = home.path().to_str().expect("utf8");
    let out = unstuck_env(&["doctor", &run.id, "-o", "json"], &[("PREFECT_HOME", prefect_home)]);
    out.expect_code(2);
    // The environment overrides the active profile, as in Prefect...
    let out = unstuck_env(
        &["doctor", &run.id, "-o", "json"],
        &[("PREFECT_HOME", prefect_home), ("PREFECT_API_AUTH_STRING", "admin:nope")],
    );
    out.expect_code(3);
    // ...unless the profile is named with --profile.
    let out = unstuck_env(
        &["doctor", &run.id, "-o", "json", "--profile", "local"],
        &[("PREFECT_HOME", prefect_home), ("PREFECT_API_AUTH_STRING", "admin:nope")],
    );
    out.expect_code(2);
}
