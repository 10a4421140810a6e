//! The gates between a wanted switch and a carried-out one: target health, cooldown, the hourly
//! switch budget, then DryRun.

use super::text::Ctx;
use super::{Backend, Decision, Gate, Move, Phase, Reason, State};

/// Why a switch is wanted: its reason and the evidence in words (`fps 4.0 < 10 for 30s`).
pub(super) struct Why {
    pub reason: Reason,
    pub text: String,
}

impl Why {
    pub fn new(reason: Reason, text: String) -> Self {
        Self { reason, text }
    }
}

/// `offload to jetson (tcp://jetson:8192)`, `fail over to cloud (…)`, `go back to local (…)`.
fn action(ctx: &Ctx<'_>, from: Backend, to: Backend) -> String {
    let verb = match (from, to) {
        (_, Backend::Local) => "go back to",
        (Backend::Offload(_), Backend::Offload(_)) => "fail over to",
        (Backend::Local, Backend::Offload(_)) => "offload to",
    };
    format!("{verb} {}", ctx.r.describe(to))
}

fn phase_of(b: Backend) -> Phase {
    if b.is_offload() { Phase::Offloaded } else { Phase::Local }
}

/// Applies the gates, then DryRun, then switches. `forced` switches (pin, failover from a dead
/// agent, the return of a failed trial) skip cooldown and budget.
pub(super) fn switch(ctx: &Ctx<'_>, mut s: State, to: Backend, why: Why, forced: bool) -> Decision {
    let now = ctx.now;
    let telemetry_ok = s.no_data_since_ms.is_none();
    let act = action(ctx, s.active, to);
    if let Some((gate, reason, message)) = hold(ctx, &s, to, &why.text, &act, forced) {
        let phase = if gate == Gate::TargetUnhealthy { Phase::Degraded } else { phase_of(s.active) };
        return ctx.done(s, Move::Blocked { wanted: to, gate }, phase, reason, message, telemetry_ok);
    }
    if ctx.r.dry_run {
        let m = format!("DryRun: would {act}: {}", why.text);
        let would = if to.is_offload() { Reason::DryRunWouldOffload } else { Reason::DryRunWouldRecover };
        return ctx.done(s.clone(), Move::Switch { to, dry_run: true }, phase_of(s.active), would, m, telemetry_ok);
    }
    s.active = to;
    s.violating_since_ms = None;
    s.healthy_since_ms = None;
    s.recent_switches_ms.push(now);
    let msg = format!("{}: {act}", why.text);
    ctx.done(s, Move::Switch { to, dry_run: false }, phase_of(to), why.reason, msg, telemetry_ok)
}

/// The gate that holds a switch to `to`, if one does, with its reason and message.
fn hold(ctx: &Ctx<'_>, s: &State, to: Backend, why: &str, act: &str, forced: bool) -> Option<(Gate, Reason, String)> {
    let (r, now) = (ctx.r, ctx.now);
    if let Backend::Offload(i) = to
        && let super::TargetHealth::Unhealthy(dead) = ctx.o.health(i)
    {
        let message = format!("{why}: would {act}, but it is unreachable ({dead}): not switching");
        return Some((Gate::TargetUnhealthy, Reason::TargetUnhealthy, message));
    }
    if forced {
        return None;
    }
    if let Some(&last) = s.recent_switches_ms.last()
        && now - last < r.cooldown_ms
    {
        let until = crate::format::rfc3339(last + r.cooldown_ms);
        let message = format!("{why}: would {act}, held by the cooldown until {until}");
        return Some((Gate::Cooldown, Reason::CooldownActive, message));
    }
    if s.recent_switches_ms.len() >= r.max_switches_per_hour {
        let message = format!(
            "{why}: would {act}, held by the switch budget ({} switches in the last hour, maxSwitchesPerHour {})",
            s.recent_switches_ms.len(),
            r.max_switches_per_hour
        );
        return Some((Gate::SwitchBudget, Reason::SwitchBudgetExhausted, message));
    }
    None
}
