//! The command handlers: wire configuration, collection, evidence bundles and rendering together.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use clap::CommandFactory;
use jiff::Timestamp;

use crate::checks::{self, Item};
use crate::cli::{
    ApiArgs, ChecksArgs, Cli, ColorChoice, CompletionsArgs, DoctorArgs, DoctorFormat, ExplainArgs, FailOn, GlobalArgs,
    HealthArgs, HealthFormat, ListFormat, ScanArgs, ServeArgs, SlotsArgs,
};
use crate::config::{self, ApiConfig, ApiFlags};
use crate::evidence::{BUNDLE_FORMAT, Body, Bundle, SourceRecord, SourceStatus, Thresholds, ToolInfo};
use crate::prefect::client::Client;
use crate::prefect::collect::{self, CollectError};
use crate::prefect::health;
use crate::prefect::slots::{self, Target};
use crate::progress::Progress;
use crate::redact::Redactor;
use crate::report::{self, Status, style::Styles};
use crate::{Failure, emit};

/// Colour only when asked, or on a terminal without NO_COLOR.
fn styles(g: &GlobalArgs) -> Styles {
    let on = match g.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    };
    if on { Styles::colored() } else { Styles::plain() }
}

fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Resolves the API configuration, printing its warnings unless quiet.
fn api_config(api: &ApiArgs, g: &GlobalArgs) -> Result<ApiConfig, Failure> {
    let flags = ApiFlags { api_url: api.api_url.clone(), profile: api.profile.clone() };
    let cfg = config::resolve(&flags, &env_var)
        .map_err(|e| if e.is_usage() { Failure::usage(e.to_string()) } else { Failure::unknown(e.to_string()) })?;
    if !g.quiet {
        for w in &cfg.warnings {
            eprintln!("unstuck: warning: {w}");
        }
    }
    Ok(cfg)
}

/// Every secret we know of: the configured credentials and the raw variables.
fn redactor_for(cfg: &ApiConfig) -> Redactor {
    let mut secrets = cfg.auth.secrets();
    for key in ["PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"] {
        if let Some(v) = env_var(key) {
            secrets.push(v);
        }
    }
    Redactor::new(secrets)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::unknown(format!("cannot start the async runtime: {e}")))
}

pub fn load_bundle(path: &Path) -> Result<Bundle, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read the evidence bundle {}: {e}", path.display())))?;
    let (bundle, warning) = parse_bundle(&text).map_err(|e| Failure::usage(format!("{} {e}", path.display())))?;
    if let Some(w) = warning {
        eprintln!("unstuck: warning: {} {w}", path.display());
    }
    Ok(bundle)
}

/// A bundle from its text, and a warning when it comes from a newer unstuck. Errors complete the
/// sentence "<path> …": truncated, not JSON, not a bundle, or a format this unstuck cannot replay.
/// Fields this unstuck does not know are ignored, so a newer bundle replays where it can.
pub fn parse_bundle(text: &str) -> Result<(Bundle, Option<String>), String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            format!("ends early: the evidence bundle is truncated ({e})")
        } else {
            format!("is not JSON: {e}")
        }
    })?;
    let format = value.get("format").and_then(serde_json::Value::as_u64);
    let tool = value
        .get("tool")
        .and_then(|t| Some(format!("{} {}", t.get("name")?.as_str()?, t.get("version")?.as_str()?)))
        .unwrap_or_else(|| "an unknown tool".into());
    let ours = format!("unstuck {}", env!("CARGO_PKG_VERSION"));
    let newer = match format {
        Some(f) if f == u64::from(BUNDLE_FORMAT) => None,
        Some(f) if f > u64::from(BUNDLE_FORMAT) => Some(f),
        Some(f) => {
            return Err(format!(
                "is an evidence bundle of format {f} (written by {tool}); this {ours} reads format {BUNDLE_FORMAT}"
            ));
        }
        None => return Err("is not an unstuck evidence bundle (it has no \"format\")".into()),
    };
    match serde_json::from_value::<Bundle>(value) {
        Ok(bundle) => Ok((
            bundle,
            newer.map(|f| {
                format!(
                    "is format {f}, written by {tool}; this {ours} reads format {BUNDLE_FORMAT} and replays what it \
                     understands of it"
                )
            }),
        )),
        Err(e) => Err(match newer {
            Some(f) => format!(
                "is format {f}, written by {tool}; this {ours} reads format {BUNDLE_FORMAT} and cannot replay it \
                 ({e}): upgrade unstuck"
            ),
            None => format!("is not a valid unstuck evidence bundle: {e}"),
        }),
    }
}

