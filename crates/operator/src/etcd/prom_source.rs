//! `spec.prometheus`: the same figures read through PromQL instead of scraping the members.
//! Members are told apart by their `instance` label.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use continuum_api::etcd::{EtcdPrometheusSource, MemberStatus};
use continuum_policy::etcd::{MemberReading, P99, Thresholds};
use continuum_policy::format;
use continuum_telemetry::fetch::Fetcher;
use continuum_telemetry::promql::{PromClient, QueryError, Series};
use kube::Client;

const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// etcd's disk histogram bounds (0.001 · 2ⁿ s) enclosing `v`: PromQL returns no bucket, so it is
/// derived from the layout every etcd release since 3.4 uses.
fn enclosing(v: f64) -> P99 {
    let bounds: Vec<f64> = (0..14).map(|n| 0.001 * f64::from(1u32 << n)).collect();
    match bounds.iter().position(|b| v <= *b) {
        Some(0) => P99 { value: v, lower: 0.0, upper: bounds[0] },
        Some(i) => P99 { value: v, lower: bounds[i - 1], upper: bounds[i] },
        None => P99 { value: v, lower: bounds[13], upper: f64::INFINITY },
    }
}

/// Authorization and extra headers for the API.
pub async fn headers(
    client: &Client,
    ns: &str,
    src: &EtcdPrometheusSource,
) -> Result<Vec<(String, String)>, crate::secrets::SecretError> {
    crate::secrets::headers_for(
        client,
        ns,
        src.headers.as_ref(),
        src.bearer_token_secret_ref.as_ref(),
        src.basic_auth_secret_ref.as_ref(),
    )
    .await
}

pub fn fetcher_timeout() -> Duration {
    QUERY_TIMEOUT
}

/// The PromQL of each figure, by name.
struct Queries {
    wal_p99: String,
    commit_p99: String,
    has_leader: String,
    leader_changes: String,
    heartbeat_failures: String,
    fsyncs: String,
    slow_fraction: String,
    version: String,
    db_size: String,
    quota: String,
    slow_applies: String,
}

impl Queries {
    fn new(src: &EtcdPrometheusSource, t: &Thresholds, slow_bound: f64) -> Self {
        let (sel, w) = (&src.selector, format!("{}s", (t.window_ms / 1000).max(1)));
        let quantile =
            |h: &str| format!("histogram_quantile(0.99, sum by (instance, le) (rate({h}_bucket{{{sel}}}[{w}])))");
        let increase = |m: &str| format!("sum by (instance) (increase({m}{{{sel}}}[{w}]))");
        let max = |m: &str| format!("max by (instance) ({m}{{{sel}}})");
        let fsyncs = increase("etcd_disk_wal_fsync_duration_seconds_count");
        Self {
            wal_p99: quantile("etcd_disk_wal_fsync_duration_seconds"),
            commit_p99: quantile("etcd_disk_backend_commit_duration_seconds"),
            has_leader: max("etcd_server_has_leader"),
            leader_changes: increase("etcd_server_leader_changes_seen_total"),
            heartbeat_failures: increase("etcd_server_heartbeat_send_failures_total"),
            slow_fraction: format!(
                "1 - sum by (instance) (increase(etcd_disk_wal_fsync_duration_seconds_bucket{{{sel},le=\"{slow_bound}\"}}[{w}])) / {fsyncs}"
            ),
            fsyncs,
            version: format!("max by (instance, server_version) (etcd_server_version{{{sel}}})"),
            db_size: max("etcd_mvcc_db_total_size_in_bytes"),
            quota: max("etcd_server_quota_backend_bytes"),
            slow_applies: increase("etcd_server_slow_apply_total"),
        }
    }
}

/// One query's answer by `instance` label.
#[derive(Default)]
struct ByInstance(BTreeMap<String, Series>);

impl ByInstance {
    async fn ask(api: &PromClient, query: &str) -> Result<Self, QueryError> {
        let series = api.query(query, None).await?;
        Ok(Self(series.into_iter().map(|s| (s.labels.get("instance").cloned().unwrap_or_default(), s)).collect()))
    }

    fn value(&self, instance: &str) -> Option<f64> {
        self.0.get(instance).map(|s| s.value).filter(|v| v.is_finite())
    }
}

/// Every query's answer, by the same names as [`Queries`].
struct Answers {
    wal_p99: ByInstance,
    commit_p99: ByInstance,
    has_leader: ByInstance,
    leader_changes: ByInstance,
    heartbeat_failures: ByInstance,
    fsyncs: ByInstance,
    slow_fraction: ByInstance,
    version: ByInstance,
    db_size: ByInstance,
    quota: ByInstance,
    slow_applies: ByInstance,
}

