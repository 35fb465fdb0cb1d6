//! The pure ECS layer of unstuck: the trimmed ECS snapshot (`evidence::ecs`, from `model.rs`) and the
//! `ecs.*` checks over it (`checks::ecs`). Laid out so the files drop into the repo as
//! `src/evidence/ecs.rs` and `src/checks/ecs/`, with `shim.rs` and `shell.rs` replaced by the real ones.

pub mod model;
pub mod shell;
mod shim;

/// Where the repo keeps the evidence types: `crate::evidence::ecs::…` resolves the same here and there.
pub mod evidence {
    pub use crate::model as ecs;
}

/// Where the repo keeps the checks: `crate::checks::{Finding, CheckInfo, …}` come from the shim here.
pub mod checks {
    pub use crate::shim::*;

    pub mod ecs;
}
