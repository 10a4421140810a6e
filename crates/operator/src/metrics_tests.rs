//! Tests of the metrics registry and readiness.

use super::*;

/// Every sample name the registry can produce: gauges as is, counters with `_total`,
/// histograms with `_bucket`, `_sum` and `_count`.
fn exported_names(page: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
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

fn referenced(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
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
    // Families print nothing until they have a child: give every one a sample.
    let m = Metrics::default();
    let member = MemberStatus {
        name: "etcd-0".into(),
        wal_fsync_p99_seconds: Some(0.1),
        backend_commit_p99_seconds: Some(0.1),
        leader_changes: Some(1),
        has_leader: Some(true),
        db_size_bytes: Some(1),
        ..Default::default()
    };
    m.etcd_observe("ns", "eh", &[member], true);
    m.etcd_scrape_errors("ns", "eh", "etcd-0", "timeout");
    let p = PolicyLabels { namespace: "ns".into(), policy: "p".into() };
    for f in [&m.offload_fps, &m.offload_latency, &m.offload_offloaded] {
        f.get_or_create(&p).set(1.0);
    }
    let s = SwitchLabels { namespace: "ns".into(), policy: "p".into(), to: "offload".into() };
    m.offload_switches.get_or_create(&s).inc();
    let c = CategoryLabels { namespace: "ns".into(), policy: "p".into(), category: "timeout".into() };
    m.offload_telemetry_errors.get_or_create(&c).inc();
    m.wrote("deployments");
    let page = m.encode();
    let exported = exported_names(&page);
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

#[test]
fn readiness_needs_crds_then_synced_caches_while_leading() {
    let r = Readiness::default();
    assert_eq!(r.problem(), Some("CRDs not established yet"));
    r.crds_established();
    assert_eq!(r.problem(), None, "a standby is ready once the CRDs are established");
    r.leading(2);
    assert_eq!(r.problem(), Some("controller caches not synced yet"));
    r.synced();
    assert!(r.problem().is_some());
    r.synced();
    assert_eq!(r.problem(), None);
}
