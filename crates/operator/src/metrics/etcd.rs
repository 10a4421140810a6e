//! `continuum_etcd_*`: the EtcdHealth controller's figures per member and its verdict.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

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

/// The members (and scrape-error categories) each EtcdHealth has series of, so the series of a
/// deleted EtcdHealth, or of a member it no longer reads, can be removed.
#[derive(Debug, Default)]
struct Known {
    members: BTreeSet<String>,
    errors: BTreeSet<(String, &'static str)>,
}

#[derive(Debug)]
pub struct EtcdMetrics {
    wal_fsync_p99: Family<MemberLabels, FGauge>,
    backend_commit_p99: Family<MemberLabels, FGauge>,
    leader_changes: Family<MemberLabels, FGauge>,
    has_leader: Family<MemberLabels, FGauge>,
    db_size: Family<MemberLabels, FGauge>,
    sample_age: Family<MemberLabels, FGauge>,
    slow_disk: Family<HealthLabels, FGauge>,
    scrape_errors: Family<ErrorLabels, Counter>,
    known: Mutex<HashMap<HealthLabels, Known>>,
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
            sample_age: Family::default(),
            slow_disk: Family::default(),
            scrape_errors: Family::default(),
            known: Mutex::default(),
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
        r.register(
            "sample_age_seconds",
            "Age of the member's newest successful scrape when last evaluated (grows through an outage)",
            m.sample_age.clone(),
        );
        r.register("slow_disk", "1 while the SlowDisk condition is True", m.slow_disk.clone());
        r.register("scrape_errors", "Failed scrapes of etcd members, by category", m.scrape_errors.clone());
        m
    }

    /// One evaluation's figures. A figure a member no longer has drops its series, and so do all
    /// of an unreachable member's (no last value shown as if live; its sample age grows); the
    /// series of members no longer read are removed.
    pub fn observe(&self, namespace: &str, etcdhealth: &str, members: &[MemberStatus], slow: bool) {
        let health = HealthLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into() };
        let now_ms = crate::clock::now_ms();
        for m in members {
            let l = MemberLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into(), member: m.name.clone() };
            let set = |f: &Family<MemberLabels, FGauge>, v: Option<f64>| match v.filter(|_| m.error.is_none()) {
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
            match m.last_scrape.as_ref() {
                Some(t) => {
                    let age = (now_ms - t.0.as_millisecond()).max(0) as f64 / 1000.0;
                    self.sample_age.get_or_create(&l).set(age);
                }
                None => {
                    self.sample_age.remove(&l);
                }
            }
        }
        let read: BTreeSet<String> = members.iter().map(|m| m.name.clone()).collect();
        let gone: Vec<String> = {
            let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
            let k = known.entry(health.clone()).or_default();
            let gone = k.members.difference(&read).cloned().collect();
            k.members = read;
            gone
        };
        for member in gone {
            self.forget_member(&MemberLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into(), member });
        }
        self.slow_disk.get_or_create(&health).set(if slow { 1.0 } else { 0.0 });
    }

    fn forget_member(&self, l: &MemberLabels) {
        for f in [&self.wal_fsync_p99, &self.backend_commit_p99, &self.leader_changes, &self.has_leader, &self.db_size]
        {
            f.remove(l);
        }
        self.sample_age.remove(l);
    }

    /// Removes every series of a deleted EtcdHealth.
    pub fn forget(&self, namespace: &str, etcdhealth: &str) {
        let health = HealthLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into() };
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner).remove(&health).unwrap_or_default();
        for member in known.members {
            self.forget_member(&MemberLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into(), member });
        }
        for (member, category) in known.errors {
            let l = ErrorLabels {
                namespace: namespace.into(),
                etcdhealth: etcdhealth.into(),
                member,
                category: category.into(),
            };
            self.scrape_errors.remove(&l);
        }
        self.slow_disk.remove(&health);
    }

    /// The EtcdHealths (namespace, name) that have series.
    pub fn known(&self) -> Vec<(String, String)> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.keys().map(|h| (h.namespace.clone(), h.etcdhealth.clone())).collect()
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
        let health = HealthLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into() };
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known.entry(health).or_default().errors.insert((member.to_owned(), category));
    }
}

#[cfg(test)]
#[path = "etcd_tests.rs"]
mod tests;
