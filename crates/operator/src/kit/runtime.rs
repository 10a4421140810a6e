//! Pieces both controllers use: reusable HTTP clients, the once-per-interval pacer, the clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::Arc;

use continuum_telemetry::fetch::{Fetcher, TlsMaterial};
use kube::Client;
use tokio::sync::Mutex;

use crate::allow::AllowList;
use crate::leader::Gate;
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
    pub gate: Gate,
    pub allow: Arc<AllowList>,
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

/// Publishes an Event through `recorder` unless this replica does not lead.
pub async fn publish_event(
    rt: &Runtime,
    recorder: &kube::runtime::events::Recorder,
    event: &kube::runtime::events::Event,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
) -> Result<(), String> {
    rt.may_write("events").map_err(|e| e.to_string())?;
    recorder.publish(event, reference).await.map_err(|e| e.to_string())
}

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

/// Resolves true once a controller's cache holds its first full list (false if it never will).
/// Polled again every 200 ms: the store's readiness signal wakes only one waiter, and the
/// controller itself waits on it too.
pub async fn wait_synced<K>(store: &kube::runtime::reflector::Store<K>) -> bool
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await {
            Ok(result) => return result.is_ok(),
            Err(_) => continue,
        }
    }
}

/// Counts the controller's cache towards `/readyz` once it holds its first full list.
pub fn report_synced<K>(store: kube::runtime::reflector::Store<K>, metrics: Arc<Metrics>, kind: &'static str)
where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    tokio::spawn(async move {
        if wait_synced(&store).await {
            tracing::info!("{kind} cache synced");
            metrics.readiness.synced();
        }
    });
}
