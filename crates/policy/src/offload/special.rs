//! The decisions outside the normal sustain windows: pins, a dead or degraded offload agent,
//! no usable telemetry, and no reachable offload agent at all.

use super::gates::{Why, switch};
use super::text::{Ctx, span_ms};
use super::{Backend, Decision, Gate, Move, NoData, Phase, Reason, Side, State, TargetHealth};
use crate::format::rfc3339;

/// `jetson: TCP connect …: refused; cloud: …`, the reasons no offload agent can be used.
fn dead_list(ctx: &Ctx<'_>) -> String {
    let parts: Vec<String> = (0..ctx.r.offload.len())
        .filter_map(|i| match ctx.o.health(i) {
            TargetHealth::Unhealthy(why) => Some(format!("{}: {why}", ctx.r.offload[i].name)),
            _ => None,
        })
        .collect();
    parts.join("; ")
}

/// An offload is wanted but no offload agent is reachable: stay, Degraded.
pub(super) fn no_target(ctx: &Ctx<'_>, s: State, text: &str) -> Decision {
    let msg = format!("{text}: would offload, but no offload backend is reachable ({}): not switching", dead_list(ctx));
    let blocked = Move::Blocked { wanted: Backend::Offload(0), gate: Gate::TargetUnhealthy };
    ctx.done(s, blocked, Phase::Degraded, Reason::TargetUnhealthy, msg, true)
}

/// The active offload agent `i` is unreachable: to the next healthy one, or local when none is.
/// A safety move: cooldown and budget do not hold it.
pub(super) fn failover(ctx: &Ctx<'_>, mut s: State, i: usize) -> Decision {
    let r = ctx.r;
    let why = match ctx.o.health(i) {
        TargetHealth::Unhealthy(why) => why,
        _ => "unreachable".into(),
    };
    s.trial_until_ms = None;
    let dead = format!("{} is unreachable ({why})", r.describe(Backend::Offload(i)));
    match r.first_healthy(ctx.o, Some(i)) {
        Some(j) => switch(ctx, s, Backend::Offload(j), Why::new(Reason::FailedOver, dead), true),
        None => {
            let text = format!("{dead} and no other offload backend is healthy");
            switch(ctx, s, Backend::Local, Why::new(Reason::TargetUnhealthy, text), true)
        }
    }
}

/// Offloaded on `i` and the offload rules hold there too: once that has lasted
/// `offloadWhen.for`, the next healthy agent lower in the list, or stay Degraded.
pub(super) fn degraded(ctx: &Ctx<'_>, mut s: State, i: usize, held: String, at: i64) -> Decision {
    let r = ctx.r;
    let here = &r.target(Backend::Offload(i)).name;
    let since = *s.violating_since_ms.get_or_insert(at);
    let lasted = at - since;
    if lasted < r.offload_when.for_ms {
        let msg = format!(
            "{held} on {here} since {}; degraded there once that has lasted {}",
            rfc3339(since),
            span_ms(r.offload_when.for_ms)
        );
        return ctx.done(s, Move::Stay, Phase::Offloaded, Reason::Violating, msg, true);
    }
    let text = format!("{held} on {here} for {}", span_ms(lasted));
    let mut d = match (i + 1..r.offload.len()).find(|&j| ctx.o.health(j).usable()) {
        Some(j) => switch(ctx, s, Backend::Offload(j), Why::new(Reason::FailedOver, text), false),
        None => {
            let msg =
                format!("{text}, and no offload backend after it is healthy: staying on {}", r.describe(s.active));
            ctx.done(s, Move::Stay, Phase::Degraded, Reason::OffloadDegraded, msg, true)
        }
    };
    d.degraded = !matches!(d.action, Move::Switch { dry_run: false, .. });
    d
}

/// No usable sample: `onNoData` decides; a gap longer than one interval restarts the windows.
pub(super) fn no_data(ctx: &Ctx<'_>, mut s: State, why: String) -> Decision {
    let (r, now) = (ctx.r, ctx.now);
    let since = *s.no_data_since_ms.get_or_insert(now);
    let lasted = now - since;
    if lasted > r.interval_ms {
        s.violating_since_ms = None;
        s.healthy_since_ms = None;
    }
    let gone = format!("no usable telemetry since {} ({why})", rfc3339(since));
    let wanted = match r.on_no_data {
        NoData::Hold => None,
        NoData::Local => Some(Side::Local),
        NoData::Offload => Some(Side::Offload),
    };
    let move_now = lasted >= r.offload_when.for_ms;
    match (wanted, s.active) {
        (Some(Side::Local), Backend::Offload(_)) if move_now => {
            let why = Why::new(Reason::NoDataFallback, format!("{gone}; onNoData Local"));
            switch(ctx, s, Backend::Local, why, false)
        }
        (Some(Side::Offload), Backend::Local) if move_now => match r.first_healthy(ctx.o, None) {
            Some(to) => {
                let why = Why::new(Reason::NoDataFallback, format!("{gone}; onNoData Offload"));
                switch(ctx, s, Backend::Offload(to), why, false)
            }
            None => no_target(ctx, s, &gone),
        },
        _ => {
            let msg = format!("{gone}; onNoData {:?}: staying on {}", r.on_no_data, r.describe(s.active));
            ctx.done(s, Move::Stay, Phase::Degraded, Reason::TelemetryUnavailable, msg, false)
        }
    }
}

/// `spec.pin`: hold (or move) the workload on its side; the offload side is the first healthy
/// agent.
pub(super) fn pinned(ctx: &Ctx<'_>, mut s: State, pin: Side) -> Decision {
    let r = ctx.r;
    s.violating_since_ms = None;
    s.healthy_since_ms = None;
    s.trial_until_ms = None;
    let at_pin = match (pin, s.active) {
        (Side::Local, Backend::Local) => true,
        (Side::Offload, Backend::Offload(i)) => ctx.o.health(i).usable(),
        _ => false,
    };
    if at_pin {
        let msg = format!("pinned to {} by spec.pin", r.describe(s.active));
        return ctx.done(s, Move::Stay, Phase::Pinned, Reason::Pinned, msg, true);
    }
    let to = match pin {
        Side::Local => Backend::Local,
        Side::Offload => match r.first_healthy(ctx.o, None) {
            Some(j) => Backend::Offload(j),
            None if s.active == Backend::Local => {
                return no_target(ctx, s, "spec.pin asks for an offload backend");
            }
            None => Backend::Local,
        },
    };
    let text = format!("pinned by spec.pin to the {} side", if pin == Side::Local { "local" } else { "offload" });
    let mut d = switch(ctx, s, to, Why::new(Reason::Pinned, text), true);
    if d.phase != Phase::Degraded {
        d.phase = if to.is_offload() == (pin == Side::Offload) { Phase::Pinned } else { Phase::Degraded };
    }
    d
}
