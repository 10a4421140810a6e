//! EtcdHealth: detect slow disks (and their consequences) of the etcd behind a control plane.

use std::collections::BTreeMap;

use kube::core::Duration;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::status::EtcdHealthStatus;
use crate::common::{SecretKeyRef, SecretRef, TlsConfig};
use crate::rules;

/// Which etcd members to watch, how often, and the thresholds that make a disk "slow".
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "continuum.dev",
    version = "v1alpha1",
    kind = "EtcdHealth",
    doc = "Watches the etcd members behind a control plane for slow disks and their consequences, and says how to fix them.",
    plural = "etcdhealths",
    singular = "etcdhealth",
    shortname = "eh",
    category = "continuum",
    namespaced,
    status = "EtcdHealthStatus",
    printcolumn = r#"{"name":"Slow-Disk","type":"string","jsonPath":".status.slowDisk"}"#,
    printcolumn = r#"{"name":"WAL-P99","type":"string","jsonPath":".status.walFsyncP99"}"#,
    printcolumn = r#"{"name":"Commit-P99","type":"string","jsonPath":".status.backendCommitP99"}"#,
    printcolumn = r#"{"name":"Leader-Changes","type":"integer","jsonPath":".status.leaderChanges"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.endpoints) && size(self.endpoints) > 0) != has(self.prometheus)").message("set exactly one source: endpoints (scrape each member) or prometheus").field_path(".endpoints"),
    validation = Rule::new("!has(self.endpoints) || self.endpoints.all(e, self.endpoints.exists_one(f, f.name == e.name))").message("endpoint names must be unique").field_path(".endpoints"),
    validation = Rule::new("duration(self.window) >= duration(self.interval) + duration(self.interval)").message("window must be at least twice the interval: a quantile needs two scrapes inside it").field_path(".window")
)]
pub struct EtcdHealthSpec {
    /// etcd members scraped directly, by their metrics URL. At most 128: etcd recommends at most
    /// 7 voting members per cluster, but one EtcdHealth may watch several clusters' members and
    /// their learners. Default: none (then `prometheus` must be set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub endpoints: Vec<EtcdEndpoint>,
    /// Read the same metrics through a Prometheus-compatible API instead of scraping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<EtcdPrometheusSource>,
    /// How often the members are scraped. Between 1s and 10m. Default: 15s.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1s", "10m"))]
    pub interval: Duration,
    /// Quantiles are computed over the histogram increase within this window, as PromQL's
    /// `histogram_quantile(0.99, rate(x_bucket[window]))`. Between 10s and 1h, and at least twice
    /// `interval`. Default: 5m.
    #[serde(default = "default_window")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("10s", "1h"))]
    pub window: Duration,
    /// How long a threshold must be exceeded before SlowDisk turns True (and clear before it turns
    /// False again). Between 0s and 1h. Default: 2m.
    #[serde(default = "default_for", rename = "for")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("0s", "1h"))]
    pub for_: Duration,
    /// The levels that make a disk slow. Default: see each field.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Pods that suffer when etcd is slow (for example Karmada's); their restarts and
    /// liveness-probe failures in the window are named in the SlowDisk message. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlate: Option<Correlate>,
}

/// One etcd member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtcdEndpoint {
    /// Name used for this member in status, Events and metric labels, for example `etcd-0`.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = rules::dns_label())]
    pub name: String,
    /// URL of the member's metrics, for example
    /// `http://etcd-client.karmada-system.svc:2381/metrics` (Karmada's etcd serves plain-HTTP
    /// metrics on 2381; the client port 2379 needs a client certificate).
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = rules::http_url())]
    pub metrics_url: String,
    /// TLS settings for an https URL (CA, client certificate). Default: system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// etcd metrics through a Prometheus-compatible API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EtcdPrometheusSource {
    /// Base URL of the API, without `/api/v1`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = rules::http_url())]
    pub url: String,
    /// PromQL label matchers selecting the etcd series, for example `job="karmada-etcd"`;
    /// members are told apart by their `instance` label. Default: `job="etcd"`.
    #[serde(default = "default_selector")]
    #[schemars(length(min = 1, max = 1024))]
    pub selector: String,
    /// Bearer token sent with every query. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret_ref: Option<SecretKeyRef>,
    /// Secret with `username` and `password` for HTTP basic auth. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth_secret_ref: Option<SecretRef>,
    /// TLS settings for an https URL. Default: system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Extra HTTP headers, for example `X-Scope-OrgID`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub headers: Option<BTreeMap<String, String>>,
}

