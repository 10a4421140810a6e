//! Observed health of the etcd members, written by the operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The most members `status.members` lists.
pub const MAX_LISTED_MEMBERS: usize = 16;

/// Verdict and per-member figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtcdHealthStatus {
    /// The `metadata.generation` of the spec this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// "True" while a member's disk is slow (mirrors the SlowDisk condition, for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_disk: Option<String>,
    /// Worst p99 WAL fsync latency over the members, for people, for example `212ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_fsync_p99: Option<String>,
    /// Worst p99 backend commit latency over the members, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_commit_p99: Option<String>,
    /// Leader changes seen in the window, summed over the members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_changes: Option<i64>,
    /// Since when the SlowDisk threshold has been exceeded without a break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_since: Option<Time>,
    /// While SlowDisk is True: since when the disk has been back under the threshold (it clears
    /// once that lasts `spec.for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_since: Option<Time>,
    /// The members worst first (unreachable, slow, leader trouble, above etcd's recommendation,
    /// waiting for data, then healthy; by name within each), at most 16: enough for the 7 voting
    /// members etcd recommends plus learners, while a Prometheus source that sees many clusters'
    /// members keeps the object small. The rest are counted in `membersOmitted` and
    /// `membersSummary`; every member's figures are in the `continuum_etcd_*` metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub members: Vec<MemberStatus>,
    /// How many members were read (listed or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_total: Option<i64>,
    /// How many members `members` leaves out (unset when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members_omitted: Option<i64>,
    /// When members are left out: one line counting every member by health and saying which
    /// are not listed, for example `100 members: 3 slow, 97 healthy; 84 not listed (84 healthy)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub members_summary: Option<String>,
    /// SlowDisk, LeaderUnstable, Reachable and Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub conditions: Vec<Condition>,
}

/// Figures of one member over the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// Member name from the spec (or the Prometheus `instance` label).
    pub name: String,
    /// Where its metrics were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// etcd server version (`etcd_server_version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// p99 WAL fsync latency in the window, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_fsync_p99_seconds: Option<f64>,
    /// The histogram buckets enclosing that p99, for example `64ms-128ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_fsync_p99_bucket: Option<String>,
    /// p99 backend commit latency in the window, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_commit_p99_seconds: Option<f64>,
    /// The histogram buckets enclosing that p99.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_commit_p99_bucket: Option<String>,
    /// Fraction (0-1) of WAL fsyncs in the window slower than the slow threshold's bucket bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_fsync_slow_fraction: Option<f64>,
    /// Number of WAL fsyncs in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_fsyncs: Option<i64>,
    /// Whether the member has a leader (`etcd_server_has_leader`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_leader: Option<bool>,
    /// Leader changes seen in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_changes: Option<i64>,
    /// Heartbeats the member failed to send in the window (leader only; a slow disk is the usual cause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_send_failures: Option<i64>,
    /// Applies slower than 100ms in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_applies: Option<i64>,
    /// Size of the backend database, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_size_bytes: Option<i64>,
    /// Backend quota, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<i64>,
    /// Open file descriptors of the etcd process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_fds: Option<i64>,
    /// File descriptor limit of the etcd process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fds: Option<i64>,
    /// While the member cannot be read: when its metrics were last read successfully (unset while
    /// it answers; a live member's sample age is the `continuum_etcd_sample_age_seconds` metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scrape: Option<Time>,
    /// Why the last read failed (unset when it succeeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
