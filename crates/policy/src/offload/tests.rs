//! Decision tables: any/all rules, staleness, gaps, gates and messages. The trial return and
//! ranked backends have tables of their own (`tests_trial.rs`, `tests_ranked.rs`).

use super::*;

pub(super) const S: i64 = 1000;
pub(super) const T0: i64 = 1_795_600_000_000;
/// Signal indices of the fixture.
pub(super) const FPS: usize = 0;
pub(super) const LAT: usize = 1;
pub(super) const CPU: usize = 2;

fn below(signal: usize, x: f64) -> Threshold {
    Threshold { signal, bound: Bound::Below(x) }
}
fn above(signal: usize, x: f64) -> Threshold {
    Threshold { signal, bound: Bound::Above(x) }
}

/// fps below 10 or latency above 150ms for 30s; back when both are mirrored for 60s; the trial
/// watches 60s and holds 5m doubling to 20m; interval 10s; two offload agents.
pub(super) fn rules() -> Rules {
    let offload_when = RuleSet { all: false, rules: vec![below(FPS, 10.0), above(LAT, 0.15)], for_ms: 30 * S };
    let recover_when = Rules::mirrored(&offload_when, 60 * S);
    let def = |name: &str, unit| SignalDef { name: name.into(), unit };
    let target = |name: &str, endpoint: &str| Target { name: name.into(), endpoint: endpoint.into() };
    Rules {
        signals: vec![def("fps", Unit::PerSecond), def("latency", Unit::Seconds), def("pi_cpu", Unit::Ratio)],
        offload_when,
        recover_when,
        verify: Verify { for_ms: 60 * S, backoff_initial_ms: 300 * S, backoff_max_ms: 1200 * S },
        interval_ms: 10 * S,
        cooldown_ms: 120 * S,
        max_switches_per_hour: 6,
        max_sample_age_ms: 60 * S,
        on_no_data: NoData::Hold,
        dry_run: false,
        suspend: false,
        pin: None,
        local: target("local", "tcp://pi-agent:8192"),
        offload: vec![target("jetson", "tcp://jetson-agent:8192"), target("cloud", "tcp://cloud-gpu:8192")],
    }
}

/// Recovery judged on the Pi's own CPU: back when pi_cpu < 0.5 for 60s.
pub(super) fn pi_side_rules() -> Rules {
    Rules { recover_when: RuleSet { all: true, rules: vec![below(CPU, 0.5)], for_ms: 60 * S }, ..rules() }
}

pub(super) fn reading(v: f64, at: i64) -> Reading {
    Reading { value: Some(v), sample_time_ms: Some(at), error: None }
}

/// fps, latency and Pi CPU sampled at `at`, both offload agents healthy.
pub(super) fn obs(fps: f64, latency: f64, cpu: f64, at: i64) -> Observation {
    Observation {
        signals: vec![reading(fps, at), reading(latency, at), reading(cpu, at)],
        error: None,
        targets: vec![TargetHealth::Healthy, TargetHealth::Healthy],
    }
}

/// Decides every 10 s from `start` over `readings` (fps, latency, cpu); returns every decision.
pub(super) fn run(r: &Rules, mut s: State, start: i64, readings: &[(f64, f64, f64)]) -> Vec<Decision> {
    let mut out = Vec::new();
    for (i, (f, l, c)) in readings.iter().enumerate() {
        let now = start + i as i64 * 10 * S;
        let d = decide(r, &s, &obs(*f, *l, *c, now), now);
        s = d.state.clone();
        out.push(d);
    }
    out
}

pub(super) fn switches(ds: &[Decision]) -> Vec<(usize, Backend)> {
    ds.iter()
        .enumerate()
        .filter_map(|(i, d)| match d.action {
            Move::Switch { to, dry_run: false } => Some((i, to)),
            _ => None,
        })
        .collect()
}

pub(super) fn offloaded() -> State {
    State { active: Backend::Offload(0), recent_switches_ms: vec![T0 - 600 * S], ..State::default() }
}

const BAD: (f64, f64, f64) = (6.2, 0.1, 0.9);
const GOOD: (f64, f64, f64) = (30.0, 0.05, 0.3);

