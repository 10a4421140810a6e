//! One member's figures: scrape history, window math, and the mapping to status and verdict input.

use continuum_api::etcd::MemberStatus;
use continuum_policy::etcd::{MemberReading, P99};
use continuum_policy::format;
use continuum_telemetry::etcd::{EtcdSnapshot, WindowFigures, window};
use continuum_telemetry::histogram::Quantile;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The most scrapes kept per member. A window of 1h at a 1s interval would be 3,600 snapshots
/// (two histograms each) per member; the window figures compare the oldest with the newest, so
/// scrapes closer together than `window / (MAX_SAMPLES - 2)` are thinned out instead.
pub const MAX_SAMPLES: usize = 120;

/// Scrapes of one member inside the window, oldest first, at most [`MAX_SAMPLES`] (a `Vec`: the
/// window figures read it as one slice, and dropping from its front moves at most that many).
#[derive(Debug, Default)]
pub struct MemberHistory {
    snapshots: Vec<EtcdSnapshot>,
    pub last_error: Option<String>,
}

impl MemberHistory {
    /// Adds a scrape and forgets those that fell out of the window. Every gap but the newest is
    /// at least the spacing: the previous newest is dropped when it is closer than that to the
    /// one before it (unless the three straddle a restart, which is never thinned away).
    pub fn push(&mut self, snap: EtcdSnapshot, window_ms: i64) {
        let spacing = window_ms / (MAX_SAMPLES as i64 - 2);
        let n = self.snapshots.len();
        if n >= 2 {
            let (before, last) = (&self.snapshots[n - 2], &self.snapshots[n - 1]);
            if last.at_ms - before.at_ms < spacing && before.same_process(last) && last.same_process(&snap) {
                self.snapshots.pop();
            }
        }
        self.snapshots.push(snap);
        self.forget_before(self.snapshots.last().map_or(0, |s| s.at_ms) - window_ms);
        while self.snapshots.len() > MAX_SAMPLES {
            // Only reached when scrapes come faster than the spacing allows for: keep the oldest
            // (the window's start) and the newest.
            self.snapshots.remove(1);
        }
        self.last_error = None;
    }

    /// A failed scrape: the reason, and the scrapes that fell out of the window by `now_ms` are
    /// forgotten (an outage longer than the window leaves no figures to show as if live).
    pub fn failed(&mut self, error: String, now_ms: i64, window_ms: i64) {
        self.last_error = Some(error);
        self.forget_before(now_ms - window_ms);
    }

    fn forget_before(&mut self, start: i64) {
        let old = self.snapshots.iter().take_while(|s| s.at_ms < start).count();
        self.snapshots.drain(..old);
    }

    #[cfg(test)]
    pub fn samples(&self) -> usize {
        self.snapshots.len()
    }

    pub fn latest(&self) -> Option<&EtcdSnapshot> {
        self.snapshots.last()
    }

    pub fn figures(&self, slow_threshold_seconds: f64) -> Option<WindowFigures> {
        window(&self.snapshots, 0.99, slow_threshold_seconds)
    }
}

fn p99(q: Option<Quantile>) -> Option<P99> {
    q.map(|q| P99 { value: q.value, lower: q.lower, upper: q.upper })
}

/// Input for the verdict.
pub fn reading(name: &str, history: &MemberHistory, figures: Option<&WindowFigures>) -> MemberReading {
    let latest = history.latest();
    MemberReading {
        name: name.to_owned(),
        error: history.last_error.clone(),
        wal_fsync_p99: figures.and_then(|f| p99(f.wal_fsync_p99)),
        backend_commit_p99: figures.and_then(|f| p99(f.backend_commit_p99)),
        wal_fsync_slow_fraction: figures.and_then(|f| f.wal_fsync_slow_fraction),
        has_leader: latest.and_then(|s| s.has_leader),
        leader_changes: figures.and_then(|f| f.leader_changes),
        heartbeat_send_failures: figures.and_then(|f| f.heartbeat_send_failures),
        db_size_bytes: latest.and_then(|s| s.db_size_bytes),
        quota_bytes: latest.and_then(|s| s.quota_bytes),
        open_fds: latest.and_then(|s| s.open_fds),
        max_fds: latest.and_then(|s| s.max_fds),
    }
}

fn bucket(q: &Quantile) -> String {
    format!("{}-{}", format::seconds(q.lower), format::seconds(q.upper))
}

