//! Each component's registration and encoding, the page as a whole, and the chart's contract.

use std::collections::BTreeSet;
use std::time::Duration;

use continuum_api::etcd::MemberStatus;
use continuum_policy::offload::Backend;
use prometheus_client::registry::Registry;

use super::*;

fn registry() -> Registry {
    Registry::with_prefix(PREFIX)
}

fn policy() -> PolicyLabels {
    PolicyLabels { namespace: "edge".into(), policy: "detector".into() }
}

fn member(name: &str) -> MemberStatus {
    MemberStatus {
        name: name.into(),
        wal_fsync_p99_seconds: Some(0.128),
        backend_commit_p99_seconds: Some(0.25),
        leader_changes: Some(3),
        has_leader: Some(true),
        db_size_bytes: Some(2048),
        last_scrape: Some(crate::clock::time(crate::clock::now_ms())),
        ..Default::default()
    }
}

/// The sample lines of a page (no `#` lines).
fn samples(page: &str) -> BTreeSet<&str> {
    page.lines().filter(|l| !l.starts_with('#')).collect()
}

/// The `# HELP`, `# TYPE` and `# UNIT` lines: what a metric is, without its values.
fn metadata(page: &str) -> Vec<&str> {
    page.lines().filter(|l| l.starts_with("# HELP ") || l.starts_with("# TYPE ") || l.starts_with("# UNIT ")).collect()
}

/// A registry with a sample in every family (families print nothing until they have one).
fn populated() -> Metrics {
    let m = Metrics::new();
    m.etcd.observe("ns", "eh", &[member("etcd-0")], true);
    m.etcd.scrape_error("ns", "eh", "etcd-0", "timeout");
    let p = policy();
    m.offload.observed(&p, &[("fps", Some(1.0)), ("latency", Some(1.0))], Backend::Offload(0), true);
    m.offload.switched(&p, Backend::Offload(0));
    m.offload.trial_failed(&p);
    m.offload.telemetry_error(&p, "timeout");
    m.offload.queries.inc();
    m.offload.evaluated(Duration::from_millis(30));
    m.leader.acquired();
    m.wrote("deployments");
    m
}

#[test]
fn every_metric_keeps_its_name_type_unit_and_help() {
    let page = populated().encode();
    let expected = include_str!("exposed.txt");
    assert_eq!(metadata(&page), expected.lines().collect::<Vec<_>>(), "{page}");
    assert!(page.ends_with("# EOF\n"), "{page}");
}