#[test]
fn mirrored_recovery_lines_are_stricter_than_the_offload_lines() {
    let r = rules();
    assert!(r.recover_when.all);
    assert_eq!(r.recover_when.rules[0].bound, Bound::Above(12.0));
    assert!(matches!(r.recover_when.rules[1].bound, Bound::Below(x) if (x - 0.12).abs() < 1e-12));
}

#[test]
fn offloads_after_sustained_low_fps_and_says_why_in_one_sentence() {
    let ds = run(&rules(), State::default(), T0, &[BAD; 5]);
    assert_eq!(switches(&ds), vec![(3, Backend::Offload(0))]);
    assert_eq!(ds[0].cause, Reason::Violating);
    assert_eq!(ds[0].message, "fps 6.2 < 10 since 2026-11-25T09:46:40Z; offloads once that has lasted 30s");
    assert_eq!(ds[3].cause, Reason::OffloadRuleHeld);
    assert_eq!(ds[3].message, "fps 6.2 < 10 for 30s: offload to jetson (tcp://jetson-agent:8192)");
    assert_eq!((ds[3].phase, ds[3].state.active), (Phase::Offloaded, Backend::Offload(0)));
}

#[test]
fn an_unchanged_situation_gives_the_same_message_every_evaluation() {
    // Status is written only when it changes: no running counter may be in a message.
    let ds = run(&rules(), State::default(), T0, &[BAD; 3]);
    assert_eq!((ds[1].cause, &ds[1].message), (ds[2].cause, &ds[2].message), "violating, building up");
    let ds = run(&rules(), State::default(), T0, &[GOOD, GOOD, GOOD]);
    assert_eq!((ds[1].cause, &ds[1].message), (Reason::Steady, &ds[2].message), "steady");
    assert_eq!(ds[2].message, "no offload rule holds: staying on local (tcp://pi-agent:8192)");
    let stale = |at: i64| {
        let mut o = obs(6.0, 0.1, 0.9, at);
        o.signals[LAT].sample_time_ms = Some(T0);
        decide(&rules(), &State { no_data_since_ms: Some(T0), ..State::default() }, &o, at)
    };
    let (a, b) = (stale(T0 + 90 * S), stale(T0 + 100 * S));
    assert_eq!((a.cause, &a.message), (Reason::TelemetryUnavailable, &b.message), "no data");
}

#[test]
fn any_needs_one_rule_and_all_needs_every_rule() {
    let any = rules();
    let all = Rules { offload_when: RuleSet { all: true, ..any.offload_when.clone() }, ..rules() };
    let slow_only = (20.0, 0.3, 0.5);
    assert_eq!(switches(&run(&any, State::default(), T0, &[slow_only; 4])), vec![(3, Backend::Offload(0))]);
    assert!(switches(&run(&all, State::default(), T0, &[slow_only; 8])).is_empty());
    let both = run(&all, State::default(), T0, &[(5.0, 0.3, 0.5); 4]);
    assert_eq!(switches(&both), vec![(3, Backend::Offload(0))]);
    assert_eq!(
        both[3].message,
        "fps 5.0 < 10 and latency 300ms > 150ms for 30s: offload to jetson (tcp://jetson-agent:8192)"
    );
}

#[test]
fn a_break_in_the_violation_restarts_the_window() {
    let ds = run(&rules(), State::default(), T0, &[BAD, BAD, GOOD, BAD, BAD, BAD, BAD]);
    assert_eq!(switches(&ds), vec![(6, Backend::Offload(0))]);
}

#[test]
fn the_window_is_measured_on_the_samples_own_time() {
    let r = rules();
    // The same 20 s old sample read again and again proves nothing new: no offload.
    let mut s = State::default();
    for k in 0..6 {
        let now = T0 + k * 10 * S;
        let d = decide(&r, &s, &obs(6.0, 0.1, 0.9, T0), now);
        assert_eq!(d.action, Move::Stay, "at {k}: {}", d.message);
        s = d.state;
    }
    // Samples 30 s apart offload on the second one, whenever it is read.
    let d1 = decide(&r, &State::default(), &obs(6.0, 0.1, 0.9, T0), T0 + 2 * S);
    let d2 = decide(&r, &d1.state, &obs(6.0, 0.1, 0.9, T0 + 30 * S), T0 + 31 * S);
    assert_eq!(d2.action, Move::Switch { to: Backend::Offload(0), dry_run: false });
}

