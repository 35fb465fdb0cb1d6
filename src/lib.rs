//! unstuck: why is this Prefect flow run not running, and what do I do about it?
//!
//! The arrows go one way: `cli -> collectors (prefect) -> evidence -> checks -> report`. Collectors do
//! all the I/O; checks and renderers are pure functions of the evidence.

pub mod checks;
pub mod cli;
mod commands;
pub mod config;
pub mod ecs;
pub mod evidence;
pub mod fmt;
pub mod infra;
pub mod infra_collect;
pub mod kube;
pub mod policy;
pub mod prefect;
pub mod progress;
#[cfg(test)]
mod proptests;
pub mod redact;
pub mod report;
mod serve;
pub mod shell;

use std::io::Write;

use cli::{Cli, Command};

/// Exit codes (monitoring-plugin convention, SPEC 4).
pub mod exit {
    pub const OK: u8 = 0;
    pub const UNKNOWN: u8 = 3;
    pub const USAGE: u8 = 64;
}

/// Why a command could not produce its answer; `main` prints `message` on stderr and exits `code`.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A usage error (exit 64): the command line itself is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: exit::USAGE, message: message.into() }
    }

    /// Could not diagnose (exit 3): unreachable API, rejected credentials, unknown run, bad config.
    pub fn unknown(message: impl Into<String>) -> Self {
        Failure { code: exit::UNKNOWN, message: message.into() }
    }

    /// The reader went away (`unstuck … | head`): not an error.
    fn broken_pipe() -> Self {
        Failure { code: exit::OK, message: String::new() }
    }
}

/// Writes the command's output; a closed pipe ends the command quietly with exit 0.
pub(crate) fn emit(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::broken_pipe()),
        Err(e) => Err(Failure::unknown(format!("cannot write the output: {e}"))),
    }
}

/// Installs the one rustls crypto provider of the process (ring): every TLS client (reqwest for
/// Prefect, and the Kubernetes and AWS clients when they come) shares it. With two providers compiled
/// in (kube's default ring, the AWS SDK's default aws-lc-rs) rustls cannot choose one and panics when a
/// client is built, so the choice is made here, once, before any client exists.
pub fn install_crypto_provider() {
    // Err means a provider is already installed: ours, by an earlier call.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs one command, writing its report to `out`; returns the exit code.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<u8, Failure> {
    let global = cli.global;
    match cli.command {
        Command::Doctor(args) => commands::doctor(args, &global, out),
        Command::WorkPool(cli::WorkPoolArgs { command: cli::WorkPoolCommand::Slots(a) }) => {
            let target = a.pool.map(prefect::slots::Target::Pool);
            commands::slots(target, a.slots, &global, out)
        }
        Command::WorkQueue(cli::WorkQueueArgs { command: cli::WorkQueueCommand::Slots(a) }) => {
            let target = a.queue.map(|name| prefect::slots::Target::Queue { name, pool: a.pool });
            commands::slots(target, a.slots, &global, out)
        }
        Command::Deployment(cli::DeploymentArgs { command: cli::DeploymentCommand::Slots(a) }) => {
            let target = match a.deployment.as_deref().map(prefect::slots::parse_deployment_ref) {
                Some(Ok(r)) => Some(prefect::slots::Target::Deployment(r)),
                Some(Err(e)) => return Err(Failure::usage(e)),
                None => None,
            };
            commands::slots(target, a.slots, &global, out)
        }
        Command::Health(args) => commands::health(args, &global, out),
        Command::Serve(args) => commands::serve(args, &global),
        Command::Checks(args) => commands::checks(args, out),
        Command::Explain(args) => commands::explain(args, out),
        Command::Completions(args) => commands::completions(args, out),
    }
}

#[cfg(test)]
mod tests {
    /// The one crypto provider serves every client unstuck builds, over HTTP and HTTPS.
    #[test]
    fn every_client_builds_with_the_one_provider() {
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        for url in ["http://127.0.0.1:4200/api", "https://prefect.example/api"] {
            let flags = crate::config::ApiFlags { api_url: Some(url.to_string()), profile: None };
            let cfg = crate::config::resolve(&flags, &|_| None).expect("config");
            let client = crate::prefect::client::Client::new(
                &cfg,
                std::time::Duration::from_secs(1),
                0,
                crate::redact::Redactor::default(),
            );
            assert!(client.is_ok(), "{url}");
        }
    }
}
