//! OffloadPolicy resource.

mod actuation;
mod signals;
mod spec;
mod status;
mod telemetry;

pub use actuation::*;
pub use signals::*;
pub use spec::*;
pub use status::*;
pub use telemetry::*;
