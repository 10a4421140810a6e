//! Liveness of the offload agents: a TCP connect (vAccel agents have no ping RPC).

use std::time::Duration;

use continuum_api::offload::OffloadBackend;
use continuum_policy::offload::TargetHealth;
use futures::StreamExt;

/// At most this many probes run at the same time.
const CONCURRENCY: usize = 4;

/// The health of every offload backend, in the order of the list; the probes run concurrently,
/// so the whole takes about the slowest timeout, not their sum.
pub async fn probe_all(backends: &[OffloadBackend]) -> Vec<TargetHealth> {
    // Built up front, not as a lazy `map` inside the stream (see `prom::read`).
    let probes: Vec<_> = backends.iter().map(probe).collect();
    futures::stream::iter(probes).buffered(CONCURRENCY).collect().await
}

/// A TCP connect to a `tcp://host:port` offload agent within its health-check timeout; other
/// endpoints, and backends with `healthCheck.tcp: false`, are unchecked.
pub async fn probe(backend: &OffloadBackend) -> TargetHealth {
    let Some(addr) = backend.endpoint.strip_prefix("tcp://") else { return TargetHealth::Unchecked };
    if !backend.health_check.tcp {
        return TargetHealth::Unchecked;
    }
    let timeout = Duration::from(backend.health_check.timeout);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => TargetHealth::Healthy,
        Ok(Err(e)) => TargetHealth::Unhealthy(format!("TCP connect to {addr}: {e}")),
        Err(_) => TargetHealth::Unhealthy(format!(
            "TCP connect to {addr}: no answer within {}",
            continuum_policy::format::seconds(timeout.as_secs_f64())
        )),
    }
}
