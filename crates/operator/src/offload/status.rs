//! OffloadPolicy status: decision state in and out, conditions, transitions.

use continuum_api::OffloadPolicy;
use continuum_api::offload::{
    BackendName, MAX_RECENT_TRANSITIONS, Observed, OffloadPolicyStatus, Phase as ApiPhase, Transition,
};
use continuum_policy::format;
use continuum_policy::offload::{Backend, Decision, Observation, Phase, State, TargetHealth};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

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

pub fn time(ms: i64) -> Time {
    Time(Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn ms(t: &Option<Time>) -> Option<i64> {
    t.as_ref().map(|t| t.0.as_millisecond())
}

/// Decision state persisted in status; `None` when the policy was never evaluated.
pub fn state_of(status: Option<&OffloadPolicyStatus>) -> Option<State> {
    let s = status?;
    let active = s.active_backend.map(from_api)?;
    Some(State {
        active,
        violating_since_ms: ms(&s.violating_since),
        healthy_since_ms: ms(&s.healthy_since),
        no_data_since_ms: ms(&s.no_data_since),
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

/// A condition (status, reason, message) before timestamps are attached.
pub type Cond = (&'static str, bool, String, String);

fn condition(c: &Cond, previous: &[Condition], generation: Option<i64>, now_ms: i64) -> Condition {
    let status = if c.1 { "True" } else { "False" }.to_owned();
    let last = previous
        .iter()
        .find(|p| p.type_ == c.0 && p.status == status)
        .map_or_else(|| time(now_ms), |p| p.last_transition_time.clone());
    Condition {
        type_: c.0.to_owned(),
        status,
        reason: c.2.clone(),
        message: c.3.clone(),
        last_transition_time: last,
        observed_generation: generation,
    }
}

pub struct Outcome<'a> {
    pub decision: &'a Decision,
    /// The state actually reached (the decision's, or the previous one when actuation failed).
    pub state: &'a State,
    pub observation: &'a Observation,
    pub endpoint: String,
    pub switched: Option<Transition>,
    pub conditions: Vec<Cond>,
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
        conditions: out.conditions.iter().map(|c| condition(c, &prev.conditions, generation, now_ms)).collect(),
    }
}

pub fn target_condition(o: &Observation) -> Cond {
    match &o.target {
        TargetHealth::Healthy => {
            ("OffloadTargetHealthy", true, "Reachable".into(), "The offload agent accepts TCP connections.".into())
        }
        TargetHealth::Unhealthy(why) => (
            "OffloadTargetHealthy",
            false,
            "Unreachable".into(),
            format!("The offload agent is unreachable: {why}. It is never switched to while so."),
        ),
        TargetHealth::Unchecked => (
            "OffloadTargetHealthy",
            true,
            "NotProbed".into(),
            "The offload agent is not probed (non-TCP endpoint or healthCheck.tcp false).".into(),
        ),
    }
}

/// What the conditions are built from.
pub struct Facts<'a> {
    pub target: &'a str,
    pub ns: &'a str,
    pub target_found: bool,
    pub decision: &'a Decision,
    pub observation: &'a Observation,
}

/// Ready (whose message is the decision), TargetFound, Actuated, TelemetryAvailable,
/// OffloadTargetHealthy and Propagated.
pub fn conditions(f: &Facts<'_>, actuated: Cond, propagated: Cond) -> Vec<Cond> {
    let (d, o, target) = (f.decision, f.observation, f.target);
    let found: Cond = if f.target_found {
        ("TargetFound", true, "Found".into(), format!("Deployment {target} exists."))
    } else {
        let msg =
            format!("Deployment {target} does not exist in namespace {}; nothing is switched until it does.", f.ns);
        ("TargetFound", false, "TargetMissing".into(), msg)
    };
    let telemetry: Cond = if d.telemetry_ok {
        ("TelemetryAvailable", true, "SampleRead".into(), "The latest sample was read and is fresh.".into())
    } else {
        let msg = o.error.clone().map_or_else(|| d.message.clone(), |e| format!("{e}."));
        ("TelemetryAvailable", false, "NoUsableSample".into(), msg)
    };
    let ready = d.telemetry_ok && f.target_found && actuated.1;
    vec![
        ("Ready", ready, d.reason.into(), d.message.clone()),
        found,
        actuated,
        telemetry,
        target_condition(o),
        propagated,
    ]
}
