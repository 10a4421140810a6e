//! The operator's Kubernetes API clients: deadlines on every call, bounded retries of our own
//! instead of kube's default retry (which retries 429/503 up to 15 times with waits growing to
//! minutes, and would resend a write after this replica lost the Lease), and the Lease on a
//! client of its own so its renewal never waits in the controllers' connection pool.
//!
//! Watches get no deadline here: the watcher has its own idle timeout and reconnects with
//! back-off. That is also why no socket read timeout is set on the connection: an idle watch is
//! silent for minutes.

mod layer;
pub mod policy;

use std::time::Duration;

use kube::client::ClientBuilder;
use kube::{Client, Config};

pub use layer::{Resilience, TimedOut};
pub use policy::Limits;

use crate::leader::{Settings, WriteGate};

/// Time to open a connection (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time to send a request.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a read (GET, one page of a LIST) may take in all, retries included.
pub const READ_BUDGET: Duration = Duration::from_secs(30);
/// Time a write may take in all without leader election.
pub const UNELECTED_WRITE_BUDGET: Duration = Duration::from_secs(10);

/// The retry limits of the controllers' client: reads up to 4 attempts within [`READ_BUDGET`];
/// writes up to 3 within `write_budget`, each retry only while `gate` is open.
pub fn controllers(gate: WriteGate, write_budget: Duration) -> Resilience {
    let reads = Limits {
        attempts: 4,
        budget: READ_BUDGET,
        first_backoff: Duration::from_millis(250),
        max_backoff: Duration::from_secs(4),
    };
    let writes = Limits {
        attempts: 3,
        budget: write_budget,
        first_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(1),
    };
    Resilience { reads, writes, gate: Some(gate) }
}

/// The time every write must end within: below `leaseDuration - renewDeadline`, so a write sent
/// while the gate was open ends before another replica can take the Lease over.
pub fn write_budget(settings: Option<&Settings>) -> Duration {
    match settings {
        Some(s) => s.lease_duration.saturating_sub(s.renew_deadline).max(Duration::from_millis(100)),
        None => UNELECTED_WRITE_BUDGET,
    }
}

/// The Lease's client: one attempt per call within the retry period (the elector tries again
/// on its own schedule, and must never write the Lease late).
pub fn lease(retry_period: Duration) -> Resilience {
    Resilience { reads: Limits::once(retry_period), writes: Limits::once(retry_period), gate: None }
}

/// kube's settings for our clients: our timeouts, and kube's own retry layer off.
pub fn tune(mut config: Config) -> Config {
    config.default_retry = false;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.write_timeout = Some(SEND_TIMEOUT);
    config
}

/// A client on its own connection pool, with `resilience` under it.
pub fn client(config: Config, resilience: &Resilience) -> Result<Client, kube::Error> {
    Ok(ClientBuilder::try_from(tune(config))?.with_layer(resilience).build())
}
