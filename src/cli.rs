//! Command-line definitions (clap only: no logic here).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ROOT_EXAMPLES: &str = "\
Examples:
  # Why is this run stuck? (UUID or flow-run name)
  unstuck doctor 4171c0f6-b2f9-4c0d-9341-3e0cd528bfb9
  unstuck doctor grinning-chimera -o json

  # Replay a saved evidence bundle: no server needed
  unstuck doctor --evidence fixtures/bundles/p3-no-worker.json

  # What does a check mean?
  unstuck checks
  unstuck explain worker.offline

Exit codes: 0 ok, 1 warning, 2 critical (a blocking cause found),
3 could not diagnose (API unreachable, credentials rejected, run not found), 64 usage error.";

const DOCTOR_EXAMPLES: &str = "\
Examples:
  unstuck doctor 4171c0f6-b2f9-4c0d-9341-3e0cd528bfb9
  unstuck doctor grinning-chimera --pending-threshold 2m
  unstuck doctor grinning-chimera --observe 30s    # measure how often queues are polled
  unstuck doctor grinning-chimera -o json --save-evidence run.json
  unstuck doctor --evidence run.json            # replay offline
  PREFECT_API_URL=http://127.0.0.1:4200/api unstuck doctor grinning-chimera";

/// Why is this Prefect flow run not running, and what do I do about it?
#[derive(Debug, Parser)]
#[command(name = "unstuck", version, about, after_help = ROOT_EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// When to colour the output (honours NO_COLOR).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// Print only the verdict line (table output); no progress, no warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log each request to stderr (-vv adds response sizes and retries).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose one flow run: why is it not running?
    #[command(after_help = DOCTOR_EXAMPLES)]
    Doctor(DoctorArgs),

    /// Work pools: who holds a pool's concurrency slots.
    #[command(name = "work-pool")]
    WorkPool(WorkPoolArgs),

    /// Work queues: who holds a queue's concurrency slots.
    #[command(name = "work-queue")]
    WorkQueue(WorkQueueArgs),

    /// Deployments: who holds a deployment's concurrency slots.
    Deployment(DeploymentArgs),

    /// Fleet health: can every work pool run work right now? (for terminals, CI and monitoring)
    #[command(after_help = HEALTH_EXAMPLES)]
    Health(HealthArgs),

    /// Prometheus exporter: serve `health`'s metrics over HTTP, from a scan every interval.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),

    /// List every check id with a one-line summary.
    #[command(after_help = "Examples:\n  unstuck checks\n  unstuck checks -o json")]
    Checks(ChecksArgs),

    /// The long form of one check: what it means, why it matters, how to fix it.
    #[command(after_help = "Examples:\n  unstuck explain worker.offline\n  unstuck explain run.crashed")]
    Explain(ExplainArgs),

    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  unstuck completions bash > ~/.local/share/bash-completion/completions/unstuck\n  unstuck completions zsh > \"${fpath[1]}/_unstuck\"\n  unstuck completions fish > ~/.config/fish/completions/unstuck.fish"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The flow run: its UUID or its name (e.g. grinning-chimera).
    #[arg(required_unless_present = "evidence")]
    pub run: Option<String>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = DoctorFormat::Table)]
    pub output: DoctorFormat,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    /// Also watch the pool's queue polls and worker heartbeats for DURATION and report the measured
    /// poll rate per queue (the command takes that much longer).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub observe: Option<Duration>,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub infra: InfraArgs,

    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

/// How long before a run counts as stuck.
#[derive(Debug, Clone, Args)]
pub struct ThresholdArgs {
    /// How long a run may sit in Pending before it counts as stuck [default: 5m].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub pending_threshold: Option<Duration>,

    /// How long past its scheduled time a run may wait before it counts as late [default: 5m].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub late_threshold: Option<Duration>,
}

/// Where the Prefect API is and how long to wait for it.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// The Prefect API URL (overrides PREFECT_API_URL and the profile).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,

    /// The Prefect profile to read from profiles.toml (overrides PREFECT_PROFILE and `active`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Deadline for the whole command.
    #[arg(long, value_parser = parse_timeout, default_value = "30s", value_name = "DURATION")]
    pub timeout: Duration,
}

/// Which infrastructure backends to read.
#[derive(Debug, Clone, Args)]
pub struct InfraArgs {
    /// The kubeconfig context to read Kubernetes with (default: the current context, or the
    /// in-cluster config).
    #[arg(long, value_name = "CONTEXT", conflicts_with = "no_kube", value_parser = parse_name)]
    pub kube_context: Option<String>,

