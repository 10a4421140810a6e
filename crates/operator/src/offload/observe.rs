//! Reading a policy's telemetry (Prometheus API or a direct scrape) and probing the offload agent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::offload::{OffloadBackend, Signal, Telemetry};
use continuum_policy::offload::{Observation, TargetHealth};
use continuum_telemetry::exposition;
use continuum_telemetry::fetch::{FetchError, Fetcher};
use continuum_telemetry::histogram::Histogram;
use continuum_telemetry::promql::{PromClient, QueryError};
use tokio::sync::Mutex;

use crate::allow::NotAllowed;
use crate::secrets::SecretError;

/// Why a signal could not be read. The text is a sentence for the TelemetryAvailable condition.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Client(#[from] FetchError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("query `{0}` returned no series")]
    NoSeries(String),
    #[error("query `{query}` returned {found} series; it must return exactly one (aggregate it, e.g. avg(...))")]
    ManySeries { query: String, found: usize },
    #[error("scraping {url}: {source}")]
    Scrape {
        url: String,
        #[source]
        source: FetchError,
    },
    #[error("{0}")]
    Page(String),
}

impl TelemetryError {
    /// A bounded category (metric label): `not_allowed`, `timeout`, `series` or `unavailable`.
    pub fn category(&self) -> &'static str {
        let fetch = match self {
            TelemetryError::NotAllowed(_) => return "not_allowed",
            TelemetryError::NoSeries(_) | TelemetryError::ManySeries { .. } => return "series",
            TelemetryError::Client(e) | TelemetryError::Scrape { source: e, .. } => e,
            TelemetryError::Query(QueryError::Fetch { source, .. }) => source,
            _ => return "unavailable",
        };
        if matches!(fetch, FetchError::Timeout(_)) { "timeout" } else { "unavailable" }
    }
}

/// (value, sample time in seconds) of a query, or why there is none.
type QueryResult = Result<(f64, f64), Arc<TelemetryError>>;

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
async fn promql(cache: &QueryCache, api: &PromClient, base: &str, query: &str, fresh_for: Duration) -> QueryResult {
    let key = (base.to_owned(), query.to_owned());
    if let Some((at, result)) = cache.entries.lock().await.get(&key)
        && at.elapsed() < fresh_for
    {
        return result.clone();
    }
    cache.issued.inc();
    let result = match api.query(query, None).await {
        Err(e) => Err(Arc::new(e.into())),
        Ok(series) if series.is_empty() => Err(Arc::new(TelemetryError::NoSeries(query.to_owned()))),
        Ok(series) if series.len() > 1 => {
            Err(Arc::new(TelemetryError::ManySeries { query: query.to_owned(), found: series.len() }))
        }
        Ok(series) => Ok((series[0].value, series[0].timestamp)),
    };
    cache.entries.lock().await.insert(key, (Instant::now(), result.clone()));
    result
}

/// The value of `signal` on a scraped page: a gauge, a summary quantile, or a histogram quantile
/// over the increase since the previous scrape.
async fn scraped(cache: &QueryCache, url: &str, page: &str, signal: &Signal) -> Result<f64, TelemetryError> {
    let metric = signal.metric.as_deref().unwrap_or_default();
    let samples =
        exposition::parse_filtered(page, |n| n.starts_with(metric)).map_err(|e| TelemetryError::Page(e.to_string()))?;
    let labels: Vec<(&str, &str)> = signal.labels.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let matches = |s: &exposition::Sample<'_>| labels.iter().all(|(k, v)| s.label(k) == Some(*v));
    let q = signal.quantile.unwrap_or(0.99);
    if let Some(h) = Histogram::from_samples(&samples, metric, &labels) {
        let key = (url.to_owned(), metric.to_owned());
        let previous = cache.histograms.lock().await.insert(key, h.clone());
        let inc = previous
            .and_then(|p| h.increase_since(&p))
            .ok_or_else(|| TelemetryError::Page("histogram: waiting for a second scrape".into()))?;
        return inc
            .quantile(q)
            .map(|q| q.value)
            .ok_or_else(|| TelemetryError::Page(format!("histogram {metric}: no observations since the last scrape")));
    }
    let quantile_label = format!("{q}");
    samples
        .iter()
        .filter(|s| s.name == metric && matches(s))
        .find(|s| s.label("quantile").is_none_or(|v| v == quantile_label))
        .map(|s| s.value)
        .ok_or_else(|| TelemetryError::Page(format!("metric {metric} with labels {labels:?} not found on {url}")))
}

