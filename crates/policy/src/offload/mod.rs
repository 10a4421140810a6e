//! Offload decisions: when to move a workload's vAccel inference to the offload agent and back.
//!
//! `decide(rules, state, observation, now)` is pure; the operator persists `State` in status.
//! Rules in order: suspend, pin, failback from a dead target, no-data policy, sustain windows
//! (`offloadWhen.for`, `recoverWhen.for`) with hysteresis, then the gates (target health,
//! cooldown, hourly switch budget) and DryRun.

mod reason;
mod text;
mod types;

#[cfg(test)]
mod tests;

pub use reason::Reason;
pub use types::*;

/// Why the sample cannot be used, if it cannot.
fn unusable(r: &Rules, o: &Observation, now: i64) -> Option<String> {
    if let Some(e) = &o.error {
        return Some(e.clone());
    }
    let bad = |v: Option<f64>, wanted: bool| wanted && !v.is_some_and(f64::is_finite);
    if bad(o.fps, r.fps_below.is_some() || r.fps_above.is_some()) {
        return Some("no fps sample (empty result or NaN)".into());
    }
    if bad(o.latency_seconds, r.latency_above.is_some() || r.latency_below.is_some()) {
        return Some("no latency sample (empty result or NaN)".into());
    }
    match o.sample_time_ms {
        Some(t) if now - t > r.max_sample_age_ms => Some(format!(
            "the newest sample is {} old (maxSampleAge {})",
            text::span_ms(now - t),
            text::span_ms(r.max_sample_age_ms)
        )),
        _ => None,
    }
}

/// Which offload rule is violated, if any.
fn violation(r: &Rules, o: &Observation) -> Option<Reason> {
    if let (Some(limit), Some(fps)) = (r.fps_below, o.fps)
        && fps < limit
    {
        return Some(Reason::FpsBelowThreshold);
    }
    if let (Some(limit), Some(lat)) = (r.latency_above, o.latency_seconds)
        && lat > limit
    {
        return Some(Reason::LatencyAboveThreshold);
    }
    None
}

/// Whether every recovery rule holds.
fn recovered(r: &Rules, o: &Observation) -> bool {
    let fps_ok = r.fps_above.is_none_or(|limit| o.fps.is_some_and(|f| f > limit));
    let lat_ok = r.latency_below.is_none_or(|limit| o.latency_seconds.is_some_and(|l| l < limit));
    fps_ok && lat_ok
}

pub fn decide(r: &Rules, prev: &State, o: &Observation, now: i64) -> Decision {
    let mut s = prev.clone();
    s.recent_switches_ms.retain(|t| now - t < 3_600_000);
    let ctx = text::Ctx { r, o, now };
    if r.suspend {
        let msg = "spec.suspend is set: nothing is evaluated or switched".into();
        return ctx.done(s, Move::Stay, Phase::Suspended, Reason::Suspended, msg, true);
    }
    if let Some(pin) = r.pin {
        return pinned(&ctx, s, pin);
    }
    if s.active == Backend::Offload
        && let TargetHealth::Unhealthy(why) = &o.target
    {
        let msg =
            format!("the offload agent {} is unreachable ({why}): back to {}", r.offload_endpoint, r.local_endpoint);
        return switch(&ctx, s, Backend::Local, Reason::TargetUnhealthy, msg, true);
    }
    if let Some(why) = unusable(r, o, now) {
        return no_data(&ctx, s, why);
    }
    s.no_data_since_ms = None;
    match (s.active, violation(r, o)) {
        (Backend::Local, Some(reason)) => violating(&ctx, s, reason),
        (Backend::Offload, _) if recovered(r, o) => recovering(&ctx, s),
        (active, _) => {
            s.violating_since_ms = None;
            s.healthy_since_ms = None;
            let phase = if active == Backend::Local { Phase::Local } else { Phase::Offloaded };
            let msg = format!("{}: staying on {}", ctx.observed(), r.endpoint(active));
            ctx.done(s, Move::Stay, phase, Reason::Steady, msg, true)
        }
    }
}

/// On local with an offload rule violated: offload once it has lasted `offloadWhen.for`.
fn violating(ctx: &text::Ctx<'_>, mut s: State, reason: Reason) -> Decision {
    let (r, now) = (ctx.r, ctx.now);
    let since = *s.violating_since_ms.get_or_insert(now);
    s.healthy_since_ms = None;
    if now - since >= r.offload_for_ms {
        let msg = format!(
            "{} for {}: offload to {}",
            ctx.observed_violation(reason),
            text::span_ms(now - since),
            r.offload_endpoint
        );
        return switch(ctx, s, Backend::Offload, reason, msg, false);
    }
    let msg = format!(
        "{} since {}; offloads once that lasts {}",
        ctx.observed_violation(reason),
        text::span_ms(now - since),
        text::span_ms(r.offload_for_ms)
    );
    ctx.done(s, Move::Stay, Phase::Local, Reason::Violating, msg, true)
}

/// Offloaded with every recovery rule holding: back to local once it has lasted `recoverWhen.for`.
fn recovering(ctx: &text::Ctx<'_>, mut s: State) -> Decision {
    let (r, now) = (ctx.r, ctx.now);
    let since = *s.healthy_since_ms.get_or_insert(now);
    s.violating_since_ms = None;
    if now - since >= r.recover_for_ms {
        let msg =
            format!("{} for {}: back to {}", ctx.observed_recovery(), text::span_ms(now - since), r.local_endpoint);
        return switch(ctx, s, Backend::Local, Reason::Recovered, msg, false);
    }
    let msg = format!(
        "{} since {}; returns to local once that lasts {}",
        ctx.observed_recovery(),
        text::span_ms(now - since),
        text::span_ms(r.recover_for_ms)
    );
    ctx.done(s, Move::Stay, Phase::Offloaded, Reason::Recovering, msg, true)
}

