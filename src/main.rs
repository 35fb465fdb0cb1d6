//! The `unstuck` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    unstuck::install_crypto_provider();
    let cli = match unstuck::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(unstuck::exit::USAGE),
            };
        }
    };
    let mut stdout = std::io::stdout().lock();
    match unstuck::run(cli, &mut stdout) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("unstuck: error: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
