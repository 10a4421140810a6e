//! Liveness of the offload agents: a TCP connect (vAccel agents have no ping RPC). Policies that
//! name the same agent share one probe per interval: 10,000 policies offloading to one Jetson
//! cost one connect, not 10,000.

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::offload::OffloadBackend;
use continuum_policy::offload::TargetHealth;
use futures::StreamExt;
use tokio::sync::Mutex;

use super::cache::Aging;

/// At most this many probes of one policy run at the same time.
const CONCURRENCY: usize = 4;

/// The last probe of one (address, timeout), shared by the policies that name it; its own lock
/// makes concurrent askers wait for one connect instead of each sending theirs.
type Slot = Arc<Mutex<Option<(Instant, TargetHealth)>>>;

/// Probe results shared between policies.
#[derive(Debug, Default)]
pub struct Probes(Mutex<Aging<(String, Duration), Slot>>);

/// The health of every offload backend, in the order of the list; the probes run concurrently,
/// so the whole takes about the slowest timeout, not their sum. A result younger than
/// `fresh_for` is reused.
pub async fn probe_all(probes: &Probes, backends: &[OffloadBackend], fresh_for: Duration) -> Vec<TargetHealth> {
    // Built up front, not as a lazy `map` inside the stream (see `prom::read`).
    let each: Vec<_> = backends.iter().map(|b| shared(probes, b, fresh_for)).collect();
    futures::stream::iter(each).buffered(CONCURRENCY).collect().await
}

async fn shared(probes: &Probes, backend: &OffloadBackend, fresh_for: Duration) -> TargetHealth {
    let Some(addr) = backend.endpoint.strip_prefix("tcp://") else { return TargetHealth::Unchecked };
    if !backend.health_check.tcp {
        return TargetHealth::Unchecked;
    }
    let timeout = Duration::from(backend.health_check.timeout);
    let slot = probes.0.lock().await.entry((addr.to_owned(), timeout), Instant::now(), Slot::default).clone();
    let mut last = slot.lock().await;
    if let Some((at, health)) = last.as_ref()
        && at.elapsed() < fresh_for
    {
        return health.clone();
    }
    let health = probe(addr, timeout).await;
    *last = Some((Instant::now(), health.clone()));
    health
}

/// A TCP connect to `addr` within `timeout`.
pub async fn probe(addr: &str, timeout: Duration) -> TargetHealth {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => TargetHealth::Healthy,
        Ok(Err(e)) => TargetHealth::Unhealthy(format!("TCP connect to {addr}: {e}")),
        Err(_) => TargetHealth::Unhealthy(format!(
            "TCP connect to {addr}: no answer within {}",
            continuum_policy::format::seconds(timeout.as_secs_f64())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(endpoint: &str) -> OffloadBackend {
        serde_json::from_value(serde_json::json!({"name": "jetson", "endpoint": endpoint}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn policies_naming_the_same_agent_share_one_connect_per_interval() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        let probes = Probes::default();
        let b = [backend(&format!("tcp://{addr}"))];
        let all = futures::future::join_all((0..50).map(|_| probe_all(&probes, &b, Duration::from_secs(60)))).await;
        assert!(all.iter().all(|h| h == &vec![TargetHealth::Healthy]), "{all:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "50 policies, one connect");
        assert_eq!(probe_all(&probes, &b, Duration::ZERO).await, vec![TargetHealth::Healthy]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2, "a stale result probes again");
    }
}
