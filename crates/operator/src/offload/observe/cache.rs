//! What the observer remembers between evaluations: query results shared between policies that
//! ask the same thing as the same client, and each policy's own histogram baselines.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_telemetry::fetch::Fetcher;
use continuum_telemetry::histogram::Histogram;
use tokio::sync::Mutex;

use super::TelemetryError;
pub use crate::kit::Aging;

/// (value, sample time in seconds) of a query, or why there is none.
pub type QueryResult = Result<(f64, f64), Arc<TelemetryError>>;

/// The last result of one query, and when it was fetched. Its own lock lets one caller fetch
/// while callers asking the same thing wait for that answer instead of sending the query again.
pub type Slot = Arc<Mutex<Option<(Instant, QueryResult)>>>;

/// The last page fetched from one scrape URL by one client, shared like a query's result.
pub type PageSlot = Arc<Mutex<Option<(Instant, Result<Arc<String>, Arc<TelemetryError>>)>>>;

/// Who asks what, where: results are shared only between identical keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueryKey {
    pub base: String,
    pub query: String,
    /// A hash of the headers sent (Authorization, X-Scope-OrgID, ...) and of the client's TLS
    /// material and timeout: two tenants never see each other's answers.
    pub credentials: u64,
}

/// One histogram of one signal of one policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HistogramKey {
    pub policy: String,
    pub signal: String,
    pub url: String,
    pub metric: String,
    /// Label matchers, sorted by name.
    pub labels: Vec<(String, String)>,
    /// `f64::to_bits` of the quantile.
    pub quantile: u64,
}

/// The previous scrape of a histogram and the last quantile computed from new observations.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    pub previous: Histogram,
    /// (value, sample time in ms) of the last scrape whose buckets had grown.
    pub last: Option<(f64, i64)>,
}

/// Results of identical queries are shared between policies for 0.4 of an interval, so N policies
/// asking the same thing cost about one query per interval (their evaluations align on the
/// source's sample times), and a policy's own next evaluation, at least half an interval later,
/// always queries afresh. Histogram baselines are private to each policy.
#[derive(Debug)]
pub struct QueryCache {
    pub(super) queries: Mutex<Aging<QueryKey, Slot>>,
    pub(super) histograms: Mutex<Aging<HistogramKey, Option<Baseline>>>,
    /// Scraped pages, keyed like queries (the query is empty).
    pub(super) pages: Mutex<Aging<QueryKey, PageSlot>>,
    /// Keyed per process, so nobody can aim a header set at another's hash.
    hasher: std::collections::hash_map::RandomState,
    /// Queries sent to Prometheus (`continuum_offload_telemetry_queries_total`).
    pub issued: prometheus_client::metrics::counter::Counter,
}

impl QueryCache {
    pub fn new(issued: prometheus_client::metrics::counter::Counter) -> Self {
        Self {
            queries: Mutex::default(),
            histograms: Mutex::default(),
            pages: Mutex::default(),
            hasher: Default::default(),
            issued,
        }
    }

    /// The credentials identity of a request: its headers (names without case, order ignored)
    /// and the client that sends it.
    pub fn credentials(&self, headers: &[(String, String)], fetcher: &Fetcher) -> u64 {
        let mut sorted: Vec<(String, &str)> =
            headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str())).collect();
        sorted.sort();
        self.hasher.hash_one((sorted, fetcher.tls_identity(), fetcher.timeout()))
    }

    /// The shared slot of `key`.
    pub async fn slot(&self, key: QueryKey, at: Instant) -> Slot {
        self.queries.lock().await.entry(key, at, Slot::default).clone()
    }

    /// The page of `url` as `fetcher` with `headers` gets it, fetched at most once per
    /// `fresh_for` however many policies scrape it (one fetch in flight, the others wait for it).
    pub async fn page(
        &self,
        fetcher: &Fetcher,
        url: &str,
        headers: &[(String, String)],
        fresh_for: Duration,
    ) -> Result<Arc<String>, Arc<TelemetryError>> {
        let key =
            QueryKey { base: url.to_owned(), query: String::new(), credentials: self.credentials(headers, fetcher) };
        let slot = self.pages.lock().await.entry(key, Instant::now(), PageSlot::default).clone();
        let mut last = slot.lock().await;
        if let Some((at, page)) = last.as_ref()
            && at.elapsed() < fresh_for
        {
            return page.clone();
        }
        let page = fetcher
            .get(url, headers)
            .await
            .map(Arc::new)
            .map_err(|source| Arc::new(TelemetryError::Scrape { url: url.to_owned(), source }));
        *last = Some((Instant::now(), page.clone()));
        page
    }
}
