//! EtcdHealth resource.

mod spec;
mod status;

pub use spec::*;
pub use status::*;