/// Writes a bundle with every string passed through the redactor once more.
pub fn save_bundle(bundle: &Bundle, path: &Path, redactor: &Redactor) -> Result<(), Failure> {
    let mut value =
        serde_json::to_value(bundle).map_err(|e| Failure::unknown(format!("cannot serialise the evidence: {e}")))?;
    redactor.redact_json_strings(&mut value);
    let mut text = serde_json::to_string_pretty(&value)
        .map_err(|e| Failure::unknown(format!("cannot serialise the evidence: {e}")))?;
    text.push('\n');
    std::fs::write(path, text)
        .map_err(|e| Failure::unknown(format!("cannot write the evidence bundle to {}: {e}", path.display())))
}

fn thresholds(args: &crate::cli::ThresholdArgs, base: Thresholds) -> Thresholds {
    Thresholds {
        pending: args.pending_threshold.unwrap_or(base.pending),
        late: args.late_threshold.unwrap_or(base.late),
    }
}

pub fn doctor(args: DoctorArgs, g: &GlobalArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let (bundle, redactor) = match &args.evidence.evidence {
        Some(path) => (load_bundle(path)?, Redactor::default()),
        None => collect_doctor(&args, g)?,
    };
    let Body::Doctor(ev) = &bundle.body else {
        return Err(Failure::usage("the evidence bundle was not saved by `doctor`"));
    };
    if args.evidence.evidence.is_some() {
        if let Some(want) = &args.run {
            let run = &ev.flow_run;
            if want != &run.id && want != &run.name {
                return Err(Failure::usage(format!(
                    "the bundle is about flow run {} ({}), not '{want}'",
                    run.name, run.id
                )));
            }
        }
    }
    if let Some(path) = &args.evidence.save_evidence {
        save_bundle(&bundle, path, &redactor)?;
    }
    let th = thresholds(&args.thresholds, bundle.thresholds);
    let report = report::doctor::build(ev, bundle.collected_at, th, &bundle.sources());
    let text = match args.output {
        DoctorFormat::Json => to_json(&report, &redactor)?,
        DoctorFormat::Table => redactor.redact(&report::doctor_table(&report, &styles(g), g.quiet)).into_owned(),
        DoctorFormat::Markdown => redactor.redact(&report::doctor_markdown(&report)).into_owned(),
    };
    emit(out, &text)?;
    if report.verdict.status == Status::Unknown {
        eprintln!("unstuck: could not diagnose: {}", redactor.redact(&report.verdict.summary));
    }
    Ok(report.verdict.status.exit_code())
}

/// A session against the configured Prefect API: what every collecting command sets up, and the
/// source record it ends with.
struct Live {
    cloud: bool,
    redactor: Redactor,
    client: Client,
    rt: tokio::runtime::Runtime,
    started: Instant,
    progress: Progress,
}

impl Live {
    /// `budget` is the deadline for the whole collection; progress shows only for table output on a
    /// terminal.
    fn open(api: &ApiArgs, g: &GlobalArgs, budget: std::time::Duration, table: bool) -> Result<Live, Failure> {
        Live::with_config(&api_config(api, g)?, g, budget, table)
    }

    /// A session with an already resolved configuration (`serve` resolves it once, then scans).
    fn with_config(cfg: &ApiConfig, g: &GlobalArgs, budget: std::time::Duration, table: bool) -> Result<Live, Failure> {
        let redactor = redactor_for(cfg);
        let client = Client::new(cfg, budget, g.verbose, redactor.clone()).map_err(Failure::unknown)?;
        let show_progress = table && !g.quiet && g.verbose == 0 && std::io::stderr().is_terminal();
        Ok(Live {
            cloud: cfg.cloud.is_some(),
            redactor,
            client,
            rt: runtime()?,
            started: Instant::now(),
            progress: Progress::new(show_progress, "prefect"),
        })
    }

    /// Runs a collector, mapping its failure to the right exit code.
    fn run<T>(&self, fut: impl std::future::Future<Output = Result<T, CollectError>>) -> Result<T, Failure> {
        self.rt.block_on(fut).map_err(|e| collect_failure(e, &self.redactor))
    }

