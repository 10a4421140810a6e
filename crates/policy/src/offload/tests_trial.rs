//! Decision tables for the trial return and its back-off.

use super::tests::{S, T0, obs, offloaded, rules, run, switches};
use super::*;

/// On the Jetson everything looks fine (fps 30); on the Pi fps drops to 5: a sustained overload
/// seen only through the workload's own signals.
fn overloaded(s: &State) -> (f64, f64, f64) {
    if s.active.is_offload() { (30.0, 0.03, 0.9) } else { (5.0, 0.3, 0.9) }
}

/// Runs `secs` seconds in 10 s steps under a sustained overload; returns every decision.
fn sustained(r: &Rules, secs: i64) -> Vec<Decision> {
    let mut s = State::default();
    let mut out = Vec::new();
    for k in 0..secs / 10 {
        let now = T0 + k * 10 * S;
        let (f, l, c) = overloaded(&s);
        let d = decide(r, &s, &obs(f, l, c, now), now);
        s = d.state.clone();
        out.push(d);
    }
    out
}

/// A failed trial at `now`: offloaded, recovered, returned, then violated.
fn after_failures(r: &Rules, n: usize) -> (State, i64) {
    let mut s = offloaded();
    let mut now = T0;
    for _ in 0..n {
        s.next_return_ms = None;
        s.recent_switches_ms.clear();
        let back =
            decide(r, &State { healthy_since_ms: Some(now - 60 * S), ..s.clone() }, &obs(30.0, 0.03, 0.9, now), now);
        assert_eq!(back.cause, Reason::Recovered, "{}", back.message);
        now += 10 * S;
        let fail = decide(r, &back.state, &obs(5.0, 0.3, 0.9, now), now);
        assert_eq!(fail.cause, Reason::ReturnFailed, "{}", fail.message);
        s = fail.state;
        now += 10 * S;
    }
    (s, now)
}

#[test]
fn a_return_starts_a_trial_and_a_violation_in_it_offloads_at_once_despite_the_cooldown() {
    let r = rules();
    let ds = run(&r, offloaded(), T0, &[(30.0, 0.03, 0.3); 7]);
    assert_eq!(switches(&ds), vec![(6, Backend::Local)]);
    let returned = &ds[6];
    assert_eq!(returned.state.trial_until_ms, Some(T0 + 120 * S));
    let now = T0 + 70 * S;
    let calm = decide(&r, &returned.state, &obs(15.0, 0.1, 0.3, now), now);
    assert_eq!((calm.cause, calm.phase), (Reason::Verifying, Phase::Local));
    let now = T0 + 80 * S;
    let d = decide(&r, &calm.state, &obs(9.0, 0.1, 0.3, now), now);
    assert_eq!(
        (d.cause, d.action.clone()),
        (Reason::ReturnFailed, Move::Switch { to: Backend::Offload(0), dry_run: false })
    );
    assert_eq!((d.state.failed_trials, d.state.next_return_ms), (1, Some(now + 300 * S)));
    assert_eq!(d.state.recent_switches_ms.len(), 3, "the failed trial counts as a switch");
    assert_eq!(
        d.message,
        "the trial return failed (fps 9.0 < 10); the next return waits at least 5m (1 failed in a row): offload to jetson (tcp://jetson-agent:8192)"
    );
}

#[test]
fn the_hold_doubles_after_each_failed_trial_up_to_its_cap() {
    let r = rules();
    let holds: Vec<i64> = (1..=5)
        .map(|n| {
            let (s, _) = after_failures(&r, n);
            s.hold_ms(&r.verify) / S
        })
        .collect();
    assert_eq!(holds, vec![300, 600, 1200, 1200, 1200]);
}

#[test]
fn the_back_off_holds_a_return_and_says_until_when() {
    let r = rules();
    let (s, now) = after_failures(&r, 2);
    let s = State { healthy_since_ms: Some(now - 120 * S), recent_switches_ms: Vec::new(), ..s };
    let later = now + 100 * S;
    let d = decide(&r, &s, &obs(30.0, 0.03, 0.3, later), later);
    assert_eq!(d.cause, Reason::BackoffActive);
    assert_eq!(d.action, Move::Blocked { wanted: Backend::Local, gate: Gate::Backoff });
    assert!(
        d.message.contains("held until 2026-11-25T09:57:10Z (hold 10m after 2 failed trial returns)"),
        "{}",
        d.message
    );
}

#[test]
fn a_trial_that_holds_resets_the_back_off() {
    let r = rules();
    let (s, now) = after_failures(&r, 3);
    assert_eq!(s.hold_ms(&r.verify), 1200 * S);
    let back = decide(
        &r,
        &State { healthy_since_ms: Some(now - 60 * S), next_return_ms: None, recent_switches_ms: vec![], ..s },
        &obs(30.0, 0.03, 0.3, now),
        now,
    );
    assert_eq!(back.cause, Reason::Recovered);
    let end = now + 60 * S;
    let passed = decide(&r, &back.state, &obs(15.0, 0.1, 0.3, end), end);
    assert_eq!(passed.cause, Reason::TrialPassed);
    assert_eq!((passed.state.failed_trials, passed.state.trial_until_ms, passed.state.next_return_ms), (0, None, None));
    assert_eq!(passed.state.hold_ms(&r.verify), 0);
}

#[test]
fn verify_for_zero_turns_the_trial_off() {
    let r = Rules { verify: Verify { for_ms: 0, ..rules().verify }, ..rules() };
    let ds = run(&r, offloaded(), T0, &[(30.0, 0.03, 0.3); 7]);
    assert_eq!(ds[6].state.trial_until_ms, None);
}

#[test]
fn a_sustained_overload_stays_on_the_jetson_with_the_default_settings() {
    let r = rules();
    let ds = sustained(&r, 3600);
    let on_jetson = ds.iter().filter(|d| d.state.active.is_offload()).count();
    let returns = ds.iter().filter(|d| d.cause == Reason::Recovered).count();
    let failed = ds.iter().filter(|d| d.cause == Reason::ReturnFailed).count();
    assert!(on_jetson * 100 >= ds.len() * 95, "on the Jetson {on_jetson} of {} steps", ds.len());
    assert_eq!(failed, returns, "every trial return under a sustained overload fails");
    assert!((2..=4).contains(&returns), "{returns} trial returns in an hour");
    // The old behaviour (no trial): a return every cooldown, then stuck on the Pi once the
    // budget is spent.
    let old = Rules { verify: Verify { for_ms: 0, ..r.verify }, ..rules() };
    let ds = sustained(&old, 3600);
    let on_jetson = ds.iter().filter(|d| d.state.active.is_offload()).count();
    assert!(on_jetson * 2 < ds.len(), "without a trial the Pi keeps the workload: {on_jetson} of {}", ds.len());
}
