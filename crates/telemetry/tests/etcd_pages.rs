//! etcd's real metrics pages, as served by 3.4, 3.5 and 3.6.

use continuum_telemetry::etcd::{self, EtcdSnapshot};
use continuum_telemetry::exposition;

const PAGES: [(&str, &str); 3] = [
    ("3.4.23", include_str!("fixtures/etcd-3.4.23.prom")),
    ("3.5.35", include_str!("fixtures/etcd-3.5.35.prom")),
    ("3.6.16", include_str!("fixtures/etcd-3.6.16.prom")),
];

#[test]
fn every_line_of_every_captured_page_parses() {
    for (version, page) in PAGES {
        let samples = exposition::parse(page).unwrap_or_else(|e| panic!("etcd {version}: {e}"));
        let lines = page.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).count();
        assert_eq!(samples.len(), lines, "etcd {version}");
    }
}

#[test]
fn the_snapshot_reads_version_disk_histograms_and_health_gauges() {
    let expected_bounds: Vec<f64> = (0..14).map(|n| 0.001 * f64::from(1u32 << n)).chain([f64::INFINITY]).collect();
    for (version, page) in PAGES {
        let snap = EtcdSnapshot::parse(page, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(snap.version.as_deref(), Some(version));
        for (name, h) in [(etcd::WAL_FSYNC, &snap.wal_fsync), (etcd::BACKEND_COMMIT, &snap.backend_commit)] {
            let h = h.as_ref().unwrap_or_else(|| panic!("etcd {version}: no {name}"));
            let bounds: Vec<f64> = h.buckets.iter().map(|b| b.0).collect();
            assert_eq!(bounds.len(), expected_bounds.len(), "etcd {version} {name}");
            for (got, want) in bounds.iter().zip(&expected_bounds) {
                assert!((got - want).abs() < 1e-12 || got == want, "etcd {version} {name}: {bounds:?}");
            }
            assert!(h.count > 0.0 && h.count == h.observations(), "etcd {version} {name}: {h:?}");
        }
        assert_eq!(snap.has_leader, Some(true), "etcd {version}");
        assert_eq!(snap.quota_bytes, Some(2_147_483_648.0), "etcd {version}");
        assert!(snap.db_size_bytes.is_some_and(|b| b > 0.0), "etcd {version}");
        assert!(snap.leader_changes.is_some_and(|c| c >= 1.0), "etcd {version}");
        assert!(snap.heartbeat_send_failures.is_some() && snap.slow_applies.is_some(), "etcd {version}");
        assert!(snap.open_fds.is_some() && snap.max_fds.is_some(), "etcd {version}");
        assert!(snap.process_start_seconds.is_some_and(|s| s > 1.6e9), "etcd {version}");
    }
}

#[test]
fn a_window_over_one_process_reports_p99_bounds_and_increases() {
    let page = PAGES[2].1;
    let first = EtcdSnapshot::parse(page, 0).unwrap_or_else(|e| panic!("{e}"));
    let mut second = first.clone();
    second.at_ms = 60_000;
    // 100 more fsyncs: 90 fast, 10 between 128 and 256 ms.
    if let Some(h) = second.wal_fsync.as_mut() {
        for (bound, count) in h.buckets.iter_mut() {
            *count += if *bound < 0.256 { 90.0 } else { 100.0 };
        }
        h.count += 100.0;
    }
    let w = etcd::window(&[first.clone(), second.clone()], 0.99, 0.1).unwrap_or_default();
    assert_eq!(w.span_seconds, 60.0);
    assert_eq!(w.wal_fsyncs, 100.0);
    let p99 = w.wal_fsync_p99.unwrap_or_else(|| panic!("no p99"));
    assert_eq!((p99.lower, p99.upper), (0.128, 0.256));
    assert!((p99.value - (0.128 + 0.128 * 9.0 / 10.0)).abs() < 1e-9, "{p99:?}");
    assert_eq!(w.wal_fsync_slow_fraction, Some((0.1, 0.128)));
    assert_eq!(w.leader_changes, Some(0.0));

    // A restart in between: only the snapshots after it count.
    let mut restarted = first.clone();
    restarted.at_ms = 120_000;
    restarted.process_start_seconds = first.process_start_seconds.map(|s| s + 100.0);
    assert_eq!(etcd::window(&[first.clone(), second, restarted.clone()], 0.99, 0.1), None);
    let mut later = restarted.clone();
    later.at_ms = 150_000;
    let w = etcd::window(&[first, restarted, later], 0.99, 0.1).unwrap_or_default();
    assert_eq!((w.span_seconds, w.wal_fsyncs, w.wal_fsync_p99), (30.0, 0.0, None));
}
