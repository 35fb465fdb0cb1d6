//! The CLI without a server: help, the check catalogue, explain, completions, usage errors, config.

use std::path::Path;

use crate::harness::{TempDir, unstuck, unstuck_env};

/// `--help` of every command shows a worked example; `--version` prints the version.
#[test]
fn help_has_examples_everywhere() {
    for cmd in [
        vec!["--help"],
        vec!["doctor", "--help"],
        vec!["checks", "--help"],
        vec!["explain", "--help"],
        vec!["completions", "--help"],
        vec!["serve", "--help"],
    ] {
        let out = unstuck(&cmd);
        out.expect_code(0);
        assert!(out.stdout.contains("Examples:"), "{cmd:?} has no examples:\n{}", out.stdout);
    }
    let out = unstuck(&["--version"]);
    out.expect_code(0);
    assert_eq!(out.stdout.trim(), concat!("unstuck ", env!("CARGO_PKG_VERSION")));
}

/// Bad arguments are usage errors (exit 64), never panics.
#[test]
fn usage_errors_exit_64() {
    for args in [
        vec!["doctor"],
        vec!["doctor", "x", "--timeout", "soon"],
        vec!["doctor", "x", "-o", "yaml"],
        vec!["nonsense"],
        vec![],
        vec!["explain", "worker.nope"],
        vec!["completions", "tcsh"],
        vec!["doctor", "x", "--timeout", "0s"],
        vec!["work-pool", "slots", ""],
        vec!["work-queue", "slots", " "],
        vec!["work-queue", "slots", "default", "--pool", ""],
        vec!["health", "--pool", ""],
    ] {
        let out = unstuck(&args);
        out.expect_code(64);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
}

/// A mangled UUID is a usage error, said in one line, before any configuration is read.
#[test]
fn malformed_id_is_usage_error() {
    let out = unstuck(&["doctor", "4171c0f6-b2f9-4c0d-9341-3e0cd528bfb"]);
    out.expect_code(64);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("not a valid flow-run id"), "{}", out.stderr);
}

/// With no API URL anywhere, the message says how to set it, and the exit code is 3.
#[test]
fn missing_api_url_says_how_to_set_it() {
    let out = unstuck(&["doctor", "grinning-chimera"]);
    out.expect_code(3);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("PREFECT_API_URL") && out.stderr.contains("--api-url"), "{}", out.stderr);
}

/// An unknown --profile is a usage error naming the profiles there are.
#[test]
fn unknown_profile_is_usage_error() {
    let home = TempDir::new("profiles");
    std::fs::write(
        home.path().join("profiles.toml"),
        "active = \"a\"\n[profiles.a]\nPREFECT_API_URL = \"http://127.0.0.1:9/api\"\n",
    )
    .expect("write profiles");
    let out = unstuck_env(
        &["doctor", "grinning-chimera", "--profile", "prod"],
        &[("PREFECT_HOME", home.path().to_str().expect("utf8"))],
    );
    out.expect_code(64);
    assert!(
        out.stderr.contains("profile 'prod' not found") && out.stderr.contains("(profiles there: a)"),
        "{}",
        out.stderr
    );
}

/// `checks` lists every registered id; `explain` prints the long form; JSON lists the same ids.
#[test]
fn checks_and_explain() {
    let out = unstuck(&["checks"]);
    out.expect_code(0);
    for id in ["worker.none", "worker.offline", "queue.not-polled", "pool.paused", "run.crashed"] {
        assert!(out.stdout.contains(id), "{id} missing from `checks`");
    }
    let json = unstuck(&["checks", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let ids: Vec<&str> = list.as_array().expect("array").iter().filter_map(|c| c["id"].as_str()).collect();
    let mut dedup = ids.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(ids.len(), dedup.len(), "duplicate ids: {ids:?}");
    for id in &ids {
        assert!(out.stdout.contains(id));
        let e = unstuck(&["explain", id]);
        e.expect_code(0);
        assert!(e.stdout.starts_with(&format!("{id}: ")) && e.stdout.contains("How to fix:"), "{}", e.stdout);
    }
    let e = unstuck(&["explain", "run.crashed"]);
    assert!(e.stdout.contains("137") && e.stdout.contains("127"), "{}", e.stdout);
}

/// The checked-in completions match what the binary generates (regenerate with scripts/completions).
#[test]
fn completions_are_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file) in [
        ("bash", "unstuck.bash"),
        ("zsh", "_unstuck"),
        ("fish", "unstuck.fish"),
        ("powershell", "_unstuck.ps1"),
        ("elvish", "unstuck.elv"),
    ] {
        let out = unstuck(&["completions", shell]);
        out.expect_code(0);
        let on_disk = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(on_disk == out.stdout, "completions/{file} is stale: run scripts/completions");
    }
}

/// A broken pipe (the reader is gone before anything is written) ends the command quietly with exit 0.
#[test]
fn broken_pipe_exits_zero() {
    use std::process::{Command, Stdio};
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_unstuck"))
        .args(["explain", "run.crashed"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
