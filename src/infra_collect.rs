//! Every infrastructure backend at once: `doctor` and `health` hand this to the Prefect collector,
//! which runs it alongside the Prefect side. Kubernetes and ECS run concurrently and share the hints
//! (each awaits them only when the run's `infrastructure_pid` does not say where it went).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use futures_util::future::{FutureExt, join};

use crate::evidence::InfraEvidence;
use crate::prefect::types::FlowRun;
use crate::prefect::{HintsFuture, Infra};

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
        let shared = hints.shared();
        let (for_kube, for_ecs) = (shared.clone(), shared);
        Box::pin(async move {
            let (kubernetes, ecs) =
                join(self.kube.collect_kube(run, Box::pin(for_kube)), self.ecs.collect_ecs(run, Box::pin(for_ecs)))
                    .await;
            InfraEvidence { kubernetes, ecs }
        })
    }
}

/// What one backend's collector measures over a command: the time it spent (summed over runs) and
/// whether any run needed it at all.
#[derive(Debug, Default)]
pub struct Meter {
    millis: Cell<u64>,
    consulted: Cell<bool>,
}

impl Meter {
    /// Runs one collection, adding its time.
    pub async fn time<T>(&self, collect: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = collect.await;
        let spent = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.set(self.millis.get().saturating_add(spent));
        out
    }

    /// A run needed this backend.
    pub fn consulted(&self) {
        self.consulted.set(true);
    }

    pub fn millis(&self) -> u64 {
        self.millis.get()
    }

    /// `count()` when a run needed this backend, else `None`.
    pub fn requests(&self, count: impl FnOnce() -> u64) -> Option<u64> {
        self.consulted.get().then(count)
    }
}