fn time(ms: i64) -> Option<Time> {
    Timestamp::from_millisecond(ms).ok().map(Time)
}

/// The member's entry in `status.members`.
pub fn status(name: &str, endpoint: &str, history: &MemberHistory, figures: Option<&WindowFigures>) -> MemberStatus {
    let latest = history.latest();
    let int = |v: Option<f64>| v.filter(|v| v.is_finite()).map(|v| v.round() as i64);
    MemberStatus {
        name: name.to_owned(),
        endpoint: Some(endpoint.to_owned()),
        version: latest.and_then(|s| s.version.clone()),
        wal_fsync_p99_seconds: figures.and_then(|f| f.wal_fsync_p99).map(|q| q.value),
        wal_fsync_p99_bucket: figures.and_then(|f| f.wal_fsync_p99.as_ref().map(bucket)),
        backend_commit_p99_seconds: figures.and_then(|f| f.backend_commit_p99).map(|q| q.value),
        backend_commit_p99_bucket: figures.and_then(|f| f.backend_commit_p99.as_ref().map(bucket)),
        wal_fsync_slow_fraction: figures.and_then(|f| f.wal_fsync_slow_fraction).map(|(f, _)| f),
        wal_fsyncs: figures.map(|f| f.wal_fsyncs.round() as i64),
        has_leader: latest.and_then(|s| s.has_leader),
        leader_changes: int(figures.and_then(|f| f.leader_changes)),
        heartbeat_send_failures: int(figures.and_then(|f| f.heartbeat_send_failures)),
        slow_applies: int(figures.and_then(|f| f.slow_applies)),
        db_size_bytes: int(latest.and_then(|s| s.db_size_bytes)),
        quota_bytes: int(latest.and_then(|s| s.quota_bytes)),
        open_fds: int(latest.and_then(|s| s.open_fds)),
        max_fds: int(latest.and_then(|s| s.max_fds)),
        last_scrape: latest.and_then(|s| time(s.at_ms)),
        error: history.last_error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page whose WAL fsync histogram has seen `n` fast fsyncs (and one etcd process).
    fn scrape(n: u64, at_ms: i64) -> EtcdSnapshot {
        let h = "etcd_disk_wal_fsync_duration_seconds";
        let page = format!(
            "{h}_bucket{{le=\"0.002\"}} {n}\n{h}_bucket{{le=\"+Inf\"}} {n}\n{h}_sum {}\n{h}_count {n}\nprocess_start_time_seconds 1\n",
            n as f64 * 0.001
        );
        EtcdSnapshot::parse(&page, at_ms).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_hour_long_window_at_one_second_keeps_a_bounded_history_that_still_spans_the_window() {
        let (window_ms, mut h) = (3_600_000, MemberHistory::default());
        for s in 0..7_200 {
            h.push(scrape(s * 10, s as i64 * 1000), window_ms);
            assert!(h.samples() <= MAX_SAMPLES, "{} samples after {s}s", h.samples());
        }
        assert!(h.samples() >= MAX_SAMPLES - 8, "the window is still sampled: {}", h.samples());
        let span = h.figures(0.1).map(|f| f.span_seconds).unwrap_or_default();
        let spacing = window_ms as f64 / 1000.0 / (MAX_SAMPLES as f64 - 2.0);
        assert!(span >= 3_600.0 - spacing - 1.0 && span <= 3_600.0, "figures span {span}s");
    }

    #[test]
    fn a_short_window_keeps_every_scrape() {
        let mut h = MemberHistory::default();
        for s in 0..21 {
            h.push(scrape(s * 10, s as i64 * 15_000), 300_000);
        }
        assert_eq!(h.samples(), 21);
    }

    #[test]
    fn an_outage_longer_than_the_window_leaves_no_figures() {
        let mut h = MemberHistory::default();
        h.push(scrape(0, 0), 60_000);
        h.push(scrape(10, 15_000), 60_000);
        h.failed("connection refused".into(), 30_000, 60_000);
        assert!(h.figures(0.1).is_some(), "inside the window the figures stand");
        h.failed("connection refused".into(), 80_000, 60_000);
        assert!(h.figures(0.1).is_none(), "past the window nothing is left to show");
        assert_eq!(h.last_error.as_deref(), Some("connection refused"));
    }
}
