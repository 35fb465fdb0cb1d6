//! A real Prefect 2 `prefect agent start` process (from the Prefect 2 virtualenv), polling every
//! second, killed with its process group on drop (agents may ignore SIGTERM for many seconds).

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use super::{Server, TempDir, api::Api, wait_for};

pub struct AgentProc {
    child: std::process::Child,
    home: TempDir,
}

impl AgentProc {
    /// `args`: `--pool P --work-queue Q`, or `--match prefix`.
    pub fn start(server: &Server, args: &[&str]) -> AgentProc {
        let home = TempDir::new("agent-home");
        let logfile = std::fs::File::create(home.path().join("agent.log")).expect("agent log");
        let mut cmd = Command::new(server.prefect_bin());
        cmd.args(["agent", "start"])
            .args(args)
            .env_remove("PREFECT_API_KEY")
            .env_remove("PREFECT_PROFILE")
            .env("PREFECT_HOME", home.path())
            .env("PREFECT_API_URL", &server.url)
            .env("PREFECT_AGENT_QUERY_INTERVAL", "1")
            .stdin(std::process::Stdio::null())
            .stdout(logfile.try_clone().expect("log"))
            .stderr(logfile)
            .process_group(0);
        let child = cmd.spawn().expect("start prefect agent");
        AgentProc { child, home }
    }

    /// What the agent printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("agent.log")).unwrap_or_default()
    }

    /// Waits until the agent has polled `queue` of `pool` (its `last_polled` is set).
    pub fn wait_polled(&self, api: &Api, pool: &str, queue: &str) {
        wait_for(&format!("the agent to poll queue {queue}"), Duration::from_secs(90), || {
            let q = api.get(&format!("/work_pools/{pool}/queues/{queue}"));
            q["last_polled"].as_str().map(|_| ())
        });
    }

    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill();
    }
}
