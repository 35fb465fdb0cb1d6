//! Where the Prefect API and its credentials come from: flags > environment > Prefect's profiles.toml.
//!
//! What a Prefect user already has must just work: the same variables (`PREFECT_API_URL`,
//! `PREFECT_API_KEY`, `PREFECT_API_AUTH_STRING`, TLS settings) and the same profiles file, chosen the
//! same way (`--profile` > `PREFECT_PROFILE` > the file's `active` key).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::Url;

/// Reads an environment variable; injected so resolution is testable without touching the process.
pub type EnvFn<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `PREFECT_API_KEY` -> `Authorization: Bearer`.
    Bearer(Secret),
    /// `PREFECT_API_AUTH_STRING` ("user:password") -> HTTP Basic; wins over the key.
    Basic {
        user: String,
        password: Secret,
    },
}

impl Auth {
    /// The secret strings to redact from anything we print or save.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Auth::None => vec![],
            Auth::Bearer(key) => vec![key.expose().to_string()],
            Auth::Basic { user, password } => {
                vec![format!("{user}:{}", password.expose()), password.expose().to_string()]
            }
        }
    }
}

/// Where a setting's value came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env(&'static str),
    Profile { name: String, path: PathBuf },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("--api-url"),
            Origin::Env(var) => write!(f, "${var}"),
            Origin::Profile { name, path } => write!(f, "profile '{name}' in {}", path.display()),
        }
    }
}

/// A resolved Prefect API configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The API root, without a trailing slash (`http://127.0.0.1:4200/api`).
    pub url: Url,
    pub url_origin: Origin,
    pub auth: Auth,
    /// Extra CA bundle (`PREFECT_API_SSL_CERT_FILE`, else `SSL_CERT_FILE`).
    pub ca_file: Option<PathBuf>,
    /// `PREFECT_API_TLS_INSECURE_SKIP_VERIFY=true`.
    pub insecure_skip_verify: bool,
    /// `PREFECT_CLIENT_CSRF_SUPPORT_ENABLED` (default true; Prefect Cloud never uses CSRF).
    pub csrf_support: bool,
    /// Set when the URL is a Prefect Cloud workspace URL.
    pub cloud: Option<CloudWorkspace>,
    /// Warnings to print on stderr (misconfiguration hints, insecure TLS).
    pub warnings: Vec<String>,
}

/// The account and workspace of a Prefect Cloud URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudWorkspace {
    pub account: String,
    pub workspace: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "no Prefect API URL is configured: pass --api-url, or `export PREFECT_API_URL=http://127.0.0.1:4200/api`, \
         or store it in your Prefect profile with `prefect config set PREFECT_API_URL=<url>`{profile_hint}"
    )]
    MissingUrl { profile_hint: String },
    #[error("{origin} is not a valid URL ({value:?}): {reason}")]
    BadUrl { origin: String, value: String, reason: String },
    #[error("profile '{name}' not found in {path} (profiles there: {available})")]
    UnknownProfile { name: String, path: String, available: String },
    #[error("profile '{name}' was requested with --profile, but there is no profiles file ({path})")]
    NoProfilesFile { name: String, path: String },
    #[error("cannot read {path}: {reason}")]
    ProfilesUnreadable { path: String, reason: String },
    #[error("{origin}: PREFECT_API_AUTH_STRING must look like 'user:password'")]
    BadAuthString { origin: String },
}

impl ConfigError {
    /// `--profile` naming a profile that does not exist is a usage error; the rest are environment problems.
    pub fn is_usage(&self) -> bool {
        matches!(self, ConfigError::UnknownProfile { .. } | ConfigError::NoProfilesFile { .. })
    }
}

/// The flags that bear on configuration.
#[derive(Debug, Clone, Default)]
pub struct ApiFlags {
    pub api_url: Option<String>,
    pub profile: Option<String>,
}

/// Settings read from one layer (profile or environment).
#[derive(Debug, Default, Clone)]
struct Layer(BTreeMap<String, String>);

const KEYS: &[&str] = &[
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
    "PREFECT_API_AUTH_STRING",
    "PREFECT_API_TLS_INSECURE_SKIP_VERIFY",
    "PREFECT_API_SSL_CERT_FILE",
    "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED",
];