#[test]
fn stale_samples_count_as_no_data_and_say_how_old_they_are() {
    let r = rules();
    let now = T0 + 90 * S;
    let mut o = obs(6.0, 0.1, 0.9, now);
    o.signals[LAT].sample_time_ms = Some(now - 75 * S);
    let d = decide(&r, &State::default(), &o, now);
    assert_eq!((d.cause, d.telemetry_ok, d.phase), (Reason::TelemetryUnavailable, false, Phase::Degraded));
    assert!(
        d.message.contains("the newest latency sample is from 2026-11-25T09:46:55Z, older than maxSampleAge 1m"),
        "{}",
        d.message
    );
    // A signal no rule compares may be stale or missing without blocking anything.
    let mut o = obs(6.0, 0.1, 0.9, now);
    o.signals[CPU] = Reading { value: None, sample_time_ms: None, error: Some("no series".into()) };
    assert!(decide(&r, &State::default(), &o, now).telemetry_ok);
    // Unknown freshness is not staleness.
    let mut o = obs(6.0, 0.1, 0.9, now);
    o.signals[FPS].sample_time_ms = None;
    assert!(decide(&r, &State::default(), &o, now).telemetry_ok);
}

#[test]
fn a_missing_signal_says_which_and_why() {
    let mut o = obs(6.0, 0.1, 0.9, T0);
    o.signals[FPS] = Reading { value: None, sample_time_ms: None, error: Some("query `x` returned no series".into()) };
    let d = decide(&rules(), &State::default(), &o, T0);
    assert!(d.message.contains("no fps sample (query `x` returned no series)"), "{}", d.message);
    o.signals[FPS].value = Some(f64::NAN);
    let d = decide(&rules(), &State::default(), &o, T0);
    assert!(d.message.contains("no fps sample"), "{}", d.message);
}

/// Readings with a gap: `None` is an evaluation without usable data.
fn run_gappy(r: &Rules, readings: &[Option<(f64, f64, f64)>]) -> Vec<Decision> {
    let mut s = State::default();
    let mut out = Vec::new();
    for (i, reading) in readings.iter().enumerate() {
        let now = T0 + i as i64 * 10 * S;
        let o = match reading {
            Some((f, l, c)) => obs(*f, *l, *c, now),
            None => Observation { error: Some("connection refused".into()), ..obs(0.0, 0.0, 0.0, now) },
        };
        let d = decide(r, &s, &o, now);
        s = d.state.clone();
        out.push(d);
    }
    out
}

#[test]
fn a_gap_longer_than_one_interval_restarts_the_windows() {
    let r = rules();
    // 20 s of violation, a long outage, then violation again: offload only 30 s after it resumes.
    let mut readings = vec![Some(BAD), Some(BAD), Some(BAD)];
    readings.extend([None; 60]);
    readings.extend([Some(BAD); 5]);
    let ds = run_gappy(&r, &readings);
    assert_eq!(switches(&ds), vec![(66, Backend::Offload(0))]);
    assert_eq!(ds[4].state.violating_since_ms, Some(T0), "one interval without data keeps the window");
    assert_eq!(ds[5].state.violating_since_ms, None, "a longer gap clears it");
    // One missed evaluation (a gap of one interval) keeps the window.
    let ds = run_gappy(&r, &[Some(BAD), Some(BAD), None, Some(BAD)]);
    assert_eq!(switches(&ds), vec![(3, Backend::Offload(0))]);
    // The same holds for recovery: a gap restarts the 60 s recovery window.
    let mut s = offloaded();
    let mut out = Vec::new();
    for (i, reading) in [Some(GOOD), Some(GOOD), Some(GOOD), None, None, Some(GOOD), Some(GOOD)].iter().enumerate() {
        let now = T0 + i as i64 * 10 * S;
        let o = reading.map_or_else(
            || Observation { error: Some("timeout".into()), ..obs(0.0, 0.0, 0.0, now) },
            |(f, l, c)| obs(f, l, c, now),
        );
        let d = decide(&r, &s, &o, now);
        s = d.state.clone();
        out.push(d);
    }
    assert!(switches(&out).is_empty());
    assert_eq!(out[6].state.healthy_since_ms, Some(T0 + 50 * S));
}

