//! Reading a policy's telemetry (Prometheus API or a direct scrape) and probing the offload agent.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use continuum_api::offload::{OffloadBackend, Signal, Telemetry};
use continuum_policy::offload::{Observation, TargetHealth};
use continuum_telemetry::exposition;
use continuum_telemetry::fetch::Fetcher;
use continuum_telemetry::histogram::Histogram;
use continuum_telemetry::promql::PromClient;
use tokio::sync::Mutex;

/// (value, sample time in seconds) of a query, or why there is none.
type QueryResult = Result<(f64, f64), String>;

/// Results of identical queries are shared between policies for 0.9 of an interval, so N policies
/// asking the same thing cost one query per interval (a policy's own next evaluation, one interval
/// later, always queries afresh).
#[derive(Debug)]
pub struct QueryCache {
    entries: Mutex<HashMap<(String, String), (Instant, QueryResult)>>,
    /// Previous scrape of each (url, histogram) for quantiles over bucket increases.
    histograms: Mutex<HashMap<(String, String), Histogram>>,
    /// Queries sent to Prometheus (`continuum_offload_telemetry_queries_total`).
    pub issued: prometheus_client::metrics::counter::Counter,
}

impl QueryCache {
    pub fn new(issued: prometheus_client::metrics::counter::Counter) -> Self {
        Self { entries: Mutex::default(), histograms: Mutex::default(), issued }
    }
}

/// (value, sample time in seconds) of one signal through PromQL.
async fn promql(
    cache: &QueryCache,
    api: &PromClient,
    base: &str,
    query: &str,
    fresh_for: Duration,
) -> Result<(f64, f64), String> {
    let key = (base.to_owned(), query.to_owned());
    if let Some((at, result)) = cache.entries.lock().await.get(&key)
        && at.elapsed() < fresh_for
    {
        return result.clone();
    }
    cache.issued.inc();
    let result = match api.query(query, None).await {
        Err(e) => Err(e.to_string()),
        Ok(series) if series.is_empty() => Err(format!("query `{query}` returned no series")),
        Ok(series) if series.len() > 1 => Err(format!(
            "query `{query}` returned {} series; it must return exactly one (aggregate it, e.g. avg(...))",
            series.len()
        )),
        Ok(series) => Ok((series[0].value, series[0].timestamp)),
    };
    cache.entries.lock().await.insert(key, (Instant::now(), result.clone()));
    result
}

/// The value of `signal` on a scraped page: a gauge, a summary quantile, or a histogram quantile
/// over the increase since the previous scrape.
async fn scraped(cache: &QueryCache, url: &str, page: &str, signal: &Signal) -> Result<f64, String> {
    let metric = signal.metric.as_deref().unwrap_or_default();
    let samples = exposition::parse_filtered(page, |n| n.starts_with(metric)).map_err(|e| e.to_string())?;
    let labels: Vec<(&str, &str)> = signal.labels.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let matches = |s: &exposition::Sample<'_>| labels.iter().all(|(k, v)| s.label(k) == Some(*v));
    let q = signal.quantile.unwrap_or(0.99);
    if let Some(h) = Histogram::from_samples(&samples, metric, &labels) {
        let key = (url.to_owned(), metric.to_owned());
        let previous = cache.histograms.lock().await.insert(key, h.clone());
        let inc = previous.and_then(|p| h.increase_since(&p)).ok_or("histogram: waiting for a second scrape")?;
        return inc
            .quantile(q)
            .map(|q| q.value)
            .ok_or_else(|| format!("histogram {metric}: no observations since the last scrape"));
    }
    let quantile_label = format!("{q}");
    samples
        .iter()
        .filter(|s| s.name == metric && matches(s))
        .find(|s| s.label("quantile").is_none_or(|v| v == quantile_label))
        .map(|s| s.value)
        .ok_or_else(|| format!("metric {metric} with labels {labels:?} not found on {url}"))
}

/// Reads fps and latency; errors become `Observation::error` (a condition, not a crash).
pub async fn read(
    cache: &QueryCache,
    t: &Telemetry,
    fetcher: &Fetcher,
    headers: Vec<(String, String)>,
    now_ms: i64,
) -> Observation {
    let mut o = Observation {
        fps: None,
        latency_seconds: None,
        sample_time_ms: None,
        error: None,
        target: TargetHealth::Unchecked,
    };
    let fresh_for = Duration::from(t.interval).mul_f64(0.9);
    let mut errors = Vec::new();
    if let Some(p) = &t.prometheus {
        let api = PromClient::new(fetcher.clone(), &p.url, headers);
        let mut oldest: Option<f64> = None;
        for (signal, slot) in [(&t.fps, &mut o.fps), (&t.latency, &mut o.latency_seconds)] {
            let Some(query) = signal.as_ref().and_then(|s| s.query.as_deref()) else { continue };
            match promql(cache, &api, &p.url, query, fresh_for).await {
                Ok((v, ts)) => {
                    *slot = Some(v);
                    oldest = Some(oldest.map_or(ts, |o: f64| o.min(ts)));
                }
                Err(e) => errors.push(e),
            }
        }
        o.sample_time_ms = oldest.map(|s| (s * 1000.0) as i64);
    } else if let Some(s) = &t.scrape {
        match fetcher.get(&s.url, &[]).await {
            Err(e) => errors.push(format!("scraping {}: {e}", s.url)),
            Ok(page) => {
                for (signal, slot) in [(&t.fps, &mut o.fps), (&t.latency, &mut o.latency_seconds)] {
                    let Some(signal) = signal else { continue };
                    match scraped(cache, &s.url, &page, signal).await {
                        Ok(v) => *slot = Some(v),
                        Err(e) => errors.push(e),
                    }
                }
                o.sample_time_ms = Some(now_ms);
            }
        }
    }
    if !errors.is_empty() {
        o.error = Some(errors.join("; "));
    }
    o
}

/// A TCP connect to a `tcp://host:port` offload agent (vAccel agents have no ping RPC).
pub async fn probe(backend: &OffloadBackend) -> TargetHealth {
    let Some(addr) = backend.endpoint.strip_prefix("tcp://") else { return TargetHealth::Unchecked };
    if !backend.health_check.tcp {
        return TargetHealth::Unchecked;
    }
    let timeout = Duration::from(backend.health_check.timeout);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => TargetHealth::Healthy,
        Ok(Err(e)) => TargetHealth::Unhealthy(format!("TCP connect to {addr}: {e}")),
        Err(_) => TargetHealth::Unhealthy(format!(
            "TCP connect to {addr}: no answer within {}",
            continuum_policy::format::seconds(timeout.as_secs_f64())
        )),
    }
}
