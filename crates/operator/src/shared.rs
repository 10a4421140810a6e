//! Pieces both controllers use: reusable HTTP clients, the once-per-interval pacer, the clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use continuum_telemetry::fetch::{Fetcher, TlsMaterial};
use tokio::sync::Mutex;

/// The wall clock, milliseconds since the epoch (the pure crates get time passed in).
pub fn now_ms() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_millisecond()
}

/// One HTTP client per TLS configuration and timeout, reused across reconciles.
#[derive(Debug, Default)]
pub struct Fetchers(Mutex<HashMap<(TlsMaterial, Duration), Fetcher>>);

impl Fetchers {
    pub async fn get(&self, tls: TlsMaterial, timeout: Duration) -> Result<Fetcher, String> {
        let mut cache = self.0.lock().await;
        let key = (tls, timeout);
        if let Some(f) = cache.get(&key) {
            return Ok(f.clone());
        }
        let f = Fetcher::new(&key.0, timeout).map_err(|e| e.to_string())?;
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
    /// A new spec generation always evaluates at once.
    pub async fn wait(&self, key: &str, generation: Option<i64>, interval: Duration) -> Option<Duration> {
        let mut runs = self.0.lock().await;
        // Deleted objects are never reconciled again: forget what has not run for an hour.
        runs.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(3600));
        if let Some((at, seen)) = runs.get(key)
            && *seen == generation
            && at.elapsed() < interval.mul_f64(0.9)
        {
            return Some(interval - at.elapsed());
        }
        runs.insert(key.to_owned(), (Instant::now(), generation));
        None
    }
}
