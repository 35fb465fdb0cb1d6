//! Everything that talks to the Prefect REST API: the client, its read-only policy, the response types,
//! and the collectors that turn responses into evidence.

pub mod client;
pub mod collect;
pub mod health;
pub mod observe;
pub mod pager;
pub mod slots;
pub mod types;
