//! OffloadPolicy status: decision state in and out, conditions, transitions.

use continuum_api::OffloadPolicy;
use continuum_api::offload::{
    BackendName, MAX_RECENT_TRANSITIONS, Observed, OffloadPolicyStatus, Phase as ApiPhase, Transition,
};
use continuum_policy::format;
use continuum_policy::offload::{Backend, Decision, Observation, Phase, State};

use super::conditions::OffloadCond;
use crate::clock::{ms_of, time};
use crate::kit::conditions;

pub fn to_api(b: Backend) -> BackendName {
    match b {
        Backend::Local => BackendName::Local,
        Backend::Offload => BackendName::Offload,
    }
}

pub fn from_api(b: BackendName) -> Backend {
    match b {
        BackendName::Local => Backend::Local,
        BackendName::Offload => Backend::Offload,
    }
}

/// Decision state persisted in status; `None` when the policy was never evaluated.
pub fn state_of(status: Option<&OffloadPolicyStatus>) -> Option<State> {
    let s = status?;
    let active = s.active_backend.map(from_api)?;
    Some(State {
        active,
        violating_since_ms: ms_of(s.violating_since.as_ref()),
        healthy_since_ms: ms_of(s.healthy_since.as_ref()),
        no_data_since_ms: ms_of(s.no_data_since.as_ref()),
        recent_switches_ms: s.recent_transitions.iter().map(|t| t.time.0.as_millisecond()).collect(),
    })
}

fn phase(p: Phase) -> ApiPhase {
    match p {
        Phase::Local => ApiPhase::Local,
        Phase::Offloaded => ApiPhase::Offloaded,
        Phase::Pinned => ApiPhase::Pinned,
        Phase::Suspended => ApiPhase::Suspended,
        Phase::Degraded => ApiPhase::Degraded,
    }
}

#[derive(Debug)]
pub struct Outcome<'a> {
    pub decision: &'a Decision,
    /// The state actually reached (the decision's, or the previous one when actuation failed).
    pub state: &'a State,
    pub observation: &'a Observation,
    pub endpoint: String,
    pub switched: Option<Transition>,
    pub conditions: Vec<OffloadCond>,
    pub propagation: Option<continuum_api::offload::Propagation>,
    pub actuation: Option<continuum_api::offload::ActuationStatus>,
}

pub fn build(obj: &OffloadPolicy, out: &Outcome<'_>, now_ms: i64) -> OffloadPolicyStatus {
    let prev = obj.status.clone().unwrap_or_default();
    let mut recent = prev.recent_transitions.clone();
    recent.retain(|t| out.state.recent_switches_ms.contains(&t.time.0.as_millisecond()));
    if let Some(t) = &out.switched {
        recent.push(t.clone());
    }
    let skip = recent.len().saturating_sub(MAX_RECENT_TRANSITIONS);
    recent.drain(..skip);
    let o = out.observation;
    let generation = obj.metadata.generation;
    OffloadPolicyStatus {
        observed_generation: generation,
        phase: Some(phase(out.decision.phase)),
        active_backend: Some(to_api(out.state.active)),
        active_endpoint: Some(out.endpoint.clone()),
        observed: Some(Observed {
            fps: o.fps.filter(|v| v.is_finite()).map(|v| (v * 10.0).round() / 10.0),
            latency_seconds: o.latency_seconds.filter(|v| v.is_finite()),
            latency: o.latency_seconds.filter(|v| v.is_finite()).map(format::seconds),
            sample_time: o.sample_time_ms.map(time),
        }),
        violating_since: out.state.violating_since_ms.map(time),
        healthy_since: out.state.healthy_since_ms.map(time),
        no_data_since: out.state.no_data_since_ms.map(time),
        last_transition: out.switched.clone().or(prev.last_transition),
        recent_transitions: recent,
        propagation: out.propagation.clone(),
        actuation: out.actuation.clone(),
        conditions: conditions::render(&out.conditions, &prev.conditions, generation, now_ms),
    }
}
