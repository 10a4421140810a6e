//! Cross-checks against a real Prometheus scraping the same real etcd, and EtcdHealth reading its
//! members through the Prometheus API.

use std::time::Duration;

use continuum_api::EtcdHealth;
use continuum_telemetry::etcd::{self, EtcdSnapshot};
use continuum_telemetry::fetch::{Fetcher, TlsMaterial};
use continuum_telemetry::promql::PromClient;
use continuum_testenv::kit::{self, wait};
use continuum_testenv::{Etcd, EtcdOptions, Load, Prometheus};

mod common;

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

async fn snapshot(f: &Fetcher, url: &str) -> (EtcdSnapshot, f64) {
    let at = unix_now();
    let page = f.get(url, &[]).await.unwrap_or_else(|e| panic!("{e}"));
    (EtcdSnapshot::parse(&page, (at * 1000.0) as i64).unwrap_or_else(|e| panic!("{e}")), at)
}

async fn compare(etcd: &Etcd, prom: &Prometheus, span: Duration) -> Vec<String> {
    let fetcher = Fetcher::new(&TlsMaterial::default(), Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    let api = PromClient::new(fetcher.clone(), &prom.url, Vec::new());
    let (first, _) = snapshot(&fetcher, &etcd.metrics_url).await;
    tokio::time::sleep(span).await;
    let (second, at) = snapshot(&fetcher, &etcd.metrics_url).await;
    let ours = etcd::window(&[first, second], 0.99, 0.1).unwrap_or_else(|| panic!("no window"));
    let mut report = Vec::new();
    for (name, q) in [(etcd::WAL_FSYNC, ours.wal_fsync_p99), (etcd::BACKEND_COMMIT, ours.backend_commit_p99)] {
        let q = q.unwrap_or_else(|| panic!("no p99 for {name}"));
        let promql = format!("histogram_quantile(0.99, rate({name}_bucket[{}s]))", span.as_secs());
        let theirs = api.query(&promql, Some(at)).await.unwrap_or_else(|e| panic!("{e}"));
        let theirs =
            theirs.first().map(|s| s.value).unwrap_or_else(|| panic!("Prometheus returned nothing for {promql}"));
        let width = q.upper - q.lower;
        report.push(format!("{name}: ours {:.4}s (bucket {}-{}), Prometheus {theirs:.4}s", q.value, q.lower, q.upper));
        assert!(
            (q.value - theirs).abs() <= width,
            "{name}: ours {q:?} vs Prometheus {theirs} differ by more than the bucket width"
        );
    }
    report
}

/// Waits until Prometheus holds a few samples of the member (kit: polling with a deadline).
fn wait_for_samples(prom: &Prometheus) -> kit::Result<()> {
    let fetcher = Fetcher::new(&TlsMaterial::default(), Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    let api = PromClient::new(fetcher, &prom.url, Vec::new());
    let samples = || {
        let found = kit::block_on(api.query("count_over_time(etcd_server_has_leader[1m])", None));
        found.ok().and_then(|s| s.first().map(|s| s.value))
    };
    wait::until("Prometheus to collect samples", Duration::from_secs(30), || samples().is_some_and(|n| n >= 3.0))
        .map(drop)
}

fn target(etcd: &Etcd) -> String {
    etcd.metrics_url.trim_start_matches("http://").to_owned()
}

#[test]
fn operator_p99_agrees_with_prometheus_histogram_quantile_on_the_same_etcd() -> kit::Result<()> {
    let slow = Etcd::start(&EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"));
    let healthy = Etcd::start(&EtcdOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let (_l1, _l2) = (
        Load::start(&slow.client_url, Duration::from_millis(20)),
        Load::start(&healthy.client_url, Duration::from_millis(20)),
    );
    let prom = Prometheus::start(&[&target(&slow)], Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
    let prom_healthy =
        Prometheus::start(&[&target(&healthy)], Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
    wait_for_samples(&prom)?;
    wait_for_samples(&prom_healthy)?;
    let (a, b) = kit::block_on(async {
        tokio::join!(
            compare(&slow, &prom, Duration::from_secs(20)),
            compare(&healthy, &prom_healthy, Duration::from_secs(20))
        )
    });
    eprintln!("slow disk:\n  {}\nhealthy disk:\n  {}", a.join("\n  "), b.join("\n  "));
    Ok(())
}

#[test]
fn etcdhealth_reads_its_members_through_the_prometheus_api() -> kit::Result<()> {
    let (cp, cluster) = common::control_plane(false)?;
    let slow = Etcd::start(&EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() })?;
    let _load = Load::start(&slow.client_url, Duration::from_millis(20));
    let prom = Prometheus::start(&[&target(&slow)], Duration::from_secs(1))?;
    let op = common::operator(&cp).start(&cp.dir, "test-operator")?;
    let mut health: EtcdHealth = common::fixtures().load("etcdhealth-prometheus.yaml")?;
    if let Some(source) = health.spec.prometheus.as_mut() {
        source.url = prom.url.clone();
    }
    let healths = cluster.namespaced::<EtcdHealth>("default");
    healths.apply(&health, "user")?;
    let verdict = healths.wait_for("via-prometheus", "SlowDisk True", Duration::from_secs(90), |h| {
        h.status.as_ref().and_then(|s| s.slow_disk.as_deref()) == Some("True")
    })?;
    drop(op);
    let status = verdict.status.unwrap_or_default();
    let member = status.members.first().cloned().unwrap_or_default();
    assert_eq!(member.name, target(&slow).trim_end_matches("/metrics"));
    assert_eq!(member.wal_fsync_p99_bucket.as_deref(), Some("128ms-256ms"));
    assert_eq!(member.version.as_deref(), Some(continuum_testenv::versions::etcd().trim_start_matches('v')));
    let msg = common::condition(&status.conditions, "SlowDisk").map(|c| c.message.clone()).unwrap_or_default();
    assert!(msg.contains("p99 WAL fsync latency"), "{msg}");
    Ok(())
}
