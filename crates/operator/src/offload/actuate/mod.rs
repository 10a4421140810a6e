//! Carrying out a decision: point the workload at a backend through one of four objects.
//!
//! - `env`: one environment variable of one container of the Deployment (rolls its pods);
//! - `service`: the selector of a stable Service, or the EndpointSlice of a selector-less one;
//! - `overridePolicy`: a Karmada OverridePolicy setting the variable on member clusters;
//! - `configMap`: one key of a ConfigMap the workload mounts.
//!
//! Every write is a server-side apply of only the fields the operator owns, with its own field
//! manager, skipped when the value is already right, and checked on the object the API server
//! answers with. Reads come from the controller's watches (see `stores`), never a GET.

mod configmap;
mod env;
mod override_policy;
mod service;

use continuum_api::offload::{ActuationStatus, OffloadPolicySpec, Transition};
use continuum_policy::offload::{Backend, Decision, Move, Rules, State};
use kube::Client;

use super::conditions::{OffloadCond, Reason, Type};
use super::stores::Stores;
use crate::kit::conditions::Cond;
use crate::kit::{FIELD_MANAGER, Runtime};

#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The value was already right: nothing written.
    Unchanged,
    /// Written and read back.
    Changed,
}

#[derive(Debug, thiserror::Error)]
pub enum ActuationError {
    #[error("{0} not found")]
    MissingTarget(String),
    #[error("Deployment {deployment} has no container {container} (it has: {present})")]
    MissingContainer { deployment: String, container: String, present: String },
    #[error("writing {object} failed: {}", brief(source))]
    Write { object: String, source: kube::Error },
    #[error("{object} reads back as {found:?} after writing {wanted:?}")]
    NotApplied { object: String, wanted: String, found: Option<String> },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    NotLeading(#[from] crate::kit::NotLeading),
}

/// The API server's own message for a refused request (the Status object's debug form is noise
/// in a condition); other errors as they print.
fn brief(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

/// What the managed object says now.
#[derive(Clone, Debug, Default)]
pub struct Reading {
    /// The object, as `Kind name`.
    pub object: String,
    /// The value that selects the backend (endpoint, selector or address), if set.
    pub value: Option<String>,
    /// The backend that value stands for, if it matches one.
    pub backend: Option<Backend>,
}

/// Everything a mode needs to know about the policy.
pub struct Target<'a> {
    pub rt: &'a Runtime,
    pub ns: &'a str,
    pub policy: &'a str,
    pub spec: &'a OffloadPolicySpec,
    pub rules: &'a Rules,
    pub stores: &'a Stores,
    /// Member clusters the template propagates to (Karmada), for the OverridePolicy default.
    pub clusters: Vec<String>,
}

impl Target<'_> {
    fn client(&self) -> Client {
        self.rt.control.clone()
    }

    fn backend_of(&self, endpoint: &str) -> Option<Backend> {
        self.backend_where(|e| e == endpoint)
    }

    /// The backend whose endpoint `same` accepts: the local one first, then the offload ones.
    fn backend_where(&self, same: impl Fn(&str) -> bool) -> Option<Backend> {
        if same(&self.rules.local.endpoint) {
            return Some(Backend::Local);
        }
        self.rules.offload.iter().position(|t| same(&t.endpoint)).map(Backend::Offload)
    }

    pub fn mode(&self) -> &'static str {
        let a = &self.spec.actuation;
        if a.env.is_some() {
            "env"
        } else if a.service.is_some() {
            "service"
        } else if a.override_policy.is_some() {
            "overridePolicy"
        } else {
            "configMap"
        }
    }
}

/// Reads the managed object (from the watches).
pub fn read(t: &Target<'_>) -> Result<Reading, ActuationError> {
    let a = &t.spec.actuation;
    if let Some(e) = &a.env {
        env::read(t, e)
    } else if let Some(s) = &a.service {
        service::read(t, s)
    } else if let Some(o) = &a.override_policy {
        override_policy::read(t, o)
    } else if let Some(c) = &a.config_map {
        configmap::read(t, c)
    } else {
        Err(ActuationError::Invalid("no actuation mode is set".into()))
    }
}

