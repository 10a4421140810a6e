//! Time at the edge of the operator: the wall clock, and conversions between the API's times and
//! durations and the milliseconds the pure decision crates work in.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The wall clock, milliseconds since the epoch (the pure crates get time passed in).
pub fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// An API time from milliseconds since the epoch (the epoch itself when out of range).
pub fn time(ms: i64) -> Time {
    Time(Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Milliseconds since the epoch of an optional API time.
pub fn ms_of(t: Option<&Time>) -> Option<i64> {
    t.map(|t| t.0.as_millisecond())
}

/// A spec duration in whole milliseconds.
pub fn millis(d: &kube::core::Duration) -> i64 {
    i64::try_from(Duration::from(*d).as_millis()).unwrap_or(i64::MAX)
}

/// A spec duration in seconds.
pub fn seconds(d: &kube::core::Duration) -> f64 {
    Duration::from(*d).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_milliseconds() {
        let t = time(1_700_000_000_123);
        assert_eq!(ms_of(Some(&t)), Some(1_700_000_000_123));
        assert_eq!(ms_of(None), None);
        assert_eq!(time(i64::MAX).0, Timestamp::UNIX_EPOCH, "out of range is the epoch, not a panic");
    }

    #[test]
    fn spec_durations_convert_to_ms_and_seconds() {
        let d = kube::core::Duration::from(Duration::from_millis(2500));
        assert_eq!(millis(&d), 2500);
        assert!((seconds(&d) - 2.5).abs() < 1e-12);
    }
}
