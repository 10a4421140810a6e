//! Prometheus metrics (`continuum_*`) and the small HTTP server that exposes them.
//!
//! Label values are bounded: namespaces, resource and member names the user created, and fixed
//! error categories — never error text.

use std::sync::Arc;

use continuum_api::etcd::MemberStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MemberLabels {
    pub namespace: String,
    pub etcdhealth: String,
    pub member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HealthLabels {
    pub namespace: String,
    pub etcdhealth: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub namespace: String,
    pub etcdhealth: String,
    pub member: String,
    pub category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub namespace: String,
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SwitchLabels {
    pub namespace: String,
    pub policy: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    pub namespace: String,
    pub policy: String,
    pub category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

type FGauge = Gauge<f64, AtomicU64>;

/// What `/readyz` reports: CRDs established, and, while leading, the controllers' caches synced.
#[derive(Debug, Default)]
pub struct Readiness {
    crds_established: AtomicBool,
    leading: AtomicBool,
    synced: AtomicUsize,
    controllers: AtomicUsize,
}

impl Readiness {
    pub fn crds_established(&self) {
        self.crds_established.store(true, Ordering::SeqCst);
    }

    /// Leading with `controllers` controllers whose caches are not synced yet.
    pub fn leading(&self, controllers: usize) {
        self.synced.store(0, Ordering::SeqCst);
        self.controllers.store(controllers, Ordering::SeqCst);
        self.leading.store(true, Ordering::SeqCst);
    }

    pub fn synced(&self) {
        self.synced.fetch_add(1, Ordering::SeqCst);
    }

    pub fn standing_by(&self) {
        self.leading.store(false, Ordering::SeqCst);
    }

    /// None when ready, else the reason.
    pub fn problem(&self) -> Option<&'static str> {
        if !self.crds_established.load(Ordering::SeqCst) {
            return Some("CRDs not established yet");
        }
        let leading = self.leading.load(Ordering::SeqCst);
        if leading && self.synced.load(Ordering::SeqCst) < self.controllers.load(Ordering::SeqCst) {
            return Some("controller caches not synced yet");
        }
        None
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    wal_fsync_p99: Family<MemberLabels, FGauge>,
    backend_commit_p99: Family<MemberLabels, FGauge>,
    leader_changes: Family<MemberLabels, FGauge>,
    has_leader: Family<MemberLabels, FGauge>,
    db_size: Family<MemberLabels, FGauge>,
    slow_disk: Family<HealthLabels, FGauge>,
    scrape_errors: Family<ErrorLabels, Counter>,
    pub offload_switches: Family<SwitchLabels, Counter>,
    pub offload_fps: Family<PolicyLabels, FGauge>,
    pub offload_latency: Family<PolicyLabels, FGauge>,
    pub offload_offloaded: Family<PolicyLabels, FGauge>,
    pub offload_telemetry_errors: Family<CategoryLabels, Counter>,
    pub offload_evaluation: Histogram,
    pub offload_queries: Counter,
    pub leader_is_leader: Gauge,
    pub leader_transitions: Counter,
    pub api_writes: Family<ResourceLabels, Counter>,
    pub readiness: Readiness,
    writes: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("continuum");
        let m = Self {
            wal_fsync_p99: Family::default(),
            backend_commit_p99: Family::default(),
            leader_changes: Family::default(),
            has_leader: Family::default(),
            db_size: Family::default(),
            slow_disk: Family::default(),
            scrape_errors: Family::default(),
            offload_switches: Family::default(),
            offload_fps: Family::default(),
            offload_latency: Family::default(),
            offload_offloaded: Family::default(),
            offload_telemetry_errors: Family::default(),
            offload_evaluation: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            offload_queries: Counter::default(),
            leader_is_leader: Gauge::default(),
            leader_transitions: Counter::default(),
            api_writes: Family::default(),
            readiness: Readiness::default(),
            writes: AtomicU64::new(0),
            registry: Registry::default(),
        };
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").into() }).set(1);
        registry.register("build_info", "Version of the running operator (always 1)", build);
        registry.register(
            "api_writes",
            "Writes sent to the Kubernetes API (status, actuation, Events), by resource",
            m.api_writes.clone(),
        );
        let leader = registry.sub_registry_with_prefix("leader");
        leader.register(
            "is_leader",
            "1 while this replica holds the Lease and runs the controllers",
            m.leader_is_leader.clone(),
        );
        leader.register("transitions", "Times this replica became the leader", m.leader_transitions.clone());
        let offload = registry.sub_registry_with_prefix("offload");
        offload.register("switches", "Backend switches carried out, by direction", m.offload_switches.clone());
        offload.register("fps", "Observed frame rate", m.offload_fps.clone());
        offload.register("latency_seconds", "Observed inference latency", m.offload_latency.clone());
        offload.register("offloaded", "1 while the workload runs on the offload backend", m.offload_offloaded.clone());
        offload.register("telemetry_errors", "Failed telemetry reads, by category", m.offload_telemetry_errors.clone());
        offload.register(
            "telemetry_queries",
            "PromQL queries sent (identical queries are shared)",
            m.offload_queries.clone(),
        );
        offload.register_with_unit(
            "evaluation_duration",
            "Time to read telemetry, decide and actuate one policy",
            prometheus_client::registry::Unit::Seconds,
            m.offload_evaluation.clone(),
        );
        let etcd = registry.sub_registry_with_prefix("etcd");
        etcd.register("wal_fsync_p99_seconds", "p99 WAL fsync latency over the window", m.wal_fsync_p99.clone());
        etcd.register(
            "backend_commit_p99_seconds",
            "p99 backend commit latency over the window",
            m.backend_commit_p99.clone(),
        );
        etcd.register("leader_changes", "Leader changes seen in the window", m.leader_changes.clone());
        etcd.register("has_leader", "1 when the member has a leader", m.has_leader.clone());
        etcd.register("db_size_bytes", "Size of the member's backend database", m.db_size.clone());
        etcd.register("slow_disk", "1 while the SlowDisk condition is True", m.slow_disk.clone());
        etcd.register("scrape_errors", "Failed scrapes of etcd members, by category", m.scrape_errors.clone());
        Self { registry, ..m }
    }
}

impl Metrics {
    /// Counts one write sent to the API.
    pub fn wrote(&self, resource: &str) {
        self.api_writes.get_or_create(&ResourceLabels { resource: resource.to_owned() }).inc();
        self.writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Writes sent since the process started.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    pub fn etcd_observe(&self, namespace: &str, etcdhealth: &str, members: &[MemberStatus], slow: bool) {
        for m in members {
            let l = MemberLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into(), member: m.name.clone() };
            let set = |f: &Family<MemberLabels, FGauge>, v: Option<f64>| match v {
                Some(v) => {
                    f.get_or_create(&l).set(v);
                }
                None => {
                    f.remove(&l);
                }
            };
            set(&self.wal_fsync_p99, m.wal_fsync_p99_seconds);
            set(&self.backend_commit_p99, m.backend_commit_p99_seconds);
            set(&self.leader_changes, m.leader_changes.map(|v| v as f64));
            set(&self.has_leader, m.has_leader.map(|b| if b { 1.0 } else { 0.0 }));
            set(&self.db_size, m.db_size_bytes.map(|v| v as f64));
        }
        let l = HealthLabels { namespace: namespace.into(), etcdhealth: etcdhealth.into() };
        self.slow_disk.get_or_create(&l).set(if slow { 1.0 } else { 0.0 });
    }

    pub fn etcd_scrape_errors(&self, namespace: &str, etcdhealth: &str, member: &str, category: &'static str) {
        let l = ErrorLabels {
            namespace: namespace.into(),
            etcdhealth: etcdhealth.into(),
            member: member.into(),
            category: category.into(),
        };
        self.scrape_errors.get_or_create(&l).inc();
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Serves `/metrics`, `/healthz` (the process answers) and `/readyz` (see [`Readiness`]) until
/// the process ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            // Read the request head (clients may send it in pieces), bounded in size and time.
            let read_head = async {
                while buf.len() < 8192 && !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), read_head).await;
            let request = String::from_utf8_lossy(&buf);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (status, ctype, body) = match path {
                "/metrics" => {
                    ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.encode())
                }
                "/healthz" => ("200 OK", "text/plain", "ok\n".to_owned()),
                "/readyz" => match metrics.readiness.problem() {
                    None => ("200 OK", "text/plain", "ok\n".to_owned()),
                    Some(problem) => ("503 Service Unavailable", "text/plain", format!("{problem}\n")),
                },
                _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