impl Answers {
    /// Sends the queries one after another (a small Prometheus is not flooded).
    async fn ask(api: &PromClient, q: &Queries) -> Result<Self, QueryError> {
        Ok(Self {
            wal_p99: ByInstance::ask(api, &q.wal_p99).await?,
            commit_p99: ByInstance::ask(api, &q.commit_p99).await?,
            has_leader: ByInstance::ask(api, &q.has_leader).await?,
            leader_changes: ByInstance::ask(api, &q.leader_changes).await?,
            heartbeat_failures: ByInstance::ask(api, &q.heartbeat_failures).await?,
            fsyncs: ByInstance::ask(api, &q.fsyncs).await?,
            slow_fraction: ByInstance::ask(api, &q.slow_fraction).await?,
            version: ByInstance::ask(api, &q.version).await?,
            db_size: ByInstance::ask(api, &q.db_size).await?,
            quota: ByInstance::ask(api, &q.quota).await?,
            slow_applies: ByInstance::ask(api, &q.slow_applies).await?,
        })
    }

    /// The members: every instance that reports a leader state or a version.
    fn instances(&self) -> BTreeSet<String> {
        self.has_leader.0.keys().chain(self.version.0.keys()).cloned().collect()
    }
}

/// Reads every member's figures; `Err` when the API cannot be queried at all.
pub async fn read(
    fetcher: Fetcher,
    headers: Vec<(String, String)>,
    src: &EtcdPrometheusSource,
    t: &Thresholds,
) -> Result<Vec<(MemberReading, MemberStatus)>, QueryError> {
    let api = PromClient::new(fetcher, &src.url, headers);
    let slow_bound = (0..14).map(|n| 0.001 * f64::from(1u32 << n)).find(|b| *b >= t.wal_fsync_p99).unwrap_or(8.192);
    let a = Answers::ask(&api, &Queries::new(src, t, slow_bound)).await?;
    Ok(a.instances().iter().map(|inst| member(&a, inst, src, slow_bound)).collect())
}

fn member(a: &Answers, inst: &str, src: &EtcdPrometheusSource, slow_bound: f64) -> (MemberReading, MemberStatus) {
    let (wal, commit) = (a.wal_p99.value(inst).map(enclosing), a.commit_p99.value(inst).map(enclosing));
    let reading = MemberReading {
        name: inst.to_owned(),
        error: None,
        wal_fsync_p99: wal,
        backend_commit_p99: commit,
        wal_fsync_slow_fraction: a.slow_fraction.value(inst).map(|f| (f.clamp(0.0, 1.0), slow_bound)),
        has_leader: a.has_leader.value(inst).map(|v| v >= 1.0),
        leader_changes: a.leader_changes.value(inst),
        heartbeat_send_failures: a.heartbeat_failures.value(inst),
        db_size_bytes: a.db_size.value(inst),
        quota_bytes: a.quota.value(inst),
        open_fds: None,
        max_fds: None,
    };
    let int = |v: Option<f64>| v.map(|v| v.round() as i64);
    let bucket = |p: &P99| format!("{}-{}", format::seconds(p.lower), format::seconds(p.upper));
    let status = MemberStatus {
        name: inst.to_owned(),
        endpoint: Some(format!("{} instance={inst}", src.url)),
        version: a.version.0.get(inst).and_then(|s| s.labels.get("server_version").cloned()),
        wal_fsync_p99_seconds: wal.map(|p| p.value),
        wal_fsync_p99_bucket: wal.as_ref().map(bucket),
        backend_commit_p99_seconds: commit.map(|p| p.value),
        backend_commit_p99_bucket: commit.as_ref().map(bucket),
        wal_fsync_slow_fraction: reading.wal_fsync_slow_fraction.map(|f| f.0),
        wal_fsyncs: int(a.fsyncs.value(inst)),
        has_leader: reading.has_leader,
        leader_changes: int(reading.leader_changes),
        heartbeat_send_failures: int(reading.heartbeat_send_failures),
        slow_applies: int(a.slow_applies.value(inst)),
        db_size_bytes: int(reading.db_size_bytes),
        quota_bytes: int(reading.quota_bytes),
        open_fds: None,
        max_fds: None,
        last_scrape: a.has_leader.0.get(inst).map(|s| crate::clock::time((s.timestamp * 1000.0) as i64)),
        error: None,
    };
    (reading, status)
}
