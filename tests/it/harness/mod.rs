//! Test harness: the real servers `scripts/test` started, a client that builds scenarios through
//! their REST API, a runner for the built binary, output normalisation, and a fault-injecting proxy.

pub mod agent;
pub mod api;
pub mod ecs_api;
pub mod kube_api;
pub mod normalize;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use api::Api;

/// Installs the process-wide TLS crypto provider (the crate builds reqwest without one).
pub fn http_client(timeout: Duration) -> reqwest::blocking::Client {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Which Prefect generation a test server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gen {
    P3,
    P2,
}

/// A running Prefect server started by `scripts/test`.
#[derive(Debug)]
pub struct Server {
    pub label: &'static str,
    pub version: Gen,
    pub url: String,
    /// `PREFECT_API_AUTH_STRING` the server demands, if any.
    pub auth: Option<String>,
    pub csrf: bool,
    pub venv: PathBuf,
}

/// The servers' settings: from the environment when `scripts/test` started them, else from
/// `scripts/servers`, started once for this test process (plain `cargo test`). That script stops the
/// servers when its standard input closes, which happens when this process exits.
fn setting(var: &str) -> String {
    if let Ok(v) = std::env::var(var) {
        return v;
    }
    static STARTED: OnceLock<std::collections::HashMap<String, String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        use std::io::BufRead;
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        eprintln!("UNSTUCK_TEST_* not set: starting the Prefect test servers with scripts/servers (a few minutes the first time)");
        let mut child = Command::new("bash")
            .arg(root.join("scripts/servers"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run scripts/servers: {e}"));
        let stdout = child.stdout.take().expect("servers stdout");
        let mut vars = std::collections::HashMap::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            if line == "READY" {
                break;
            }
            if let Some((k, v)) = line.split_once('=') {
                vars.insert(k.to_string(), v.to_string());
            }
        }
        assert!(vars.contains_key("UNSTUCK_TEST_P3_URL"), "scripts/servers did not start the servers (see its output above)");
        // Held open for the life of the process: its end closes the pipe and stops the servers.
        std::mem::forget(child);
        vars
    });
    started.get(var).cloned().unwrap_or_else(|| panic!("scripts/servers did not say {var}"))
}

fn from_env(label: &'static str, version: Gen, url_var: &str, auth_var: Option<&str>, csrf: bool) -> Server {
    let need = |var: &str| setting(var);
    let venv_var = match version {
        Gen::P3 => "UNSTUCK_TEST_P3_VENV",
        Gen::P2 => "UNSTUCK_TEST_P2_VENV",
    };
    Server { label, version, url: need(url_var), auth: auth_var.map(need), csrf, venv: PathBuf::from(need(venv_var)) }
}

pub fn p3() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| from_env("p3", Gen::P3, "UNSTUCK_TEST_P3_URL", None, false))
}

/// moto's AWS server (ECS, CloudWatch Logs) and its virtualenv (whose boto3 builds the scenarios).
pub fn moto() -> (String, PathBuf) {
    (setting("UNSTUCK_TEST_MOTO_URL"), PathBuf::from(setting("UNSTUCK_TEST_MOTO_VENV")))
}

/// The Prometheus server binary (Debian's `prometheus`, installed by the test setup).
pub fn prometheus() -> PathBuf {
    PathBuf::from(setting("UNSTUCK_TEST_PROMETHEUS"))
}

pub fn p2() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| from_env("p2", Gen::P2, "UNSTUCK_TEST_P2_URL", None, false))
}

/// Prefect 3 with `PREFECT_SERVER_API_AUTH_STRING` and CSRF protection.
pub fn p3_secure() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        from_env("p3secure", Gen::P3, "UNSTUCK_TEST_P3_SECURE_URL", Some("UNSTUCK_TEST_P3_SECURE_AUTH"), true)
    })
}

/// Prefect 3 whose page limit is 10 (`PREFECT_SERVER_API_DEFAULT_LIMIT=10`): a limit of 200 is a 422.
pub fn p3_small() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| from_env("p3small", Gen::P3, "UNSTUCK_TEST_P3_SMALL_URL", None, false))
}

/// Prefect 3 on PostgreSQL (`PREFECT_API_DATABASE_CONNECTION_URL`), as production servers run.
pub fn p3_pg() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| from_env("p3pg", Gen::P3, "UNSTUCK_TEST_P3_PG_URL", None, false))
}

/// Prefect 2 with CSRF protection.
pub fn p2_csrf() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| from_env("p2csrf", Gen::P2, "UNSTUCK_TEST_P2_CSRF_URL", None, true))
}

impl Server {
    pub fn api(&self) -> Api {
        Api::new(self)
    }

    /// Runs `unstuck <args> --api-url <this server>` with this server's credentials.
    pub fn unstuck(&self, args: &[&str]) -> Out {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--api-url", &self.url]);
        let envs: Vec<(&str, &str)> = match &self.auth {
            Some(a) => vec![("PREFECT_API_AUTH_STRING", a.as_str())],
            None => vec![],
        };
        unstuck_env(&all, &envs)
    }

    pub fn prefect_bin(&self) -> PathBuf {
        self.venv.join("bin").join("prefect")
    }
}

/// What the binary did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The process's peak resident set size in KiB, when measured (`unstuck_env_measured`).
    pub peak_rss_kib: Option<u64>,
}