    /// Do not read Kubernetes.
    #[arg(long)]
    pub no_kube: bool,

    /// The AWS profile to read ECS and CloudWatch Logs with (default: AWS_PROFILE, or the default
    /// credential chain).
    #[arg(long, value_name = "PROFILE", conflicts_with = "no_ecs", value_parser = parse_name)]
    pub aws_profile: Option<String>,

    /// The AWS region of the run's ECS cluster (default: AWS_REGION, else the region in the task's ARN).
    #[arg(long, value_name = "REGION", conflicts_with = "no_ecs", value_parser = parse_name)]
    pub aws_region: Option<String>,

    /// Do not read AWS ECS or CloudWatch Logs.
    #[arg(long)]
    pub no_ecs: bool,
}

/// Saving and replaying evidence bundles.
#[derive(Debug, Clone, Args)]
pub struct EvidenceArgs {
    /// Write everything that was collected (secrets redacted) to FILE as JSON.
    #[arg(long, value_name = "FILE", conflicts_with = "evidence")]
    pub save_evidence: Option<PathBuf>,

    /// Replay a saved evidence bundle instead of calling any server.
    #[arg(long, value_name = "FILE")]
    pub evidence: Option<PathBuf>,
}

const POOL_SLOTS_EXAMPLES: &str = "\
Examples:
  unstuck work-pool slots k8s-pool
  unstuck work-pool slots k8s-pool -o json | jq '.holders[] | select(.zombie)'
  unstuck work-pool slots k8s-pool --pending-threshold 10m

Exit codes: 2 when the limit is full while runs wait for it or a dead run holds a slot,
1 at 80% of the limit or more, 0 otherwise (unlimited included), 3 pool not found or API unreachable.";

const QUEUE_SLOTS_EXAMPLES: &str = "\
Examples:
  unstuck work-queue slots default --pool k8s-pool
  unstuck work-queue slots high-priority            # the queue name must be unique across pools";

const DEPLOYMENT_SLOTS_EXAMPLES: &str = "\
Examples:
  unstuck deployment slots etl/nightly
  unstuck deployment slots 37657d62-cf37-4d7f-babf-ce15233cbf3e -o json";

#[derive(Debug, Args)]
pub struct WorkPoolArgs {
    #[command(subcommand)]
    pub command: WorkPoolCommand,
}

#[derive(Debug, Subcommand)]
pub enum WorkPoolCommand {
    /// Who holds the pool's concurrency slots, since when, and are they alive?
    #[command(after_help = POOL_SLOTS_EXAMPLES)]
    Slots(PoolSlotsArgs),
}

#[derive(Debug, Args)]
pub struct PoolSlotsArgs {
    /// The work pool's name.
    #[arg(required_unless_present = "evidence", value_parser = parse_name)]
    pub pool: Option<String>,

    #[command(flatten)]
    pub slots: SlotsArgs,
}

#[derive(Debug, Args)]
pub struct WorkQueueArgs {
    #[command(subcommand)]
    pub command: WorkQueueCommand,
}

#[derive(Debug, Subcommand)]
pub enum WorkQueueCommand {
    /// Who holds the queue's concurrency slots, since when, and are they alive?
    #[command(after_help = QUEUE_SLOTS_EXAMPLES)]
    Slots(QueueSlotsArgs),
}

#[derive(Debug, Args)]
pub struct QueueSlotsArgs {
    /// The work queue's name.
    #[arg(required_unless_present = "evidence", value_parser = parse_name)]
    pub queue: Option<String>,

    /// The work pool the queue belongs to (needed when several pools have a queue of that name).
    #[arg(long, value_name = "POOL", value_parser = parse_name)]
    pub pool: Option<String>,

    #[command(flatten)]
    pub slots: SlotsArgs,
}

#[derive(Debug, Args)]
pub struct DeploymentArgs {
    #[command(subcommand)]
    pub command: DeploymentCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Who holds the deployment's concurrency slots (Prefect 3), and are they alive?
    #[command(after_help = DEPLOYMENT_SLOTS_EXAMPLES)]
    Slots(DeploymentSlotsArgs),
}

#[derive(Debug, Args)]
pub struct DeploymentSlotsArgs {
    /// <FLOW>/<DEPLOYMENT> (e.g. etl/nightly) or the deployment's id.
    #[arg(required_unless_present = "evidence", value_name = "FLOW/DEPLOYMENT|ID")]
    pub deployment: Option<String>,

