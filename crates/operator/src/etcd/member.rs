//! One member's figures: scrape history, window math, and the mapping to status and verdict input.

use std::collections::VecDeque;

use continuum_api::etcd::MemberStatus;
use continuum_policy::etcd::{MemberReading, P99};
use continuum_policy::format;
use continuum_telemetry::etcd::{EtcdSnapshot, WindowFigures, window};
use continuum_telemetry::histogram::Quantile;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Scrapes of one member inside the window, oldest first.
#[derive(Debug, Default)]
pub struct MemberHistory {
    snapshots: VecDeque<EtcdSnapshot>,
    pub last_error: Option<String>,
}

impl MemberHistory {
    /// Adds a scrape and forgets those that fell out of the window.
    pub fn push(&mut self, snap: EtcdSnapshot, window_ms: i64) {
        let start = snap.at_ms - window_ms;
        self.snapshots.push_back(snap);
        while self.snapshots.front().is_some_and(|s| s.at_ms < start) {
            self.snapshots.pop_front();
        }
        self.last_error = None;
    }

    pub fn latest(&self) -> Option<&EtcdSnapshot> {
        self.snapshots.back()
    }

    pub fn figures(&self, slow_threshold_seconds: f64) -> Option<WindowFigures> {
        let snaps: Vec<EtcdSnapshot> = self.snapshots.iter().cloned().collect();
        window(&snaps, 0.99, slow_threshold_seconds)
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
