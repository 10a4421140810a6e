//! Reading a policy's signals (Prometheus API or a direct scrape), with the age of each sample,
//! and probing the offload agents.

mod cache;
mod probe;
mod prom;
mod scrape;
mod selector;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prom;

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::offload::{Signal, Telemetry};
use continuum_policy::offload::{Observation, Reading};
use continuum_telemetry::fetch::{FetchError, Fetcher};
use continuum_telemetry::promql::QueryError;

use crate::allow::NotAllowed;
use crate::secrets::SecretError;
pub use cache::QueryCache;
pub use probe::{Probes, probe_all};

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
    #[error("freshness query `{query}` returned {value}, not a Unix time in seconds")]
    BadFreshness { query: String, value: f64 },
    #[error("signal {0} has no query: with telemetry.prometheus every signal needs one")]
    NoQuery(String),
    #[error("signal {0} has no metric: with telemetry.scrape every signal needs one")]
    NoMetric(String),
    #[error("telemetry sets neither prometheus nor scrape")]
    NoSource,
    #[error("scraping {url}: {source}")]
    Scrape {
        url: String,
        #[source]
        source: FetchError,
    },
    #[error("the page of {url} is not valid Prometheus text: {reason}")]
    Page { url: String, reason: String },
    #[error("metric {metric} with labels {labels:?} not found on {url}")]
    NotFound { metric: String, labels: Vec<(String, String)>, url: String },
    #[error("histogram {metric}: {gap}")]
    Histogram { metric: String, gap: HistogramGap },
}

/// Why a scraped histogram gives no quantile yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistogramGap {
    #[error("waiting for a second scrape (quantiles come from the increase between two)")]
    FirstScrape,
    #[error("its counts went down or its buckets changed (the exporter restarted?): waiting for a second scrape")]
    Reset,
    #[error("no observations since the first scrape")]
    NoObservations,
}

impl TelemetryError {
    /// A bounded category (metric label): `not_allowed`, `timeout`, `series` or `unavailable`.
    pub fn category(&self) -> &'static str {
        let fetch = match self {
            TelemetryError::NotAllowed(_) => return "not_allowed",
            TelemetryError::NoSeries(_) | TelemetryError::ManySeries { .. } | TelemetryError::NotFound { .. } => {
                return "series";
            }
            TelemetryError::Client(e) | TelemetryError::Scrape { source: e, .. } => e,
            TelemetryError::Query(QueryError::Fetch { source, .. }) => source,
            _ => return "unavailable",
        };
        if matches!(fetch, FetchError::Timeout(_)) { "timeout" } else { "unavailable" }
    }
}

/// Whether a signal's sample time is real, so its age can be checked against `maxSampleAge`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freshness {
    Checked,
    /// The age is not known; the text says why and what to set.
    Unchecked(String),
}

/// A policy's telemetry: the observation for the decision (one reading per declared signal, in
/// order; `targets` is left to the probes), whether each reading's age is known, and the errors
/// themselves (their categories are metric labels).
#[derive(Debug)]
pub struct Observed {
    pub observation: Observation,
    pub errors: Vec<Arc<TelemetryError>>,
    pub freshness: Vec<Freshness>,
}

/// One signal's outcome: (value, sample time in ms) or why not.
type Outcome = Result<(f64, Option<i64>), Arc<TelemetryError>>;

impl Observed {
    /// One reading per outcome; per-signal errors go into their readings.
    fn from_signals(outcomes: Vec<(Outcome, Freshness)>) -> Self {
        let mut out = Self { observation: Observation::default(), errors: Vec::new(), freshness: Vec::new() };
        for (outcome, freshness) in outcomes {
            let reading = match outcome {
                Ok((value, sample_time_ms)) => Reading { value: Some(value), sample_time_ms, error: None },
                Err(e) => {
                    let error = Some(e.to_string());
                    out.errors.push(e);
                    Reading { error, ..Reading::default() }
                }
            };
            out.observation.signals.push(reading);
            out.freshness.push(freshness);
        }
        out
    }

    /// The source could not be read at all: no signal has a value.
    fn failed(signals: usize, err: TelemetryError) -> Self {
        Self::failed_shared(signals, Arc::new(err))
    }

    fn failed_shared(signals: usize, err: Arc<TelemetryError>) -> Self {
        let observation = Observation {
            signals: vec![Reading::default(); signals],
            error: Some(err.to_string()),
            targets: Vec::new(),
        };
        Self { observation, errors: vec![err], freshness: vec![Freshness::Checked; signals] }
    }
}

/// Reads the signals; configuration problems (allow-list, Secrets, TLS) are errors of the
/// observation, not of the reconcile. `policy` identifies the policy (`ns/name/uid`): it keys the
/// policy's private state.
pub async fn observe(
    ctx: &super::Ctx,
    policy: &str,
    ns: &str,
    t: &Telemetry,
    signals: &[Signal],
    now_ms: i64,
) -> Observed {
    match connect(ctx, ns, t).await {
        Ok((fetcher, headers)) => read(&ctx.state.queries, policy, t, signals, &fetcher, headers, now_ms).await,
        Err(e) => Observed::failed(signals.len(), e),
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
        (None, None) => return Err(TelemetryError::NoSource),
    };
    for url in t.prometheus.as_ref().map(|p| &p.url).into_iter().chain(t.scrape.as_ref().map(|s| &s.url)) {
        ctx.rt.allow.check(url)?;
    }
    let (client, cache) = (ctx.client(), Some(&ctx.state.secrets));
    let material = crate::secrets::material_cached(&client, ns, tls, cache).await?;
    let fetcher = ctx.fetchers.get(material, timeout).await?;
    let Some(p) = &t.prometheus else { return Ok((fetcher, Vec::new())) };
    let auth = p.auth.as_ref();
    let headers = crate::secrets::headers_cached(
        crate::secrets::Auth { client: &client, namespace: ns, cache },
        p.headers.as_ref(),
        auth.and_then(|a| a.bearer_token_secret_ref.as_ref()),
        auth.and_then(|a| a.basic_auth_secret_ref.as_ref()),
    )
    .await?;
    Ok((fetcher, headers))
}

/// Reads `signals` from the source of `t` with `fetcher`, sending `headers`.
pub async fn read(
    cache: &QueryCache,
    policy: &str,
    t: &Telemetry,
    signals: &[Signal],
    fetcher: &Fetcher,
    headers: Vec<(String, String)>,
    now_ms: i64,
) -> Observed {
    let at = Instant::now();
    // Under the half interval a policy's own evaluations may be apart (see `pace`), so its next
    // evaluation never reads its own previous answer.
    let fresh_for = fresh_for(t);
    if let Some(p) = &t.prometheus {
        let source = prom::Source::new(cache, fetcher, &p.url, headers, fresh_for);
        return prom::read(&source, signals, at).await;
    }
    let Some(s) = &t.scrape else { return Observed::failed(signals.len(), TelemetryError::NoSource) };
    match cache.page(fetcher, &s.url, &headers, fresh_for).await {
        Ok(page) => scrape::read_page(cache, policy, &s.url, &page, signals, now_ms, at).await,
        Err(e) => Observed::failed_shared(signals.len(), e),
    }
}

/// How long a query result, scraped page or probe is shared between policies: 0.4 interval.
pub fn fresh_for(t: &Telemetry) -> Duration {
    Duration::from(t.interval).mul_f64(0.4)
}
