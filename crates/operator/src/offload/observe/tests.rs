//! Scraped signals: histogram baselines per policy, exposition timestamps, per-signal errors.

use std::time::Instant;

use continuum_api::offload::{Signal, Telemetry};
use continuum_telemetry::fetch::{Fetcher, TlsMaterial};
use continuum_telemetry::histogram::Histogram;

use continuum_policy::offload::TargetHealth;

use super::cache::Baseline;
use super::*;

pub(super) fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e:?}"))
}

pub(super) fn signal(json: serde_json::Value) -> Signal {
    ok(serde_json::from_value(json))
}

pub(super) fn telemetry(json: serde_json::Value) -> Telemetry {
    ok(serde_json::from_value(json))
}

pub(super) fn cache() -> QueryCache {
    QueryCache::new(Default::default())
}

pub(super) fn fetcher() -> Fetcher {
    ok(Fetcher::new(&TlsMaterial::default(), Duration::from_secs(2)))
}

/// A latency histogram page with cumulative counts for `le` 0.1, 0.2 and +Inf.
fn histogram_page(c1: u32, c2: u32, inf: u32) -> String {
    format!(
        "# TYPE lat histogram\nlat_bucket{{le=\"0.1\"}} {c1}\nlat_bucket{{le=\"0.2\"}} {c2}\nlat_bucket{{le=\"+Inf\"}} {inf}\nlat_sum 1\nlat_count {inf}\n"
    )
}

fn latency() -> Signal {
    signal(serde_json::json!({"name": "latency", "metric": "lat", "quantile": 0.99, "unit": "Seconds"}))
}

