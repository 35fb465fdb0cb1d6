//! Secret redaction: API keys, auth strings, bearer tokens, AWS credentials, URL passwords, and the
//! values of variables whose name suggests a secret. Applied when evidence is collected, again on the
//! whole bundle before it is saved, and on everything printed.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use regex::Regex;

pub const MASK: &str = "[REDACTED]";

/// Names that suggest a secret (`*KEY*`, `*SECRET*`, `*TOKEN*`, `*PASSWORD*`, `*CREDENTIAL*`, plus
/// auth strings).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH_STRING", "AUTHORIZATION"]
        .iter()
        .any(|needle| upper.contains(needle))
}

struct Pattern {
    re: Regex,
    /// Replacement; `$1` keeps a prefix such as the variable name.
    with: &'static str,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |re: &str, with: &'static str| Pattern {
        re: Regex::new(re).unwrap_or_else(|e| panic!("redaction pattern {re}: {e}")),
        with,
    };
    vec![
        // Prefect Cloud API keys (user and bot).
        p(r"\bpn[ub]_[A-Za-z0-9]{8,}", MASK),
        // Authorization headers and bare bearer/basic tokens.
        // A scheme and its credentials, or a bare token; not prose ("authorization: server message").
        p(
            r"(?i)\b(authorization\s*[:=]\s*)(?:(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{6,}|[A-Za-z0-9._~+/=-]{16,})",
            "${1}[REDACTED]",
        ),
        // AWS access key ids.
        p(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", MASK),
        // Passwords in URLs: scheme://user:password@host.
        p(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@", "${1}[REDACTED]@"),
        // NAME=value / NAME: value / "NAME": "value" where NAME is a variable-like word that suggests a
        // secret (not part of a hyphenated name such as 'keycloak-sync' or 'refresh-token').
        p(
            r#"(?i)(^|[^A-Z0-9_.-])("?[A-Z0-9_.]*(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH_STRING)[A-Z0-9_.]*["']?\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;}"'\\]+)"#,
            "${1}${2}[REDACTED]",
        ),
    ]
});

/// Words that are secret only when they look like one (see `looks_like_token`): a bare "Bearer x" /
/// "Basic x", and 40-character runs of base64 (the shape of an AWS secret access key; the `true` beside
/// that pattern tells `looks_like_token` to judge it as one).
static TOKEN_SHAPED: LazyLock<Vec<(Regex, bool)>> = LazyLock::new(|| {
    let re = |re: &str| Regex::new(re).unwrap_or_else(|e| panic!("redaction pattern {re}: {e}"));
    vec![
        (re(r"\b((?i:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{8,})"), false),
        (re(r"(^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])"), true),
    ]
});

/// Whether a word is a credential rather than prose: it mixes letter cases or has a digit or a
/// symbol ("basic configuration" stays, "Bearer eyJhbGci…" does not). An AWS secret key candidate
/// must mix cases and have a digit or symbol, which a hex digest (lower case only) never does.
fn looks_like_token(word: &str, aws: bool) -> bool {
    let upper = word.chars().any(|c| c.is_ascii_uppercase());
    let lower = word.chars().any(|c| c.is_ascii_lowercase());
    let other = word.chars().any(|c| !c.is_ascii_alphabetic());
    if aws {
        upper && lower && other
    } else {
        other || (upper && lower && word.chars().skip(1).any(|c| c.is_ascii_uppercase()))
    }
}

/// Fields of Prefect objects whose contents users define (environment, credentials, flow parameters).
const USER_MAPS: &[&str] = &["job_variables", "parameters", "job_configuration", "infra_overrides", "env"];

/// Redacts known secrets (the configured credentials) and secret-shaped text.
#[derive(Clone, Default)]
pub struct Redactor {
    literals: Arc<Vec<String>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} literals)", self.literals.len())
    }
}

