//! The figures of one etcd member, read from its `/metrics` page (etcd 3.4, 3.5 and 3.6), and
//! their change over a window of scrapes.

use crate::exposition::{self, ParseError, Sample};
use crate::histogram::{Histogram, Quantile};

pub const WAL_FSYNC: &str = "etcd_disk_wal_fsync_duration_seconds";
pub const BACKEND_COMMIT: &str = "etcd_disk_backend_commit_duration_seconds";

/// What one scrape of a member says.
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdSnapshot {
    /// When the page was scraped, milliseconds since the epoch.
    pub at_ms: i64,
    pub version: Option<String>,
    pub wal_fsync: Option<Histogram>,
    pub backend_commit: Option<Histogram>,
    pub has_leader: Option<bool>,
    pub leader_changes: Option<f64>,
    pub heartbeat_send_failures: Option<f64>,
    pub slow_applies: Option<f64>,
    pub db_size_bytes: Option<f64>,
    pub quota_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
    pub process_start_seconds: Option<f64>,
}

/// Metric name prefixes the snapshot needs; everything else on the page is skipped unparsed.
fn wanted(name: &str) -> bool {
    name.starts_with("etcd_disk_")
        || name.starts_with("etcd_server_")
        || name.starts_with("etcd_mvcc_db_total_size_in_bytes")
        || name.starts_with("process_")
}

impl EtcdSnapshot {
    /// Parses a metrics page scraped at `at_ms`.
    pub fn parse(page: &str, at_ms: i64) -> Result<Self, ParseError> {
        let samples = exposition::parse_filtered(page, wanted)?;
        Ok(Self::from_samples(&samples, at_ms))
    }

    pub fn from_samples(samples: &[Sample<'_>], at_ms: i64) -> Self {
        let gauge = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        Self {
            at_ms,
            version: samples
                .iter()
                .find(|s| s.name == "etcd_server_version")
                .and_then(|s| s.label("server_version"))
                .map(str::to_owned),
            wal_fsync: Histogram::from_samples(samples, WAL_FSYNC, &[]),
            backend_commit: Histogram::from_samples(samples, BACKEND_COMMIT, &[]),
            has_leader: gauge("etcd_server_has_leader").map(|v| v >= 1.0),
            leader_changes: gauge("etcd_server_leader_changes_seen_total"),
            heartbeat_send_failures: gauge("etcd_server_heartbeat_send_failures_total"),
            slow_applies: gauge("etcd_server_slow_apply_total"),
            db_size_bytes: gauge("etcd_mvcc_db_total_size_in_bytes"),
            quota_bytes: gauge("etcd_server_quota_backend_bytes"),
            open_fds: gauge("process_open_fds"),
            max_fds: gauge("process_max_fds"),
            process_start_seconds: gauge("process_start_time_seconds"),
        }
    }

    /// Whether `later` comes from the same etcd process (no restart in between).
    pub fn same_process(&self, later: &EtcdSnapshot) -> bool {
        let same_start = match (self.process_start_seconds, later.process_start_seconds) {
            (Some(a), Some(b)) => (a - b).abs() < 1.0,
            _ => true,
        };
        let not_down = |a: Option<f64>, b: Option<f64>| !matches!((a, b), (Some(a), Some(b)) if b < a);
        same_start
            && not_down(self.wal_fsync.as_ref().map(|h| h.count), later.wal_fsync.as_ref().map(|h| h.count))
            && not_down(self.backend_commit.as_ref().map(|h| h.count), later.backend_commit.as_ref().map(|h| h.count))
            && not_down(self.leader_changes, later.leader_changes)
    }
}

/// Figures of a member over the window between two snapshots of the same process.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowFigures {
    /// Seconds covered (between the two scrapes).
    pub span_seconds: f64,
    pub wal_fsync_p99: Option<Quantile>,
    pub backend_commit_p99: Option<Quantile>,
    pub wal_fsyncs: f64,
    pub backend_commits: f64,
    /// (fraction of WAL fsyncs slower than `bound`, `bound`).
    pub wal_fsync_slow_fraction: Option<(f64, f64)>,
    pub leader_changes: Option<f64>,
    pub heartbeat_send_failures: Option<f64>,
    pub slow_applies: Option<f64>,
}

/// Compares the newest snapshot with the oldest one of the same process; quantile `q` of both
/// disk histograms over their increase, plus counter increases. `None` with fewer than two
/// comparable snapshots.
pub fn window(snapshots: &[EtcdSnapshot], q: f64, slow_threshold_seconds: f64) -> Option<WindowFigures> {
    let newest = snapshots.last()?;
    // Only snapshots after the latest restart are comparable with the newest one.
    let first_comparable = snapshots.iter().rposition(|s| !s.same_process(newest)).map_or(0, |i| i + 1);
    let oldest = &snapshots[first_comparable..].first()?;
    if std::ptr::eq(*oldest, newest) {
        return None;
    }
    let inc = |a: &Option<Histogram>, b: &Option<Histogram>| match (a, b) {
        (Some(a), Some(b)) => b.increase_since(a),
        _ => None,
    };
    let wal = inc(&oldest.wal_fsync, &newest.wal_fsync);
    let commit = inc(&oldest.backend_commit, &newest.backend_commit);
    let delta = |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0));
    Some(WindowFigures {
        span_seconds: (newest.at_ms - oldest.at_ms) as f64 / 1000.0,
        wal_fsync_p99: wal.as_ref().and_then(|h| h.quantile(q)),
        backend_commit_p99: commit.as_ref().and_then(|h| h.quantile(q)),
        wal_fsyncs: wal.as_ref().map_or(0.0, Histogram::observations),
        backend_commits: commit.as_ref().map_or(0.0, Histogram::observations),
        wal_fsync_slow_fraction: wal.as_ref().and_then(|h| h.fraction_above(slow_threshold_seconds)),
        leader_changes: delta(oldest.leader_changes, newest.leader_changes),
        heartbeat_send_failures: delta(oldest.heartbeat_send_failures, newest.heartbeat_send_failures),
        slow_applies: delta(oldest.slow_applies, newest.slow_applies),
    })
}
