//! Lease-based leader election (coordination.k8s.io/v1) and the write gate.
//!
//! Expiry is judged on this process's monotonic clock from the moment a Lease record was last
//! seen to change, never by comparing `renewTime` with the local wall clock, so clock skew between
//! nodes cannot make two replicas lead at once. A leader that has not renewed within the renew
//! deadline (shorter than the lease duration) stops writing at once: every write checks the
//! [`WriteGate`] first, and the gate's verdict depends only on elapsed monotonic time, so it holds even
//! after the process was paused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};

use crate::metrics::Metrics;

/// Timing and names of the election.
#[derive(Clone, Debug)]
pub struct Settings {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

/// Leader-election settings that cannot work together.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("--lease-duration ({0:?}) must be longer than --renew-deadline ({1:?})")]
    LeaseNotLongerThanDeadline(Duration, Duration),
    #[error("--renew-deadline ({0:?}) must be longer than --retry-period ({1:?})")]
    DeadlineNotLongerThanRetry(Duration, Duration),
    #[error("--lease-duration must be at least 1s")]
    LeaseTooShort,
}

impl Settings {
    /// Checks the ordering client-go also insists on: retry < renew deadline < lease duration.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.lease_duration <= self.renew_deadline {
            return Err(SettingsError::LeaseNotLongerThanDeadline(self.lease_duration, self.renew_deadline));
        }
        if self.renew_deadline <= self.retry_period {
            return Err(SettingsError::DeadlineNotLongerThanRetry(self.renew_deadline, self.retry_period));
        }
        if self.lease_duration < Duration::from_secs(1) {
            return Err(SettingsError::LeaseTooShort);
        }
        Ok(())
    }
}

/// Whether this process may write. Cheap to clone; shared by every controller.
#[derive(Clone, Debug)]
pub struct WriteGate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    /// None: no election, always allowed.
    deadline: Option<Duration>,
    renewed: Mutex<Option<Instant>>,
}

impl WriteGate {
    /// A gate for a process that runs without leader election.
    pub fn always_open() -> Self {
        Self { inner: Arc::new(GateInner { deadline: None, renewed: Mutex::new(None) }) }
    }

    pub(crate) fn elected(renew_deadline: Duration) -> Self {
        Self { inner: Arc::new(GateInner { deadline: Some(renew_deadline), renewed: Mutex::new(None) }) }
    }

    fn renewed_at(&self, at: Option<Instant>) {
        *self.inner.renewed.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    /// True while this process leads: its last successful renewal is younger than the deadline.
    pub fn is_open(&self) -> bool {
        let Some(deadline) = self.inner.deadline else { return true };
        let renewed = *self.inner.renewed.lock().unwrap_or_else(|p| p.into_inner());
        renewed.is_some_and(|at| at.elapsed() < deadline)
    }
}

/// Why a leader stopped leading.
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    #[error("the Lease is now held by {0}")]
    TakenBy(String),
    #[error("could not renew the Lease within the renew deadline of {0:?}: {1}")]
    NotRenewed(Duration, String),
}

/// One participant in the election.
#[derive(Debug)]
pub struct Elector {
    api: Api<Lease>,
    settings: Settings,
    gate: WriteGate,
    metrics: Arc<Metrics>,
    /// The record last seen and when it was first seen in that form (monotonic).
    observed: Option<(Observed, Instant)>,
}

#[derive(Clone, Debug, PartialEq)]
struct Observed {
    holder: Option<String>,
    renew: Option<MicroTime>,
    duration: Option<i32>,
    transitions: Option<i32>,
}

impl Observed {
    fn of(lease: &Lease) -> Self {
        let spec = lease.spec.clone().unwrap_or_default();
        Self {
            holder: spec.holder_identity.filter(|h| !h.is_empty()),
            renew: spec.renew_time,
            duration: spec.lease_duration_seconds,
            transitions: spec.lease_transitions,
        }
    }
}

enum Attempt {
    Acquired,
    HeldBy(String, Duration),
}

impl Elector {
    /// `lease_client`: a client of the Lease's own (see [`crate::apiclient::lease`]).
    pub fn new(lease_client: Client, settings: Settings, metrics: Arc<Metrics>) -> Self {
        let gate = WriteGate::elected(settings.renew_deadline);
        let api = Api::namespaced(lease_client, &settings.namespace);
        Self { api, settings, gate, metrics, observed: None }
    }

    pub fn gate(&self) -> WriteGate {
        self.gate.clone()
    }

    pub fn identity(&self) -> &str {
        &self.settings.identity
    }