/// Resolves the API configuration from flags, the environment and the Prefect profile.
pub fn resolve(flags: &ApiFlags, env: EnvFn<'_>) -> Result<ApiConfig, ConfigError> {
    let profiles_path = profiles_path(env);
    let (profile_name, profile) = load_profile(flags, env, profiles_path.as_deref())?;
    let env_layer =
        Layer(KEYS.iter().filter_map(|k| env(k).filter(|v| !v.is_empty()).map(|v| (k.to_string(), v))).collect());

    // A profile named with --profile wins over the environment, as with `prefect --profile X`;
    // otherwise the environment overrides the active profile.
    let explicit_profile = flags.profile.is_some();
    let lookup = |key: &'static str| -> Option<(String, Origin)> {
        let from_profile = || {
            profile.0.get(key).map(|v| {
                (
                    v.clone(),
                    Origin::Profile {
                        name: profile_name.clone().unwrap_or_default(),
                        path: profiles_path.clone().unwrap_or_default(),
                    },
                )
            })
        };
        let from_env = || env_layer.0.get(key).map(|v| (v.clone(), Origin::Env(key)));
        if explicit_profile { from_profile().or_else(from_env) } else { from_env().or_else(from_profile) }
    };

    let (raw_url, url_origin) = match &flags.api_url {
        Some(u) => (u.clone(), Origin::Flag),
        None => lookup("PREFECT_API_URL").ok_or_else(|| ConfigError::MissingUrl {
            profile_hint: match (&profile_name, &profiles_path) {
                (Some(name), Some(path)) if path.exists() => {
                    format!(" (profile '{name}' in {} has no PREFECT_API_URL)", path.display())
                }
                _ => String::new(),
            },
        })?,
    };
    let mut warnings = Vec::new();
    let url = parse_api_url(&raw_url, &url_origin, &mut warnings)?;
    let cloud = cloud_workspace(&url);

    let auth = match lookup("PREFECT_API_AUTH_STRING") {
        Some((s, origin)) => {
            let (user, password) =
                s.split_once(':').ok_or_else(|| ConfigError::BadAuthString { origin: origin.to_string() })?;
            Auth::Basic { user: user.to_string(), password: Secret::new(password) }
        }
        None => match lookup("PREFECT_API_KEY") {
            Some((key, _)) => Auth::Bearer(Secret::new(key)),
            None => Auth::None,
        },
    };

    let insecure_skip_verify = lookup("PREFECT_API_TLS_INSECURE_SKIP_VERIFY").is_some_and(|(v, _)| truthy(&v));
    if insecure_skip_verify && url.scheme() == "https" {
        warnings
            .push("PREFECT_API_TLS_INSECURE_SKIP_VERIFY is set: the server's TLS certificate is NOT verified".into());
    }
    let ca_file = lookup("PREFECT_API_SSL_CERT_FILE")
        .map(|(v, _)| v)
        .or_else(|| env("SSL_CERT_FILE").filter(|v| !v.is_empty()))
        .map(|p| expand_home(&p, env));
    let csrf_support = lookup("PREFECT_CLIENT_CSRF_SUPPORT_ENABLED").is_none_or(|(v, _)| truthy(&v));

    Ok(ApiConfig {
        url,
        url_origin,
        auth,
        ca_file,
        insecure_skip_verify,
        csrf_support: csrf_support && cloud.is_none(),
        cloud,
        warnings,
    })
}

fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// `PREFECT_PROFILES_PATH`, else `$PREFECT_HOME/profiles.toml`, else `~/.prefect/profiles.toml`.
fn profiles_path(env: EnvFn<'_>) -> Option<PathBuf> {
    if let Some(p) = env("PREFECT_PROFILES_PATH").filter(|p| !p.is_empty()) {
        return Some(expand_home(&p, env));
    }
    if let Some(home) = env("PREFECT_HOME").filter(|p| !p.is_empty()) {
        return Some(expand_home(&home, env).join("profiles.toml"));
    }
    env("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".prefect").join("profiles.toml"))
}

fn expand_home(p: &str, env: EnvFn<'_>) -> PathBuf {
    match (p.strip_prefix("~/"), env("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(p),
    }
}

/// Picks the profile (`--profile` > `PREFECT_PROFILE` > `active`) and reads its settings.
fn load_profile(flags: &ApiFlags, env: EnvFn<'_>, path: Option<&Path>) -> Result<(Option<String>, Layer), ConfigError> {
    let text = match path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ConfigError::ProfilesUnreadable { path: p.display().to_string(), reason: e.to_string() });
            }
        },
        None => None,
    };
    let path_str = path.map(|p| p.display().to_string()).unwrap_or_else(|| "~/.prefect/profiles.toml".into());
    let Some(text) = text else {
        if let Some(name) = &flags.profile {
            return Err(ConfigError::NoProfilesFile { name: name.clone(), path: path_str });
        }
        return Ok((None, Layer::default()));
    };
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::ProfilesUnreadable {
        path: path_str.clone(),
        reason: e.message().to_string(),
    })?;
    let profiles = doc.get("profiles").and_then(|p| p.as_table());
    let chosen = flags
        .profile
        .clone()
        .or_else(|| env("PREFECT_PROFILE").filter(|p| !p.is_empty()))
        .or_else(|| doc.get("active").and_then(|a| a.as_str()).map(str::to_string))
        .unwrap_or_else(|| "default".to_string());
    match profiles.and_then(|p| p.get(&chosen)).and_then(|p| p.as_table()) {
        Some(table) => {
            let layer = table
                .iter()
                .filter(|(k, _)| KEYS.contains(&k.as_str()))
                .filter_map(|(k, v)| {
                    let v = match v {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Boolean(b) => b.to_string(),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Float(f) => f.to_string(),
                        _ => return None,
                    };
                    Some((k.clone(), v))
                })
                .collect();
            Ok((Some(chosen), Layer(layer)))
        }
        None if flags.profile.is_some() => Err(ConfigError::UnknownProfile {
            name: chosen,
            path: path_str,
            available: profiles
                .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into()),
        }),
        // Prefect falls back to its packaged default profile, which sets nothing.
        None => Ok((Some(chosen), Layer::default())),
    }
}

