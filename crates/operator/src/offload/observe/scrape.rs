//! Signals read from a scraped page: a gauge, a summary quantile, or a histogram quantile over
//! the bucket increase since the policy's previous scrape.

use std::sync::Arc;
use std::time::Instant;

use continuum_api::offload::Signal;
use continuum_telemetry::exposition::{self, Sample};
use continuum_telemetry::histogram::Histogram;

use super::cache::{Baseline, HistogramKey, QueryCache};
use super::{Freshness, HistogramGap, Observed, TelemetryError};

/// Quantile of a histogram or summary signal without `quantile`.
const DEFAULT_QUANTILE: f64 = 0.99;

/// Reads every signal from one page scraped at `now_ms` for `policy`. The page is live, so every
/// sample time is known: the exposition timestamp when the exporter wrote one, else the scrape.
pub async fn read_page(
    cache: &QueryCache,
    policy: &str,
    url: &str,
    page: &str,
    signals: &[Signal],
    now_ms: i64,
    at: Instant,
) -> Observed {
    let metrics: Vec<&str> = signals.iter().filter_map(|s| s.metric.as_deref()).collect();
    let samples = match exposition::parse_filtered(page, |n| metrics.iter().any(|m| n.starts_with(m))) {
        Ok(samples) => samples,
        Err(e) => {
            let err = TelemetryError::Page { url: url.to_owned(), reason: e.to_string() };
            return Observed::failed(signals.len(), err);
        }
    };
    let mut outcomes = Vec::with_capacity(signals.len());
    for signal in signals {
        let at_page = Page { cache, policy, url, samples: &samples, now_ms, at };
        let outcome = value(&at_page, signal).await.map(|(v, t)| (v, Some(t))).map_err(Arc::new);
        outcomes.push((outcome, Freshness::Checked));
    }
    Observed::from_signals(outcomes)
}

/// One scraped page of one policy.
struct Page<'a> {
    cache: &'a QueryCache,
    policy: &'a str,
    url: &'a str,
    samples: &'a [Sample<'a>],
    now_ms: i64,
    at: Instant,
}

/// (value, sample time in ms) of `signal` on the page.
async fn value(page: &Page<'_>, signal: &Signal) -> Result<(f64, i64), TelemetryError> {
    let metric = signal.metric.as_deref().ok_or_else(|| TelemetryError::NoMetric(signal.name.clone()))?;
    let labels: Vec<(&str, &str)> = signal.labels.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let matches = |s: &Sample<'_>| labels.iter().all(|(k, v)| s.label(k) == Some(*v));
    let q = signal.quantile.unwrap_or(DEFAULT_QUANTILE);
    if let Some(h) = Histogram::from_samples(page.samples, metric, &labels) {
        let bucket = format!("{metric}_bucket");
        let written =
            page.samples.iter().filter(|s| s.name == bucket && matches(s)).filter_map(|s| s.timestamp_ms).max();
        let key = HistogramKey {
            policy: page.policy.to_owned(),
            signal: signal.name.clone(),
            url: page.url.to_owned(),
            metric: metric.to_owned(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            quantile: q.to_bits(),
        };
        let mut baselines = page.cache.histograms.lock().await;
        let slot = baselines.entry(key, page.at, || None);
        return advance(slot, h, q, written.unwrap_or(page.now_ms))
            .map_err(|gap| TelemetryError::Histogram { metric: metric.to_owned(), gap });
    }
    page.samples
        .iter()
        .filter(|s| s.name == metric && matches(s))
        .find(|s| s.label("quantile").is_none_or(|v| v.parse::<f64>().ok() == Some(q)))
        .map(|s| (s.value, s.timestamp_ms.unwrap_or(page.now_ms)))
        .ok_or_else(|| TelemetryError::NotFound {
            metric: metric.to_owned(),
            labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            url: page.url.to_owned(),
        })
}

/// Moves a histogram's baseline to the scrape `now` taken at `time_ms` and returns the quantile
/// over the increase. Without new observations the last quantile stays, with the time of the
/// scrape that computed it, so a quiet histogram turns stale after `maxSampleAge` instead of
/// vanishing at once.
pub fn advance(slot: &mut Option<Baseline>, now: Histogram, q: f64, time_ms: i64) -> Result<(f64, i64), HistogramGap> {
    let Some(base) = slot.take() else {
        *slot = Some(Baseline { previous: now, last: None });
        return Err(HistogramGap::FirstScrape);
    };
    let Some(increase) = now.increase_since(&base.previous) else {
        *slot = Some(Baseline { previous: now, last: base.last });
        return base.last.ok_or(HistogramGap::Reset);
    };
    let last = increase.quantile(q).map(|x| (x.value, time_ms)).or(base.last);
    *slot = Some(Baseline { previous: now, last });
    last.ok_or(HistogramGap::NoObservations)
}
