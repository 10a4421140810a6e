//! Prometheus metrics (`continuum_*`): one struct per component, each registering itself under
//! its own prefix (`continuum_api_`, `continuum_leader_`, `continuum_offload_`,
//! `continuum_etcd_`), and [`Metrics`], which builds the registry and holds them.
//!
//! Label values are bounded: namespaces, resource and member names the user created, and fixed
//! error categories — never error text.

mod api;
mod etcd;
mod leader;
mod offload;

#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use crate::readiness::Readiness;
pub use api::{ApiWrites, ResourceLabels};
pub use etcd::{ErrorLabels, EtcdMetrics, HealthLabels, MemberLabels};
pub use leader::LeaderMetrics;
pub use offload::{CategoryLabels, OffloadMetrics, PolicyLabels, SwitchLabels};

/// Every metric's name starts with this.
pub const PREFIX: &str = "continuum";

/// A gauge holding a float.
pub type FGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

/// The registry and every component's metrics; one per process, shared by the controllers, the
/// leader election and the admin server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub api: ApiWrites,
    pub leader: LeaderMetrics,
    pub offload: OffloadMetrics,
    pub etcd: EtcdMetrics,
    /// Not a metric: what `/readyz` answers, kept here so one handle reaches the admin server.
    pub readiness: Readiness,
    /// Not a metric: what `/healthz` answers (see [`Liveness`](crate::liveness::Liveness)).
    pub liveness: crate::liveness::Liveness,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        register_build_info(&mut registry);
        // The order of registration is the order of the page.
        let api = ApiWrites::register(&mut registry);
        let leader = LeaderMetrics::register(&mut registry);
        let offload = OffloadMetrics::register(&mut registry);
        let etcd = EtcdMetrics::register(&mut registry);
        Self { registry, api, leader, offload, etcd, readiness: Readiness::default(), liveness: Default::default() }
    }

    /// Counts one write sent to the API.
    pub fn wrote(&self, resource: &str) {
        self.api.wrote(resource);
    }

    /// Writes sent since the process started.
    pub fn writes(&self) -> u64 {
        self.api.total()
    }

    /// The page `/metrics` serves (OpenMetrics text).
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

/// `continuum_build_info{version}`, always 1.
fn register_build_info(registry: &mut Registry) {
    let build = Family::<BuildLabels, Gauge>::default();
    build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").into() }).set(1);
    registry.register("build_info", "Version of the running operator (always 1)", build);
}

/// OpenMetrics text of `registry`; empty if encoding fails (it only fails on a broken writer).
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}
