//! The metrics of one evaluation.

use super::actuate::Carried;
use super::observe::Observed;
use crate::metrics::{Metrics, PolicyLabels};

/// The category counted for an evaluation whose reads failed: the most specific one.
fn category(seen: &Observed) -> Option<&'static str> {
    const ORDER: [&str; 4] = ["not_allowed", "timeout", "series", "unavailable"];
    seen.errors.iter().map(|e| e.category()).min_by_key(|c| ORDER.iter().position(|o| o == c))
}

pub fn record(m: &Metrics, ns: &str, name: &str, seen: &Observed, act: &Carried) {
    let labels = PolicyLabels { namespace: ns.into(), policy: name.into() };
    if let Some(category) = category(seen) {
        m.offload.telemetry_error(&labels, category);
    }
    let o = &seen.observation;
    m.offload.observed(&labels, o.fps, o.latency_seconds, act.state.active);
    if let Some(t) = &act.switched {
        m.offload.switched(&labels, super::status::from_api(t.to));
    }
}
