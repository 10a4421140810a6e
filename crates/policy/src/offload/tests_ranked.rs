//! Decision tables for ranked offload backends: failover, degradation, no reachable backend.

use super::tests::{S, T0, obs, offloaded, rules, run};
use super::*;

fn dead(why: &str) -> TargetHealth {
    TargetHealth::Unhealthy(why.into())
}

fn with_health(mut o: Observation, targets: [TargetHealth; 2]) -> Observation {
    o.targets = targets.to_vec();
    o
}

#[test]
fn first_dies_second_dies_first_comes_back() {
    let r = rules();
    let fine = (30.0, 0.03, 0.9);
    // The Jetson dies: over to the cloud at once (a safety move: the cooldown does not hold it).
    let s = State { recent_switches_ms: vec![T0 - 10 * S], ..offloaded() };
    let o = with_health(obs(fine.0, fine.1, fine.2, T0), [dead("refused"), TargetHealth::Healthy]);
    let d = decide(&r, &s, &o, T0);
    assert_eq!((d.cause, d.state.active), (Reason::FailedOver, Backend::Offload(1)));
    assert_eq!(
        d.message,
        "jetson (tcp://jetson-agent:8192) is unreachable (refused): fail over to cloud (tcp://cloud-gpu:8192)"
    );
    // The cloud dies too: back to local.
    let now = T0 + 10 * S;
    let o = with_health(obs(fine.0, fine.1, fine.2, now), [dead("refused"), dead("timeout")]);
    let d = decide(&r, &d.state, &o, now);
    assert_eq!((d.cause, d.state.active), (Reason::TargetUnhealthy, Backend::Local));
    // Still overloaded with both dead: nowhere to go, Degraded, and says why for each.
    let mut s = d.state;
    let mut last = None;
    for k in 2..6 {
        let now = T0 + k * 10 * S;
        let o = with_health(obs(5.0, 0.3, 0.9, now), [dead("refused"), dead("timeout")]);
        let d = decide(&r, &s, &o, now);
        s = d.state.clone();
        last = Some(d);
    }
    let d = last.unwrap_or_else(|| panic!("no decision"));
    assert_eq!((d.cause, d.phase), (Reason::TargetUnhealthy, Phase::Degraded));
    assert!(
        d.message.ends_with("no offload backend is reachable (jetson: refused; cloud: timeout): not switching"),
        "{}",
        d.message
    );
    // The Jetson comes back: the next offload goes to it, the first in the list.
    let now = T0 + 60 * S;
    let o = with_health(obs(5.0, 0.3, 0.9, now), [TargetHealth::Healthy, dead("timeout")]);
    let s = State { recent_switches_ms: Vec::new(), ..s };
    let d = decide(&r, &s, &o, now);
    assert_eq!((d.cause, d.state.active), (Reason::OffloadRuleHeld, Backend::Offload(0)));
}

#[test]
fn the_first_healthy_backend_is_chosen_and_unchecked_ones_are_trusted() {
    let r = rules();
    let mut s = State::default();
    let mut chosen = None;
    for k in 0..4 {
        let now = T0 + k * 10 * S;
        let o = with_health(obs(5.0, 0.1, 0.9, now), [dead("refused"), TargetHealth::Unchecked]);
        let d = decide(&r, &s, &o, now);
        s = d.state.clone();
        chosen = Some(d.state.active);
    }
    assert_eq!(chosen, Some(Backend::Offload(1)));
}

#[test]
fn degraded_on_the_jetson_moves_to_the_next_backend_then_reports_degraded() {
    let r = Rules { cooldown_ms: 0, ..rules() };
    // Offloaded to the Jetson and the frame rate is still low there.
    let ds = run(&r, offloaded(), T0, &[(6.0, 0.1, 0.9); 4]);
    assert_eq!((ds[0].cause, ds[0].phase, ds[0].degraded), (Reason::Violating, Phase::Offloaded, false));
    assert!(ds[0].message.starts_with("fps 6.0 < 10 on jetson since 2026-11-25T09:46:40Z"), "{}", ds[0].message);
    assert_eq!((ds[3].cause, ds[3].state.active), (Reason::FailedOver, Backend::Offload(1)));
    assert_eq!(ds[3].message, "fps 6.0 < 10 on jetson for 30s: fail over to cloud (tcp://cloud-gpu:8192)");
    // On the cloud, the last one, still low: Degraded, staying.
    let ds = run(&r, ds[3].state.clone(), T0 + 40 * S, &[(6.0, 0.1, 0.9); 4]);
    let d = &ds[3];
    assert_eq!(
        (d.cause, d.phase, d.degraded, d.state.active),
        (Reason::OffloadDegraded, Phase::Degraded, true, Backend::Offload(1))
    );
    assert!(
        d.message.ends_with("and no offload backend after it is healthy: staying on cloud (tcp://cloud-gpu:8192)"),
        "{}",
        d.message
    );
}

#[test]
fn a_move_away_from_a_degraded_backend_waits_for_the_cooldown() {
    let r = rules();
    let s = State { recent_switches_ms: vec![T0 - 5 * S], ..offloaded() };
    let ds = run(&r, s, T0, &[(6.0, 0.1, 0.9); 4]);
    assert_eq!((ds[3].cause, ds[3].degraded), (Reason::CooldownActive, true));
    assert_eq!(ds[3].state.active, Backend::Offload(0));
}