    /// The bundle: the evidence, "now", the thresholds, and what only collection knew of its source
    /// (how long it took, how many requests); the rest of the sources section derives from the evidence.
    fn finish(
        self,
        th: Thresholds,
        body: Body,
        infra: Option<&crate::infra_collect::Backends<'_>>,
    ) -> (Bundle, Redactor) {
        let kube = infra.map(|b| b.kube);
        drop(self.progress);
        let source = SourceRecord {
            name: "prefect".into(),
            status: SourceStatus::Collected,
            detail: String::new(),
            millis: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            requests: Some(self.client.request_count()),
        };
        let mut sources = vec![source];
        if let Some(requests) = kube.and_then(crate::kube::Collector::requests) {
            sources.push(SourceRecord {
                name: "kubernetes".into(),
                status: SourceStatus::Collected,
                detail: String::new(),
                millis: kube.map_or(0, crate::kube::Collector::millis),
                requests: Some(requests),
            });
        }
        let ecs = infra.map(|b| b.ecs);
        if let Some(requests) = ecs.and_then(crate::ecs::Collector::requests) {
            sources.push(SourceRecord {
                name: "ecs".into(),
                status: SourceStatus::Collected,
                detail: String::new(),
                millis: ecs.map_or(0, crate::ecs::Collector::millis),
                requests: Some(requests),
            });
        }
        let bundle = Bundle {
            format: BUNDLE_FORMAT,
            tool: ToolInfo::current(),
            collected_at: Timestamp::now(),
            thresholds: th,
            sources,
            body,
        };
        (bundle, self.redactor)
    }
}

fn collect_doctor(args: &DoctorArgs, g: &GlobalArgs) -> Result<(Bundle, Redactor), Failure> {
    // Bad arguments are reported before anything else is looked at.
    let run_arg = args.run.as_deref().ok_or_else(|| Failure::usage("a flow run (UUID or name) is required"))?;
    let run_ref = collect::parse_run_ref(run_arg).map_err(Failure::usage)?;
    let th = thresholds(&args.thresholds, Thresholds::default());
    // The observation window comes on top of the deadline for the requests themselves.
    let budget = args.api.timeout + args.observe.unwrap_or_default();
    let live = Live::open(&args.api, g, budget, args.output == DoctorFormat::Table)?;
    let planner = checks::plan::Planner { thresholds: th, max_runs: 0 };
    let kube = kube_collector(&args.infra, budget, &live.redactor);
    let ecs = ecs_collector(&args.infra, budget, &live.redactor);
    let backends = crate::infra_collect::Backends { kube: &kube, ecs: &ecs };
    let opts = collect::Options { observe: args.observe, plan: &planner, infra: Some(&backends) };
    let ev =
        live.run(collect::collect_run(&live.client, &run_ref, live.cloud, &live.redactor, opts, &live.progress))?;
    Ok(live.finish(th, Body::Doctor(Box::new(ev)), Some(&backends)))
}

fn kube_collector(
    args: &crate::cli::InfraArgs,
    budget: std::time::Duration,
    redactor: &Redactor,
) -> crate::kube::Collector {
    let settings = crate::kube::KubeSettings { context: args.kube_context.clone(), disabled: args.no_kube };
    crate::kube::Collector::new(settings, budget, redactor.clone())
}

fn ecs_collector(
    args: &crate::cli::InfraArgs,
    budget: std::time::Duration,
    redactor: &Redactor,
) -> crate::ecs::Collector {
    let settings = crate::ecs::AwsSettings {
        profile: args.aws_profile.clone(),
        region: args.aws_region.clone(),
        disabled: args.no_ecs,
    };
    crate::ecs::Collector::new(settings, budget, redactor.clone())
}

/// `health`: the fleet, pool by pool.
pub fn health(args: HealthArgs, g: &GlobalArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let fail_on_warning = args.fail_on == FailOn::Warning;
    let (bundle, redactor) = match &args.evidence.evidence {
        Some(path) => (load_bundle(path)?, Redactor::default()),
        None => match api_config(&args.scan.api, g)
            .and_then(|cfg| collect_health(&args.scan, &cfg, g, args.output == HealthFormat::Table))
        {
            Ok(b) => b,
            Err(f) => {
                // Monitoring scrapes the file: say the API was down rather than leave it stale.
                if args.output == HealthFormat::Prometheus {
                    emit(out, &report::health::prometheus_down())?;
                }
                return Err(f);
            }
        },
    };
    let Body::Health(ev) = &bundle.body else {
        return Err(Failure::usage("the evidence bundle was not saved by `health`"));
    };
    if let Some(path) = &args.evidence.save_evidence {
        save_bundle(&bundle, path, &redactor)?;
    }
    let th = thresholds(&args.scan.thresholds, bundle.thresholds);
    // Older bundles hold only the runs late by the threshold they were collected with.
    if th.late < bundle.thresholds.late && ev.pools.iter().any(|p| !p.late_is_all_due) && !g.quiet {
        eprintln!(
            "unstuck: warning: this bundle holds only runs late by more than {} (its --late-threshold): \
             runs late by less are not counted",
            humantime::format_duration(bundle.thresholds.late)
        );
    }
    let report = report::health::build(ev, bundle.collected_at, th, &bundle.sources());
    let text = match args.output {
        HealthFormat::Json => to_json(&report, &redactor)?,
        HealthFormat::Table => {
            redactor.redact(&report::health::health_table(&report, &styles(g), g.quiet)).into_owned()
        }
        HealthFormat::Markdown => redactor.redact(&report::health::health_markdown(&report)).into_owned(),
        HealthFormat::Junit => redactor.redact(&report::health::health_junit(&report, fail_on_warning)).into_owned(),
        HealthFormat::Prometheus => prometheus_text(&report, &bundle, &redactor),
    };
    emit(out, &text)?;
    if report.verdict.status == Status::Unknown {
        eprintln!("unstuck: could not judge every pool: {}", redactor.redact(&report.verdict.summary));
    }
    Ok(report::health::exit_code(report.verdict.status, fail_on_warning))
}

