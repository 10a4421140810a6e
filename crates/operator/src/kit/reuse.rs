//! State both controllers keep between reconciles: HTTP clients to reuse, and the pacer that
//! holds each object to one evaluation per interval.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use continuum_telemetry::fetch::{FetchError, Fetcher, TlsMaterial};
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
/// objects) wake them too, and those wake-ups must not add scrapes or queries.
#[derive(Debug, Default)]
pub struct Pacer(Mutex<HashMap<String, (Instant, Option<i64>)>>);

impl Pacer {
    /// How long to wait before evaluating `key` again, or `None` to evaluate now (and record it).
    /// A new spec generation always evaluates at once. Evaluations closer than 0.45 of an
    /// interval are held (a burst of watch events), so a controller may align its own requeues
    /// anywhere from half an interval on.
    pub async fn wait(&self, key: &str, generation: Option<i64>, interval: Duration) -> Option<Duration> {
        let mut runs = self.0.lock().await;
        // Deleted objects are never reconciled again: forget what has not run for an hour.
        runs.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(3600));
        if let Some((at, seen)) = runs.get(key)
            && *seen == generation
            && at.elapsed() < interval.mul_f64(0.45)
        {
            return Some(interval - at.elapsed());
        }
        runs.insert(key.to_owned(), (Instant::now(), generation));
        None
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
}
