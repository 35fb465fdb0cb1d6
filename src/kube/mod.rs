//! The Kubernetes backend: locate a flow run's Job and pods and collect what the `k8s.*` checks read.
//! Every request passes the read-only policy (`policy::check_kube_request`) inside the client's own
//! service stack; every object passes the redactor before it becomes evidence.

pub mod client;
pub mod collect;

use std::time::Duration;

pub use client::KubeSettings;
use client::{KubeClient, NotConnected};

use crate::evidence::Source;
use crate::evidence::kube::KubeEvidence;
use crate::infra::Infra;
use crate::infra_collect::Meter;
use crate::prefect::HintsFuture;
use crate::prefect::types::FlowRun;
use crate::redact::Redactor;

const NOT_CONFIGURED: &str = "Kubernetes not configured";
const HOW_TO_CONFIGURE: &str = "pass --kube-context or set KUBECONFIG";

/// The infrastructure collector of `doctor` and `health`: connects once, on the first run that
/// needs Kubernetes, and counts what it sent.
pub struct Collector {
    settings: KubeSettings,
    budget: Duration,
    redactor: Redactor,
    client: tokio::sync::OnceCell<Result<KubeClient, Source<KubeEvidence>>>,
    meter: Meter,
}

impl Collector {
    pub fn new(settings: KubeSettings, budget: Duration, redactor: Redactor) -> Self {
        Collector { settings, budget, redactor, client: tokio::sync::OnceCell::new(), meter: Meter::default() }
    }

    /// Requests sent, retries included; `None` when no run needed Kubernetes.
    pub fn requests(&self) -> Option<u64> {
        self.meter
            .requests(|| self.client.get().and_then(|c| c.as_ref().ok()).map(KubeClient::request_count).unwrap_or(0))
    }

    pub fn millis(&self) -> u64 {
        self.meter.millis()
    }

    async fn client(&self) -> Result<&KubeClient, Source<KubeEvidence>> {
        let connected = self
            .client
            .get_or_init(|| async {
                match KubeClient::connect(&self.settings, self.budget).await {
                    Ok(c) => Ok(c),
                    Err(NotConnected::NotConfigured) => Err(collect::skipped(NOT_CONFIGURED, Some(HOW_TO_CONFIGURE))),
                    Err(NotConnected::Failed(f)) => Err(Source::Failed(f)),
                }
            })
            .await;
        connected.as_ref().map_err(Clone::clone)
    }

    async fn collect_run(&self, run: &FlowRun, hints: HintsFuture<'_>) -> Source<KubeEvidence> {
        if self.settings.disabled {
            return collect::skipped("Kubernetes not consulted (--no-kube)", None);
        }
        let pid = run.infrastructure_pid.as_deref().map(str::trim).filter(|p| !p.is_empty());
        // The pid says where the run went without waiting for the pool; only without one does the
        // pool's type decide whether to search Kubernetes at all.
        let (is_kube, hints) = match pid.map(|p| crate::infra::parse(p, None)) {
            Some(Infra::Kubernetes { .. }) => (true, None),
            Some(other) => {
                return collect::skipped(&format!("the run's infrastructure is {}", other.describe()), None);
            }
            None => {
                let hints = hints.await;
                // A kubernetes pool, or (Prefect 2) a KubernetesJob infrastructure block.
                let kube = hints.pool_type.as_deref().is_some_and(|t| t.starts_with("kubernetes"))
                    || hints.variable("block_type") == Some("kubernetes-job");
                (kube, Some(hints))
            }
        };
        if !is_kube {
            let what = hints.as_ref().and_then(|h| h.pool_type.clone()).unwrap_or_else(|| "unknown".into());
            return collect::skipped(&format!("not a Kubernetes run (pool type {what})"), None);
        }
        self.meter.consulted();
        let client = match self.client().await {
            Ok(c) => c,
            Err(skipped_or_failed) => return skipped_or_failed,
        };
        let namespaces = hints.as_ref().and_then(|h| h.variable("namespace")).map(str::to_string).into_iter().collect();
        let target =
            collect::Target { run_id: run.id.clone(), infrastructure_pid: pid.map(str::to_string), namespaces };
        collect::collect(client, &target, &self.redactor).await
    }

    /// The Kubernetes side of one run, timed.
    pub async fn collect_kube(&self, run: &FlowRun, hints: HintsFuture<'_>) -> Source<KubeEvidence> {
        self.meter.time(self.collect_run(run, hints)).await
    }
}
