//! What one window of time cost: the operator's requests (from the API server's audit log), its
//! CPU time and memory (from /proc), and the bytes etcd wrote to its WAL.

use std::path::Path;
use std::time::{Duration, Instant};

use continuum_testenv::audit::{self, Counts};
use k8s_openapi::jiff::Timestamp;

/// User plus system CPU seconds of process `pid`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, r)| r.split(' ').collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/<pid>/status` figure in MiB (`VmRSS`, `VmHWM`).
pub fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok());
    kib.unwrap_or(0.0) / 1024.0
}

/// etcd's `etcd_disk_wal_write_bytes_total`.
pub fn wal_bytes(etcd_metrics_url: &str) -> f64 {
    let port: u16 = etcd_metrics_url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let page = continuum_testenv::kit::operator::http_get(port, "/metrics").unwrap_or_default();
    page.lines()
        .find_map(|l| l.strip_prefix("etcd_disk_wal_write_bytes_total ")?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// One measured window.
#[derive(Debug, Clone)]
pub struct Window {
    pub seconds: f64,
    pub counts: Counts,
    pub cpu: f64,
    pub rss_mib: f64,
    pub wal_bytes: f64,
}

impl Window {
    pub fn per_second(&self, n: u64) -> f64 {
        self.counts.per_second(n, self.seconds)
    }
}

/// A window that has started: its start on both clocks and the counters then.
#[derive(Debug)]
pub struct Started {
    at: Timestamp,
    instant: Instant,
    cpu: f64,
    wal: f64,
    pid: u32,
}

pub fn start(pid: u32, etcd_metrics_url: &str) -> Started {
    Started {
        at: Timestamp::now(),
        instant: Instant::now(),
        cpu: cpu_seconds(pid),
        wal: wal_bytes(etcd_metrics_url),
        pid,
    }
}

impl Started {
    /// Sleeps for `d` (the window's length).
    pub fn wait(self, d: Duration) -> Self {
        std::thread::sleep(d);
        self
    }

    /// Ends the window now and counts what happened in it (after a grace period, so that
    /// requests received before the end have completed and are in the audit log).
    pub fn end(self, audit_log: &Path, etcd_metrics_url: &str) -> Window {
        let (at, seconds) = (Timestamp::now(), self.instant.elapsed().as_secs_f64());
        let (cpu, wal, rss_mib) = (cpu_seconds(self.pid), wal_bytes(etcd_metrics_url), memory_mib(self.pid, "VmRSS"));
        std::thread::sleep(Duration::from_secs(2));
        let counts = audit::count(audit_log, self.at, at).unwrap_or_else(|e| panic!("counting the audit log: {e}"));
        Window { seconds, counts, cpu: cpu - self.cpu, rss_mib, wal_bytes: wal - self.wal }
    }
}