#[test]
fn on_no_data_local_and_offload_use_their_own_reason() {
    let local = Rules { on_no_data: NoData::Local, ..rules() };
    let mut s = offloaded();
    let mut last = None;
    for k in 0..4 {
        let now = T0 + k * 10 * S;
        let o = Observation { error: Some("timeout".into()), ..obs(0.0, 0.0, 0.0, now) };
        let d = decide(&local, &s, &o, now);
        s = d.state.clone();
        last = Some(d);
    }
    let d = last.unwrap_or_else(|| panic!("no decision"));
    assert_eq!((d.cause, d.state.active), (Reason::NoDataFallback, Backend::Local));
    assert!(
        d.message
            .starts_with("no usable telemetry since 2026-11-25T09:46:40Z (timeout); onNoData Local: go back to local"),
        "{}",
        d.message
    );
}

#[test]
fn cooldown_and_budget_hold_switches_with_the_time_left() {
    let r = rules();
    let recent = State { recent_switches_ms: vec![T0 - 20 * S], ..State::default() };
    let ds = run(&r, recent, T0, &[BAD; 4]);
    assert_eq!(ds[3].cause, Reason::CooldownActive);
    assert!(ds[3].message.ends_with("held by the cooldown until 2026-11-25T09:48:20Z"), "{}", ds[3].message);
    let spent = State { recent_switches_ms: (0..6).map(|k| T0 - (3000 - k * 300) * S).collect(), ..State::default() };
    let ds = run(&r, spent, T0, &[BAD; 4]);
    assert_eq!(ds[3].cause, Reason::SwitchBudgetExhausted);
}

#[test]
fn dry_run_reads_as_a_sentence_and_changes_nothing() {
    let r = Rules { dry_run: true, ..rules() };
    let ds = run(&r, State::default(), T0, &[BAD; 4]);
    assert_eq!(ds[3].cause, Reason::DryRunWouldOffload);
    assert_eq!(ds[3].message, "DryRun: would offload to jetson (tcp://jetson-agent:8192): fps 6.2 < 10 for 30s");
    assert_eq!(ds[3].state.active, Backend::Local);
}

#[test]
fn suspend_and_pin_come_first() {
    let r = Rules { suspend: true, ..rules() };
    assert_eq!(run(&r, State::default(), T0, &[BAD; 4])[3].cause, Reason::Suspended);
    let r = Rules { pin: Some(Side::Offload), ..rules() };
    let d = &run(&r, State::default(), T0, &[GOOD])[0];
    assert_eq!((d.cause, d.phase, d.state.active), (Reason::Pinned, Phase::Pinned, Backend::Offload(0)));
    let r = Rules { pin: Some(Side::Local), ..rules() };
    let d = &run(&r, offloaded(), T0, &[BAD])[0];
    assert_eq!((d.cause, d.phase, d.state.active), (Reason::Pinned, Phase::Pinned, Backend::Local));
}

#[test]
fn the_pi_side_signal_decides_the_return() {
    let r = pi_side_rules();
    // The Jetson runs fine (fps 30) but the Pi is still busy: no return.
    let busy = run(&r, offloaded(), T0, &[(30.0, 0.02, 0.9); 12]);
    assert!(switches(&busy).is_empty());
    assert_eq!(busy[11].cause, Reason::Steady);
    // The Pi's CPU drops: back after 60 s, judged on it.
    let calm = run(&r, offloaded(), T0, &[(30.0, 0.02, 0.3); 8]);
    assert_eq!(switches(&calm), vec![(6, Backend::Local)]);
    assert_eq!(calm[6].cause, Reason::Recovered);
    assert_eq!(calm[6].message, "pi_cpu 0.3 < 0.5 for 1m: go back to local (tcp://pi-agent:8192)");
}
