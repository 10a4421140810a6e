//! `continuum_etcd_*`: the EtcdHealth controller's figures per member and its verdict.

use continuum_api::etcd::MemberStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::FGauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MemberLabels {
    pub namespace: String,
    pub etcdhealth: String,
    pub member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealthLabels {
    pub namespace: String,
    pub etcdhealth: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub namespace: String,
    pub etcdhealth: String,
    pub member: String,
    pub category: String,
}

#[derive(Debug)]
pub struct EtcdMetrics {
    wal_fsync_p99: Family<MemberLabels, FGauge>,
    backend_commit_p99: Family<MemberLabels, FGauge>,
    leader_changes: Family<MemberLabels, FGauge>,
    has_leader: Family<MemberLabels, FGauge>,
    db_size: Family<MemberLabels, FGauge>,
    slow_disk: Family<HealthLabels, FGauge>,
    scrape_errors: Family<ErrorLabels, Counter>,
}

impl EtcdMetrics {
    pub const PREFIX: &'static str = "etcd";

    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            wal_fsync_p99: Family::default(),
            backend_commit_p99: Family::default(),
            leader_changes: Family::default(),
            has_leader: Family::default(),
            db_size: Family::default(),
            slow_disk: Family::default(),
            scrape_errors: Family::default(),
        };
        let r = registry.sub_registry_with_prefix(Self::PREFIX);
        r.register("wal_fsync_p99_seconds", "p99 WAL fsync latency over the window", m.wal_fsync_p99.clone());
        r.register(
            "backend_commit_p99_seconds",
            "p99 backend commit latency over the window",
            m.backend_commit_p99.clone(),
        );
        r.register("leader_changes", "Leader changes seen in the window", m.leader_changes.clone());
        r.register("has_leader", "1 when the member has a leader", m.has_leader.clone());
        r.register("db_size_bytes", "Size of the member's backend database", m.db_size.clone());
        r.register("slow_disk", "1 while the SlowDisk condition is True", m.slow_disk.clone());
        r.register("scrape_errors", "Failed scrapes of etcd members, by category", m.scrape_errors.clone());
        m
    }

    /// One evaluation's figures; a figure a member no longer has drops its series (no stale value).
    pub fn observe(&self, namespace: &str, etcdhealth: &str, members: &[MemberStatus], slow: bool) {
        for m in members {
            let l = MemberLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into(), member: m.name.clone() };
            let set = |f: &Family<MemberLabels, FGauge>, v: Option<f64>| match v {
                Some(v) => {
                    f.get_or_create(&l).set(v);
                }
                None => {
                    f.remove(&l);
                }
            };
            set(&self.wal_fsync_p99, m.wal_fsync_p99_seconds);
            set(&self.backend_commit_p99, m.backend_commit_p99_seconds);
            set(&self.leader_changes, m.leader_changes.map(|v| v as f64));
            set(&self.has_leader, m.has_leader.map(|b| if b { 1.0 } else { 0.0 }));
            set(&self.db_size, m.db_size_bytes.map(|v| v as f64));
        }
        let l = HealthLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into() };
        self.slow_disk.get_or_create(&l).set(if slow { 1.0 } else { 0.0 });
    }

    /// A failed scrape of `member`, by a fixed `category` (never the error text).
    pub fn scrape_error(&self, namespace: &str, etcdhealth: &str, member: &str, category: &'static str) {
        let l = ErrorLabels {
            namespace: namespace.into(),
            etcdhealth: etcdhealth.into(),
            member: member.into(),
            category: category.into(),
        };
        self.scrape_errors.get_or_create(&l).inc();
    }
}
