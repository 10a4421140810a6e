//! What `/healthz` reports: the process answers, and while it leads its reconciles do not stall.
//!
//! Each controller keeps a [`Cadence`]: when a reconcile of an object ends with a requeue, that
//! object is due again within its period; it is *overdue* once three times its period (plus the
//! error retry) has passed since. The controller is stalled when an object has been overdue for
//! [`STALL_GRACE`] and no reconcile at all has ended since it became overdue. A runtime that
//! works through a backlog keeps ending reconciles, so it is never called stalled; one whose
//! reconciles hang (all of them, on an API server that no longer answers) or whose scheduler
//! stopped is. Objects that wait for a change, and deleted ones, are not due.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use continuum_api::{EtcdHealth, OffloadPolicy};

/// A resource reconciled on a period of its own (its spec's interval).
pub trait Paced {
    fn period(&self) -> Duration;
}

impl Paced for OffloadPolicy {
    fn period(&self) -> Duration {
        self.spec.telemetry.interval.into()
    }
}

impl Paced for EtcdHealth {
    fn period(&self) -> Duration {
        self.spec.interval.into()
    }
}

/// How long an object may be overdue, with nothing ending meanwhile, before `/healthz` fails.
pub const STALL_GRACE: Duration = Duration::from_secs(30);

/// One controller's reconciles: when each object is overdue, and when one last ended.
#[derive(Debug, Default)]
pub struct Cadence {
    overdue: HashMap<String, Instant>,
    last_end: Option<Instant>,
}

impl Cadence {
    /// A reconcile of `key` ended at `at`; `overdue_after` None: it waits for a change.
    pub fn ended(&mut self, key: &str, at: Instant, overdue_after: Option<Duration>) {
        self.last_end = Some(self.last_end.map_or(at, |last| last.max(at)));
        match overdue_after {
            Some(after) => {
                self.overdue.insert(key.to_owned(), at + after);
            }
            None => {
                self.overdue.remove(key);
            }
        }
    }

    /// `key` is gone (deleted): it is not due any more.
    pub fn forget(&mut self, key: &str) {
        self.overdue.remove(key);
    }

    /// How long work has been overdue with no reconcile ending since, once that is longer than
    /// `grace`.
    pub fn stalled(&self, now: Instant, grace: Duration) -> Option<Duration> {
        let earliest = self.overdue.values().min()?;
        if self.last_end.is_some_and(|end| end >= *earliest) {
            return None;
        }
        let stalled = now.checked_duration_since(*earliest)?;
        (stalled >= grace).then_some(stalled)
    }

    /// Objects that will be due again.
    pub fn due(&self) -> usize {
        self.overdue.len()
    }
}

/// The cadences of every controller of this process.
#[derive(Debug, Default)]
pub struct Liveness {
    controllers: Mutex<HashMap<String, Cadence>>,
}

impl Liveness {
    /// Runs `f` on the cadence of controller `kind`.
    pub fn with<R>(&self, kind: &str, f: impl FnOnce(&mut Cadence) -> R) -> R {
        let mut all = self.controllers.lock().unwrap_or_else(|p| p.into_inner());
        match all.get_mut(kind) {
            Some(c) => f(c),
            None => f(all.entry(kind.to_owned()).or_default()),
        }
    }

    /// No longer leading: nothing is due here.
    pub fn standing_by(&self) {
        self.controllers.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// None while healthy, else which controller stalled and for how long.
    pub fn problem(&self, now: Instant) -> Option<String> {
        let all = self.controllers.lock().unwrap_or_else(|p| p.into_inner());
        let mut stalled: Vec<(&str, Duration)> =
            all.iter().filter_map(|(kind, c)| Some((kind.as_str(), c.stalled(now, STALL_GRACE)?))).collect();
        stalled.sort();
        let (kind, for_) = stalled.first()?;
        Some(format!("{kind} reconciles stalled: work overdue for {}s and no reconcile ended since", for_.as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_controller_that_stops_ending_reconciles_with_work_due_is_stalled() {
        let t0 = Instant::now();
        let mut c = Cadence::default();
        c.ended("ns/a", t0, Some(S(60)));
        assert_eq!(c.stalled(t0 + S(59), S(30)), None, "not overdue yet");
        assert_eq!(c.stalled(t0 + S(80), S(30)), None, "overdue for less than the grace");
        assert_eq!(c.stalled(t0 + S(95), S(30)), Some(S(35)));
    }

    #[test]
    fn a_backlog_that_keeps_moving_is_not_a_stall() {
        let t0 = Instant::now();
        let mut c = Cadence::default();
        c.ended("ns/a", t0, Some(S(60)));
        c.ended("ns/b", t0 + S(70), Some(S(60)));
        assert_eq!(c.stalled(t0 + S(200), S(30)), None, "b ended after a was overdue");
        c.ended("ns/a", t0 + S(71), Some(S(60)));
        assert_eq!(c.stalled(t0 + S(159), S(30)), None);
        assert_eq!(c.stalled(t0 + S(160), S(30)), Some(S(30)), "b overdue at 130 s, nothing ended since");
    }

    #[test]
    fn objects_waiting_for_a_change_or_deleted_are_not_due() {
        let t0 = Instant::now();
        let mut c = Cadence::default();
        c.ended("ns/a", t0, Some(S(10)));
        c.ended("ns/b", t0, Some(S(10)));
        c.ended("ns/a", t0 + S(1), None);
        c.forget("ns/b");
        assert_eq!(c.due(), 0);
        assert_eq!(c.stalled(t0 + S(3600), S(30)), None);
    }

    #[test]
    fn liveness_names_the_stalled_controller_and_clears_when_standing_by() {
        let t0 = Instant::now();
        let l = Liveness::default();
        l.with("OffloadPolicy", |c| c.ended("ns/a", t0, Some(S(10))));
        l.with("EtcdHealth", |c| c.ended("ns/e", t0 + S(100), Some(S(10))));
        let problem = l.problem(t0 + S(100)).unwrap_or_default();
        assert!(problem.starts_with("OffloadPolicy reconciles stalled"), "{problem}");
        assert!(problem.contains("overdue for 90s"), "{problem}");
        l.standing_by();
        assert_eq!(l.problem(t0 + S(1000)), None);
    }
}
