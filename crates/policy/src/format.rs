//! Numbers and times written for people.

/// `0.2123` -> `212ms`, `1.5` -> `1.5s`, `0.0004` -> `400µs`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return if s > 0.0 { "+Inf".into() } else { "n/a".into() };
    }
    if s >= 1.0 {
        let text = format!("{s:.2}");
        format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
    } else if s >= 0.001 {
        format!("{:.0}ms", s * 1000.0)
    } else {
        format!("{:.0}µs", s * 1_000_000.0)
    }
}

/// A span of whole seconds: `300` -> `5m`, `90` -> `1m30s`, `7200` -> `2h`.
pub fn span(total_seconds: u64) -> String {
    let (h, m, s) = (total_seconds / 3600, total_seconds / 60 % 60, total_seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// RFC 3339 UTC time of `ms` milliseconds since the epoch, to the second.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_in_the_unit_people_use() {
        assert_eq!(seconds(0.2123), "212ms");
        assert_eq!(seconds(0.1), "100ms");
        assert_eq!(seconds(1.5), "1.5s");
        assert_eq!(seconds(8.192), "8.19s");
        assert_eq!(seconds(2.0), "2s");
        assert_eq!(seconds(0.0004), "400µs");
        assert_eq!(seconds(f64::INFINITY), "+Inf");
    }

    #[test]
    fn spans_and_times() {
        assert_eq!(span(300), "5m");
        assert_eq!(span(90), "1m30s");
        assert_eq!(span(0), "0s");
        assert_eq!(span(7200), "2h");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_600_000_000), "2026-11-25T09:46:40Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
