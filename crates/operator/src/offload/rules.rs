//! The decision rules of a policy, from its spec.

use continuum_api::offload::{self as api, Mode, OffloadPolicySpec, OnNoData};
use continuum_policy::offload::{Bound, NoData, RuleSet, Rules, Side, SignalDef, Target, Threshold, Unit, Verify};

use crate::clock::millis;

fn unit(u: api::Unit) -> Unit {
    match u {
        api::Unit::None => Unit::None,
        api::Unit::Seconds => Unit::Seconds,
        api::Unit::PerSecond => Unit::PerSecond,
        api::Unit::Percent => Unit::Percent,
        api::Unit::Ratio => Unit::Ratio,
        api::Unit::Celsius => Unit::Celsius,
    }
}

/// The rules naming declared signals, by index (admission refuses unknown names; one that slips
/// through is dropped rather than guessed).
fn thresholds(spec: &OffloadPolicySpec, rules: &[api::Threshold]) -> Vec<Threshold> {
    rules
        .iter()
        .filter_map(|t| {
            let signal = spec.signals.iter().position(|s| s.name == t.signal)?;
            let bound = match (t.below, t.above) {
                (Some(x), _) => Bound::Below(x),
                (None, Some(x)) => Bound::Above(x),
                (None, None) => return None,
            };
            Some(Threshold { signal, bound })
        })
        .collect()
}

fn verify(v: &api::Verify) -> Verify {
    Verify {
        for_ms: millis(&v.for_),
        backoff_initial_ms: millis(&v.backoff.initial),
        backoff_max_ms: millis(&v.backoff.max),
    }
}

pub fn rules(spec: &OffloadPolicySpec) -> Rules {
    let (offload_rules, all) = spec.offload_when.rules();
    let offload_when = RuleSet { all, rules: thresholds(spec, offload_rules), for_ms: millis(&spec.offload_when.for_) };
    let recover = spec.recover_when.clone().unwrap_or_default();
    let recover_for = millis(&recover.for_);
    let recover_when = match recover.rules() {
        Some((rs, all)) => RuleSet { all, rules: thresholds(spec, rs), for_ms: recover_for },
        None => Rules::mirrored(&offload_when, recover_for),
    };
    let b = &spec.backends;
    Rules {
        signals: spec.signals.iter().map(|s| SignalDef { name: s.name.clone(), unit: unit(s.unit) }).collect(),
        offload_when,
        recover_when,
        verify: verify(&recover.verify),
        interval_ms: millis(&spec.telemetry.interval),
        cooldown_ms: millis(&spec.cooldown),
        max_switches_per_hour: spec.max_switches_per_hour.max(1) as usize,
        max_sample_age_ms: millis(&spec.telemetry.max_sample_age),
        on_no_data: match spec.telemetry.on_no_data {
            OnNoData::Hold => NoData::Hold,
            OnNoData::Local => NoData::Local,
            OnNoData::Offload => NoData::Offload,
        },
        dry_run: spec.mode == Mode::DryRun,
        suspend: spec.suspend,
        pin: spec.pin.map(|p| match p {
            api::BackendName::Local => Side::Local,
            api::BackendName::Offload => Side::Offload,
        }),
        local: Target { name: b.local.name.clone(), endpoint: b.local.endpoint.clone() },
        offload: b.offload.iter().map(|o| Target { name: o.name.clone(), endpoint: o.endpoint.clone() }).collect(),
    }
}
