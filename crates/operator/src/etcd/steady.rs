//! Figures that stay as shown until they move: a window's p99 shifts a little with every scrape,
//! and status carrying each wobble would be written every interval. A figure within [`MOVED`]
//! of the shown one (and, for a p99, in the same bucket) keeps the shown value, in status and in
//! the condition messages alike; the live values are in the metrics.

use std::collections::HashMap;

use continuum_api::etcd::MemberStatus;
use continuum_policy::etcd::MemberReading;

/// A relative change smaller than this is wobble, not a move.
pub const MOVED: f64 = 0.1;

fn moved(shown: Option<f64>, new: Option<f64>) -> bool {
    match (shown, new) {
        (Some(a), Some(b)) => (a - b).abs() > MOVED * a.abs().max(b.abs()),
        (a, b) => a.is_some() != b.is_some(),
    }
}

/// `new`, or `shown` when `new` did not move from it.
fn keep(shown: Option<f64>, new: Option<f64>) -> Option<f64> {
    if moved(shown, new) { new } else { shown }
}

fn keep_int(shown: Option<i64>, new: Option<i64>) -> Option<i64> {
    keep(shown.map(|v| v as f64), new.map(|v| v as f64)).map(|v| v.round() as i64)
}

/// `new` with the figures that did not move from `shown` as `shown` has them.
pub fn steady(shown: &MemberStatus, new: &mut MemberStatus) {
    if shown.wal_fsync_p99_bucket == new.wal_fsync_p99_bucket {
        new.wal_fsync_p99_seconds = keep(shown.wal_fsync_p99_seconds, new.wal_fsync_p99_seconds);
    }
    if shown.backend_commit_p99_bucket == new.backend_commit_p99_bucket {
        new.backend_commit_p99_seconds = keep(shown.backend_commit_p99_seconds, new.backend_commit_p99_seconds);
    }
    new.wal_fsync_slow_fraction = keep(shown.wal_fsync_slow_fraction, new.wal_fsync_slow_fraction);
    new.wal_fsyncs = keep_int(shown.wal_fsyncs, new.wal_fsyncs);
    new.db_size_bytes = keep_int(shown.db_size_bytes, new.db_size_bytes);
    new.open_fds = keep_int(shown.open_fds, new.open_fds);
}

/// The reading the verdict sees, with the values status shows (the buckets are the same).
fn align(reading: &mut MemberReading, shown: &MemberStatus) {
    if let (Some(p), Some(v)) = (reading.wal_fsync_p99.as_mut(), shown.wal_fsync_p99_seconds) {
        p.value = v;
    }
    if let (Some(p), Some(v)) = (reading.backend_commit_p99.as_mut(), shown.backend_commit_p99_seconds) {
        p.value = v;
    }
    if let (Some(f), Some(v)) = (reading.wal_fsync_slow_fraction.as_mut(), shown.wal_fsync_slow_fraction) {
        f.0 = v;
    }
}

/// Steadies every member against what was shown last (`shown`, else the stored status), and
/// remembers the result as shown; members no longer read are forgotten.
pub fn all(
    shown: &mut HashMap<String, MemberStatus>,
    stored: &[MemberStatus],
    readings: &mut [MemberReading],
    members: &mut [MemberStatus],
) {
    for (reading, status) in readings.iter_mut().zip(members.iter_mut()) {
        if let Some(before) = shown.get(&status.name).or_else(|| stored.iter().find(|m| m.name == status.name)) {
            steady(before, status);
        }
        align(reading, status);
    }
    shown.retain(|name, _| members.iter().any(|m| &m.name == name));
    for m in members.iter() {
        shown.insert(m.name.clone(), m.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuum_policy::etcd::P99;

    fn member(p99: f64, bucket: &str, fsyncs: i64) -> MemberStatus {
        MemberStatus {
            name: "etcd-0".into(),
            wal_fsync_p99_seconds: Some(p99),
            wal_fsync_p99_bucket: Some(bucket.into()),
            wal_fsyncs: Some(fsyncs),
            ..Default::default()
        }
    }

    #[test]
    fn a_p99_that_wobbles_inside_its_bucket_keeps_the_shown_value_and_a_move_shows() {
        let shown = member(0.150, "128ms-256ms", 5000);
        let mut wobble = member(0.155, "128ms-256ms", 5200);
        steady(&shown, &mut wobble);
        assert_eq!(wobble, shown, "3% and 4% are wobble");
        let mut moved = member(0.200, "128ms-256ms", 6000);
        steady(&shown, &mut moved);
        assert_eq!((moved.wal_fsync_p99_seconds, moved.wal_fsyncs), (Some(0.2), Some(6000)));
        let mut other_bucket = member(0.127, "64ms-128ms", 5000);
        steady(&member(0.129, "128ms-256ms", 5000), &mut other_bucket);
        assert_eq!(other_bucket.wal_fsync_p99_seconds, Some(0.127), "a new bucket always shows");
    }

    #[test]
    fn the_verdict_reads_the_value_status_shows() {
        let mut shown = HashMap::new();
        let reading = |v: f64| MemberReading {
            name: "etcd-0".into(),
            wal_fsync_p99: Some(P99 { value: v, lower: 0.128, upper: 0.256 }),
            ..Default::default()
        };
        let (mut r, mut m) = ([reading(0.150)], [member(0.150, "128ms-256ms", 10)]);
        all(&mut shown, &[], &mut r, &mut m);
        let (mut r, mut m) = ([reading(0.152)], [member(0.152, "128ms-256ms", 10)]);
        all(&mut shown, &[], &mut r, &mut m);
        assert_eq!(r[0].wal_fsync_p99.map(|p| p.value), Some(0.150));
        assert_eq!(m[0].wal_fsync_p99_seconds, Some(0.150));
        all(&mut shown, &[], &mut [], &mut []);
        assert!(shown.is_empty(), "members no longer read are forgotten");
    }
}
