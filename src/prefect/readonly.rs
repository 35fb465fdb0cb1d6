//! The read-only policy: the one gate every Prefect request passes through (SPEC 3).
//!
//! unstuck never changes what it inspects. It may send `GET`, and `POST` only to endpoints that read:
//! `…/filter`, `…/count`, `…/paginate`, `…/concurrency_status` (which covers `/events/filter` and
//! `/logs/filter`). Worker poll endpoints (`get_scheduled_flow_runs`, `/work_queues/{id}/get_runs`)
//! and heartbeats are refused by name, because they mark queues as polled and workers as alive.

use reqwest::Method;

/// A request the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the read-only policy: {method} {path} ({reason})")]
pub struct Refused {
    pub method: String,
    pub path: String,
    pub reason: &'static str,
}

/// Path suffixes of POST endpoints that only read.
const READ_ONLY_POSTS: &[&str] = &["filter", "count", "paginate", "concurrency_status"];

/// Endpoints that have side effects even though they look like reads.
const NEVER: &[&str] = &["get_scheduled_flow_runs", "get_runs", "heartbeat", "set_state", "increment", "decrement"];

/// Checks one request against the policy. `path` is relative to the API root (`/flow_runs/filter`).
pub fn check(method: &Method, path: &str) -> Result<(), Refused> {
    let refuse = |reason| Refused { method: method.to_string(), path: path.to_string(), reason };
    let path_only = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path_only.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| s.contains("..")) {
        return Err(refuse("path traversal"));
    }
    // Prefect's GETs only read; their segments may be user names (a pool called "heartbeat").
    if *method == Method::GET {
        return Ok(());
    }
    // A POST endpoint is named by its last segment.
    if segments.last().is_some_and(|s| NEVER.iter().any(|n| s.eq_ignore_ascii_case(n))) {
        return Err(refuse("endpoint with side effects (polls, heartbeats, state changes)"));
    }
    if *method == Method::POST {
        return match segments.last() {
            Some(last) if READ_ONLY_POSTS.contains(last) => Ok(()),
            _ => Err(refuse("POST is only allowed to read-only endpoints")),
        };
    }
    Err(refuse("only GET and read-only POST requests are allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything unstuck needs to read is allowed.
    #[test]
    fn reads_are_allowed() {
        for (m, p) in [
            (Method::GET, "/flow_runs/4171c0f6-b2f9-4c0d-9341-3e0cd528bfb9"),
            (Method::GET, "/admin/version"),
            (Method::GET, "/csrf-token?client=unstuck-1"),
            (Method::GET, "/flow_run_states/?flow_run_id=x"),
            (Method::GET, "/events/filter/next?page-token=abc"),
            (Method::POST, "/flow_runs/filter"),
            (Method::POST, "/flow_runs/count"),
            (Method::POST, "/flow_runs/paginate"),
            (Method::POST, "/work_pools/p/workers/filter"),
            (Method::POST, "/work_pools/p/queues/filter"),
            (Method::POST, "/work_pools/p/concurrency_status"),
            (Method::POST, "/work_queues/x/concurrency_status"),
            (Method::POST, "/logs/filter"),
            (Method::POST, "/events/filter"),
            (Method::GET, "/work_pools/heartbeat"),
            (Method::POST, "/work_pools/heartbeat/queues/filter"),
            (Method::GET, "/deployments/name/increment/nightly"),
        ] {
            assert_eq!(check(&m, p), Ok(()), "{m} {p}");
        }
    }

    /// Writes, polls, heartbeats and every other method are refused.
    #[test]
    fn writes_and_polls_are_refused() {
        for (m, p) in [
            (Method::POST, "/work_pools/p/get_scheduled_flow_runs"),
            (Method::POST, "/work_queues/x/get_runs"),
            (Method::POST, "/work_pools/p/workers/heartbeat"),
            (Method::POST, "/flow_runs/x/set_state"),
            (Method::POST, "/flow_runs/"),
            (Method::POST, "/deployments/x/create_flow_run"),
            (Method::POST, "/v2/concurrency_limits/increment"),
            (Method::POST, "/flow_runs/x/set_state/../filter"),
            (Method::PATCH, "/flow_runs/x"),
            (Method::DELETE, "/flow_runs/x"),
            (Method::PUT, "/work_pools/p"),
            (Method::GET, "/work_pools/p/../../flow_runs"),
        ] {
            assert!(check(&m, p).is_err(), "{m} {p} should be refused");
        }
    }
}