    #[command(flatten)]
    pub slots: SlotsArgs,
}

/// Flags of every `slots` command.
#[derive(Debug, Args)]
pub struct SlotsArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,

    /// How long a holder may sit in Pending (or Cancelling) before it may count as dead [default: 5m].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub pending_threshold: Option<Duration>,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

const HEALTH_EXAMPLES: &str = "\
Examples:
  unstuck health
  unstuck health --pool k8s-pool --pool ecs-pool --fail-on warning
  unstuck health -o junit > unstuck-health.xml          # CI test report
  unstuck health -o prometheus > /var/lib/node_exporter/textfile/unstuck.prom
  unstuck health -o json | jq '.pools[] | select(.verdict != \"ok\")'

Exit codes: 0 ok (and warnings, unless --fail-on warning), 1 warnings with --fail-on warning,
2 a pool cannot run work, 3 the fleet could not be judged (API unreachable, pool not found).";

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Which verdict fails the command (non-zero exit): critical only, or warnings too.
    #[arg(long, value_enum, default_value_t = FailOn::Critical)]
    pub fail_on: FailOn,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = HealthFormat::Table)]
    pub output: HealthFormat,

    #[command(flatten)]
    pub scan: ScanArgs,

    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

/// What a fleet scan reads and how (`health` runs one; `serve` runs one every interval).
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Only this pool (repeat for several); by default every pool of the server.
    #[arg(long = "pool", value_name = "POOL", value_parser = parse_name)]
    pub pools: Vec<String>,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    /// How many stuck runs to diagnose per pool (the oldest first).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_runs: usize,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64), value_name = "N")]
    pub concurrency: u16,

    #[command(flatten)]
    pub api: ApiArgs,

    #[command(flatten)]
    pub infra: InfraArgs,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  unstuck serve --listen 127.0.0.1:9464
  unstuck serve --listen 0.0.0.0:9464 --interval 2m --pool k8s-pool --pool ecs-pool
  curl -s http://127.0.0.1:9464/metrics | grep '^unstuck_pool_verdict'

Endpoints: /metrics (the families of `health -o prometheus`, plus unstuck_last_scan_timestamp_seconds
and unstuck_scan_duration_seconds) and /healthz (200 \"ok\" while the exporter serves: it does not
reflect the last scan, so a Prefect outage never restarts the pod; watch unstuck_up for that).
One scan runs at a time in the background, starting every --interval and bounded by --timeout; a
scrape answers at once from the last finished scan (only the very first scrape waits for the first
scan). A scan that fails or hits --timeout shows as unstuck_up 0.
SIGTERM or Ctrl-C: stops accepting, finishes the responses in flight, exits 0.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to serve /metrics and /healthz on (IP:PORT; 0.0.0.0:9464 in a pod).
    #[arg(long, value_parser = parse_listen, default_value = "127.0.0.1:9464", value_name = "IP:PORT")]
    pub listen: std::net::SocketAddr,

    /// How often to scan the fleet (the age of the metrics a scrape gets, at most this plus one scan).
    #[arg(long, value_parser = parse_timeout, default_value = "60s", value_name = "DURATION")]
    pub interval: Duration,

    #[command(flatten)]
    pub scan: ScanArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HealthFormat {
    Table,
    Json,
    Markdown,
    Junit,
    Prometheus,
}

#[derive(Debug, Args)]
pub struct ChecksArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A check id, as listed by `unstuck checks` (e.g. worker.offline).
    pub check_id: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DoctorFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// The longest duration a flag takes: a year (and no overflow when deadlines are computed).
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses `90s`, `5m`, `1h30m`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 90s, 5m, 1h30m)"))?,
    };
    if d > MAX_DURATION { Err("longer than a year".into()) } else { Ok(d) }
}

/// A `--timeout`: a duration above zero.
fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s).and_then(|d| if d.is_zero() { Err("the time budget must be above zero".into()) } else { Ok(d) })
}

/// A `--listen` address: IP:PORT (a host name would resolve to several addresses, or none).
fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    s.trim().parse().map_err(|_| "expected IP:PORT, e.g. 127.0.0.1:9464 or 0.0.0.0:9464".to_string())
}

/// A pool or queue name: not empty (Prefect names are never blank).
fn parse_name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() { Err("a name cannot be empty".into()) } else { Ok(s.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The clap definition is internally consistent (catches conflicting names and bad defaults).
    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }

    /// Durations accept the forms the spec names.
    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("18446744073709551615").is_err(), "no overflow downstream");
    }
}