/// Parses and normalises the API URL, collecting hints for common mistakes.
fn parse_api_url(raw: &str, origin: &Origin, warnings: &mut Vec<String>) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::BadUrl {
        origin: origin.to_string(),
        value: raw.to_string(),
        reason: reason.to_string(),
    };
    let mut url = Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(bad("it has no host"));
    }
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);

    let host = url.host_str().unwrap_or_default();
    if host == "app.prefect.cloud" {
        warnings.push(format!(
            "{origin} points at the Prefect Cloud UI; the API URL looks like \
             https://api.prefect.cloud/api/accounts/<ACCOUNT-ID>/workspaces/<WORKSPACE-ID>"
        ));
    } else if host == "api.prefect.cloud" && cloud_workspace(&url).is_none() {
        warnings.push(format!(
            "{origin} is a Prefect Cloud URL without an account and workspace; it should look like \
             https://api.prefect.cloud/api/accounts/<ACCOUNT-ID>/workspaces/<WORKSPACE-ID>"
        ));
    }
    Ok(url)
}

/// Recognises `…/api/accounts/<uuid>/workspaces/<uuid>`.
pub fn cloud_workspace(url: &Url) -> Option<CloudWorkspace> {
    let segs: Vec<&str> = url.path_segments()?.collect();
    segs.windows(4).find_map(|w| match w {
        ["accounts", a, "workspaces", ws] if uuid::Uuid::parse_str(a).is_ok() && uuid::Uuid::parse_str(ws).is_ok() => {
            Some(CloudWorkspace { account: a.to_string(), workspace: ws.to_string() })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn resolve_with(flags: ApiFlags, env: &HashMap<String, String>) -> Result<ApiConfig, ConfigError> {
        resolve(&flags, &|k| env.get(k).cloned())
    }

    fn write_profiles(dir: &Path, text: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join("profiles.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("unstuck-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    const PROFILES: &str = r#"
active = "local"

[profiles.local]
PREFECT_API_URL = "http://127.0.0.1:4200/api/"
PREFECT_API_AUTH_STRING = "admin:pass"

[profiles.cloud]
PREFECT_API_URL = "https://api.prefect.cloud/api/accounts/0ff44498-d380-4d7b-bd68-9b52da03823f/workspaces/c8a6d0a5-bc6d-4a42-a2e2-2f8e4e53aa42"
PREFECT_API_KEY = "pnu_profilekey"
"#;

    /// With nothing configured, the error says how to set the URL.
    #[test]
    fn missing_url_says_how_to_set_it() {
        let err = resolve_with(ApiFlags::default(), &env_of(&[("HOME", "/nonexistent")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--api-url"), "{msg}");
        assert!(msg.contains("PREFECT_API_URL"), "{msg}");
        assert!(!err.is_usage());
    }

    /// The active profile supplies URL and basic auth; trailing slashes are trimmed.
    #[test]
    fn active_profile_is_used() {
        let dir = tmpdir("active");
        let path = write_profiles(&dir, PROFILES);
        let env = env_of(&[("PREFECT_PROFILES_PATH", path.to_str().unwrap())]);
        let cfg = resolve_with(ApiFlags::default(), &env).unwrap();
        assert_eq!(cfg.url.as_str(), "http://127.0.0.1:4200/api");
        assert_eq!(cfg.auth, Auth::Basic { user: "admin".into(), password: Secret::new("pass") });
        assert!(cfg.cloud.is_none());
        assert!(cfg.csrf_support);
    }

    /// PREFECT_PROFILE picks a profile; a Cloud URL is recognised and CSRF is off for it.
    #[test]
    fn prefect_profile_env_and_cloud() {
        let dir = tmpdir("cloud");
        write_profiles(&dir, PROFILES);
        let env = env_of(&[("PREFECT_HOME", dir.to_str().unwrap()), ("PREFECT_PROFILE", "cloud")]);
        let cfg = resolve_with(ApiFlags::default(), &env).unwrap();
        assert_eq!(cfg.auth, Auth::Bearer(Secret::new("pnu_profilekey")));
        let ws = cfg.cloud.expect("cloud workspace");
        assert_eq!(ws.account, "0ff44498-d380-4d7b-bd68-9b52da03823f");
        assert!(!cfg.csrf_support);
    }

    /// Environment beats the active profile; the flag beats both; auth string beats the key.
    #[test]
    fn precedence_flag_env_profile() {
        let dir = tmpdir("prec");
        write_profiles(&dir, PROFILES);
        let env = env_of(&[
            ("PREFECT_HOME", dir.to_str().unwrap()),
            ("PREFECT_API_URL", "http://env:4200/api"),
            ("PREFECT_API_KEY", "pnu_envkey"),
        ]);
        let cfg = resolve_with(ApiFlags::default(), &env).unwrap();
        assert_eq!(cfg.url.as_str(), "http://env:4200/api");
        // The profile's auth string still wins over the env key: auth string beats key.
        assert!(matches!(cfg.auth, Auth::Basic { .. }));

        let cfg =
            resolve_with(ApiFlags { api_url: Some("https://flag.example/api".into()), profile: None }, &env).unwrap();
        assert_eq!(cfg.url.as_str(), "https://flag.example/api");
        assert_eq!(cfg.url_origin, Origin::Flag);
    }

    /// A profile named with --profile wins over the environment.
    #[test]
    fn explicit_profile_beats_env() {
        let dir = tmpdir("explicit");
        write_profiles(&dir, PROFILES);
        let env = env_of(&[("PREFECT_HOME", dir.to_str().unwrap()), ("PREFECT_API_URL", "http://env/api")]);
        let cfg = resolve_with(ApiFlags { api_url: None, profile: Some("local".into()) }, &env).unwrap();
        assert_eq!(cfg.url.as_str(), "http://127.0.0.1:4200/api");
    }

    /// An unknown --profile is a usage error that lists the profiles there are.
    #[test]
    fn unknown_profile_is_usage_error() {
        let dir = tmpdir("unknown");
        write_profiles(&dir, PROFILES);
        let env = env_of(&[("PREFECT_HOME", dir.to_str().unwrap())]);
        let err = resolve_with(ApiFlags { api_url: None, profile: Some("prod".into()) }, &env).unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("cloud, local"), "{err}");
    }

    /// Bad URLs and the Cloud UI URL are caught with a hint.
    #[test]
    fn bad_urls() {
        let env = env_of(&[("PREFECT_API_URL", "localhost:4200")]);
        assert!(matches!(resolve_with(ApiFlags::default(), &env), Err(ConfigError::BadUrl { .. })));
        let env = env_of(&[("PREFECT_API_URL", "https://app.prefect.cloud/account/x/workspace/y")]);
        let cfg = resolve_with(ApiFlags::default(), &env).unwrap();
        assert!(cfg.warnings[0].contains("api.prefect.cloud/api/accounts"), "{:?}", cfg.warnings);
    }

    /// TLS settings: insecure flag warns, SSL_CERT_FILE is the fallback CA bundle.
    #[test]
    fn tls_settings() {
        let env = env_of(&[
            ("PREFECT_API_URL", "https://prefect.internal/api"),
            ("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "True"),
            ("SSL_CERT_FILE", "/etc/ssl/custom.pem"),
        ]);
        let cfg = resolve_with(ApiFlags::default(), &env).unwrap();
        assert!(cfg.insecure_skip_verify);
        assert_eq!(cfg.ca_file, Some(PathBuf::from("/etc/ssl/custom.pem")));
        assert!(cfg.warnings.iter().any(|w| w.contains("NOT verified")));
    }

    /// Secrets never show in Debug output.
    #[test]
    fn secret_debug_is_hidden() {
        let auth = Auth::Bearer(Secret::new("pnu_topsecret"));
        assert!(!format!("{auth:?}").contains("topsecret"));
    }
}
