//! `continuum-operator check-etcd` against real etcd servers: a healthy one, one on a real slow
//! disk (150 ms injected into every fsync), one serving metrics over mutual TLS, and a dead one.

use std::time::Duration;

use continuum_testenv::kit::{self, Launch, Ran};
use continuum_testenv::{Etcd, EtcdOptions, Load};

mod common;

fn check(etcd_metrics: &str, extra: &[&str]) -> kit::Result<Ran> {
    let args = ["check-etcd", "--url", etcd_metrics, "--duration", "6s"];
    Launch::new(common::OPERATOR, args).args(extra.iter().copied()).output()
}

#[test]
fn a_healthy_etcd_under_write_load_is_not_a_slow_disk() -> kit::Result<()> {
    let etcd = Etcd::start(&EtcdOptions::default())?;
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    let out = check(&etcd.metrics_url, &[])?;
    let writes = load.finish();
    let t = out.text();
    assert!(writes > 50, "load generator wrote only {writes} keys");
    assert_eq!(out.code, Some(0), "{t}");
    assert!(t.contains("SlowDisk=False"), "{t}");
    Ok(())
}

#[test]
fn a_real_slow_disk_is_flagged_with_the_p99_in_the_right_bucket_and_clears_after_restart() -> kit::Result<()> {
    let slow = EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() };
    let mut etcd = Etcd::start(&slow)?;
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    let out = check(&etcd.metrics_url, &[])?;
    drop(load);
    let t = out.text();
    assert_eq!(out.code, Some(2), "{t}");
    assert!(t.contains("SlowDisk=True"), "{t}");
    // 150 ms per fsync lies in etcd's 128-256 ms bucket.
    assert!(t.contains("128ms-256ms"), "{t}");
    assert!(t.contains("fio --rw=write --ioengine=sync --fdatasync=1"), "{t}");

    etcd.restart(&EtcdOptions::default())?;
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    let out = check(&etcd.metrics_url, &[])?;
    drop(load);
    assert_eq!(out.code, Some(0), "after removing the delay: {}", out.text());
    Ok(())
}

#[test]
fn metrics_over_mutual_tls_need_the_client_certificate() -> kit::Result<()> {
    let etcd = Etcd::start(&EtcdOptions { tls_metrics: true, ..Default::default() })?;
    assert!(etcd.metrics_url.starts_with("https://"));
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    let ca = etcd.certs.ca_cert.to_string_lossy().into_owned();
    let (cert, key) = (etcd.client_cert.to_string_lossy().into_owned(), etcd.client_key.to_string_lossy().into_owned());
    let out = check(&etcd.metrics_url, &["--cacert", &ca, "--cert", &cert, "--key", &key])?;
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(out.text().contains("3.6."), "version column: {}", out.text());
    let out = check(&etcd.metrics_url, &["--cacert", &ca])?;
    drop(load);
    assert_eq!(out.code, Some(1), "without a client certificate: {}", out.text());
    assert!(out.text().contains("error:"), "{}", out.text());
    Ok(())
}

#[test]
fn a_dead_member_is_reported_unreachable_without_a_crash() -> kit::Result<()> {
    let mut etcd = Etcd::start(&EtcdOptions::default())?;
    etcd.stop();
    let out = check(&etcd.metrics_url, &[])?;
    let t = out.text();
    assert_eq!(out.code, Some(1), "{t}");
    assert!(t.contains("Connection refused") || t.contains("connection refused"), "{t}");
    assert!(t.contains("SlowDisk=Unknown (MembersUnreachable)"), "{t}");
    Ok(())
}
