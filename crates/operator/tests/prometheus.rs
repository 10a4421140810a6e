//! Cross-checks against a real Prometheus scraping the same real etcd, and EtcdHealth reading its
//! members through the Prometheus API.

use std::time::{Duration, Instant};

use continuum_telemetry::etcd::{self, EtcdSnapshot};
use continuum_telemetry::fetch::{Fetcher, TlsMaterial};
use continuum_telemetry::promql::PromClient;
use continuum_testenv::{ControlPlane, Etcd, EtcdOptions, Load, Prometheus};

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

async fn wait_for_samples(prom: &Prometheus) {
    let api = PromClient::new(
        Fetcher::new(&TlsMaterial::default(), Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}")),
        &prom.url,
        Vec::new(),
    );
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let n = api
            .query("count_over_time(etcd_server_has_leader[1m])", None)
            .await
            .ok()
            .and_then(|s| s.first().map(|s| s.value));
        if n.is_some_and(|n| n >= 3.0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("Prometheus collected no samples in 30s");
}

fn target(etcd: &Etcd) -> String {
    etcd.metrics_url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_p99_agrees_with_prometheus_histogram_quantile_on_the_same_etcd() {
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
    wait_for_samples(&prom).await;
    wait_for_samples(&prom_healthy).await;
    let (a, b) = tokio::join!(
        compare(&slow, &prom, Duration::from_secs(20)),
        compare(&healthy, &prom_healthy, Duration::from_secs(20))
    );
    eprintln!("slow disk:\n  {}\nhealthy disk:\n  {}", a.join("\n  "), b.join("\n  "));
}

#[test]
fn etcdhealth_reads_its_members_through_the_prometheus_api() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    cp.apply_crds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"))
        .unwrap_or_else(|e| panic!("{e}"));
    let slow = Etcd::start(&EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"));
    let _load = Load::start(&slow.client_url, Duration::from_millis(20));
    let prom = Prometheus::start(&[&target(&slow)], Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
    let op = common::start_operator(&cp, "127.0.0.1:0");
    let yaml = format!(
        "apiVersion: continuum.dev/v1alpha1\nkind: EtcdHealth\nmetadata:\n  name: via-prometheus\n  namespace: default\nspec:\n  prometheus:\n    url: {}\n    selector: job=\"target0\"\n  interval: 2s\n  window: 20s\n  for: 2s\n",
        prom.url
    );
    let path = cp.dir.join("eh.yaml");
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    let out = cp.kubectl_output(&["apply", "-f", &path.to_string_lossy()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let started = Instant::now();
    let get = |p: &str| {
        let out = cp
            .kubectl_output(&["get", "etcdhealth", "via-prometheus", "-o", &format!("jsonpath={p}")])
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    while get("{.status.slowDisk}") != "True" {
        assert!(started.elapsed() < Duration::from_secs(90), "SlowDisk never turned True: {}", get("{.status}"));
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(op);
    assert_eq!(get("{.status.members[0].name}"), target(&slow).trim_end_matches("/metrics"));
    assert_eq!(get("{.status.members[0].walFsyncP99Bucket}"), "128ms-256ms");
    assert_eq!(get("{.status.members[0].version}"), continuum_testenv::versions::etcd().trim_start_matches('v'));
    let msg = get(r#"{.status.conditions[?(@.type=="SlowDisk")].message}"#);
    assert!(msg.contains("p99 WAL fsync latency"), "{msg}");
}