#[test]
fn build_info_carries_the_crate_version() {
    let page = Metrics::new().encode();
    let line = format!("continuum_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(samples(&page).contains(line.as_str()), "{page}");
}

#[test]
fn api_writes_count_by_resource_and_in_total() {
    let mut r = registry();
    let api = ApiWrites::register(&mut r);
    api.wrote("offloadpolicies/status");
    api.wrote("offloadpolicies/status");
    api.wrote("events");
    assert_eq!(api.total(), 3);
    let page = encode(&r);
    let s = samples(&page);
    assert!(s.contains(r#"continuum_api_writes_total{resource="offloadpolicies/status"} 2"#), "{page}");
    assert!(s.contains(r#"continuum_api_writes_total{resource="events"} 1"#), "{page}");
}

#[test]
fn the_top_level_write_count_is_the_api_components() {
    let m = Metrics::new();
    assert_eq!(m.writes(), 0);
    m.wrote("deployments");
    assert_eq!((m.writes(), m.api.total()), (1, 1));
}

#[test]
fn leader_metrics_count_elections_but_not_unelected_leading() {
    let mut r = registry();
    let l = LeaderMetrics::register(&mut r);
    l.acquired();
    l.not_leading();
    l.acquired();
    let page = encode(&r);
    assert!(
        samples(&page)
            .is_superset(&BTreeSet::from(["continuum_leader_is_leader 1", "continuum_leader_transitions_total 2"])),
        "{page}"
    );
    l.not_leading();
    l.leading_unelected();
    let page = encode(&r);
    assert!(samples(&page).contains("continuum_leader_transitions_total 2"), "{page}");
    assert!(samples(&page).contains("continuum_leader_is_leader 1"), "{page}");
}

#[test]
fn offload_metrics_show_only_live_readings_and_count_switches_by_direction() {
    let mut r = registry();
    let o = OffloadMetrics::register(&mut r);
    let p = policy();
    o.observed(&p, &[("fps", Some(24.0)), ("latency", Some(0.04))], Backend::Local, false);
    assert!(
        samples(&encode(&r))
            .contains(r#"continuum_offload_signal{namespace="edge",policy="detector",signal="fps"} 24.0"#)
    );
    // An outage (no value, NaN, or a stale sample the caller drops) removes the reading.
    o.observed(&p, &[("fps", Some(f64::NAN)), ("latency", Some(0.04))], Backend::Offload(1), true);
    o.switched(&p, Backend::Offload(0));
    o.switched(&p, Backend::Local);
    o.switched(&p, Backend::Offload(1));
    o.trial_failed(&p);
    o.telemetry_error(&p, "timeout");
    o.evaluated(Duration::from_millis(70));
    let page = encode(&r);
    let s = samples(&page);
    for line in [
        r#"continuum_offload_signal{namespace="edge",policy="detector",signal="latency"} 0.04"#,
        r#"continuum_offload_offloaded{namespace="edge",policy="detector"} 1.0"#,
        r#"continuum_offload_degraded{namespace="edge",policy="detector"} 1.0"#,
        r#"continuum_offload_failed_trials_total{namespace="edge",policy="detector"} 1"#,
        r#"continuum_offload_switches_total{namespace="edge",policy="detector",to="offload"} 2"#,
        r#"continuum_offload_switches_total{namespace="edge",policy="detector",to="local"} 1"#,
        r#"continuum_offload_telemetry_errors_total{namespace="edge",policy="detector",category="timeout"} 1"#,
        r#"continuum_offload_evaluation_duration_seconds_count 1"#,
        r#"continuum_offload_evaluation_duration_seconds_bucket{le="0.05"} 0"#,
        r#"continuum_offload_evaluation_duration_seconds_bucket{le="0.1"} 1"#,
        "continuum_offload_telemetry_queries_total 0",
    ] {
        assert!(s.contains(line), "missing {line}:\n{page}");
    }
    assert!(!page.contains(r#"signal="fps""#), "a reading lost in an outage stays shown:\n{page}");
    // A deleted policy leaves no series behind.
    o.forget(&p);
    let page = encode(&r);
    assert!(!page.contains(r#"policy="detector""#), "{page}");
    assert!(o.known().is_empty());
}

#[test]
fn etcd_metrics_drop_a_figure_the_member_no_longer_has() {
    let mut r = registry();
    let e = EtcdMetrics::register(&mut r);
    e.observe("karmada-system", "etcd", &[member("etcd-0")], true);
    e.scrape_error("karmada-system", "etcd", "etcd-1", "timeout");
    let page = encode(&r);
    let s = samples(&page);
    let l = r#"{namespace="karmada-system",etcdhealth="etcd",member="etcd-0"}"#;
    for line in [
        format!("continuum_etcd_wal_fsync_p99_seconds{l} 0.128"),
        format!("continuum_etcd_backend_commit_p99_seconds{l} 0.25"),
        format!("continuum_etcd_leader_changes{l} 3.0"),
        format!("continuum_etcd_has_leader{l} 1.0"),
        format!("continuum_etcd_db_size_bytes{l} 2048.0"),
        r#"continuum_etcd_slow_disk{namespace="karmada-system",etcdhealth="etcd"} 1.0"#.to_owned(),
        r#"continuum_etcd_scrape_errors_total{namespace="karmada-system",etcdhealth="etcd",member="etcd-1",category="timeout"} 1"#.to_owned(),
    ] {
        assert!(s.contains(line.as_str()), "missing {line}:\n{page}");
    }
    let gone = MemberStatus { wal_fsync_p99_seconds: None, ..member("etcd-0") };
    e.observe("karmada-system", "etcd", &[gone], false);
    let page = encode(&r);
    assert!(!page.contains("continuum_etcd_wal_fsync_p99_seconds{"), "{page}");
    assert!(page.contains(r#"continuum_etcd_slow_disk{namespace="karmada-system",etcdhealth="etcd"} 0.0"#), "{page}");
}

/// Every sample name the registry can produce: gauges as is, counters with `_total`,
/// histograms with `_bucket`, `_sum` and `_count`.
fn exported_names(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in page.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

fn referenced(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("continuum_") {
        let tail = &rest[i..];
        let end =
            tail.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(tail.len());
        let before = rest[..i].chars().last();
        if end > "continuum_".len() && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            found.insert(tail[..end].to_owned());
        }
        rest = &tail[end.max(1)..];
    }
    found
}

#[test]
fn every_metric_the_chart_names_is_exported() {
    let exported = exported_names(&populated().encode());
    assert!(exported.contains("continuum_offload_switches_total"), "{exported:?}");
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/../../charts/continuum-operator");
    let mut missing = Vec::new();
    for file in ["README.md", "dashboards/continuum-operator.json", "templates/prometheusrule.yaml"] {
        let text = std::fs::read_to_string(format!("{chart}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
        for name in referenced(&text) {
            if !exported.contains(&name) {
                missing.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(missing.is_empty(), "the chart names metrics the operator does not export: {missing:?}");
}
