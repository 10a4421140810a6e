//! Cumulative histograms, their increase between two scrapes, and quantiles computed exactly as
//! PromQL's `histogram_quantile` does.

use crate::exposition::Sample;

/// A cumulative histogram: `buckets` are (upper bound, cumulative count), sorted by bound, the
/// last one `+Inf`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// A quantile and the bucket bounds that enclose it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantile {
    /// Interpolated value, seconds for etcd's histograms.
    pub value: f64,
    /// Lower bound of the enclosing bucket (0 for the first).
    pub lower: f64,
    /// Upper bound of the enclosing bucket (`+Inf` when the quantile falls in the last one).
    pub upper: f64,
}

impl Histogram {
    /// Collects `<name>_bucket`, `<name>_sum` and `<name>_count` from samples whose other labels
    /// match `select` (an empty selector takes the first series found).
    pub fn from_samples(samples: &[Sample<'_>], name: &str, select: &[(&str, &str)]) -> Option<Self> {
        let matches = |s: &Sample<'_>| select.iter().all(|(k, v)| s.label(k) == Some(*v));
        let mut buckets = Vec::new();
        let (mut sum, mut count) = (None, None);
        for s in samples.iter().filter(|s| s.name.len() > name.len() && s.name.starts_with(name) && matches(s)) {
            match &s.name[name.len()..] {
                "_bucket" => {
                    let le = s.label("le")?;
                    let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                    buckets.push((bound, s.value));
                }
                "_sum" => sum = sum.or(Some(s.value)),
                "_count" => count = count.or(Some(s.value)),
                _ => {}
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let last = buckets.last()?;
        if !last.0.is_infinite() {
            return None;
        }
        Some(Self { count: count.unwrap_or(last.1), sum: sum.unwrap_or(f64::NAN), buckets })
    }

    /// The increase from `earlier` to `self`, or `None` when the two cannot be compared: a
    /// different bucket layout, or any count that went down (the process restarted).
    pub fn increase_since(&self, earlier: &Histogram) -> Option<Histogram> {
        if self.buckets.len() != earlier.buckets.len() || self.count < earlier.count {
            return None;
        }
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (&(bound, now), &(bound_then, then)) in self.buckets.iter().zip(&earlier.buckets) {
            if bound != bound_then || now < then {
                return None;
            }
            buckets.push((bound, now - then));
        }
        Some(Histogram { buckets, sum: self.sum - earlier.sum, count: self.count - earlier.count })
    }

    /// Observations counted in the `+Inf` bucket.
    pub fn observations(&self) -> f64 {
        self.buckets.last().map_or(0.0, |b| b.1)
    }

    /// The `q`-quantile (0 < q < 1) as `histogram_quantile` computes it: find the bucket holding
    /// rank q·n and interpolate linearly inside it; a quantile in the `+Inf` bucket is reported
    /// as the highest finite bound. `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<Quantile> {
        let n = self.observations();
        if self.buckets.len() < 2 || n.is_nan() || n <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // Counts can be slightly non-monotonic in scraped data; PromQL fixes that the same way.
        let mut counts: Vec<f64> = self.buckets.iter().map(|b| b.1).collect();
        for i in 1..counts.len() {
            counts[i] = counts[i].max(counts[i - 1]);
        }
        let rank = q * n;
        let b = counts.iter().position(|&c| c >= rank).unwrap_or(counts.len() - 1);
        let last = self.buckets.len() - 1;
        if b == last {
            let highest = self.buckets[last - 1].0;
            return Some(Quantile { value: highest, lower: highest, upper: f64::INFINITY });
        }
        let upper = self.buckets[b].0;
        if b == 0 && upper <= 0.0 {
            return Some(Quantile { value: upper, lower: upper, upper });
        }
        let (lower, below) = if b == 0 { (0.0, 0.0) } else { (self.buckets[b - 1].0, counts[b - 1]) };
        let in_bucket = counts[b] - below;
        let value = lower + (upper - lower) * ((rank - below) / in_bucket);
        Some(Quantile { value, lower, upper })
    }

    /// Fraction of observations above the smallest bucket bound `>= threshold`, with that bound.
    /// A bucket histogram cannot tell which observations inside a bucket exceed a threshold
    /// between its bounds, so this is the honest lower estimate.
    pub fn fraction_above(&self, threshold: f64) -> Option<(f64, f64)> {
        let n = self.observations();
        if n.is_nan() || n <= 0.0 {
            return None;
        }
        let &(bound, at_or_below) = self.buckets.iter().find(|b| b.0 >= threshold)?;
        Some((((n - at_or_below) / n).max(0.0), bound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(bounds_counts: &[(f64, f64)]) -> Histogram {
        let count = bounds_counts.last().map_or(0.0, |b| b.1);
        Histogram { buckets: bounds_counts.to_vec(), sum: 0.0, count }
    }

    const INF: f64 = f64::INFINITY;

    #[test]
    fn quantile_matches_hand_computed_interpolation() {
        // 100 observations: 50 <= 1ms, 30 in (1,2] ms, 15 in (2,4] ms, 5 in (4,8] ms.
        let hist = h(&[(0.001, 50.0), (0.002, 80.0), (0.004, 95.0), (0.008, 100.0), (INF, 100.0)]);
        // p50: rank 50 -> first bucket, 0 + 0.001 * 50/50.
        assert_eq!(hist.quantile(0.5).map(|q| q.value), Some(0.001));
        // p90: rank 90 -> (2,4] ms holding 15; 0.002 + 0.002 * (90-80)/15.
        let p90 = hist.quantile(0.9).unwrap_or(Quantile { value: 0.0, lower: 0.0, upper: 0.0 });
        assert!((p90.value - (0.002 + 0.002 * 10.0 / 15.0)).abs() < 1e-12, "{p90:?}");
        assert_eq!((p90.lower, p90.upper), (0.002, 0.004));
        // p99: rank 99 -> (4,8] ms holding 5; 0.004 + 0.004 * 4/5.
        let p99 = hist.quantile(0.99).map(|q| q.value).unwrap_or_default();
        assert!((p99 - 0.0072).abs() < 1e-12, "{p99}");
    }

    #[test]
    fn quantile_in_the_inf_bucket_reports_the_highest_finite_bound() {
        let hist = h(&[(0.001, 1.0), (8.192, 2.0), (INF, 10.0)]);
        let q = hist.quantile(0.99);
        assert_eq!(q, Some(Quantile { value: 8.192, lower: 8.192, upper: INF }));
    }

    #[test]
    fn no_observations_or_a_single_bucket_gives_no_quantile() {
        assert_eq!(h(&[(0.001, 0.0), (INF, 0.0)]).quantile(0.99), None);
        assert_eq!(h(&[(INF, 5.0)]).quantile(0.99), None);
    }

    #[test]
    fn increase_subtracts_bucket_by_bucket_and_refuses_resets() {
        let then = h(&[(0.001, 10.0), (0.002, 12.0), (INF, 12.0)]);
        let now = h(&[(0.001, 15.0), (0.002, 25.0), (INF, 26.0)]);
        let inc = now.increase_since(&then);
        assert_eq!(inc.as_ref().map(|i| i.buckets.clone()), Some(vec![(0.001, 5.0), (0.002, 13.0), (INF, 14.0)]));
        assert_eq!(inc.map(|i| i.count), Some(14.0));
        let restarted = h(&[(0.001, 1.0), (0.002, 1.0), (INF, 1.0)]);
        assert_eq!(restarted.increase_since(&now), None);
        let other_layout = h(&[(0.001, 20.0), (INF, 30.0)]);
        assert_eq!(other_layout.increase_since(&now), None);
    }

    #[test]
    fn fraction_above_uses_the_first_bound_at_or_above_the_threshold() {
        let hist = h(&[(0.064, 60.0), (0.128, 90.0), (0.256, 100.0), (INF, 100.0)]);
        // 100 ms falls between 64 and 128 ms: report the share slower than 128 ms.
        assert_eq!(hist.fraction_above(0.1), Some((0.1, 0.128)));
        assert_eq!(hist.fraction_above(0.064), Some((0.4, 0.064)));
    }

    #[test]
    fn non_monotonic_buckets_are_smoothed_like_promql() {
        let hist = h(&[(1.0, 10.0), (2.0, 9.0), (4.0, 20.0), (INF, 20.0)]);
        let q = hist.quantile(0.5).map(|q| q.value).unwrap_or_default();
        assert!((q - 1.0).abs() < 1e-12, "{q}");
    }
}
