//! What every controller gets from the process: both API clients, metrics, the leader write gate
//! and the URL allow-list.

use std::sync::Arc;

use kube::Client;

use crate::allow::AllowList;
use crate::leader::WriteGate;
use crate::metrics::Metrics;

/// What every controller gets from the runtime.
#[derive(Clone)]
pub struct Runtime {
    /// The control-plane API server: CRs, Deployments, ResourceBindings, Secrets, Events.
    pub control: Client,
    /// The host cluster: the pods and Events EtcdHealth correlates, the Lease.
    pub host: Client,
    pub metrics: Arc<Metrics>,
    /// Closed when this replica does not lead: no write may be sent then.
    pub gate: WriteGate,
    pub allow: Arc<AllowList>,
    /// Reconciles each controller runs at once (0: no bound).
    pub concurrency: u16,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("gate", &self.gate).field("allow", &self.allow).finish_non_exhaustive()
    }
}

/// A write refused because this replica does not lead (any more).
#[derive(Debug, thiserror::Error)]
#[error("not writing: this replica does not hold the leader Lease")]
pub struct NotLeading;

impl Runtime {
    /// Call right before each write; counts it when allowed.
    pub fn may_write(&self, resource: &str) -> Result<(), NotLeading> {
        if !self.gate.is_open() {
            return Err(NotLeading);
        }
        self.metrics.wrote(resource);
        Ok(())
    }
}
