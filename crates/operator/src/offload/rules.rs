//! The decision rules of a policy, from its spec.

use continuum_api::offload::{Mode, OffloadPolicySpec, OnNoData};
use continuum_policy::offload::{NoData, Rules};

use crate::clock::{millis, seconds};

pub fn rules(spec: &OffloadPolicySpec) -> Rules {
    let recover = spec.recover_when.as_ref();
    Rules {
        fps_below: spec.offload_when.fps_below,
        latency_above: spec.offload_when.latency_above.as_ref().map(seconds),
        offload_for_ms: millis(&spec.offload_when.for_),
        fps_above: recover.and_then(|r| r.fps_above),
        latency_below: recover.and_then(|r| r.latency_below.as_ref().map(seconds)),
        recover_for_ms: recover.map_or(60_000, |r| millis(&r.for_)),
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
        pin: spec.pin.map(super::status::from_api),
        local_endpoint: spec.backends.local.endpoint.clone(),
        offload_endpoint: spec.backends.offload.endpoint.clone(),
    }
    .with_recovery_defaults()
}