/// A policy's telemetry: the observation for the decision (its `error` is the errors' text) and
/// the errors themselves (their categories are metric labels).
#[derive(Debug)]
pub struct Observed {
    pub observation: Observation,
    pub errors: Vec<Arc<TelemetryError>>,
}

impl Observed {
    fn new(
        fps: Option<f64>,
        latency: Option<f64>,
        sample_time_ms: Option<i64>,
        errors: Vec<Arc<TelemetryError>>,
    ) -> Self {
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let observation = Observation {
            fps,
            latency_seconds: latency,
            sample_time_ms,
            error: (!text.is_empty()).then(|| text.join("; ")),
            target: TargetHealth::Unchecked,
        };
        Self { observation, errors }
    }

    fn failed(err: TelemetryError) -> Self {
        Self::new(None, None, None, vec![Arc::new(err)])
    }
}

/// Reads the telemetry; configuration problems (allow-list, Secrets, TLS) are errors of the
/// observation, not of the reconcile.
pub async fn observe(ctx: &super::Ctx, ns: &str, t: &Telemetry, now_ms: i64) -> Observed {
    match connect(ctx, ns, t).await {
        Ok((fetcher, headers)) => read(&ctx.state, t, &fetcher, headers, now_ms).await,
        Err(e) => Observed::failed(e),
    }
}

/// The HTTP client and headers for the policy's source.
async fn connect(
    ctx: &super::Ctx,
    ns: &str,
    t: &Telemetry,
) -> Result<(Fetcher, Vec<(String, String)>), TelemetryError> {
    let (tls, timeout) = match (&t.prometheus, &t.scrape) {
        (Some(p), _) => (p.tls.as_ref(), Duration::from(p.timeout)),
        (None, Some(s)) => (s.tls.as_ref(), Duration::from(s.timeout)),
        (None, None) => (None, Duration::from_secs(5)),
    };
    for url in t.prometheus.as_ref().map(|p| &p.url).into_iter().chain(t.scrape.as_ref().map(|s| &s.url)) {
        ctx.rt.allow.check(url)?;
    }
    let material = crate::secrets::material(&ctx.client(), ns, tls).await?;
    let fetcher = ctx.fetchers.get(material, timeout).await?;
    let Some(p) = &t.prometheus else { return Ok((fetcher, Vec::new())) };
    let auth = p.auth.as_ref();
    let headers = crate::secrets::headers_for(
        &ctx.client(),
        ns,
        p.headers.as_ref(),
        auth.and_then(|a| a.bearer_token_secret_ref.as_ref()),
        auth.and_then(|a| a.basic_auth_secret_ref.as_ref()),
    )
    .await?;
    Ok((fetcher, headers))
}

/// Reads fps and latency.
pub async fn read(
    cache: &QueryCache,
    t: &Telemetry,
    fetcher: &Fetcher,
    headers: Vec<(String, String)>,
    now_ms: i64,
) -> Observed {
    let signals = [&t.fps, &t.latency];
    if let Some(p) = &t.prometheus {
        let api = PromClient::new(fetcher.clone(), &p.url, headers);
        let fresh_for = Duration::from(t.interval).mul_f64(0.9);
        let (mut values, mut oldest, mut errors) = ([None, None], None::<f64>, Vec::new());
        for (signal, slot) in signals.into_iter().zip(values.iter_mut()) {
            let Some(query) = signal.as_ref().and_then(|s| s.query.as_deref()) else { continue };
            match promql(cache, &api, &p.url, query, fresh_for).await {
                Ok((v, ts)) => {
                    *slot = Some(v);
                    oldest = Some(oldest.map_or(ts, |o| o.min(ts)));
                }
                Err(e) => errors.push(e),
            }
        }
        return Observed::new(values[0], values[1], oldest.map(|s| (s * 1000.0) as i64), errors);
    }
    let Some(s) = &t.scrape else { return Observed::new(None, None, None, Vec::new()) };
    let page = match fetcher.get(&s.url, &[]).await {
        Ok(page) => page,
        Err(source) => return Observed::failed(TelemetryError::Scrape { url: s.url.clone(), source }),
    };
    let (mut values, mut errors) = ([None, None], Vec::new());
    for (signal, slot) in signals.into_iter().zip(values.iter_mut()) {
        let Some(signal) = signal else { continue };
        match scraped(cache, &s.url, &page, signal).await {
            Ok(v) => *slot = Some(v),
            Err(e) => errors.push(Arc::new(e)),
        }
    }
    Observed::new(values[0], values[1], Some(now_ms), errors)
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
