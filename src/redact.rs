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
        p(r"(?i)\b(authorization\s*[:=]\s*)(?:bearer|basic)?\s*[A-Za-z0-9._~+/=-]{6,}", "${1}[REDACTED]"),
        p(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]"),
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
        out
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