/// `health`'s report in Prometheus text exposition, with the time reading Prefect took.
fn prometheus_text(report: &report::health::HealthReport, bundle: &Bundle, redactor: &Redactor) -> String {
    let millis = bundle.sources.first().map_or(0, |s| s.millis);
    redactor.redact(&report::health::health_prometheus(report, millis)).into_owned()
}

fn collect_health(
    args: &ScanArgs,
    cfg: &ApiConfig,
    g: &GlobalArgs,
    table: bool,
) -> Result<(Bundle, Redactor), Failure> {
    let th = thresholds(&args.thresholds, Thresholds::default());
    let live = Live::with_config(cfg, g, args.api.timeout, table)?;
    let planner = checks::plan::Planner { thresholds: th, max_runs: args.max_runs };
    let kube = kube_collector(&args.infra, args.api.timeout, &live.redactor);
    let ecs = ecs_collector(&args.infra, args.api.timeout, &live.redactor);
    let backends = crate::infra_collect::Backends { kube: &kube, ecs: &ecs };
    let opts = health::HealthOptions {
        pools: args.pools.clone(),
        plan: &planner,
        concurrency: usize::from(args.concurrency),
        infra: Some(&backends),
    };
    let ev = live.run(health::collect_health(&live.client, live.cloud, &live.redactor, &opts, &live.progress))?;
    Ok(live.finish(th, Body::Health(Box::new(ev)), Some(&backends)))
}

/// `serve`: the Prometheus exporter, scanning the fleet as `health -o prometheus` does.
pub fn serve(args: ServeArgs, g: &GlobalArgs) -> Result<u8, Failure> {
    // Resolved once: a bad configuration fails at start, not at every scan, and warns once.
    let cfg = api_config(&args.scan.api, g)?;
    let g = g.clone();
    let opts = crate::serve::Options {
        listen: args.listen,
        interval: args.interval,
        timeout: args.scan.api.timeout,
        quiet: g.quiet,
    };
    let scan = args.scan;
    crate::serve::run(opts, move || {
        let (bundle, redactor) = collect_health(&scan, &cfg, &g, false).map_err(|f| f.message)?;
        let Body::Health(ev) = &bundle.body else {
            return Err("the scan collected no fleet".to_string());
        };
        let th = thresholds(&scan.thresholds, bundle.thresholds);
        let report = report::health::build(ev, bundle.collected_at, th, &bundle.sources());
        Ok(prometheus_text(&report, &bundle, &redactor))
    })
}

/// `work-pool slots`, `work-queue slots`, `deployment slots`.
pub fn slots(target: Option<Target>, args: SlotsArgs, g: &GlobalArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let threshold = args.pending_threshold;
    let (bundle, redactor, threshold) = match &args.evidence.evidence {
        Some(path) => {
            let bundle = load_bundle(path)?;
            let th = threshold.unwrap_or(bundle.thresholds.pending);
            (bundle, Redactor::default(), th)
        }
        None => {
            let target = target.ok_or_else(|| Failure::usage("say which pool, queue or deployment"))?;
            let th = threshold.unwrap_or(Thresholds::default().pending);
            let live = Live::open(&args.api, g, args.api.timeout, args.output == ListFormat::Table)?;
            let ev = {
                let planner = checks::plan::Planner {
                    thresholds: Thresholds { pending: th, ..Thresholds::default() },
                    max_runs: 0,
                };
                live.run(slots::collect_slots(
                    &live.client,
                    &target,
                    live.cloud,
                    &live.redactor,
                    &planner,
                    &live.progress,
                ))?
            };
            let th_all = Thresholds { pending: th, ..Thresholds::default() };
            let (bundle, redactor) = live.finish(th_all, Body::Slots(Box::new(ev)), None);
            (bundle, redactor, th)
        }
    };
    let Body::Slots(ev) = &bundle.body else {
        return Err(Failure::usage("the evidence bundle was not saved by a `slots` command"));
    };
    if let Some(path) = &args.evidence.save_evidence {
        save_bundle(&bundle, path, &redactor)?;
    }
    let report = report::slots::build(ev, bundle.collected_at, threshold, &bundle.sources());
    let text = match args.output {
        ListFormat::Json => to_json(&report, &redactor)?,
        ListFormat::Table => redactor
            .redact(&report::slots::slots_table(&report, &styles(g), g.quiet, ev.server.now(bundle.collected_at)))
            .into_owned(),
    };
    emit(out, &text)?;
    if report.verdict.status == Status::Unknown {
        eprintln!("unstuck: could not judge the slots: {}", redactor.redact(&report.verdict.summary));
    }
    Ok(report.exit_code())
}

