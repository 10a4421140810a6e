//! Signals read through a Prometheus-compatible API. An instant query answers with the time it
//! was evaluated at, not the time of the data, so each signal's sample time comes from a second
//! query: `signals[].freshness`, or one derived from the shape of the value query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::offload::Signal;
use continuum_telemetry::fetch::Fetcher;
use continuum_telemetry::promql::{PromClient, QueryError, Series};
use futures::StreamExt;

use super::cache::{QueryCache, QueryKey, QueryResult};
use super::{Freshness, Observed, Outcome, TelemetryError, selector};

/// At most this many signals of one policy are read at the same time (each one or two queries).
const CONCURRENCY: usize = 4;

/// One policy's view of its Prometheus: the client, and the cache under its credentials.
pub struct Source<'a> {
    cache: &'a QueryCache,
    api: PromClient,
    base: String,
    credentials: u64,
    fresh_for: Duration,
}

impl<'a> Source<'a> {
    pub fn new(
        cache: &'a QueryCache,
        fetcher: &Fetcher,
        url: &str,
        headers: Vec<(String, String)>,
        fresh_for: Duration,
    ) -> Self {
        let credentials = cache.credentials(&headers, fetcher);
        let api = PromClient::new(fetcher.clone(), url, headers);
        Self { cache, api, base: url.trim_end_matches('/').to_owned(), credentials, fresh_for }
    }
}

impl std::fmt::Debug for Source<'_> {
    /// Without the client: its headers hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("base", &self.base).field("fresh_for", &self.fresh_for).finish_non_exhaustive()
    }
}

/// Reads every signal, a few at a time, keeping their order.
pub async fn read(source: &Source<'_>, signals: &[Signal], at: Instant) -> Observed {
    // Built up front: a lazy `map` inside the stream would make the future's Send bound
    // higher-ranked, which the controller's spawn cannot prove.
    let reads: Vec<_> = signals.iter().map(|s| signal(source, s, at)).collect();
    let outcomes = futures::stream::iter(reads).buffered(CONCURRENCY).collect::<Vec<_>>().await;
    let mut seen = Observed::from_signals(outcomes);
    // Every query failing in transport means the source itself is unreachable.
    let transport = |e: &Arc<TelemetryError>| matches!(**e, TelemetryError::Query(QueryError::Fetch { .. }));
    if !signals.is_empty() && seen.errors.len() == signals.len() && seen.errors.iter().all(transport) {
        seen.observation.error = seen.errors.first().map(|e| e.to_string());
    }
    seen
}

/// The value of one signal and the time of its newest sample (value and freshness queries run
/// together).
async fn signal(source: &Source<'_>, s: &Signal, at: Instant) -> (Outcome, Freshness) {
    let Some(query) = s.query.as_deref() else {
        return (Err(Arc::new(TelemetryError::NoQuery(s.name.clone()))), Freshness::Checked);
    };
    let (fresh_query, freshness) = match s.freshness.clone().or_else(|| selector::derived_freshness(query)) {
        Some(f) => (Some(f), Freshness::Checked),
        None => (None, Freshness::Unchecked(selector::UNCHECKED.to_owned())),
    };
    let time = async {
        match &fresh_query {
            Some(f) => Some(cached(source, f, at).await),
            None => None,
        }
    };
    let (value, time) = futures::future::join(cached(source, query, at), time).await;
    let outcome = value.and_then(|(v, _evaluated_at)| match time {
        None => Ok((v, None)),
        Some(Ok((t, _))) if t.is_finite() => Ok((v, Some((t * 1000.0).round() as i64))),
        Some(Ok((t, _))) => {
            let query = fresh_query.clone().unwrap_or_default();
            Err(Arc::new(TelemetryError::BadFreshness { query, value: t }))
        }
        Some(Err(e)) => Err(e),
    });
    (outcome, freshness)
}

/// The result of `query`, from the cache when someone asked the same, as the same client, within
/// `fresh_for`; concurrent askers wait for one answer.
async fn cached(source: &Source<'_>, query: &str, at: Instant) -> QueryResult {
    let key = QueryKey { base: source.base.clone(), query: query.to_owned(), credentials: source.credentials };
    let slot = source.cache.slot(key, at).await;
    let mut held = slot.lock().await;
    if let Some((fetched, result)) = &*held
        && fetched.elapsed() < source.fresh_for
    {
        return result.clone();
    }
    source.cache.issued.inc();
    let result = single(query, source.api.query(query, None).await.map_err(TelemetryError::from));
    *held = Some((Instant::now(), result.clone()));
    result
}

/// (value, timestamp) of an answer that must hold exactly one series.
fn single(query: &str, answer: Result<Vec<Series>, TelemetryError>) -> QueryResult {
    match answer {
        Err(e) => Err(Arc::new(e)),
        Ok(series) if series.is_empty() => Err(Arc::new(TelemetryError::NoSeries(query.to_owned()))),
        Ok(series) if series.len() > 1 => {
            Err(Arc::new(TelemetryError::ManySeries { query: query.to_owned(), found: series.len() }))
        }
        Ok(series) => Ok((series[0].value, series[0].timestamp)),
    }
}
