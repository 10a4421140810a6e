//! The metrics of one evaluation.

use continuum_policy::offload::{Decision, Reason, Rules};

use super::actuate::Carried;
use super::observe::Observed;
use crate::metrics::{Metrics, PolicyLabels};

/// The category counted for an evaluation whose reads failed: the most specific one.
fn category(seen: &Observed) -> Option<&'static str> {
    const ORDER: [&str; 4] = ["not_allowed", "timeout", "series", "unavailable"];
    seen.errors.iter().map(|e| e.category()).min_by_key(|c| ORDER.iter().position(|o| o == c))
}

/// The metrics of one evaluation at `now` (ms).
#[allow(clippy::too_many_arguments)]
pub fn record(m: &Metrics, ns: &str, name: &str, r: &Rules, seen: &Observed, d: &Decision, act: &Carried, now: i64) {
    let labels = PolicyLabels { namespace: ns.into(), policy: name.into() };
    if let Some(category) = category(seen) {
        m.offload.telemetry_error(&labels, category);
    }
    let readings: Vec<(&str, Option<f64>)> = r
        .signals
        .iter()
        .zip(&seen.observation.signals)
        .map(|(def, reading)| {
            let fresh = reading.sample_time_ms.is_none_or(|t| now - t <= r.max_sample_age_ms);
            (def.name.as_str(), reading.value.filter(|_| fresh && reading.error.is_none()))
        })
        .collect();
    m.offload.observed(&labels, &readings, act.state.active, d.degraded);
    if act.switched.is_some() {
        m.offload.switched(&labels, act.state.active);
        if d.cause == Reason::ReturnFailed {
            m.offload.trial_failed(&labels);
        }
    }
}
