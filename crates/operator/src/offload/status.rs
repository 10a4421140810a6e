//! OffloadPolicy status: decision state in and out, observed signals, conditions, transitions.

use continuum_api::OffloadPolicy;
use continuum_api::offload::{
    BackendName, MAX_RECENT_TRANSITIONS, Observed as ApiObserved, ObservedSignal, OffloadPolicyStatus,
    Phase as ApiPhase, TrialStatus,
};
use continuum_policy::offload::{Backend, Decision, Phase, Rules, State, text};

use super::conditions::OffloadCond;
use super::observe::{Freshness, Observed};
use crate::clock::{ms_of, time};
use crate::kit::conditions;

pub fn to_api(b: Backend) -> BackendName {
    if b.is_offload() { BackendName::Offload } else { BackendName::Local }
}

/// The backend a name stands for: the local one, or an offload one by its position in the list.
pub fn backend_named(r: &Rules, name: &str) -> Option<Backend> {
    if name == r.local.name {
        return Some(Backend::Local);
    }
    r.offload.iter().position(|t| t.name == name).map(Backend::Offload)
}

/// Decision state persisted in status; `None` when the policy was never evaluated. A backend
/// name no longer in the spec reads as the first offload backend (or local), so the next write
/// puts the workload on a backend the spec knows.
pub fn state_of(status: Option<&OffloadPolicyStatus>, r: &Rules) -> Option<State> {
    let s = status?;
    let side = s.active_backend?;
    let named = s.active_target.as_deref().and_then(|n| backend_named(r, n));
    let active = match (side, named) {
        (_, Some(b)) => b,
        (BackendName::Local, None) => Backend::Local,
        (BackendName::Offload, None) => Backend::Offload(0),
    };
    let trial = s.trial.clone().unwrap_or_default();
    Some(State {
        active,
        violating_since_ms: ms_of(s.violating_since.as_ref()),
        healthy_since_ms: ms_of(s.healthy_since.as_ref()),
        no_data_since_ms: ms_of(s.no_data_since.as_ref()),
        recent_switches_ms: s.recent_transitions.iter().map(|t| t.time.0.as_millisecond()).collect(),
        trial_until_ms: ms_of(trial.until.as_ref()),
        failed_trials: trial.failed.max(0) as u32,
        next_return_ms: ms_of(trial.next_return_after.as_ref()),
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

/// How far a value may move before status shows the new one: 5% of the larger of the two. Status
/// is rewritten only when something in it changed, so values that wobble with every sample keep
/// the one last written; the live value is the `continuum_offload_signal` metric.
pub const MOVED: f64 = 0.05;

/// Whether `new` moved meaningfully from the value status shows.
fn moved(shown: Option<f64>, new: Option<f64>) -> bool {
    match (shown, new) {
        (Some(a), Some(b)) => (a - b).abs() > MOVED * a.abs().max(b.abs()),
        (a, b) => a.is_some() != b.is_some(),
    }
}

/// Every signal's latest reading, and the one-line summary `kubectl get` shows; a value within
/// [`MOVED`] of the one `before` shows is kept as it was.
pub fn observed(r: &Rules, seen: &Observed, before: Option<&ApiObserved>) -> ApiObserved {
    let mut summary = Vec::new();
    let signals = r
        .signals
        .iter()
        .enumerate()
        .map(|(i, def)| {
            let reading = seen.observation.signals.get(i).cloned().unwrap_or_default();
            let value = reading.value.filter(|v| v.is_finite()).map(|v| (v * 1000.0).round() / 1000.0);
            let freshness = seen.freshness.get(i).map(|f| match f {
                Freshness::Checked => "Checked".to_owned(),
                Freshness::Unchecked(why) => format!("Unchecked: {why}"),
            });
            let error = reading.error.or_else(|| seen.observation.error.clone());
            let fresh = ObservedSignal {
                name: def.name.clone(),
                value,
                text: value.map(|v| text::show(def.unit, v)),
                freshness,
                error,
            };
            let old = before.and_then(|b| b.signals.iter().find(|s| s.name == def.name));
            let shown = match old {
                Some(o) if !moved(o.value, fresh.value) && o.freshness == fresh.freshness && o.error == fresh.error => {
                    o.clone()
                }
                _ => fresh,
            };
            summary.push(format!("{}={}", def.name, shown.text.as_deref().unwrap_or("?")));
            shown
        })
        .collect();
    ApiObserved { summary: summary.join(" "), signals }
}

/// The trial and back-off as status shows them; `None` while neither is in effect.
fn trial(r: &Rules, s: &State) -> Option<TrialStatus> {
    if s.trial_until_ms.is_none() && s.failed_trials == 0 && s.next_return_ms.is_none() {
        return None;
    }
    let hold = s.hold_ms(&r.verify);
    Some(TrialStatus {
        until: s.trial_until_ms.map(time),
        failed: s.failed_trials.min(i32::MAX as u32) as i32,
        hold: (hold > 0).then(|| continuum_policy::format::span((hold / 1000) as u64)),
        hold_seconds: (hold > 0).then_some(hold / 1000),
        next_return_after: s.next_return_ms.map(time),
    })
}

#[derive(Debug)]
pub struct Outcome<'a> {
    pub rules: &'a Rules,
    pub decision: &'a Decision,
    /// The state actually reached (the decision's, or the previous one when actuation failed).
    pub state: &'a State,
    pub seen: &'a Observed,
    pub switched: Option<continuum_api::offload::Transition>,
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
    let generation = obj.metadata.generation;
    let (r, s) = (out.rules, out.state);
    OffloadPolicyStatus {
        observed_generation: generation,
        phase: Some(phase(out.decision.phase)),
        active_backend: Some(to_api(s.active)),
        active_target: Some(r.target(s.active).name.clone()),
        active_endpoint: Some(r.endpoint(s.active).to_owned()),
        observed: Some(observed(r, out.seen, prev.observed.as_ref())),
        violating_since: s.violating_since_ms.map(time),
        healthy_since: s.healthy_since_ms.map(time),
        no_data_since: s.no_data_since_ms.map(time),
        trial: trial(r, s),
        last_transition: out.switched.clone().or(prev.last_transition),
        recent_transitions: recent,
        propagation: out.propagation.clone(),
        actuation: out.actuation.clone(),
        conditions: conditions::render(&out.conditions, &prev.conditions, generation, now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_rewritten_only_when_it_moved_more_than_five_percent() {
        assert!(!moved(Some(25.0), Some(24.0)), "4% is wobble");
        assert!(moved(Some(25.0), Some(23.0)), "8% is a move");
        assert!(!moved(Some(0.0), Some(0.0)));
        assert!(moved(Some(0.0), Some(0.001)), "from zero any change moves");
        assert!(moved(Some(1.0), None) && moved(None, Some(1.0)) && !moved(None, None));
    }
}
