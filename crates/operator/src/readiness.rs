//! What `/readyz` reports: the CRDs are established and, while this replica leads, every
//! controller's cache holds its first full list. A standby is ready once the CRDs are there, so
//! a rollout does not wait for a leader election.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct Readiness {
    crds_established: AtomicBool,
    leading: AtomicBool,
    synced: AtomicUsize,
    controllers: AtomicUsize,
}

impl Readiness {
    pub fn crds_established(&self) {
        self.crds_established.store(true, Ordering::SeqCst);
    }

    /// Leading with `controllers` controllers whose caches are not synced yet.
    pub fn leading(&self, controllers: usize) {
        self.synced.store(0, Ordering::SeqCst);
        self.controllers.store(controllers, Ordering::SeqCst);
        self.leading.store(true, Ordering::SeqCst);
    }

    /// One more controller's cache holds its first full list.
    pub fn synced(&self) {
        self.synced.fetch_add(1, Ordering::SeqCst);
    }

    pub fn standing_by(&self) {
        self.leading.store(false, Ordering::SeqCst);
    }

    /// None when ready, else the reason.
    pub fn problem(&self) -> Option<&'static str> {
        if !self.crds_established.load(Ordering::SeqCst) {
            return Some("CRDs not established yet");
        }
        let leading = self.leading.load(Ordering::SeqCst);
        if leading && self.synced.load(Ordering::SeqCst) < self.controllers.load(Ordering::SeqCst) {
            return Some("controller caches not synced yet");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn readiness_needs_crds_then_synced_caches_while_leading() {
        let r = Readiness::default();
        assert_eq!(r.problem(), Some("CRDs not established yet"));
        r.crds_established();
        assert_eq!(r.problem(), None, "a standby is ready once the CRDs are established");
        r.leading(2);
        assert_eq!(r.problem(), Some("controller caches not synced yet"));
        r.synced();
        assert!(r.problem().is_some());
        r.synced();
        assert_eq!(r.problem(), None);
    }

    #[test]
    fn a_replica_that_stops_leading_is_ready_again_without_synced_caches() {
        let r = Readiness::default();
        r.crds_established();
        r.leading(2);
        assert!(r.problem().is_some());
        r.standing_by();
        assert_eq!(r.problem(), None);
        r.leading(1);
        assert_eq!(r.problem(), Some("controller caches not synced yet"), "a new term waits for its own sync");
    }
}
