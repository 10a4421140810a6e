//! When a policy is evaluated next: one interval on average, aligned to just after the source's
//! next sample when the source says when its samples were taken (Prometheus), so a new sample is
//! read a moment after it lands instead of up to one interval later.

use std::time::Duration;

/// How long after a sample's own time it is expected to be queryable (scrape plus ingestion).
const SLACK_MS: i64 = 150;

/// The delay before the next evaluation: `interval` without a sample time; otherwise the first
/// point of the grid `newest + SLACK + k × interval` at least half an interval from now (so the
/// average cadence stays one interval).
pub fn next_delay(interval: Duration, newest_sample_ms: Option<i64>, now_ms: i64) -> Duration {
    let step = interval.as_millis().max(1) as i64;
    let Some(newest) = newest_sample_ms.filter(|t| *t <= now_ms + 1000 && now_ms - t < 3_600_000) else {
        return interval;
    };
    let base = newest + SLACK_MS;
    let earliest = now_ms + step / 2;
    let k = (earliest - base).div_euclid(step) + 1;
    let next = base + k * step;
    let next = if next - step >= earliest { next - step } else { next };
    Duration::from_millis((next - now_ms).max(0) as u64)
}

/// A per-policy offset added to the planned delay, so policies created (or started) together do
/// not evaluate at the same instant for ever: up to 1/20 of the interval (at most 250 ms) after a
/// sample the policy is aligned on, up to 1/10 of the interval otherwise. The same policy always
/// gets the same offset, so its own cadence stays one interval.
pub fn spread(key: &str, interval: Duration, aligned: bool) -> Duration {
    let span = if aligned { (interval / 20).min(Duration::from_millis(250)) } else { interval / 10 };
    let span_ms = span.as_millis().max(1) as u64;
    // FNV-1a: stable across runs and processes (a restart keeps each policy's slot).
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    Duration::from_millis(hash % span_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_spread_over_a_slice_of_the_interval_each_always_in_its_own_place() {
        let ten = Duration::from_secs(10);
        let offsets: Vec<Duration> = (0..1000).map(|i| spread(&format!("ns/p-{i}"), ten, false)).collect();
        assert!(offsets.iter().all(|d| *d < ten / 10));
        let distinct: std::collections::HashSet<_> = offsets.iter().collect();
        assert!(distinct.len() > 500, "1000 policies in {} slots", distinct.len());
        assert_eq!(spread("ns/p-7", ten, false), offsets[7], "stable");
        assert!((0..1000).all(|i| spread(&format!("ns/p-{i}"), ten, true) < Duration::from_millis(250)));
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn without_a_sample_time_the_next_evaluation_is_one_interval_away() {
        assert_eq!(next_delay(S, None, 10_000), S);
        assert_eq!(next_delay(S, Some(10_000 + 5_000), 10_000), S, "a sample from the future is ignored");
    }

    #[test]
    fn the_next_evaluation_lands_just_after_the_next_sample() {
        // Sampled 300 ms ago: the next sample is due in 700 ms, readable 150 ms later.
        assert_eq!(next_delay(S, Some(9_700), 10_000), Duration::from_millis(850));
        // Sampled 900 ms ago: the next is due in 100 ms, but that is under half an interval away,
        // so the one after it.
        assert_eq!(next_delay(S, Some(9_100), 10_000), Duration::from_millis(1_250));
        // A slow source (one sample per 15 s, interval 5 s): the grid keeps the 5 s cadence.
        let d = next_delay(5 * S, Some(0), 7_000);
        assert_eq!(d, Duration::from_millis(3_150));
    }

    #[test]
    fn the_delay_stays_within_half_and_one_and_a_half_intervals() {
        for offset in (0..3000).step_by(37) {
            let d = next_delay(S, Some(10_000 - offset), 10_000);
            assert!(d >= S / 2 && d < S * 3 / 2, "offset {offset}: {d:?}");
        }
    }
}
