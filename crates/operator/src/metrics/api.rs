//! `continuum_api_*`: writes sent to the Kubernetes API.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

#[derive(Debug)]
pub struct ApiWrites {
    by_resource: Family<ResourceLabels, Counter>,
    /// The same writes, all resources together (logged at shutdown).
    total: AtomicU64,
}

impl ApiWrites {
    pub const PREFIX: &'static str = "api";

    pub fn register(registry: &mut Registry) -> Self {
        let m = Self { by_resource: Family::default(), total: AtomicU64::new(0) };
        let r = registry.sub_registry_with_prefix(Self::PREFIX);
        r.register(
            "writes",
            "Writes sent to the Kubernetes API (status, actuation, Events), by resource",
            m.by_resource.clone(),
        );
        m
    }

    /// Counts one write to `resource` (a fixed name such as `offloadpolicies/status`).
    pub fn wrote(&self, resource: &str) {
        self.by_resource.get_or_create(&ResourceLabels { resource: resource.to_owned() }).inc();
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    /// Writes sent since the process started.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }
}
