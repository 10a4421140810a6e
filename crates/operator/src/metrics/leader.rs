//! `continuum_leader_*`: whether this replica leads, and how often it became the leader.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug)]
pub struct LeaderMetrics {
    pub is_leader: Gauge,
    pub transitions: Counter,
}

impl LeaderMetrics {
    pub const PREFIX: &'static str = "leader";

    pub fn register(registry: &mut Registry) -> Self {
        let m = Self { is_leader: Gauge::default(), transitions: Counter::default() };
        let r = registry.sub_registry_with_prefix(Self::PREFIX);
        r.register("is_leader", "1 while this replica holds the Lease and runs the controllers", m.is_leader.clone());
        r.register("transitions", "Times this replica became the leader", m.transitions.clone());
        m
    }

    /// Won the election: leading, one more transition.
    pub fn acquired(&self) {
        self.is_leader.set(1);
        self.transitions.inc();
    }

    /// Runs the controllers without an election (`--leader-elect=false`): no transition.
    pub fn leading_unelected(&self) {
        self.is_leader.set(1);
    }

    /// Lost, released or never held the Lease.
    pub fn not_leading(&self) {
        self.is_leader.set(0);
    }
}