fn pinned(ctx: &text::Ctx<'_>, mut s: State, pin: Backend) -> Decision {
    s.violating_since_ms = None;
    s.healthy_since_ms = None;
    if s.active == pin {
        let msg = format!("pinned to {} by spec.pin", ctx.r.endpoint(pin));
        return ctx.done(s, Move::Stay, Phase::Pinned, Reason::Pinned, msg, true);
    }
    if pin == Backend::Offload
        && let TargetHealth::Unhealthy(why) = &ctx.o.target
    {
        let msg = format!(
            "spec.pin asks for {} but it is unreachable ({why}); staying on {}",
            ctx.r.offload_endpoint, ctx.r.local_endpoint
        );
        let blocked = Move::Blocked { wanted: pin, gate: Gate::TargetUnhealthy };
        return ctx.done(s, blocked, Phase::Degraded, Reason::TargetUnhealthy, msg, true);
    }
    let msg = format!("pinned by spec.pin: switch to {}", ctx.r.endpoint(pin));
    let mut d = switch(ctx, s, pin, Reason::Pinned, msg, true);
    if d.phase != Phase::Degraded {
        d.phase = Phase::Pinned;
    }
    d
}

fn no_data(ctx: &text::Ctx<'_>, mut s: State, why: String) -> Decision {
    let (r, now) = (ctx.r, ctx.now);
    let since = *s.no_data_since_ms.get_or_insert(now);
    let lasted = now - since;
    let wanted = match r.on_no_data {
        NoData::Hold => None,
        NoData::Local => Some(Backend::Local),
        NoData::Offload => Some(Backend::Offload),
    };
    match wanted {
        Some(to) if to != s.active && lasted >= r.offload_for_ms => {
            let msg = format!(
                "no usable telemetry for {} ({why}); onNoData {to:?}: switch to {}",
                text::span_ms(lasted),
                r.endpoint(to)
            );
            switch(ctx, s, to, Reason::NoTelemetry, msg, false)
        }
        _ => {
            let msg = format!(
                "no usable telemetry for {} ({why}); onNoData {:?}: staying on {}",
                text::span_ms(lasted),
                r.on_no_data,
                r.endpoint(s.active)
            );
            ctx.done(s, Move::Stay, Phase::Degraded, Reason::TelemetryUnavailable, msg, false)
        }
    }
}

/// Applies the gates, then DryRun, then switches.
fn switch(ctx: &text::Ctx<'_>, mut s: State, to: Backend, reason: Reason, msg: String, forced: bool) -> Decision {
    let now = ctx.now;
    let telemetry_ok = s.no_data_since_ms.is_none();
    let stay_phase = if s.active == Backend::Local { Phase::Local } else { Phase::Offloaded };
    if let Some(held) = hold(ctx, &s, to, &msg, forced) {
        let phase = if held.gate == Gate::TargetUnhealthy { Phase::Degraded } else { stay_phase };
        let blocked = Move::Blocked { wanted: to, gate: held.gate };
        return ctx.done(s, blocked, phase, held.reason, held.message, telemetry_ok);
    }
    if ctx.r.dry_run {
        let m = format!("DryRun: would {msg}");
        let would = if to == Backend::Offload { Reason::DryRunWouldOffload } else { Reason::DryRunWouldRecover };
        return ctx.done(s, Move::Switch { to, dry_run: true }, stay_phase, would, m, telemetry_ok);
    }
    s.active = to;
    s.violating_since_ms = None;
    s.healthy_since_ms = None;
    s.recent_switches_ms.push(now);
    let phase = if to == Backend::Local { Phase::Local } else { Phase::Offloaded };
    ctx.done(s, Move::Switch { to, dry_run: false }, phase, reason, msg, telemetry_ok)
}

/// A gate holding a wanted switch.
struct Held {
    gate: Gate,
    reason: Reason,
    message: String,
}

/// The gate that holds a switch to `to`, if one does; `forced` switches (pin, failback from a
/// dead target) skip cooldown and budget.
fn hold(ctx: &text::Ctx<'_>, s: &State, to: Backend, msg: &str, forced: bool) -> Option<Held> {
    let (r, now) = (ctx.r, ctx.now);
    if to == Backend::Offload
        && let TargetHealth::Unhealthy(why) = &ctx.o.target
    {
        let message = format!("{msg}, but the offload agent is unreachable ({why}): not switching");
        return Some(Held { gate: Gate::TargetUnhealthy, reason: Reason::TargetUnhealthy, message });
    }
    if forced {
        return None;
    }
    if let Some(&last) = s.recent_switches_ms.last()
        && now - last < r.cooldown_ms
    {
        let message =
            format!("{msg}, held by the cooldown for another {}", text::span_ms(r.cooldown_ms - (now - last)));
        return Some(Held { gate: Gate::Cooldown, reason: Reason::CooldownActive, message });
    }
    if s.recent_switches_ms.len() >= r.max_switches_per_hour {
        let message = format!(
            "{msg}, held by the switch budget ({} switches in the last hour, maxSwitchesPerHour {})",
            s.recent_switches_ms.len(),
            r.max_switches_per_hour
        );
        return Some(Held { gate: Gate::SwitchBudget, reason: Reason::SwitchBudgetExhausted, message });
    }
    None
}
