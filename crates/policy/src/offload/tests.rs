//! Decision tables for every rule and the combinations that surprise.

use super::*;

const S: i64 = 1000;
const T0: i64 = 1_795_600_000_000;

fn rules() -> Rules {
    Rules {
        fps_below: Some(10.0),
        latency_above: Some(0.15),
        offload_for_ms: 30 * S,
        fps_above: None,
        latency_below: None,
        recover_for_ms: 60 * S,
        cooldown_ms: 120 * S,
        max_switches_per_hour: 6,
        max_sample_age_ms: 60 * S,
        on_no_data: NoData::Hold,
        dry_run: false,
        suspend: false,
        pin: None,
        local_endpoint: "tcp://pi-agent:8192".into(),
        offload_endpoint: "tcp://jetson-agent:8192".into(),
    }
    .with_recovery_defaults()
}

fn obs(fps: f64, latency: f64, at: i64) -> Observation {
    Observation {
        fps: Some(fps),
        latency_seconds: Some(latency),
        sample_time_ms: Some(at),
        error: None,
        target: TargetHealth::Healthy,
    }
}

/// Runs `readings` (fps, latency) every 10 s from `start`; returns every decision.
fn run(r: &Rules, mut s: State, start: i64, readings: &[(f64, f64)]) -> Vec<Decision> {
    let mut out = Vec::new();
    for (i, (f, l)) in readings.iter().enumerate() {
        let now = start + i as i64 * 10 * S;
        let d = decide(r, &s, &obs(*f, *l, now), now);
        s = d.state.clone();
        out.push(d);
    }
    out
}

fn switches(ds: &[Decision]) -> Vec<(usize, Backend)> {
    ds.iter()
        .enumerate()
        .filter_map(|(i, d)| match d.action {
            Move::Switch { to, dry_run: false } => Some((i, to)),
            _ => None,
        })
        .collect()
}

fn offloaded() -> State {
    State { active: Backend::Offload, recent_switches_ms: vec![T0 - 600 * S], ..State::default() }
}

#[test]
fn recovery_lines_default_to_stricter_values_than_the_offload_lines() {
    let r = rules();
    assert_eq!(r.fps_above, Some(12.0));
    assert!((r.latency_below.unwrap_or_default() - 0.12).abs() < 1e-12);
}

#[test]
fn offloads_after_sustained_low_fps_and_says_why_in_one_sentence() {
    let ds = run(&rules(), State::default(), T0, &[(6.2, 0.1); 5]);
    assert_eq!(switches(&ds), vec![(3, Backend::Offload)]);
    assert_eq!(ds[0].reason, "Violating");
    assert_eq!(ds[3].reason, "FpsBelowThreshold");
    assert_eq!(ds[3].message, "fps 6.2 < 10 for 30s: offload to tcp://jetson-agent:8192");
    assert_eq!((ds[3].phase, ds[3].state.active), (Phase::Offloaded, Backend::Offload));
}

#[test]
fn high_latency_alone_offloads() {
    let ds = run(&rules(), State::default(), T0, &[(20.0, 0.3); 4]);
    assert_eq!(switches(&ds), vec![(3, Backend::Offload)]);
    assert!(ds[3].message.starts_with("latency 300ms > 150ms for 30s"), "{}", ds[3].message);
}

#[test]
fn a_dip_shorter_than_the_sustain_window_does_not_offload() {
    let ds =
        run(&rules(), State::default(), T0, &[(6.0, 0.1), (6.0, 0.1), (11.0, 0.1), (6.0, 0.1), (6.0, 0.1), (6.0, 0.1)]);
    assert_eq!(switches(&ds), vec![]);
}

