//! The one integration-test binary: the CLI itself, `doctor` on real Prefect 3 and 2 servers, faults
//! injected by a proxy, secrets, evidence bundles, schemas and completions.

/// Runs each named scenario function on the Prefect 3 and the Prefect 2 server, as tests `<name>::p3`
/// and `<name>::p2`.
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[test]
                fn p3() {
                    super::$scenario(crate::harness::p3());
                }
                #[test]
                fn p2() {
                    super::$scenario(crate::harness::p2());
                }
            }
        )*
    };
}

mod agents_real;
mod blocks_real;
mod bundles;
mod checklist_real;
mod cli;
mod deploy;
mod doctor_real;
mod ecs_real;
mod faults;
mod faults_infra;
mod harness;
mod health_real;
mod k8s_real;
mod kube_api_server;
mod paging_pg;
mod schema;
mod secrets;
mod secure;
mod serve;
mod slots_real;
mod tls;
