//! The detector's latency as a histogram the test fills, the pages that showed it, and the
//! quantile of the increase between two of them, computed here independently of the operator's
//! own code (the oracle its quantiles are checked against).

use std::fmt::Write as _;
use std::time::Instant;

/// Observation counts per bucket (not cumulative): one per finite upper bound, then `+Inf`.
#[derive(Clone, Debug)]
pub(super) struct Buckets {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
}

impl Buckets {
    pub(super) fn new(bounds: &[f64]) -> Self {
        let mut bounds = bounds.to_vec();
        bounds.sort_by(f64::total_cmp);
        Self { counts: vec![0; bounds.len() + 1], bounds, sum: 0.0 }
    }

    pub(super) fn observe(&mut self, seconds: f64, n: u64) {
        let i = self.bounds.iter().position(|b| seconds <= *b).unwrap_or(self.bounds.len());
        self.counts[i] += n;
        self.sum += seconds * n as f64;
    }

    /// Cumulative counts, `+Inf` last, as a page shows them.
    pub(super) fn cumulative(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0, |acc, c| {
                *acc += c;
                Some(*acc)
            })
            .collect()
    }

    /// `<name>_bucket{le=..}`, `<name>_sum` and `<name>_count` lines.
    pub(super) fn render(&self, name: &str, page: &mut String) {
        let cumulative = self.cumulative();
        let _ = writeln!(page, "# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&cumulative) {
            let _ = writeln!(page, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let total = cumulative.last().copied().unwrap_or(0);
        let _ = writeln!(page, "{name}_bucket{{le=\"+Inf\"}} {total}\n{name}_sum {}\n{name}_count {total}", self.sum);
    }
}

/// One page served while the latency is a histogram.
#[derive(Clone, Debug)]
pub struct ServedPage {
    /// The page's number, 1 for the first; the page shows it as `detector_scrapes_total`.
    pub seq: u64,
    /// When it was served.
    pub at: Instant,
    /// The cumulative bucket counts it showed, `+Inf` last.
    pub cumulative: Vec<u64>,
}

/// A quantile and the bucket that holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantile {
    /// Interpolated inside the bucket, as PromQL's `histogram_quantile` does.
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// The `q`-quantile of the observations made between two pages (cumulative counts, `+Inf` last,
/// over the finite `bounds`); `None` without observations in between. A quantile in the `+Inf`
/// bucket is the highest finite bound.
pub fn quantile_between(bounds: &[f64], earlier: &[u64], later: &[u64], q: f64) -> Option<Quantile> {
    let increase: Vec<f64> = later.iter().zip(earlier).map(|(l, e)| l.saturating_sub(*e) as f64).collect();
    let total = *increase.last()?;
    if total <= 0.0 || increase.len() != bounds.len() + 1 {
        return None;
    }
    let rank = q * total;
    let i = increase.iter().position(|c| *c >= rank)?;
    let Some(&upper) = bounds.get(i) else {
        let top = bounds.last().copied().unwrap_or(f64::INFINITY);
        return Some(Quantile { value: top, lower: top, upper: f64::INFINITY });
    };
    let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
    let below = if i == 0 { 0.0 } else { increase[i - 1] };
    let value = lower + (upper - lower) * (rank - below) / (increase[i] - below);
    Some(Quantile { value, lower, upper })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quantile_of_an_increase_interpolates_inside_its_bucket() {
        let bounds = [0.1, 0.5];
        // 10 observations in (0, 0.1] before; then 10 more there and 10 in (0.1, 0.5].
        let q = quantile_between(&bounds, &[10, 10, 10], &[20, 30, 30], 0.9);
        assert_eq!(q.map(|q| (q.lower, q.upper)), Some((0.1, 0.5)));
        let v = q.map(|q| q.value).unwrap_or_default();
        assert!((v - (0.1 + 0.4 * 0.8)).abs() < 1e-9, "{v}");
        assert_eq!(quantile_between(&bounds, &[3, 3, 3], &[3, 3, 3], 0.9), None, "no observations");
    }

    #[test]
    fn buckets_render_cumulatively_with_an_inf_bucket() {
        let mut b = Buckets::new(&[0.5, 0.1]);
        b.observe(0.05, 2);
        b.observe(0.3, 1);
        b.observe(7.0, 1);
        assert_eq!(b.cumulative(), vec![2, 3, 4]);
        let mut page = String::new();
        b.render("x", &mut page);
        assert!(page.contains("x_bucket{le=\"0.1\"} 2\nx_bucket{le=\"0.5\"} 3\nx_bucket{le=\"+Inf\"} 4\n"), "{page}");
        assert!(page.contains("x_count 4"), "{page}");
    }
}
