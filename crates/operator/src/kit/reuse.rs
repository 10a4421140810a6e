//! State both controllers keep between reconciles: HTTP clients to reuse, and the pacer that
//! holds each object to one evaluation per interval.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use continuum_telemetry::fetch::{FetchError, Fetcher, TlsMaterial};

use super::Aging;
use tokio::sync::Mutex;

/// One HTTP client per TLS configuration and timeout, reused across reconciles.
#[derive(Debug, Default)]
pub struct Fetchers(Mutex<HashMap<(TlsMaterial, Duration), Fetcher>>);

impl Fetchers {
    pub async fn get(&self, tls: TlsMaterial, timeout: Duration) -> Result<Fetcher, FetchError> {
        let mut cache = self.0.lock().await;
        let key = (tls, timeout);
        if let Some(f) = cache.get(&key) {
            return Ok(f.clone());
        }
        let f = Fetcher::new(&key.0, timeout)?;
        cache.insert(key, f.clone());
        Ok(f)
    }
}

/// At most one evaluation per object per interval: the controllers' own status writes (and watched
/// objects) wake them too, and those wake-ups must not add scrapes or queries, nor move the
/// evaluation the controller planned.
#[derive(Debug, Default)]
/// Entries of deleted objects age out (see [`Aging`]) or are forgotten at once (`forget`).
pub struct Pacer(std::sync::Mutex<Aging<String, Option<Run>>>);

/// The last evaluation of an object: when it started, for which generation, and when the next is
/// planned (`None`: one interval after the start).
#[derive(Debug)]
struct Run {
    at: Instant,
    generation: Option<i64>,
    next: Option<Instant>,
}

impl Pacer {
    /// How long to wait before evaluating `key` again, or `None` to evaluate now (and record it).
    /// A new spec generation always evaluates at once. Evaluations closer than 0.45 of an
    /// interval are held (a burst of watch events) until the planned one, so a controller may
    /// align its own requeues anywhere from half an interval on.
    /// One lookup: O(1) per call, whatever the number of objects.
    pub async fn wait(&self, key: &str, generation: Option<i64>, interval: Duration) -> Option<Duration> {
        let Ok(mut runs) = self.0.lock() else { return None };
        let now = Instant::now();
        let run = runs.entry(key.to_owned(), now, || None);
        if let Some(r) = run.as_ref()
            && r.generation == generation
            && r.at.elapsed() < interval.mul_f64(0.45)
        {
            let planned = r.next.unwrap_or(r.at + interval);
            return Some(planned.saturating_duration_since(Instant::now()).max(Duration::from_millis(10)));
        }
        *run = Some(Run { at: now, generation, next: None });
        None
    }

    /// Forgets `key` (the object was deleted).
    pub fn forget(&self, key: &str) {
        if let Ok(mut runs) = self.0.lock() {
            runs.remove(&key.to_owned());
        }
    }

    /// Records that the next evaluation of `key` is planned `after` from now.
    pub async fn plan(&self, key: &str, after: Duration) {
        if let Ok(mut runs) = self.0.lock()
            && let Some(r) = runs.entry(key.to_owned(), Instant::now(), || None)
        {
            r.next = Some(Instant::now() + after);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pacer_holds_an_object_to_one_evaluation_per_interval_unless_its_spec_changes() {
        let p = Pacer::default();
        let interval = Duration::from_secs(60);
        assert_eq!(p.wait("ns/a", Some(1), interval).await, None, "first evaluation runs");
        let wait = p.wait("ns/a", Some(1), interval).await;
        assert!(wait.is_some_and(|w| w > Duration::from_secs(50)), "{wait:?}");
        assert_eq!(p.wait("ns/b", Some(1), interval).await, None, "other objects are not held");
        assert_eq!(p.wait("ns/a", Some(2), interval).await, None, "a new generation runs at once");
    }

    #[tokio::test]
    async fn a_held_wake_up_waits_for_the_planned_evaluation_not_one_interval() {
        let p = Pacer::default();
        let interval = Duration::from_secs(60);
        assert_eq!(p.wait("ns/a", Some(1), interval).await, None);
        p.plan("ns/a", Duration::from_secs(80)).await;
        let wait = p.wait("ns/a", Some(1), interval).await;
        assert!(wait.is_some_and(|w| w > Duration::from_secs(70) && w <= Duration::from_secs(80)), "{wait:?}");
    }
}