impl Out {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }

    /// Panics with the whole output when the exit code differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// A scratch HOME per process so no developer profile leaks into a test.
pub fn scratch_home() -> &'static Path {
    static H: OnceLock<PathBuf> = OnceLock::new();
    H.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("unstuck-it-home-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch home");
        d
    })
}

/// How a helper runs the binary: `unstuck_env` or `unstuck_env_measured`.
pub type Runner = fn(&[&str], &[(&str, &str)]) -> Out;

/// Runs the built binary with a clean environment plus `envs`.
pub fn unstuck_env(args: &[&str], envs: &[(&str, &str)]) -> Out {
    run_unstuck(args, envs, false)
}

/// `unstuck_env`, also measuring the process's peak RSS (`Out::peak_rss_kib`).
pub fn unstuck_env_measured(args: &[&str], envs: &[(&str, &str)]) -> Out {
    run_unstuck(args, envs, true)
}

/// Starts unstuck from a small Python process and reaps it with `os.wait4`, whose `ru_maxrss` is that
/// one child's. Measured from this process instead, the figure would include the test binary's own
/// RSS (Linux counts the memory a child had before exec) and every other child the parallel tests run.
const MEASURE: &str = "import os, sys\n\
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)\n\
_, status, usage = os.wait4(pid, 0)\n\
open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n\
sys.exit(os.waitstatus_to_exitcode(status) % 256)\n";

fn run_unstuck(args: &[&str], envs: &[(&str, &str)], measure: bool) -> Out {
    let started = Instant::now();
    let bin = env!("CARGO_BIN_EXE_unstuck");
    let rss_file = measure.then(|| std::env::temp_dir().join(unique("unstuck-rss")));
    let mut cmd = match &rss_file {
        Some(file) => {
            let mut c = Command::new("python3");
            c.args(["-c", MEASURE]).arg(file).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).env_clear().env("HOME", scratch_home()).env("NO_PROXY", "127.0.0.1,localhost");
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run unstuck");
    let peak_rss_kib = rss_file.map(|f| {
        let text = std::fs::read_to_string(&f).expect("the measured run wrote its peak RSS");
        let _ = std::fs::remove_file(&f);
        text.trim().parse().expect("a number of KiB")
    });
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
        peak_rss_kib,
    }
}

pub fn unstuck(args: &[&str]) -> Out {
    unstuck_env(args, &[])
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mix = (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{prefix}-{:08x}", mix & 0xffff_ffff)
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
#[track_caller]
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let d = std::env::temp_dir().join(unique(prefix));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Processes a worker started in their own session (Prefect 3 starts jobs with `start_new_session`),
/// killed by PID when the test ends, whatever happened to the worker.
#[derive(Default)]
pub struct JobPids(pub Vec<u32>);

impl Drop for JobPids {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).stderr(std::process::Stdio::null()).status();
        }
    }
}

/// The flows the real workers run (fixtures/flows).
pub fn flows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("flows")
}

/// A real `prefect worker start --type process` process, stopped (with its process group) on drop.
pub struct WorkerProc {
    pub name: String,
    child: std::process::Child,
    _home: TempDir,
}

impl WorkerProc {
    /// Starts a worker for `pool` on `server`. `args` are extra CLI flags (`--work-queue q`,
    /// `--run-once`); `env` adds settings (heartbeat and poll intervals default to 2 s and 1 s).
    pub fn start(server: &Server, pool: &str, args: &[&str], env: &[(&str, &str)]) -> WorkerProc {
        use std::os::unix::process::CommandExt;
        let name = unique("worker");
        let home = TempDir::new("worker-home");
        let log = home.path().join("worker.log");
        let logfile = std::fs::File::create(&log).expect("worker log");
        let mut cmd = Command::new(server.prefect_bin());
        cmd.args(["worker", "start", "--pool", pool, "--type", "process", "--name", &name])
            .args(args)
            .env_remove("PREFECT_API_KEY")
            .env_remove("PREFECT_PROFILE")
            .env("PREFECT_HOME", home.path())
            .env("PREFECT_API_URL", &server.url)
            .env("PREFECT_WORKER_HEARTBEAT_SECONDS", "2")
            .env("PREFECT_WORKER_QUERY_SECONDS", "1")
            .stdin(std::process::Stdio::null())
            .stdout(logfile.try_clone().expect("log"))
            .stderr(logfile)
            .process_group(0);
        if let Some(a) = &server.auth {
            cmd.env("PREFECT_API_AUTH_STRING", a);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start prefect worker");
        WorkerProc { name, child, _home: home }
    }

    /// Waits until the worker's heartbeat has reached the server.
    pub fn wait_online(&self, api: &Api, pool: &str, timeout: Duration) {
        wait_for(&format!("worker {} to heartbeat", self.name), timeout, || {
            let workers = api.post(&format!("/work_pools/{pool}/workers/filter"), serde_json::json!({}));
            workers.as_array()?.iter().any(|w| w["name"] == self.name.as_str()).then_some(())
        });
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL to the worker process alone, as when it is OOM-killed: its jobs live on.
    pub fn kill_worker_only(&self) {
        let _ =
            Command::new("kill").arg("-KILL").arg(self.pid().to_string()).stderr(std::process::Stdio::null()).status();
    }

    /// Sends `signal` (e.g. "KILL") to the worker's whole process group.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.pid()))
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal("TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.signal("KILL");
        let _ = self.child.wait();
    }
}
