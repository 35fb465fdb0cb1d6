//! Standalone home of the recorded-Kubernetes test server while it is developed; the module file is
//! meant to be copied unchanged to `tests/it/harness/kube_api.rs`.
pub mod kube_api;