/// Points the workload at `backend`, writing only when needed; returns the object as the API
/// server answered the write. `current` is what the caller has just read, if it has.
pub async fn write(
    t: &Target<'_>,
    backend: Backend,
    current: Option<Reading>,
) -> Result<(Applied, Reading), ActuationError> {
    let current = match current {
        Some(reading) => reading,
        None => read(t)?,
    };
    if current.backend == Some(backend) {
        return Ok((Applied::Unchanged, current));
    }
    let a = &t.spec.actuation;
    let after = if let Some(e) = &a.env {
        env::write(t, e, backend).await?
    } else if let Some(s) = &a.service {
        service::write(t, s, backend).await?
    } else if let Some(o) = &a.override_policy {
        override_policy::write(t, o, backend).await?
    } else if let Some(c) = &a.config_map {
        configmap::write(t, c, backend).await?
    } else {
        return Err(ActuationError::Invalid("no actuation mode is set".into()));
    };
    if after.backend == Some(backend) {
        Ok((Applied::Changed, after))
    } else {
        Err(ActuationError::NotApplied {
            object: after.object.clone(),
            wanted: t.rules.endpoint(backend).to_owned(),
            found: after.value,
        })
    }
}

/// Undoes the policy's effect when it is deleted with `onDelete: Restore`: back to the local
/// backend (for `overridePolicy`, the managed OverridePolicy is removed so the template's own
/// value applies again). A target that no longer exists needs nothing.
pub async fn restore(t: &Target<'_>) -> Result<String, ActuationError> {
    if let Some(o) = &t.spec.actuation.override_policy {
        return override_policy::remove(t, o).await;
    }
    match write(t, Backend::Local, None).await {
        Ok((Applied::Changed, r)) => Ok(format!("{} switched back to the local backend", r.object)),
        Ok((Applied::Unchanged, r)) => Ok(format!("{} already used the local backend", r.object)),
        Err(ActuationError::MissingTarget(what)) => Ok(format!("{what} no longer exists; nothing to restore")),
        Err(e) => Err(e),
    }
}

/// What actuation achieved: the state actually reached, the switch made (if any), `Actuated`,
/// and the managed object as status shows it.
pub struct Carried {
    pub state: State,
    pub switched: Option<Transition>,
    pub condition: OffloadCond,
    pub actuation: Option<ActuationStatus>,
}

/// Points the workload at the backend the decision settled on (also re-applies it when someone
/// changed it). A failed write keeps the previous backend and timers. `current` is the reading
/// taken at the start of this evaluation.
pub async fn carry_out(t: &Target<'_>, prev: &State, d: &Decision, now: i64, current: Option<Reading>) -> Carried {
    let r = t.rules;
    if r.dry_run || r.suspend {
        let c = Cond::new(Type::Actuated, true, Reason::NotEnforced, "DryRun or suspend: the workload is not changed.");
        let actuation = current.map(|reading| status_of(t, reading));
        return Carried { state: d.state.clone(), switched: None, condition: c, actuation };
    }
    let wanted = r.endpoint(d.state.active).to_owned();
    match write(t, d.state.active, current).await {
        Ok((applied, reading)) => {
            let switched = match d.action {
                Move::Switch { to, dry_run: false } => Some(Transition {
                    time: crate::clock::time(now),
                    from: r.target(prev.active).name.clone(),
                    to: r.target(to).name.clone(),
                    reason: d.cause.into(),
                    message: Some(d.message.clone()),
                }),
                _ => None,
            };
            let how = if applied == Applied::Changed { Reason::Applied } else { Reason::InSync };
            let shown = reading.value.clone().unwrap_or_default();
            let name = &r.target(d.state.active).name;
            let msg = format!("{} points at the {name} backend ({wanted}): {shown}.", reading.object);
            let actuation = Some(status_of(t, reading));
            let condition = Cond::new(Type::Actuated, true, how, msg);
            Carried { state: d.state.clone(), switched, condition, actuation }
        }
        Err(err) => {
            let reason = match err {
                ActuationError::MissingTarget(_) => Reason::TargetMissing,
                ActuationError::MissingContainer { .. } => Reason::ContainerMissing,
                ActuationError::Invalid(_) => Reason::InvalidActuation,
                _ => Reason::WriteFailed,
            };
            let actuation = read(t).ok().map(|reading| status_of(t, reading));
            let condition = Cond::new(Type::Actuated, false, reason, format!("{err}."));
            Carried { state: prev.clone(), switched: None, condition, actuation }
        }
    }
}

fn status_of(t: &Target<'_>, r: Reading) -> ActuationStatus {
    ActuationStatus { mode: t.mode().to_owned(), object: r.object, observed_value: r.value }
}

fn write_error(object: &str) -> impl Fn(kube::Error) -> ActuationError + '_ {
    move |source| ActuationError::Write { object: object.to_owned(), source }
}
