//! The AWS ECS backend: locate a flow run's ECS task and collect what the `ecs.*` checks read. Every
//! operation passes the read-only policy (`policy::check` with `Op::Aws`) in an interceptor both SDK
//! clients share; every response passes the redactor before it becomes evidence.

pub mod client;
pub mod collect;

use std::time::Duration;

pub use client::AwsSettings;
use client::{EcsClient, NotConnected};

use crate::evidence::Source;
use crate::evidence::ecs::{EcsEvidence, parse_task_arn};
use crate::infra::Infra;
use crate::infra_collect::Meter;
use crate::prefect::HintsFuture;
use crate::prefect::types::FlowRun;
use crate::redact::Redactor;

const NOT_CONFIGURED: &str = "AWS not configured";
const HOW_TO_CONFIGURE: &str = "set AWS_PROFILE or AWS_REGION and credentials, or pass --aws-profile";

/// The ECS collector of `doctor` and `health`: connects once, on the first run that needs ECS, and
/// counts what it sent.
pub struct Collector {
    settings: AwsSettings,
    budget: Duration,
    redactor: Redactor,
    client: tokio::sync::OnceCell<Result<EcsClient, Source<EcsEvidence>>>,
    meter: Meter,
}

impl Collector {
    pub fn new(settings: AwsSettings, budget: Duration, redactor: Redactor) -> Self {
        Collector { settings, budget, redactor, client: tokio::sync::OnceCell::new(), meter: Meter::default() }
    }

    /// Operations sent; `None` when no run needed ECS.
    pub fn requests(&self) -> Option<u64> {
        self.meter
            .requests(|| self.client.get().and_then(|c| c.as_ref().ok()).map(EcsClient::request_count).unwrap_or(0))
    }

    pub fn millis(&self) -> u64 {
        self.meter.millis()
    }

    async fn client(&self, arn_region: Option<&str>) -> Result<&EcsClient, Source<EcsEvidence>> {
        let connected = self
            .client
            .get_or_init(|| async {
                match EcsClient::connect(&self.settings, self.budget, arn_region).await {
                    Ok(c) => Ok(c),
                    Err(NotConnected::NotConfigured) => Err(collect::skipped(NOT_CONFIGURED, Some(HOW_TO_CONFIGURE))),
                    Err(NotConnected::Failed(f)) => Err(Source::Failed(f)),
                }
            })
            .await;
        connected.as_ref().map_err(Clone::clone)
    }

    async fn collect_run(&self, run: &FlowRun, hints: HintsFuture<'_>) -> Source<EcsEvidence> {
        if self.settings.disabled {
            return collect::skipped("ECS not consulted (--no-ecs)", None);
        }
        let pid = run.infrastructure_pid.as_deref().map(str::trim).filter(|p| !p.is_empty());
        // The pid says where the run went without waiting for the pool; only without one does the
        // pool's type decide whether to search ECS at all.
        let (target_pid, hints) = match pid.map(|p| crate::infra::parse(p, None)) {
            Some(Infra::Ecs { cluster, task_arn }) => (Some((cluster, task_arn)), None),
            Some(other) => {
                return collect::skipped(&format!("the run's infrastructure is {}", other.describe()), None);
            }
            None => {
                let hints = hints.await;
                // An ecs pool, or (Prefect 2) an ECSTask infrastructure block.
                let ecs = hints.pool_type.as_deref().is_some_and(|t| t.starts_with("ecs"))
                    || hints.variable("block_type") == Some("ecs-task");
                if !ecs {
                    let what = hints.pool_type.clone().unwrap_or_else(|| "unknown".into());
                    return collect::skipped(&format!("not an ECS run (pool type {what})"), None);
                }
                (None, Some(hints))
            }
        };
        self.meter.consulted();
        let arn_region = target_pid.as_ref().and_then(|(_, arn)| parse_task_arn(arn)).map(|a| a.region.to_string());
        let client = match self.client(arn_region.as_deref()).await {
            Ok(c) => c,
            Err(skipped_or_failed) => return skipped_or_failed,
        };
        let target = collect::Target {
            run_id: run.id.clone(),
            infrastructure_pid: pid.map(str::to_string),
            pid: target_pid,
            cluster: hints.as_ref().and_then(|h| h.variable("cluster")).map(str::to_string),
        };
        collect::collect(client, &target, &self.redactor).await
    }

    /// The ECS side of one run, timed.
    pub async fn collect_ecs(&self, run: &FlowRun, hints: HintsFuture<'_>) -> Source<EcsEvidence> {
        self.meter.time(self.collect_run(run, hints)).await
    }
}