/// Scrapes `page` for `policy` at `now_ms`: the one reading of the latency signal.
async fn scrape(cache: &QueryCache, policy: &str, page: &str, now_ms: i64) -> Reading {
    let seen = scrape::read_page(cache, policy, "http://exp/metrics", page, &[latency()], now_ms, Instant::now()).await;
    assert_eq!(seen.observation.error, None);
    seen.observation.signals.into_iter().next().unwrap_or_default()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn two_policies_reading_one_histogram_get_their_own_increases() {
    let cache = cache();
    let pages = [histogram_page(0, 0, 0), histogram_page(10, 10, 10), histogram_page(10, 20, 20)];
    // Policy a reads every page; policy b, with a longer interval, only the first and the last.
    for policy in ["a", "b"] {
        let first = scrape(&cache, policy, &pages[0], 0).await;
        assert!(first.error.is_some_and(|e| e.contains("waiting for a second scrape")), "{policy}");
    }
    let a1 = scrape(&cache, "a", &pages[1], 1000).await;
    assert!(close(a1.value, 0.099), "10 observations <= 0.1: {a1:?}");
    let a2 = scrape(&cache, "a", &pages[2], 2000).await;
    assert!(close(a2.value, 0.1 + 0.1 * 9.9 / 10.0), "10 new in (0.1, 0.2]: {a2:?}");
    let b2 = scrape(&cache, "b", &pages[2], 2000).await;
    assert!(close(b2.value, 0.1 + 0.1 * 9.8 / 10.0), "b's increase is since its own scrape: {b2:?}");
    assert_eq!((a2.sample_time_ms, b2.sample_time_ms), (Some(2000), Some(2000)));
}

#[tokio::test]
async fn a_quiet_histogram_keeps_its_last_quantile_with_the_old_sample_time() {
    let cache = cache();
    scrape(&cache, "p", &histogram_page(0, 0, 0), 0).await;
    let busy = scrape(&cache, "p", &histogram_page(10, 10, 10), 15_000).await;
    let quiet = scrape(&cache, "p", &histogram_page(10, 10, 10), 30_000).await;
    let still = scrape(&cache, "p", &histogram_page(10, 10, 10), 45_000).await;
    assert!(close(busy.value, 0.099));
    assert_eq!(quiet, Reading { value: busy.value, sample_time_ms: Some(15_000), error: None });
    assert_eq!(still.sample_time_ms, Some(15_000), "the age keeps growing until maxSampleAge");
}

#[test]
fn a_histogram_without_any_observation_or_after_a_reset_says_why() {
    let h = |c: f64| Histogram { buckets: vec![(0.1, c), (f64::INFINITY, c)], sum: 0.0, count: c };
    let mut slot: Option<Baseline> = None;
    assert_eq!(scrape::advance(&mut slot, h(5.0), 0.5, 0), Err(HistogramGap::FirstScrape));
    assert_eq!(scrape::advance(&mut slot, h(5.0), 0.5, 1), Err(HistogramGap::NoObservations));
    assert_eq!(scrape::advance(&mut slot, h(1.0), 0.5, 2), Err(HistogramGap::Reset), "the count went down");
    assert_eq!(scrape::advance(&mut slot, h(3.0), 0.5, 3), Ok((0.05, 3)));
    assert_eq!(scrape::advance(&mut slot, h(0.0), 0.5, 4), Ok((0.05, 3)), "a reset keeps the last value and its time");
}

#[tokio::test]
async fn exposition_timestamps_are_the_sample_times_and_the_scrape_time_otherwise() {
    let page = "cpu{core=\"0\"} 0.5 1700000000000\ncpu{core=\"1\"} 0.7\n# TYPE rtt summary\nrtt{quantile=\"0.5\"} 0.01\nrtt{quantile=\"0.99\"} 0.25 1700000001000\n";
    let signals = [
        signal(serde_json::json!({"name": "c0", "metric": "cpu", "labels": {"core": "0"}})),
        signal(serde_json::json!({"name": "c1", "metric": "cpu", "labels": {"core": "1"}})),
        signal(serde_json::json!({"name": "rtt", "metric": "rtt"})),
    ];
    let seen = scrape::read_page(&cache(), "p", "http://x", page, &signals, 1_700_000_009_000, Instant::now()).await;
    let got: Vec<(Option<f64>, Option<i64>)> =
        seen.observation.signals.iter().map(|r| (r.value, r.sample_time_ms)).collect();
    assert_eq!(
        got,
        [
            (Some(0.5), Some(1_700_000_000_000)),
            (Some(0.7), Some(1_700_000_009_000)),
            (Some(0.25), Some(1_700_000_001_000))
        ]
    );
    assert_eq!(seen.freshness, vec![Freshness::Checked; 3]);
}

#[tokio::test]
async fn a_missing_series_fails_only_its_own_signal() {
    let signals = [
        signal(serde_json::json!({"name": "fps", "metric": "fps"})),
        signal(serde_json::json!({"name": "temp", "metric": "temp", "labels": {"zone": "cpu"}})),
    ];
    let seen =
        scrape::read_page(&cache(), "p", "http://x", "fps 24\ntemp{zone=\"gpu\"} 60\n", &signals, 5, Instant::now())
            .await;
    let o = &seen.observation;
    assert_eq!(o.error, None);
    assert_eq!(o.signals[0], Reading { value: Some(24.0), sample_time_ms: Some(5), error: None });
    assert_eq!(o.signals[1].value, None);
    assert!(o.signals[1].error.as_deref().is_some_and(|e| e.contains("temp") && e.contains("not found")));
    assert_eq!(seen.errors.iter().map(|e| e.category()).collect::<Vec<_>>(), ["series"]);
}

#[tokio::test]
async fn a_broken_page_or_an_unreachable_source_fails_every_signal() {
    let signals = [signal(serde_json::json!({"name": "fps", "metric": "fps"})), latency()];
    let seen = scrape::read_page(&cache(), "p", "http://x", "fps{broken 1\n", &signals, 5, Instant::now()).await;
    assert!(seen.observation.error.as_deref().is_some_and(|e| e.contains("not valid Prometheus text")));
    assert!(seen.observation.signals.iter().all(|r| r.value.is_none()) && seen.observation.signals.len() == 2);

    // Port 9 (discard) on loopback: nothing listens there in a test environment.
    let t = telemetry(serde_json::json!({"scrape": {"url": "http://127.0.0.1:9/metrics"}}));
    let seen = read(&cache(), "p", &t, &signals, &fetcher(), Vec::new(), 5).await;
    assert!(seen.observation.error.as_deref().is_some_and(|e| e.starts_with("scraping http://127.0.0.1:9/metrics")));
    assert_eq!(seen.observation.signals, vec![Reading::default(); 2]);
    assert_eq!(seen.errors.len(), 1);
}

#[tokio::test]
async fn every_offload_backend_is_probed_in_the_order_of_the_list() {
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let open = format!("tcp://{}", ok(listener.local_addr()));
    let backend = |endpoint: &str, tcp: bool| -> continuum_api::offload::OffloadBackend {
        ok(serde_json::from_value(serde_json::json!({
            "name": "b", "endpoint": endpoint, "healthCheck": {"tcp": tcp, "timeout": "1s"}
        })))
    };
    let backends = [
        backend(&open, true),
        backend("unix:///run/vaccel.sock", true),
        backend(&open, false),
        backend("tcp://127.0.0.1:9", true),
    ];
    let health = probe_all(&super::Probes::default(), &backends, std::time::Duration::from_secs(1)).await;
    assert_eq!(health[..3], [TargetHealth::Healthy, TargetHealth::Unchecked, TargetHealth::Unchecked]);
    assert!(matches!(&health[3], TargetHealth::Unhealthy(why) if why.starts_with("TCP connect to 127.0.0.1:9")));
}