#[test]
fn recovers_only_after_the_recovery_lines_hold_for_their_window() {
    // 11 fps is between the lines (10 < 11 < 12): neither offload nor recovery.
    let ds = run(&rules(), offloaded(), T0, &[(11.0, 0.1); 10]);
    assert_eq!(switches(&ds), vec![]);
    let ds = run(&rules(), offloaded(), T0, &[(25.0, 0.05); 8]);
    assert_eq!(switches(&ds), vec![(6, Backend::Local)]);
    assert_eq!(ds[6].reason, "Recovered");
    assert!(
        ds[6].message.starts_with("fps 25.0 > 12 and latency 50ms < 120ms for 1m: back to tcp://pi-agent:8192"),
        "{}",
        ds[6].message
    );
}

#[test]
fn a_flapping_signal_is_bounded_by_cooldown_and_the_hourly_budget() {
    let mut r = rules();
    r.offload_for_ms = 0;
    r.recover_for_ms = 0;
    r.cooldown_ms = 60 * S;
    r.max_switches_per_hour = 4;
    let flapping: Vec<(f64, f64)> = (0..360).map(|i| if i % 2 == 0 { (5.0, 0.1) } else { (30.0, 0.05) }).collect();
    let ds = run(&r, State::default(), T0, &flapping);
    let sw = switches(&ds);
    // One hour of readings every 10 s: 4 per rolling hour, never closer than the cooldown.
    assert_eq!(sw.len(), 4, "{sw:?}");
    for pair in sw.windows(2) {
        assert!((pair[1].0 - pair[0].0) as i64 * 10 * S >= r.cooldown_ms, "{sw:?}");
    }
    assert!(ds.iter().any(|d| d.reason == "SwitchBudgetExhausted"));
    assert!(ds.iter().any(|d| d.reason == "CooldownActive"));
}

#[test]
fn never_switches_to_an_unreachable_offload_agent() {
    let r = rules();
    let mut s = State { violating_since_ms: Some(T0 - 60 * S), ..State::default() };
    let mut o = obs(5.0, 0.1, T0);
    o.target = TargetHealth::Unhealthy("connection refused".into());
    let d = decide(&r, &s, &o, T0);
    assert_eq!(d.action, Move::Blocked { wanted: Backend::Offload, gate: Gate::TargetUnhealthy });
    assert_eq!((d.phase, d.reason, d.state.active), (Phase::Degraded, "TargetUnhealthy", Backend::Local));
    assert!(d.message.contains("unreachable (connection refused): not switching"), "{}", d.message);
    s = d.state;
    let d = decide(&r, &s, &obs(5.0, 0.1, T0 + 10 * S), T0 + 10 * S);
    assert_eq!(d.action, Move::Switch { to: Backend::Offload, dry_run: false }, "switches once the agent answers");
}

#[test]
fn fails_back_at_once_when_the_offload_agent_dies_even_inside_the_cooldown() {
    let s = State { active: Backend::Offload, recent_switches_ms: vec![T0 - S], ..State::default() };
    let mut o = obs(5.0, 0.3, T0);
    o.target = TargetHealth::Unhealthy("connect timeout after 2s".into());
    let d = decide(&rules(), &s, &o, T0);
    assert_eq!(d.action, Move::Switch { to: Backend::Local, dry_run: false });
    assert_eq!(d.reason, "TargetUnhealthy");
}

#[test]
fn stale_samples_count_as_no_data_and_hold_keeps_everything() {
    let s = State { active: Backend::Offload, healthy_since_ms: Some(T0 - 50 * S), ..State::default() };
    let d = decide(&rules(), &s, &obs(30.0, 0.01, T0 - 120 * S), T0);
    assert_eq!(
        (d.action.clone(), d.phase, d.reason, d.telemetry_ok),
        (Move::Stay, Phase::Degraded, "TelemetryUnavailable", false)
    );
    assert!(d.message.contains("the newest sample is 2m old (maxSampleAge 1m)"), "{}", d.message);
    assert_eq!(d.state.healthy_since_ms, s.healthy_since_ms, "Hold keeps the timers");
}

