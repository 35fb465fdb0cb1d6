//! Test support: loads a recorded scenario (`fixtures/ecs/<name>/`) into `EcsEvidence` the way the
//! collector would select it (the task from the pid, else by the `prefect.io/flow-run-id` tag), and
//! ranks findings the simple way (cause before risk, then severity, then registry order).

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use super::RunView;
use crate::checks::Finding;
use crate::evidence::ecs::{
    ContainerLogs, DescribeCapacityProvidersResponse, DescribeClustersResponse, DescribeTaskDefinitionResponse,
    DescribeTasksResponse, EcsEvidence, Failure, Located, LogEventsResponse, Lookup, PREFECT_CONTAINER, arn_region,
    awslogs_stream, failure_for, log_tail, parse_infrastructure_pid, parse_task_arn, select_cluster, select_task,
};

/// The AWS ECS ids of SPEC 7 (plus `infra.exited-cleanly`, which an ECS task can show).
pub fn spec_ecs_ids() -> Vec<&'static str> {
    crate::checks::testkit::SPEC_IDS
        .iter()
        .copied()
        .filter(|id| id.starts_with("ecs.") || *id == "infra.exited-cleanly")
        .collect()
}

#[derive(Debug, Deserialize)]
struct ScenarioFile {
    run_id: String,
    #[serde(default)]
    infrastructure_pid: Option<String>,
    /// The worker's cluster job variable, for the by-tag search when no pid was recorded.
    #[serde(default)]
    cluster: Option<String>,
    state_type: String,
    #[serde(default)]
    state_name: Option<String>,
    state_since: Timestamp,
    now: Timestamp,
    #[serde(default = "default_threshold")]
    pending_threshold_seconds: u64,
    #[serde(default)]
    worker_log_lines: Vec<String>,
    expect: Expect,
}

fn default_threshold() -> u64 {
    300
}

/// What a scenario must show.
#[derive(Debug, Clone, Deserialize)]
pub struct Expect {
    /// The rank-1 finding id ("" for a healthy task: no findings at all).
    pub primary: String,
    /// A sub-class token the primary's detail carries.
    #[serde(default)]
    pub detail_contains: Option<String>,
    /// The message the primary must quote in its evidence.
    #[serde(default)]
    pub evidence_contains: Option<String>,
    /// Other ids that must be found too.
    #[serde(default)]
    pub also: Vec<String>,
    /// Ids that must not be found.
    #[serde(default)]
    pub absent: Vec<String>,
}

pub struct Scenario {
    pub name: String,
    pub run_id: String,
    pub state_type: String,
    pub state_name: String,
    pub state_since: Timestamp,
    pub now: Timestamp,
    pub pending_threshold: Duration,
    pub worker_log_lines: Vec<String>,
    pub evidence: EcsEvidence,
    pub expect: Expect,
    /// Every task ARN the responses held that is not the run's (other runs, the worker's service task).
    pub other_task_arns: Vec<String>,
}

impl Scenario {
    pub fn run_view(&self) -> RunView<'_> {
        RunView {
            run_id: &self.run_id,
            state_type: &self.state_type,
            state_name: &self.state_name,
            state_since: self.state_since,
            now: self.now,
            pending_threshold: self.pending_threshold,
            worker_log_lines: &self.worker_log_lines,
        }
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("ecs")
}