/// A report as JSON, each string redacted before it is escaped (so redaction cannot break the JSON).
fn to_json(report: &impl serde::Serialize, redactor: &Redactor) -> Result<String, Failure> {
    let fail = |e: serde_json::Error| Failure::unknown(format!("cannot serialise the report: {e}"));
    let mut value = serde_json::to_value(report).map_err(fail)?;
    redactor.redact_json_strings(&mut value);
    let mut s = serde_json::to_string_pretty(&value).map_err(fail)?;
    s.push('\n');
    Ok(s)
}

/// Ambiguous names are usage errors; everything else means the answer could not be had.
fn collect_failure(e: CollectError, redactor: &Redactor) -> Failure {
    let message = redactor.redact(&e.to_string()).into_owned();
    if e.is_usage() { Failure::usage(message) } else { Failure::unknown(message) }
}

pub fn checks(args: ChecksArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let text = match args.output {
        ListFormat::Json => {
            let list: Vec<serde_json::Value> = checks::catalogue()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id,
                        "title": c.title,
                        "kind": c.kind,
                        "checklist": c.item,
                        "source": c.backend,
                    })
                })
                .collect();
            let mut s = serde_json::to_string_pretty(&list).unwrap_or_default();
            s.push('\n');
            s
        }
        ListFormat::Table => {
            let mut s = String::new();
            let width = checks::catalogue().map(|c| c.id.len()).max().unwrap_or(0);
            for item in Item::ALL {
                let of_item: Vec<_> = checks::catalogue().filter(|c| c.item == item).collect();
                if of_item.is_empty() {
                    continue;
                }
                s.push_str(&format!("{} ({})\n", item.id(), item.question()));
                for c in of_item {
                    let kind = format!("{:?}", c.kind).to_lowercase();
                    s.push_str(&format!("  {:<width$}  {:<5}  {}\n", c.id, kind, c.title));
                }
            }
            s.push_str("\nunstuck explain <ID> prints the long form of a check.\n");
            s
        }
    };
    emit(out, &text)?;
    Ok(crate::exit::OK)
}

pub fn explain(args: ExplainArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let Some(check) = checks::find(args.check_id.trim()) else {
        let wanted = args.check_id.to_lowercase();
        let near: Vec<&str> = checks::catalogue()
            .map(|c| c.id)
            .filter(|id| id.contains(&wanted) || wanted.contains(id.split('.').next().unwrap_or(id)))
            .collect();
        let hint = if near.is_empty() {
            "run `unstuck checks` for the list".to_string()
        } else {
            format!("did you mean {}?", near.join(", "))
        };
        return Err(Failure::usage(format!("unknown check id '{}': {hint}", args.check_id)));
    };
    let i = check;
    let mut s = format!(
        "{}: {}\n\nkind: {}{}   checklist: {}   evidence: {}\n\n{}\n\nHow to fix:\n",
        i.id,
        i.title,
        format!("{:?}", i.kind).to_lowercase(),
        if i.symptom { " (a symptom: ranks below what explains it)" } else { "" },
        i.item.id(),
        format!("{:?}", i.backend).to_lowercase(),
        i.explanation
    );
    for (n, step) in i.remediation.iter().enumerate() {
        s.push_str(&format!("  {}. {step}\n", n + 1));
    }
    emit(out, &s)?;
    Ok(crate::exit::OK)
}

pub fn completions(args: CompletionsArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "unstuck", &mut buf);
    emit(out, &String::from_utf8_lossy(&buf))?;
    Ok(crate::exit::OK)
}
