//! OffloadPolicy resource.

mod actuation;
mod spec;
mod status;
mod telemetry;

pub use actuation::*;
pub use spec::*;
pub use status::*;
pub use telemetry::*;
