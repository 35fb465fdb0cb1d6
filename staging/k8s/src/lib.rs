//! The pure Kubernetes layer of `unstuck`: the trimmed snapshot the collector fills (`model`, to become
//! `src/evidence/kube.rs`) and the `k8s.*` checks over it (`checks::k8s`, to become `src/checks/k8s/`).
//!
//! The module aliases below give the checks the import paths they will have in the repo
//! (`crate::checks::…`, `crate::evidence::kube::…`), so they move without edits.

pub mod model;
pub mod shim;

pub mod evidence {
    pub use crate::model as kube;
}

pub mod checks {
    pub use crate::shim::*;
    pub mod k8s;
}

#[cfg(test)]
pub mod testkit;
