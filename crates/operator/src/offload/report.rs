//! The metrics of one evaluation.

use continuum_policy::offload::Reason;

use super::observe::Observed;
use super::status::Outcome;
use crate::metrics::{Metrics, PolicyLabels};

/// The category counted for an evaluation whose reads failed: the most specific one.
fn category(seen: &Observed) -> Option<&'static str> {
    const ORDER: [&str; 4] = ["not_allowed", "timeout", "series", "unavailable"];
    seen.errors.iter().map(|e| e.category()).min_by_key(|c| ORDER.iter().position(|o| o == c))
}

/// The metrics of one evaluation of policy `ns/name` at `now` (ms).
pub fn record(m: &Metrics, ns: &str, name: &str, out: &Outcome<'_>, now: i64) {
    let (r, seen, d, active) = (out.rules, out.seen, out.decision, out.state.active);
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
    m.offload.observed(&labels, &readings, active, d.degraded);
    if out.switched.is_some() {
        m.offload.switched(&labels, active);
        if d.cause == Reason::ReturnFailed {
            m.offload.trial_failed(&labels);
        }
    }
}
