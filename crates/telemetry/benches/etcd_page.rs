//! Parse + p99 of one real etcd 3.6 metrics page (170 KiB, captured from the test environment's
//! etcd behind a running kube-apiserver): median wall time and heap allocations per run.
//! Goal: under 1 ms. Run with `cargo bench -p continuum-telemetry`.

use std::alloc::System;
use std::time::Instant;

use continuum_telemetry::etcd::{self, EtcdSnapshot};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const PAGE: &str = include_str!("../tests/fixtures/etcd-3.6.16.prom");

fn one_run(earlier: &EtcdSnapshot) -> f64 {
    let snap = EtcdSnapshot::parse(PAGE, 60_000).unwrap_or_else(|e| panic!("{e}"));
    let w = etcd::window(&[earlier.clone(), snap], 0.99, 0.1).unwrap_or_default();
    w.wal_fsync_p99.map_or(0.0, |q| q.value) + w.backend_commit_p99.map_or(0.0, |q| q.value)
}

fn main() {
    let earlier = EtcdSnapshot::parse(PAGE, 0).unwrap_or_else(|e| panic!("{e}"));
    let runs = 2000;
    let mut times = Vec::with_capacity(runs);
    let mut sink = 0.0;
    for _ in 0..200 {
        sink += one_run(&earlier);
    }
    for _ in 0..runs {
        let t = Instant::now();
        sink += one_run(&earlier);
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let region = Region::new(GLOBAL);
    sink += one_run(&earlier);
    let stats = region.change();
    times.sort_by(f64::total_cmp);
    let full = continuum_telemetry::exposition::parse(PAGE).map(|s| s.len()).unwrap_or(0);
    let t = Instant::now();
    for _ in 0..200 {
        sink += continuum_telemetry::exposition::parse(PAGE).map(|s| s.len() as f64).unwrap_or(0.0);
    }
    let full_us = t.elapsed().as_secs_f64() * 1e6 / 200.0;
    println!("etcd 3.6 page: {} bytes, {} lines, {full} samples", PAGE.len(), PAGE.lines().count());
    println!(
        "parse (etcd series only) + window p99 x2: median {:.1} µs, p90 {:.1} µs, p99 {:.1} µs over {runs} runs; {} allocations, {} bytes allocated per run",
        times[runs / 2],
        times[runs * 9 / 10],
        times[runs * 99 / 100],
        stats.allocations + stats.reallocations,
        stats.bytes_allocated
    );
    println!(
        "parse of every sample on the page: mean {full_us:.1} µs ({} CPUs; sink {sink:.3})",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
}
