use continuum_api::etcd::MemberStatus;
use prometheus_client::registry::Registry;

use super::EtcdMetrics;

fn member(name: &str, error: Option<&str>, scraped_ms_ago: i64) -> MemberStatus {
    MemberStatus {
        name: name.into(),
        wal_fsync_p99_seconds: Some(0.128),
        leader_changes: Some(1),
        has_leader: Some(true),
        db_size_bytes: Some(2048),
        error: error.map(str::to_owned),
        last_scrape: Some(crate::clock::time(crate::clock::now_ms() - scraped_ms_ago)),
        ..Default::default()
    }
}

fn metrics() -> (Registry, EtcdMetrics) {
    let mut r = Registry::with_prefix("continuum");
    let e = EtcdMetrics::register(&mut r);
    (r, e)
}

/// The sample lines of `name` on the page.
fn lines<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    page.lines().filter(|l| l.starts_with(&format!("{name}{{"))).collect()
}

#[test]
fn a_deleted_etcdhealth_loses_every_series_and_another_keeps_its_own() {
    let (r, e) = metrics();
    e.observe("ns", "gone", &[member("etcd-0", None, 0)], true);
    e.scrape_error("ns", "gone", "etcd-1", "timeout");
    e.observe("ns", "kept", &[member("etcd-0", None, 0)], true);
    assert_eq!(lines(&crate::metrics::encode(&r), "continuum_etcd_slow_disk").len(), 2);
    e.forget("ns", "gone");
    let page = crate::metrics::encode(&r);
    assert!(!page.contains(r#"etcdhealth="gone""#), "{page}");
    assert_eq!(
        lines(&page, "continuum_etcd_slow_disk"),
        [r#"continuum_etcd_slow_disk{namespace="ns",etcdhealth="kept"} 1.0"#]
    );
    assert_eq!(lines(&page, "continuum_etcd_wal_fsync_p99_seconds").len(), 1, "{page}");
    assert_eq!(e.known(), [("ns".to_owned(), "kept".to_owned())]);
}

#[test]
fn an_unreachable_member_shows_no_frozen_figures_but_a_growing_sample_age() {
    let (r, e) = metrics();
    e.observe("ns", "eh", &[member("etcd-0", None, 0)], false);
    assert_eq!(lines(&crate::metrics::encode(&r), "continuum_etcd_wal_fsync_p99_seconds").len(), 1);
    e.observe("ns", "eh", &[member("etcd-0", Some("connection refused"), 90_000)], false);
    let page = crate::metrics::encode(&r);
    for name in ["wal_fsync_p99_seconds", "leader_changes", "has_leader", "db_size_bytes"] {
        assert!(lines(&page, &format!("continuum_etcd_{name}")).is_empty(), "{name} frozen:\n{page}");
    }
    let age = lines(&page, "continuum_etcd_sample_age_seconds");
    let value: f64 = age.first().and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or_default();
    assert!((90.0..100.0).contains(&value), "{page}");
}

#[test]
fn a_member_no_longer_read_loses_its_series() {
    let (r, e) = metrics();
    e.observe("ns", "eh", &[member("a", None, 0), member("b", None, 0)], false);
    e.observe("ns", "eh", &[member("a", None, 0)], false);
    let page = crate::metrics::encode(&r);
    assert!(!page.contains(r#"member="b""#), "{page}");
    assert!(page.contains(r#"member="a""#), "{page}");
}
