//! The edge scene of continuum-operator, on the real control plane of `continuum-testenv`: the
//! simulated detector and vAccel agents ([`detector`]), and the narrated scene with its SVG
//! timeline ([`scene`]). The `continuum-demo` binary plays it; `continuum-sim` runs the simulated
//! workload as processes; `crates/operator/tests/edge.rs` plays it headless.

pub mod detector;
pub mod scene;
