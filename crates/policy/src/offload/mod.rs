//! Offload decisions: when to move a workload's vAccel inference to the offload agent and back.
//!
//! `decide(rules, state, observation, now)` is pure; the operator persists `State` in status.
//! Rules in order: suspend, pin, failback from a dead target, no-data policy, sustain windows
//! (`offloadWhen.for`, `recoverWhen.for`) with hysteresis, then the gates (target health,
//! cooldown, hourly switch budget) and DryRun.

mod text;
mod types;

#[cfg(test)]
mod tests;

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
fn violation(r: &Rules, o: &Observation) -> Option<&'static str> {
    if let (Some(limit), Some(fps)) = (r.fps_below, o.fps)
        && fps < limit
    {
        return Some("FpsBelowThreshold");
    }
    if let (Some(limit), Some(lat)) = (r.latency_above, o.latency_seconds)
        && lat > limit
    {
        return Some("LatencyAboveThreshold");
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
        return ctx.done(
            s,
            Action::Stay,
            Phase::Suspended,
            "Suspended",
            "spec.suspend is set: nothing is evaluated or switched".into(),
            true,
        );
    }
    if let Some(pin) = r.pin {
        return pinned(&ctx, s, pin);
    }
    if s.active == Backend::Offload
        && let TargetHealth::Unhealthy(why) = &o.target
    {
        let msg =
            format!("the offload agent {} is unreachable ({why}): back to {}", r.offload_endpoint, r.local_endpoint);
        return switch(&ctx, s, Backend::Local, "TargetUnhealthy", msg, true);
    }
    if let Some(why) = unusable(r, o, now) {
        return no_data(&ctx, s, why);
    }
    s.no_data_since_ms = None;
    match (s.active, violation(r, o)) {
        (Backend::Local, Some(reason)) => {
            let since = *s.violating_since_ms.get_or_insert(now);
            s.healthy_since_ms = None;
            if now - since >= r.offload_for_ms {
                let msg = format!(
                    "{} for {}: offload to {}",
                    ctx.observed_violation(reason),
                    text::span_ms(now - since),
                    r.offload_endpoint
                );
                return switch(&ctx, s, Backend::Offload, reason, msg, false);
            }
            let msg = format!(
                "{} since {}; offloads once that lasts {}",
                ctx.observed_violation(reason),
                text::span_ms(now - since),
                text::span_ms(r.offload_for_ms)
            );
            ctx.done(s, Action::Stay, Phase::Local, "Violating", msg, true)
        }
        (Backend::Offload, _) if recovered(r, o) => {
            let since = *s.healthy_since_ms.get_or_insert(now);
            s.violating_since_ms = None;
            if now - since >= r.recover_for_ms {
                let msg = format!(
                    "{} for {}: back to {}",
                    ctx.observed_recovery(),
                    text::span_ms(now - since),
                    r.local_endpoint
                );
                return switch(&ctx, s, Backend::Local, "Recovered", msg, false);
            }
            let msg = format!(
                "{} since {}; returns to local once that lasts {}",
                ctx.observed_recovery(),
                text::span_ms(now - since),
                text::span_ms(r.recover_for_ms)
            );
            ctx.done(s, Action::Stay, Phase::Offloaded, "Recovering", msg, true)
        }
        (active, _) => {
            s.violating_since_ms = None;
            s.healthy_since_ms = None;
            let phase = if active == Backend::Local { Phase::Local } else { Phase::Offloaded };
            let msg = format!("{}: staying on {}", ctx.observed(), r.endpoint(active));
            ctx.done(s, Action::Stay, phase, "Steady", msg, true)
        }
    }
}

fn pinned(ctx: &text::Ctx<'_>, mut s: State, pin: Backend) -> Decision {
    s.violating_since_ms = None;
    s.healthy_since_ms = None;
    if s.active == pin {
        let msg = format!("pinned to {} by spec.pin", ctx.r.endpoint(pin));
        return ctx.done(s, Action::Stay, Phase::Pinned, "Pinned", msg, true);
    }
    if pin == Backend::Offload
        && let TargetHealth::Unhealthy(why) = &ctx.o.target
    {
        let msg = format!(
            "spec.pin asks for {} but it is unreachable ({why}); staying on {}",
            ctx.r.offload_endpoint, ctx.r.local_endpoint
        );
        return ctx.done(
            s,
            Action::Blocked { wanted: pin, gate: Gate::TargetUnhealthy },
            Phase::Degraded,
            "TargetUnhealthy",
            msg,
            true,
        );
    }
    let msg = format!("pinned by spec.pin: switch to {}", ctx.r.endpoint(pin));
    let mut d = switch(ctx, s, pin, "Pinned", msg, true);
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
            switch(ctx, s, to, "NoTelemetry", msg, false)
        }
        _ => {
            let msg = format!(
                "no usable telemetry for {} ({why}); onNoData {:?}: staying on {}",
                text::span_ms(lasted),
                r.on_no_data,
                r.endpoint(s.active)
            );
            ctx.done(s, Action::Stay, Phase::Degraded, "TelemetryUnavailable", msg, false)
        }
    }
}

/// Applies the gates; `forced` switches (pin, failback from a dead target) skip cooldown and budget.
fn switch(ctx: &text::Ctx<'_>, mut s: State, to: Backend, reason: &'static str, msg: String, forced: bool) -> Decision {
    let (r, now) = (ctx.r, ctx.now);
    let telemetry_ok = s.no_data_since_ms.is_none();
    let stay_phase = if s.active == Backend::Local { Phase::Local } else { Phase::Offloaded };
    if to == Backend::Offload
        && let TargetHealth::Unhealthy(why) = &ctx.o.target
    {
        let m = format!("{msg}, but the offload agent is unreachable ({why}): not switching");
        return ctx.done(
            s,
            Action::Blocked { wanted: to, gate: Gate::TargetUnhealthy },
            Phase::Degraded,
            "TargetUnhealthy",
            m,
            telemetry_ok,
        );
    }
    if !forced {
        if let Some(&last) = s.recent_switches_ms.last()
            && now - last < r.cooldown_ms
        {
            let m = format!("{msg}, held by the cooldown for another {}", text::span_ms(r.cooldown_ms - (now - last)));
            return ctx.done(
                s,
                Action::Blocked { wanted: to, gate: Gate::Cooldown },
                stay_phase,
                "CooldownActive",
                m,
                telemetry_ok,
            );
        }
        if s.recent_switches_ms.len() >= r.max_switches_per_hour {
            let m = format!(
                "{msg}, held by the switch budget ({} switches in the last hour, maxSwitchesPerHour {})",
                s.recent_switches_ms.len(),
                r.max_switches_per_hour
            );
            return ctx.done(
                s,
                Action::Blocked { wanted: to, gate: Gate::SwitchBudget },
                stay_phase,
                "SwitchBudgetExhausted",
                m,
                telemetry_ok,
            );
        }
    }
    if r.dry_run {
        let m = format!("DryRun: would {msg}");
        return ctx.done(
            s,
            Action::Switch { to, dry_run: true },
            stay_phase,
            if to == Backend::Offload { "DryRunWouldOffload" } else { "DryRunWouldRecover" },
            m,
            telemetry_ok,
        );
    }
    s.active = to;
    s.violating_since_ms = None;
    s.healthy_since_ms = None;
    s.recent_switches_ms.push(now);
    let phase = if to == Backend::Local { Phase::Local } else { Phase::Offloaded };
    ctx.done(s, Action::Switch { to, dry_run: false }, phase, reason, msg, telemetry_ok)
}
