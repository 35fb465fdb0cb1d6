//! The one integration-test binary: the CLI itself, `doctor` on real Prefect 3 and 2 servers, faults
//! injected by a proxy, secrets, evidence bundles, schemas and completions.

mod bundles;
mod checklist_real;
mod cli;
mod doctor_real;
mod faults;
mod harness;
mod health_real;
mod schema;
mod secrets;
mod secure;
mod slots_real;
mod tls;