#[test]
fn on_no_data_local_and_offload_switch_after_the_sustain_window() {
    let missing = |_at: i64| Observation {
        fps: None,
        latency_seconds: None,
        sample_time_ms: None,
        error: Some("Prometheus: connection refused".into()),
        target: TargetHealth::Healthy,
    };
    for (policy, start, expect) in
        [(NoData::Local, offloaded(), Backend::Local), (NoData::Offload, State::default(), Backend::Offload)]
    {
        let mut r = rules();
        r.on_no_data = policy;
        let mut s = start;
        let mut first_switch = None;
        for i in 0..5 {
            let now = T0 + i * 10 * S;
            let d = decide(&r, &s, &missing(now), now);
            if first_switch.is_none() && matches!(d.action, Move::Switch { .. }) {
                first_switch = Some((i, d.reason, d.state.active));
            }
            s = d.state;
        }
        assert_eq!(first_switch, Some((3, "NoTelemetry", expect)), "{policy:?}");
    }
}

#[test]
fn nan_then_recovery_restarts_the_timers_cleanly() {
    let r = rules();
    let s = State { violating_since_ms: Some(T0 - 20 * S), ..State::default() };
    let d = decide(&r, &s, &obs(f64::NAN, 0.1, T0), T0);
    assert_eq!((d.reason, d.telemetry_ok), ("TelemetryUnavailable", false));
    let d = decide(&r, &d.state, &obs(15.0, 0.1, T0 + 10 * S), T0 + 10 * S);
    assert_eq!((d.reason, d.state.violating_since_ms, d.state.no_data_since_ms), ("Steady", None, None));
}

#[test]
fn pin_overrides_telemetry_but_not_a_dead_target() {
    let mut r = rules();
    r.pin = Some(Backend::Local);
    let d = decide(&r, &offloaded(), &obs(5.0, 0.3, T0), T0);
    assert_eq!((d.action.clone(), d.phase), (Move::Switch { to: Backend::Local, dry_run: false }, Phase::Pinned));
    let d = decide(&r, &d.state, &obs(5.0, 0.3, T0 + 10 * S), T0 + 10 * S);
    assert_eq!((d.action, d.phase, d.reason), (Move::Stay, Phase::Pinned, "Pinned"));
    r.pin = Some(Backend::Offload);
    let mut o = obs(5.0, 0.3, T0);
    o.target = TargetHealth::Unhealthy("connection refused".into());
    let d = decide(&r, &State::default(), &o, T0);
    assert_eq!(d.action, Move::Blocked { wanted: Backend::Offload, gate: Gate::TargetUnhealthy });
}

#[test]
fn suspend_changes_nothing() {
    let mut r = rules();
    r.suspend = true;
    let s = State { violating_since_ms: Some(T0 - 600 * S), ..State::default() };
    let d = decide(&r, &s, &obs(1.0, 2.0, T0), T0);
    assert_eq!((d.action, d.phase, d.state), (Move::Stay, Phase::Suspended, s));
}

#[test]
fn dry_run_reports_the_switch_without_making_it() {
    let mut r = rules();
    r.dry_run = true;
    let s = State { violating_since_ms: Some(T0 - 30 * S), ..State::default() };
    let d = decide(&r, &s, &obs(4.0, 0.1, T0), T0);
    assert_eq!(
        (d.action.clone(), d.reason, d.state.active),
        (Move::Switch { to: Backend::Offload, dry_run: true }, "DryRunWouldOffload", Backend::Local)
    );
    assert!(d.message.starts_with("DryRun: would fps 4.0 < 10 for 30s: offload to"), "{}", d.message);
    assert!(d.state.recent_switches_ms.is_empty());
}

#[test]
fn a_restarted_operator_resumes_the_window_from_the_persisted_state() {
    // Violating since 25 s before the restart: the first evaluation 5 s later offloads.
    let persisted = State { violating_since_ms: Some(T0 - 25 * S), ..State::default() };
    let d = decide(&rules(), &persisted, &obs(6.0, 0.1, T0 + 5 * S), T0 + 5 * S);
    assert_eq!(d.action, Move::Switch { to: Backend::Offload, dry_run: false });
}
