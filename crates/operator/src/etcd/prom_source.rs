//! `spec.prometheus`: the same figures read through PromQL instead of scraping the members.
//! Members are told apart by their `instance` label.

use std::collections::BTreeMap;
use std::time::Duration;

use continuum_api::etcd::{EtcdPrometheusSource, MemberStatus};
use continuum_policy::etcd::{MemberReading, P99, Thresholds};
use continuum_policy::format;
use continuum_telemetry::fetch::Fetcher;
use continuum_telemetry::promql::{PromClient, Series};
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
pub async fn headers(client: &Client, ns: &str, src: &EtcdPrometheusSource) -> Result<Vec<(String, String)>, String> {
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

/// Reads every member's figures; `Err` when the API cannot be queried at all.
pub async fn read(
    fetcher: Fetcher,
    headers: Vec<(String, String)>,
    src: &EtcdPrometheusSource,
    t: &Thresholds,
) -> Result<Vec<(MemberReading, MemberStatus)>, String> {
    let api = PromClient::new(fetcher, &src.url, headers);
    let (sel, w) = (&src.selector, format!("{}s", (t.window_ms / 1000).max(1)));
    let slow_bound = (0..14).map(|n| 0.001 * f64::from(1u32 << n)).find(|b| *b >= t.wal_fsync_p99).unwrap_or(8.192);
    let quantile =
        |h: &str| format!("histogram_quantile(0.99, sum by (instance, le) (rate({h}_bucket{{{sel}}}[{w}])))");
    let increase = |m: &str| format!("sum by (instance) (increase({m}{{{sel}}}[{w}]))");
    let queries = [
        quantile("etcd_disk_wal_fsync_duration_seconds"),
        quantile("etcd_disk_backend_commit_duration_seconds"),
        format!("max by (instance) (etcd_server_has_leader{{{sel}}})"),
        increase("etcd_server_leader_changes_seen_total"),
        increase("etcd_server_heartbeat_send_failures_total"),
        increase("etcd_disk_wal_fsync_duration_seconds_count"),
        format!(
            "1 - sum by (instance) (increase(etcd_disk_wal_fsync_duration_seconds_bucket{{{sel},le=\"{slow_bound}\"}}[{w}])) / {}",
            increase("etcd_disk_wal_fsync_duration_seconds_count")
        ),
        format!("max by (instance, server_version) (etcd_server_version{{{sel}}})"),
        format!("max by (instance) (etcd_mvcc_db_total_size_in_bytes{{{sel}}})"),
        format!("max by (instance) (etcd_server_quota_backend_bytes{{{sel}}})"),
        increase("etcd_server_slow_apply_total"),
    ];
    let mut results: Vec<Vec<Series>> = Vec::with_capacity(queries.len());
    for q in &queries {
        results.push(api.query(q, None).await.map_err(|e| e.to_string())?);
    }
    let by_instance = |i: usize| -> BTreeMap<String, &Series> {
        results[i].iter().map(|s| (s.labels.get("instance").cloned().unwrap_or_default(), s)).collect()
    };
    let maps: Vec<BTreeMap<String, &Series>> = (0..queries.len()).map(by_instance).collect();
    let instances: std::collections::BTreeSet<String> = maps[2].keys().chain(maps[7].keys()).cloned().collect();
    let get = |i: usize, inst: &str| maps[i].get(inst).map(|s| s.value).filter(|v| v.is_finite());
    Ok(instances
        .iter()
        .map(|inst| {
            let wal = get(0, inst).map(enclosing);
            let commit = get(1, inst).map(enclosing);
            let reading = MemberReading {
                name: inst.clone(),
                error: None,
                wal_fsync_p99: wal,
                backend_commit_p99: commit,
                wal_fsync_slow_fraction: get(6, inst).map(|f| (f.clamp(0.0, 1.0), slow_bound)),
                has_leader: get(2, inst).map(|v| v >= 1.0),
                leader_changes: get(3, inst),
                heartbeat_send_failures: get(4, inst),
                db_size_bytes: get(8, inst),
                quota_bytes: get(9, inst),
                open_fds: None,
                max_fds: None,
            };
            let int = |v: Option<f64>| v.map(|v| v.round() as i64);
            let bucket = |p: &P99| format!("{}-{}", format::seconds(p.lower), format::seconds(p.upper));
            let status = MemberStatus {
                name: inst.clone(),
                endpoint: Some(format!("{} instance={inst}", src.url)),
                version: maps[7].get(inst.as_str()).and_then(|s| s.labels.get("server_version").cloned()),
                wal_fsync_p99_seconds: wal.map(|p| p.value),
                wal_fsync_p99_bucket: wal.as_ref().map(bucket),
                backend_commit_p99_seconds: commit.map(|p| p.value),
                backend_commit_p99_bucket: commit.as_ref().map(bucket),
                wal_fsync_slow_fraction: reading.wal_fsync_slow_fraction.map(|f| f.0),
                wal_fsyncs: int(get(5, inst)),
                has_leader: reading.has_leader,
                leader_changes: int(reading.leader_changes),
                heartbeat_send_failures: int(reading.heartbeat_send_failures),
                slow_applies: int(get(10, inst)),
                db_size_bytes: int(get(8, inst)),
                quota_bytes: int(get(9, inst)),
                open_fds: None,
                max_fds: None,
                last_scrape: maps[2].get(inst.as_str()).and_then(|s| {
                    k8s_openapi::jiff::Timestamp::from_millisecond((s.timestamp * 1000.0) as i64)
                        .ok()
                        .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time)
                }),
                error: None,
            };
            (reading, status)
        })
        .collect())
}