/// Every scenario directory, sorted.
pub fn scenario_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap_or_else(|e| panic!("fixtures/ecs: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("scenario.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Option<T> {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Loads a scenario and selects the run's objects as the collector would.
pub fn load_scenario(dir: &Path) -> Scenario {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let s: ScenarioFile = read(dir, "scenario.json").unwrap_or_else(|| panic!("{name}: no scenario.json"));
    let tasks_resp: Option<DescribeTasksResponse> = read(dir, "describe-tasks.json");
    let tasks = tasks_resp.as_ref().map(|r| r.tasks.as_slice()).unwrap_or_default();
    let pid = s.infrastructure_pid.as_deref().and_then(parse_infrastructure_pid);

    let (located, task) = match pid {
        Some((cluster, arn)) => {
            let located = Located::ByPid { cluster: cluster.to_string(), task_arn: arn.to_string() };
            let task = match (select_task(tasks, Some(arn), &s.run_id), &tasks_resp) {
                (Some(t), _) => Lookup::Found(t.clone()),
                (None, Some(r)) => Lookup::Missing(failure_for(&r.failures, arn).cloned().unwrap_or(Failure {
                    arn: Some(arn.to_string()),
                    reason: Some("MISSING".into()),
                    detail: None,
                })),
                (None, None) => Lookup::NotChecked,
            };
            (located, task)
        }
        None => {
            let cluster = s.cluster.clone().unwrap_or_else(|| "default".into());
            match select_task(tasks, None, &s.run_id) {
                Some(t) => (Located::ByTag { cluster, listed: tasks.len() }, Lookup::Found(t.clone())),
                None => (
                    Located::NotFound {
                        tried: format!(
                            "no infrastructure_pid; no task tagged prefect.io/flow-run-id={} among {} tasks of cluster {cluster}",
                            s.run_id,
                            tasks.len()
                        ),
                        cluster: Some(cluster),
                    },
                    Lookup::NotChecked,
                ),
            }
        }
    };
    let selected_arn = task.found().and_then(|t| t.task_arn.clone());
    let other_task_arns =
        tasks.iter().filter_map(|t| t.task_arn.clone()).filter(|a| Some(a) != selected_arn.as_ref()).collect();

    let cluster_arg = located.cluster().map(str::to_string);
    let cluster = match (read::<DescribeClustersResponse>(dir, "describe-clusters.json"), &cluster_arg) {
        (Some(resp), Some(c)) => select_cluster(&resp, c),
        _ => Lookup::NotChecked,
    };
    let task_definition = match read::<DescribeTaskDefinitionResponse>(dir, "describe-task-definition.json") {
        Some(DescribeTaskDefinitionResponse { task_definition: Some(td) }) => Lookup::Found(td),
        _ => Lookup::NotChecked,
    };
    let capacity_providers = read::<DescribeCapacityProvidersResponse>(dir, "describe-capacity-providers.json")
        .map(|r| r.capacity_providers)
        .unwrap_or_default();

    // The flow container's log stream, as the worker's observer computes it.
    let logs = task.found().and_then(|t| {
        let td = task_definition.found()?;
        let container = if t.container(PREFECT_CONTAINER).is_some() {
            PREFECT_CONTAINER.to_string()
        } else {
            t.containers.first().and_then(|c| c.name.clone())?
        };
        let Some((group, prefix)) = td.container(&container).and_then(|cd| cd.awslogs()) else {
            return Some(ContainerLogs::NoLogConfiguration);
        };
        let stream = awslogs_stream(prefix, &container, t.id()?);
        Some(match read::<LogEventsResponse>(dir, "log-events.json") {
            Some(resp) => log_tail(group, &stream, &resp, 50),
            None => ContainerLogs::NoStream { group: group.to_string(), stream },
        })
    });

    let region = selected_arn
        .as_deref()
        .and_then(|a| parse_task_arn(a).map(|p| p.region.to_string()))
        .or_else(|| pid.and_then(|(_, arn)| parse_task_arn(arn)).map(|p| p.region.to_string()))
        .or_else(|| cluster.found().and_then(|c| c.cluster_arn.as_deref()).and_then(arn_region).map(str::to_string))
        .or_else(|| cluster_arg.as_deref().and_then(arn_region).map(str::to_string));

    Scenario {
        name,
        run_id: s.run_id,
        state_name: s.state_name.unwrap_or_else(|| title_case(&s.state_type)),
        state_type: s.state_type,
        state_since: s.state_since,
        now: s.now,
        pending_threshold: Duration::from_secs(s.pending_threshold_seconds),
        worker_log_lines: s.worker_log_lines,
        evidence: EcsEvidence {
            infrastructure_pid: s.infrastructure_pid,
            located,
            region,
            cluster,
            task,
            task_definition,
            capacity_providers,
            logs,
            unread: Vec::new(),
        },
        expect: s.expect,
        other_task_arns,
    }
}

fn title_case(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut c = lower.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

pub use super::rank;

/// Every piece of text a finding shows.
pub fn finding_text(f: &Finding) -> String {
    let mut parts = vec![f.title.clone(), f.detail.clone()];
    parts.extend(f.evidence.iter().cloned());
    parts.extend(f.remediation.iter().cloned());
    parts.extend(f.subject.iter().cloned());
    parts.join("\n")
}
