//! Every infrastructure backend at once: `doctor` and `health` hand this to the Prefect collector,
//! which runs it alongside the Prefect side. Kubernetes and ECS run concurrently and share the hints
//! (each awaits them only when the run's `infrastructure_pid` does not say where it went).

use std::future::Future;
use std::pin::Pin;

use futures_util::future::{FutureExt, join};

use crate::evidence::ecs::EcsEvidence;
use crate::evidence::{InfraEvidence, Source};
use crate::prefect::types::FlowRun;
use crate::prefect::{self, HintsFuture, Infra};

pub struct Backends<'a> {
    pub kube: &'a crate::kube::Collector,
    pub ecs: &'a crate::ecs::Collector,
}

impl Infra for Backends<'_> {
    fn collect<'a>(
        &'a self,
        run: &'a FlowRun,
        hints: HintsFuture<'a>,
    ) -> Pin<Box<dyn Future<Output = InfraEvidence> + 'a>> {
        prefect::Infra::collect(self.kube, run, hints)
    }

    fn collect_all<'a>(
        &'a self,
        run: &'a FlowRun,
        hints: HintsFuture<'a>,
    ) -> Pin<Box<dyn Future<Output = (InfraEvidence, Source<EcsEvidence>)> + 'a>> {
        let shared = hints.shared();
        let (for_kube, for_ecs) = (shared.clone(), shared);
        Box::pin(async move {
            join(
                prefect::Infra::collect(self.kube, run, Box::pin(for_kube)),
                self.ecs.collect_ecs(run, Box::pin(for_ecs)),
            )
            .await
        })
    }
}