/// Latency levels. Advisory < slow < critical is enforced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("duration(self.advisoryWalFsyncP99) < duration(self.walFsyncP99) && duration(self.walFsyncP99) < duration(self.critical)").message("WAL fsync thresholds must rise: advisoryWalFsyncP99 < walFsyncP99 < critical"),
    validation = Rule::new("duration(self.advisoryBackendCommitP99) < duration(self.backendCommitP99) && duration(self.backendCommitP99) < duration(self.critical)").message("backend commit thresholds must rise: advisoryBackendCommitP99 < backendCommitP99 < critical")
)]
pub struct Thresholds {
    /// SlowDisk when p99 WAL fsync latency exceeds this. Between 1ms and 10s. Default: 100ms.
    #[serde(default = "default_slow")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1ms", "10s"))]
    pub wal_fsync_p99: Duration,
    /// SlowDisk when p99 backend commit latency exceeds this. Between 1ms and 10s.
    /// Default: 100ms.
    #[serde(default = "default_slow")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1ms", "10s"))]
    pub backend_commit_p99: Duration,
    /// Advisory above etcd's recommendation for WAL fsync p99. Between 1ms and 10s.
    /// Default: 10ms.
    #[serde(default = "default_advisory_wal")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1ms", "10s"))]
    pub advisory_wal_fsync_p99: Duration,
    /// Advisory above etcd's recommendation for backend commit p99. Between 1ms and 10s.
    /// Default: 25ms.
    #[serde(default = "default_advisory_commit")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1ms", "10s"))]
    pub advisory_backend_commit_p99: Duration,
    /// Critical level for either p99. Between 1ms and 60s. Default: 1s.
    #[serde(default = "default_critical")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1ms", "60s"))]
    pub critical: Duration,
    /// LeaderUnstable when a member saw at least this many leader changes in the window.
    /// Between 1 and 1000. Default: 3.
    #[serde(default = "default_leader_changes")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 1000").message("must be between 1 and 1000"))]
    pub leader_changes: i32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            wal_fsync_p99: default_slow(),
            backend_commit_p99: default_slow(),
            advisory_wal_fsync_p99: default_advisory_wal(),
            advisory_backend_commit_p99: default_advisory_commit(),
            critical: default_critical(),
            leader_changes: default_leader_changes(),
        }
    }
}

/// Dependent pods whose trouble is attached to the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Correlate {
    /// Namespace of the pods, for example `karmada-system`.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = rules::dns_label())]
    pub namespace: String,
    /// Label selector (equality) of the pods. Default: every pod in the namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub pod_selector: BTreeMap<String, String>,
}

fn ms(n: u64) -> Duration {
    std::time::Duration::from_millis(n).into()
}
fn default_interval() -> Duration {
    ms(15_000)
}
fn default_window() -> Duration {
    ms(300_000)
}
fn default_for() -> Duration {
    ms(120_000)
}
fn default_slow() -> Duration {
    ms(100)
}
fn default_advisory_wal() -> Duration {
    ms(10)
}
fn default_advisory_commit() -> Duration {
    ms(25)
}
fn default_critical() -> Duration {
    ms(1000)
}
fn default_leader_changes() -> i32 {
    3
}
fn default_selector() -> String {
    r#"job="etcd""#.to_owned()
}