impl Redactor {
    /// `literals` are exact secret values (API key, auth string); very short ones are ignored so a
    /// one-letter password does not blank out the report.
    pub fn new(literals: impl IntoIterator<Item = String>) -> Self {
        let mut lits: Vec<String> = literals.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so "user:password" is replaced before "password".
        lits.sort_by_key(|s| std::cmp::Reverse(s.len()));
        lits.dedup();
        Redactor { literals: Arc::new(lits) }
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for lit in self.literals.iter() {
            if out.contains(lit.as_str()) {
                out = Cow::Owned(out.replace(lit.as_str(), MASK));
            }
        }
        for p in PATTERNS.iter() {
            if let Cow::Owned(s) = p.re.replace_all(&out, p.with) {
                out = Cow::Owned(s);
            }
        }
        for &(ref re, aws) in TOKEN_SHAPED.iter() {
            let replaced = re.replace_all(&out, |c: &regex::Captures<'_>| {
                let (whole, lead, word) = (&c[0], &c[1], &c[2]);
                if looks_like_token(word, aws) {
                    // Keep what surrounds the word ("Bearer ", the separators around a key).
                    let tail = &whole[lead.len() + word.len()..];
                    format!("{lead}{MASK}{tail}")
                } else {
                    whole.to_string()
                }
            });
            if let Cow::Owned(s) = replaced {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// `{"name": "DB_PASSWORD", "value": "…"}`: the shape of Kubernetes env, ECS `environment` and
    /// tags. The value of an entry whose name suggests a secret is masked.
    fn redact_name_value(map: &mut serde_json::Map<String, serde_json::Value>) {
        let named_secret = ["name", "Name", "key", "Key"]
            .iter()
            .any(|k| map.get(*k).and_then(|v| v.as_str()).is_some_and(is_secret_name));
        if named_secret {
            for k in ["value", "Value"] {
                if let Some(v) = map.get_mut(k).filter(|v| !v.is_null()) {
                    *v = serde_json::Value::String(MASK.into());
                }
            }
        }
    }

    /// Redacts every string in a JSON value, and the whole value of any key that names a secret.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                Self::redact_name_value(map);
                for (k, v) in map.iter_mut() {
                    if is_secret_name(k) && !v.is_null() {
                        *v = serde_json::Value::String(MASK.into());
                    } else {
                        self.redact_json(v);
                    }
                }
            }
            _ => {}
        }
    }

    /// Redacts strings only (keys keep their values unless the text itself is secret-shaped). Used on
    /// whole bundles and reports, whose own field names (`deployment_concurrency_lease_id`, …) are not
    /// secrets; user-defined maps inside them (a run's job variables and parameters) are redacted by
    /// key too, for every run, not only the diagnosed one.
    pub fn redact_json_strings(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json_strings(v)),
            serde_json::Value::Object(map) => {
                Self::redact_name_value(map);
                for (k, v) in map.iter_mut() {
                    if USER_MAPS.contains(&k.as_str()) {
                        self.redact_json(v);
                    } else {
                        self.redact_json_strings(v);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Configured secrets and secret-shaped text are masked; ordinary text is left alone.
    #[test]
    fn redacts_text() {
        let r = Redactor::new(["admin:hunter22".to_string(), "hunter22".to_string()]);
        let cases = [
            ("key pnu_abcdefghijklmnopqrstuvwxyz0123 rejected", "key [REDACTED] rejected"),
            ("Authorization: Bearer abc.def.ghi", "Authorization: [REDACTED]"),
            (
                "may require authorization: server message: insufficient_scope",
                "may require authorization: server message: insufficient_scope",
            ),
            ("auth admin:hunter22 failed", "auth [REDACTED] failed"),
            ("password hunter22 wrong", "password [REDACTED] wrong"),
            ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),
            ("id AKIAIOSFODNN7EXAMPLE", "id [REDACTED]"),
            ("https://bob:pw@db.example/x", "https://bob:[REDACTED]@db.example/x"),
            (r#"{"DB_PASSWORD": "s3cret"}"#, r#"{"DB_PASSWORD": [REDACTED]}"#),
            ("Missing CSRF token.", "Missing CSRF token."),
            ("Worker 'w1' submitting flow run 'abc'", "Worker 'w1' submitting flow run 'abc'"),
            ("export API_TOKEN=abc123; next", "export API_TOKEN=[REDACTED]; next"),
            ("{'api_key': 'xyz'}", "{'api_key': [REDACTED]}"),
            ("https://:s3cret@host/api", "https://:[REDACTED]@host/api"),
            // Regressions (issue 9): prose after "basic"/"bearer" stays; AWS secret keys go, digests stay.
            ("uses the basic configuration of the pool", "uses the basic configuration of the pool"),
            ("bearer tokens are not logged", "bearer tokens are not logged"),
            ("Basic YWRtaW46aHVudGVyMjI=", "Basic [REDACTED]"),
            ("key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY in env", "key [REDACTED] in env"),
            ("secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret=[REDACTED]"),
            (
                "commit 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 pinned",
                "commit 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 pinned",
            ),
            // Names that merely contain a secret word stay readable.
            ("work pool 'keycloak-sync': type process", "work pool 'keycloak-sync': type process"),
            ("Run 'refresh-token': the run has been Pending", "Run 'refresh-token': the run has been Pending"),
        ];
        for (input, want) in cases {
            assert_eq!(r.redact(input), want, "input: {input}");
        }
    }

    /// Job variables: secret-named keys lose their values at any depth.
    #[test]
    fn redacts_json_by_key() {
        let r = Redactor::default();
        let mut v = serde_json::json!({
            "namespace": "prefect",
            "env": {"PREFECT_API_KEY": "pnu_x", "LOG_LEVEL": "DEBUG", "nested": [{"aws_secret_access_key": "y"}]},
        });
        r.redact_json(&mut v);
        assert_eq!(v["namespace"], "prefect");
        assert_eq!(v["env"]["PREFECT_API_KEY"], MASK);
        assert_eq!(v["env"]["LOG_LEVEL"], "DEBUG");
        assert_eq!(v["env"]["nested"][0]["aws_secret_access_key"], MASK);
    }

    /// Regression (issue 9): name/value lists (Kubernetes env, ECS environment) lose secret values,
    /// in job variables and anywhere in a bundle.
    #[test]
    fn redacts_name_value_lists() {
        let r = Redactor::default();
        let env = serde_json::json!([
            {"name": "DB_PASSWORD", "value": "hunter2"},
            {"name": "PREFECT_API_KEY", "value": "pnu_x"},
            {"name": "REGION", "value": "eu-west-1"},
            {"Name": "AWS_SECRET_ACCESS_KEY", "Value": "abc"},
        ]);
        for redact in [Redactor::redact_json, Redactor::redact_json_strings] {
            let mut v = serde_json::json!({"pods": [{"spec": {"containers": [{"env": env.clone()}]}}], "environment": env.clone()});
            redact(&r, &mut v);
            for list in [&v["pods"][0]["spec"]["containers"][0]["env"], &v["environment"]] {
                assert_eq!(list[0]["value"], MASK, "{v}");
                assert_eq!(list[1]["value"], MASK);
                assert_eq!(list[2]["value"], "eu-west-1");
                assert_eq!(list[3]["Value"], MASK);
                assert_eq!(list[0]["name"], "DB_PASSWORD");
            }
        }
    }

    /// A whole bundle: field names stay, but every run's job variables and parameters lose secrets.
    #[test]
    fn bundles_redact_user_maps_of_every_run() {
        let r = Redactor::default();
        let mut v = serde_json::json!({
            "concurrency": {"pool_holders": {"value": [
                {"id": "a", "deployment_concurrency_lease_id": "l-1",
                 "job_variables": {"env": {"DB_PASSWORD": "hunter2", "REGION": "eu"}},
                 "parameters": {"api_token": "t0k", "rows": 5}}
            ]}},
        });
        r.redact_json_strings(&mut v);
        let run = &v["concurrency"]["pool_holders"]["value"][0];
        assert_eq!(run["deployment_concurrency_lease_id"], "l-1");
        assert_eq!(run["job_variables"]["env"]["DB_PASSWORD"], MASK);
        assert_eq!(run["job_variables"]["env"]["REGION"], "eu");
        assert_eq!(run["parameters"]["api_token"], MASK);
        assert_eq!(run["parameters"]["rows"], 5);
    }
}
