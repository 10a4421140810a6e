//! Offload decisions: when to move a workload's vAccel inference to an offload agent, between
//! offload agents, and back.
//!
//! `decide(rules, state, observation, now)` is pure; the operator persists `State` in status.
//! Rules in order: suspend, pin, failover from a dead offload agent, the trial after a return,
//! the no-data policy (a gap longer than one interval restarts the sustain windows), the sustain
//! windows (`offloadWhen.for`, `recoverWhen.for`, measured on the samples' own time), the
//! back-off after failed trials, then the gates (target health, cooldown, hourly switch budget)
//! and DryRun.

mod gates;
mod reason;
mod special;
pub mod text;
mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ranked;
#[cfg(test)]
mod tests_trial;

pub use reason::Reason;
pub use types::*;

use crate::format::rfc3339;
use gates::{Why, switch};
use text::{Ctx, span_ms};

const HOUR_MS: i64 = 3_600_000;

impl Rules {
    /// Indices of the signals some rule compares.
    fn referenced(&self) -> Vec<usize> {
        let mut used: Vec<usize> =
            self.offload_when.rules.iter().chain(&self.recover_when.rules).map(|t| t.signal).collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// The first usable offload backend, in order of preference, skipping `except`.
    fn first_healthy(&self, o: &Observation, except: Option<usize>) -> Option<usize> {
        (0..self.offload.len()).find(|&i| Some(i) != except && o.health(i).usable())
    }
}

/// Why the sample cannot be used, if it cannot: the source failed, a compared signal has no
/// value, or its newest sample is older than `maxSampleAge`.
fn unusable(r: &Rules, o: &Observation, now: i64) -> Option<String> {
    if let Some(e) = &o.error {
        return Some(e.clone());
    }
    let mut why = Vec::new();
    for i in r.referenced() {
        let name = &r.signals[i].name;
        let reading = o.signals.get(i).cloned().unwrap_or_default();
        match (text::value(o, i), reading.sample_time_ms) {
            (None, _) => why.push(match reading.error {
                Some(e) => format!("no {name} sample ({e})"),
                None => format!("no {name} sample (empty result or NaN)"),
            }),
            (Some(_), Some(t)) if now - t > r.max_sample_age_ms => why.push(format!(
                "the newest {name} sample is from {}, older than maxSampleAge {}",
                rfc3339(t),
                span_ms(r.max_sample_age_ms)
            )),
            _ => {}
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// The time up to which the readings are known to hold: the oldest sample time among the
/// compared signals (never later than `now`), or `now` when the source gives none.
fn evidence_time(r: &Rules, o: &Observation, now: i64) -> i64 {
    r.referenced()
        .into_iter()
        .filter_map(|i| o.signals.get(i).and_then(|s| s.sample_time_ms))
        .min()
        .map_or(now, |t| t.min(now))
}

pub fn decide(r: &Rules, prev: &State, o: &Observation, now: i64) -> Decision {
    let mut s = prev.clone();
    s.recent_switches_ms.retain(|t| now - t < HOUR_MS);
    let ctx = Ctx { r, o, now };
    if r.suspend {
        let msg = "spec.suspend is set: nothing is evaluated or switched".into();
        return ctx.done(s, Move::Stay, Phase::Suspended, Reason::Suspended, msg, true);
    }
    if let Some(pin) = r.pin {
        return special::pinned(&ctx, s, pin);
    }
    if let Backend::Offload(i) = s.active
        && !o.health(i).usable()
    {
        return special::failover(&ctx, s, i);
    }
    if let Some(why) = unusable(r, o, now) {
        return special::no_data(&ctx, s, why);
    }
    if let Some(since) = s.no_data_since_ms.take()
        && now - since > r.interval_ms
    {
        // The windows say "continuously": a gap breaks them.
        s.violating_since_ms = None;
        s.healthy_since_ms = None;
    }
    let at = evidence_time(r, o, now);
    match s.active {
        Backend::Local => on_local(&ctx, s, at),
        Backend::Offload(i) => on_offload(&ctx, s, i, at),
    }
}

/// On the local backend: a trial return, a violation building up, or nothing.
fn on_local(ctx: &Ctx<'_>, mut s: State, at: i64) -> Decision {
    let (r, now) = (ctx.r, ctx.now);
    let violated = ctx.holds(&r.offload_when);
    if let Some(until) = s.trial_until_ms {
        match &violated {
            Some(held) if now < until => return return_failed(ctx, s, held),
            None if now >= until => {
                s.trial_until_ms = None;
                s.failed_trials = 0;
                s.next_return_ms = None;
                let msg = format!("the return held for verify.for; staying on {}", r.describe(s.active));
                return ctx.done(s, Move::Stay, Phase::Local, Reason::TrialPassed, msg, true);
            }
            None => {
                let msg =
                    format!("trial return: any offload rule violation until {} offloads again at once", rfc3339(until));
                return ctx.done(s, Move::Stay, Phase::Local, Reason::Verifying, msg, true);
            }
            // The trial ended unverified (a gap ate it): judged as any other violation.
            Some(_) => s.trial_until_ms = None,
        }
    }
    s.healthy_since_ms = None;
    match violated {
        Some(held) => violating(ctx, s, held, at),
        None => steady(ctx, s),
    }
}

/// On local with the offload rules holding: offload once that has lasted `offloadWhen.for`.
fn violating(ctx: &Ctx<'_>, mut s: State, held: String, at: i64) -> Decision {
    let r = ctx.r;
    let since = *s.violating_since_ms.get_or_insert(at);
    let lasted = at - since;
    if lasted < r.offload_when.for_ms {
        let msg = format!(
            "{held} since {}; offloads once that has lasted {}",
            rfc3339(since),
            span_ms(r.offload_when.for_ms)
        );
        return ctx.done(s, Move::Stay, Phase::Local, Reason::Violating, msg, true);
    }
    let Some(to) = r.first_healthy(ctx.o, None) else {
        return special::no_target(ctx, s, &format!("{held} for {}", span_ms(lasted)));
    };
    let why = Why::new(Reason::OffloadRuleHeld, format!("{held} for {}", span_ms(lasted)));
    switch(ctx, s, Backend::Offload(to), why, false)
}

fn steady(ctx: &Ctx<'_>, mut s: State) -> Decision {
    s.violating_since_ms = None;
    s.healthy_since_ms = None;
    let phase = if s.active.is_offload() { Phase::Offloaded } else { Phase::Local };
    // No values here: they are in `status.observed`, and a message that moved with every sample
    // would make every evaluation a status write.
    let rules =
        if s.active.is_offload() { "neither the recovery nor the offload rules hold" } else { "no offload rule holds" };
    let msg = format!("{rules}: staying on {}", ctx.r.describe(s.active));
    ctx.done(s, Move::Stay, phase, Reason::Steady, msg, true)
}

/// A violation during the trial: straight back to the offload backend (cooldown and budget do
/// not hold a safety move), and the next hold doubles.
fn return_failed(ctx: &Ctx<'_>, mut s: State, held: &str) -> Decision {
    let r = ctx.r;
    let Some(to) = r.first_healthy(ctx.o, None) else {
        return special::no_target(ctx, s, &format!("the trial return failed: {held}"));
    };
    s.trial_until_ms = None;
    s.failed_trials = s.failed_trials.saturating_add(1);
    let hold = s.hold_ms(&r.verify);
    s.next_return_ms = Some(ctx.now + hold);
    let text = format!(
        "the trial return failed ({held}); the next return waits at least {} ({} failed in a row)",
        span_ms(hold),
        s.failed_trials
    );
    switch(ctx, s, Backend::Offload(to), Why::new(Reason::ReturnFailed, text), true)
}

/// On offload backend `i`: recovery building up (held by the back-off), degradation there, or
/// nothing.
fn on_offload(ctx: &Ctx<'_>, mut s: State, i: usize, at: i64) -> Decision {
    let r = ctx.r;
    if let Some(held) = ctx.holds(&r.recover_when) {
        s.violating_since_ms = None;
        return recovering(ctx, s, held, at);
    }
    s.healthy_since_ms = None;
    match ctx.holds(&r.offload_when) {
        Some(held) => special::degraded(ctx, s, i, held, at),
        None => steady(ctx, s),
    }
}

/// Offloaded with the recovery rules holding: back to local once that has lasted
/// `recoverWhen.for` and the back-off allows a trial.
fn recovering(ctx: &Ctx<'_>, mut s: State, held: String, at: i64) -> Decision {
    let (r, now) = (ctx.r, ctx.now);
    let since = *s.healthy_since_ms.get_or_insert(at);
    let lasted = at - since;
    if lasted < r.recover_when.for_ms {
        let msg = format!(
            "{held} since {}; returns to local once that has lasted {}",
            rfc3339(since),
            span_ms(r.recover_when.for_ms)
        );
        return ctx.done(s, Move::Stay, Phase::Offloaded, Reason::Recovering, msg, true);
    }
    if let Some(next) = s.next_return_ms
        && next > now
    {
        let msg = format!(
            "{held} for {}, but the return is held until {} (hold {} after {} failed trial returns)",
            span_ms(r.recover_when.for_ms),
            rfc3339(next),
            span_ms(s.hold_ms(&r.verify)),
            s.failed_trials
        );
        let blocked = Move::Blocked { wanted: Backend::Local, gate: Gate::Backoff };
        return ctx.done(s, blocked, Phase::Offloaded, Reason::BackoffActive, msg, true);
    }
    let why = Why::new(Reason::Recovered, format!("{held} for {}", span_ms(lasted)));
    let mut d = switch(ctx, s, Backend::Local, why, false);
    if matches!(d.action, Move::Switch { dry_run: false, .. }) && r.verify.for_ms > 0 {
        d.state.trial_until_ms = Some(now + r.verify.for_ms);
    }
    d
}
