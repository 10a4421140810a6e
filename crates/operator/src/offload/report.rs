//! The metrics of one evaluation.

use continuum_api::offload::BackendName;
use continuum_policy::offload::Backend;

use super::actuate::Carried;
use super::observe::Observed;
use crate::metrics::{CategoryLabels, Metrics, PolicyLabels, SwitchLabels};

/// The category counted for an evaluation whose reads failed: the most specific one.
fn category(seen: &Observed) -> Option<&'static str> {
    const ORDER: [&str; 4] = ["not_allowed", "timeout", "series", "unavailable"];
    seen.errors.iter().map(|e| e.category()).min_by_key(|c| ORDER.iter().position(|o| o == c))
}

pub fn record(m: &Metrics, ns: &str, name: &str, seen: &Observed, act: &Carried) {
    let labels = PolicyLabels { namespace: ns.into(), policy: name.into() };
    if let Some(category) = category(seen) {
        let l = CategoryLabels { namespace: ns.into(), policy: name.into(), category: category.into() };
        m.offload.telemetry_errors.get_or_create(&l).inc();
    }
    let o = &seen.observation;
    if let Some(f) = o.fps.filter(|v| v.is_finite()) {
        m.offload.fps.get_or_create(&labels).set(f);
    }
    if let Some(l) = o.latency_seconds.filter(|v| v.is_finite()) {
        m.offload.latency.get_or_create(&labels).set(l);
    }
    m.offload.offloaded.get_or_create(&labels).set(if act.state.active == Backend::Offload { 1.0 } else { 0.0 });
    if let Some(t) = &act.switched {
        let to = if t.to == BackendName::Offload { "offload" } else { "local" };
        m.offload
            .switches
            .get_or_create(&SwitchLabels { namespace: ns.into(), policy: name.into(), to: to.into() })
            .inc();
    }
}
