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

#[cfg(test)]
mod tests {
    use super::*;

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
