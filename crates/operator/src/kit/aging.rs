//! A map whose entries expire when unused: what the controllers remember per object (pacing,
//! shared query results, probes, histogram baselines) without a walk of every entry per call.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// An entry unused this long belongs to a deleted (or changed) object. Longer than the longest
/// interval of either resource (10m), so a live object's entry is never dropped between two uses.
const IDLE: Duration = Duration::from_secs(30 * 60);
/// Sweeping walks the whole map, so it runs at most this often, on an insert.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A map whose entries expire when they have not been used for [`IDLE`].
#[derive(Debug)]
pub struct Aging<K, V> {
    map: HashMap<K, (Instant, V)>,
    swept: Option<Instant>,
}

impl<K, V> Default for Aging<K, V> {
    fn default() -> Self {
        Self { map: HashMap::new(), swept: None }
    }
}

impl<K: Hash + Eq, V> Aging<K, V> {
    /// The entry of `key`, created by `make` if missing; marks it used at `at`.
    pub fn entry(&mut self, key: K, at: Instant, make: impl FnOnce() -> V) -> &mut V {
        if !self.map.contains_key(&key) {
            self.sweep(at);
        }
        let slot = self.map.entry(key).or_insert_with(|| (at, make()));
        slot.0 = slot.0.max(at);
        &mut slot.1
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.map.remove(key);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn sweep(&mut self, at: Instant) {
        if self.swept.is_some_and(|s| at.saturating_duration_since(s) < SWEEP_EVERY) {
            return;
        }
        self.swept = Some(at);
        self.map.retain(|_, (used, _)| at.saturating_duration_since(*used) < IDLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_unused_for_long_are_evicted_on_a_later_insert() {
        let t0 = Instant::now();
        let mut m: Aging<&str, u32> = Aging::default();
        m.entry("deleted", t0, || 1);
        m.entry("live", t0, || 2);
        // The live one keeps being used; the deleted one is not.
        for minute in [10, 20, 30] {
            m.entry("live", t0 + Duration::from_secs(minute * 60), || 0);
        }
        assert_eq!(m.len(), 2, "nothing is swept without an insert");
        m.entry("new", t0 + IDLE + Duration::from_secs(1), || 3);
        assert_eq!(m.len(), 2);
        assert_eq!(*m.entry("live", t0 + IDLE, || 0), 2, "a used entry keeps its value");
        assert_eq!(*m.entry("deleted", t0 + IDLE, || 9), 9, "the evicted entry starts afresh");
    }

    #[test]
    fn sweeps_run_at_most_once_a_minute() {
        let t0 = Instant::now();
        let mut m: Aging<u32, ()> = Aging::default();
        m.entry(0, t0, || ());
        let late = t0 + IDLE + Duration::from_secs(5);
        m.entry(1, late, || ());
        assert_eq!(m.len(), 1, "the first late insert sweeps the idle entry");
        m.entry(2, t0, || ());
        m.entry(3, late + Duration::from_secs(1), || ());
        assert_eq!(m.len(), 3, "a second sweep within a minute is skipped");
    }
}