    /// Waits until this process holds the Lease. A standby watches the Lease, so a released
    /// Lease is taken at once and an expired one right after it expires.
    pub async fn acquire(&mut self) {
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.settings.name));
        // Back-off between failed watch attempts (growing to a cap, with jitter): an API server
        // that refuses the watch must not make the standby spin.
        let mut changes = watcher::watcher(self.api.clone(), config).default_backoff().boxed();
        let mut last_holder: Option<String> = None;
        loop {
            let wait = match self.try_acquire_or_renew().await {
                Ok(Attempt::Acquired) => {
                    self.became_leader();
                    return;
                }
                Ok(Attempt::HeldBy(holder, remaining)) => {
                    if last_holder.as_deref() != Some(holder.as_str()) {
                        tracing::info!(leader = %holder, identity = %self.settings.identity, "standing by; another replica leads");
                        last_holder = Some(holder);
                    }
                    remaining.min(self.settings.retry_period) + Duration::from_millis(10)
                }
                Err(err) => {
                    tracing::warn!(%err, lease = %self.settings.name, "cannot read or write the Lease; retrying");
                    self.settings.retry_period
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = changes.next() => {}
            }
        }
    }

    fn became_leader(&self) {
        tracing::info!(identity = %self.settings.identity, lease = %self.settings.name, "acquired the Lease; leading");
        self.metrics.leader.acquired();
    }

    /// Renews every retry period; returns when leadership is lost. The gate closes by itself
    /// once the renew deadline passes, before this returns.
    pub async fn hold(&mut self) -> Lost {
        let deadline = self.settings.renew_deadline;
        let mut last_error = String::from("no attempt succeeded");
        loop {
            tokio::time::sleep(self.settings.retry_period).await;
            let attempt = tokio::time::timeout(self.settings.retry_period, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(Attempt::Acquired)) => {}
                Ok(Ok(Attempt::HeldBy(holder, _))) => {
                    self.lost();
                    return Lost::TakenBy(holder);
                }
                Ok(Err(err)) => last_error = err.to_string(),
                Err(_) => last_error = "the renewal timed out".to_owned(),
            }
            if !self.gate.is_open() {
                self.lost();
                return Lost::NotRenewed(deadline, last_error);
            }
        }
    }

    fn lost(&self) {
        self.gate.renewed_at(None);
        self.metrics.leader.not_leading();
    }

    /// Gives the Lease up (graceful shutdown) so a standby takes over at once instead of waiting
    /// for it to expire.
    pub async fn release(&mut self) {
        self.gate.renewed_at(None);
        self.metrics.leader.not_leading();
        let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else { return };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        match self.api.replace(&self.settings.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.settings.name, "released the Lease"),
            Err(err) => tracing::warn!(%err, "could not release the Lease; the standby takes over when it expires"),
        }
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let started = Instant::now();
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let me = self.settings.identity.clone();
        let duration_secs = self.settings.lease_duration.as_secs().clamp(1, i32::MAX as u64) as i32;
        let Some(current) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.settings.name.clone()), ..Default::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.note(&created, started);
                    self.gate.renewed_at(Some(started));
                    Ok(Attempt::Acquired)
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    Ok(Attempt::HeldBy("another replica".into(), self.settings.retry_period))
                }
                Err(e) => Err(e),
            };
        };
        let seen = self.note(&current, started);
        let holder = seen.0.holder.clone();
        if let Some(holder) = holder.as_ref().filter(|h| **h != me) {
            let valid_for = Duration::from_secs(seen.0.duration.unwrap_or(duration_secs).max(1) as u64);
            let age = seen.1.elapsed();
            if age < valid_for {
                return Ok(Attempt::HeldBy(holder.clone(), valid_for - age));
            }
            tracing::info!(previous = %holder, "the Lease expired; taking over");
        }
        let mut lease = current;
        let spec = lease.spec.get_or_insert_with(Default::default);
        if holder.as_deref() != Some(me.as_str()) {
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(me);
        spec.lease_duration_seconds = Some(duration_secs);
        spec.renew_time = Some(now);
        match self.api.replace(&self.settings.name, &PostParams::default(), &lease).await {
            Ok(updated) => {
                self.note(&updated, started);
                self.gate.renewed_at(Some(started));
                Ok(Attempt::Acquired)
            }
            // Someone else wrote in between: read again next time.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::HeldBy("another replica".into(), Duration::ZERO)),
            Err(e) => Err(e),
        }
    }

    /// Remembers the record and, when it changed, the moment it was first seen.
    fn note(&mut self, lease: &Lease, at: Instant) -> (Observed, Instant) {
        let record = Observed::of(lease);
        match &self.observed {
            Some((old, since)) if *old == record => (record, *since),
            _ => {
                self.observed = Some((record.clone(), at));
                (record, at)
            }
        }
    }
}

/// Default identity outside a pod: host name and process id.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "continuum-operator".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(lease: u64, renew: u64, retry: u64) -> Settings {
        Settings {
            name: "l".into(),
            namespace: "n".into(),
            identity: "me".into(),
            lease_duration: Duration::from_secs(lease),
            renew_deadline: Duration::from_secs(renew),
            retry_period: Duration::from_secs(retry),
        }
    }

    #[test]
    fn timings_must_be_ordered() {
        assert!(settings(15, 10, 2).validate().is_ok());
        let text = |s: Settings| s.validate().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(text(settings(10, 10, 2)).contains("--lease-duration"));
        assert!(text(settings(15, 2, 2)).contains("--renew-deadline"));
    }

    #[test]
    fn gate_closes_when_the_renewal_is_older_than_the_deadline() {
        let gate = WriteGate::elected(Duration::from_millis(50));
        assert!(!gate.is_open(), "never renewed");
        gate.renewed_at(Some(Instant::now()));
        assert!(gate.is_open());
        gate.renewed_at(Instant::now().checked_sub(Duration::from_millis(60)));
        assert!(!gate.is_open(), "renewal older than the deadline");
        assert!(WriteGate::always_open().is_open());
    }
}
