//! The edge scene end to end, headless: a real edge cluster (kube-apiserver, kube-controller-manager,
//! kube-scheduler, KWOK nodes for a Raspberry Pi and a Jetson), the simulated detector following
//! its rolled-out pod, real Prometheus, the operator with separate edge and host clients, and a
//! real slow disk under the host plane's etcd. Each step of the scene is asserted by the scene
//! itself (with a deadline); this test checks the figures and what the member cluster shows.

use std::path::Path;

use continuum_demo::scene::{self, Options, Scenario};
use continuum_testenv::edge::JETSON_NODE;

const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

/// One scene at a time: each runs two clusters, Prometheus and the operator on 2 cores.
static ONE_SCENE: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_pi_falls_behind_the_jetson_takes_over_the_pi_comes_back_and_a_slow_disk_is_named() {
    let _one = ONE_SCENE.lock().unwrap_or_else(|p| p.into_inner());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let svg = std::env::temp_dir().join(format!("continuum-edge-{}.svg", std::process::id()));
    let opts = Options { svg: Some(svg.clone()), ..options(repo, scene::Actuation::Env, Scenario::Recover) };
    let (report, running) = scene::run(&opts).unwrap_or_else(|e| panic!("the scene failed: {e}"));
    for (t, e) in &report.events {
        eprintln!("{t:6.1}s {e}");
    }
    let (offloaded, realtime, recovered) = (
        report.offloaded_at.unwrap_or(f64::NAN),
        report.realtime_at.unwrap_or(f64::NAN),
        report.recovered_at.unwrap_or(f64::NAN),
    );
    assert!(offloaded < realtime && realtime < recovered, "{offloaded} {realtime} {recovered}");
    // The Pi fell behind (fps < 8) at some sample; offload within `for` (4s) + evaluation and
    // telemetry delays.
    let behind = report.samples.iter().find(|s| s.fps > 0.0 && s.fps < 8.0).map_or(f64::NAN, |s| s.t);
    eprintln!(
        "time to offload: {:.1}s after the Pi fell behind; real time {:.1}s after the offload",
        offloaded - behind,
        realtime - offloaded
    );
    assert!(offloaded - behind <= 12.0, "offload took {:.1}s after the Pi fell behind", offloaded - behind);
    // Each switch went through the real Deployment controller: revision 1 -> 2 (Jetson) -> 3
    // (back to the Pi, reusing the first ReplicaSet, whose pod template matches again).
    assert_eq!(report.revision, "3", "rollouts");
    assert_eq!(report.replica_sets, 2, "ReplicaSets");
    assert_eq!(report.member_env, running_pi_endpoint(&running), "the Deployment does not point at the Pi again");
    assert!(report.slow_disk_message.contains("etcd member etcd-0 has a slow disk"), "{}", report.slow_disk_message);
    // Exactly the two switches of the scene: no flapping; the return judged on the Pi's load.
    assert_eq!(report.transitions, "jetson-agx-orin raspberrypi", "switches recorded by the policy");
    assert_eq!(report.reasons, "OffloadRuleHeld Recovered", "why the policy switched");
    assert!(report.trial_held_at.is_some(), "the trial after the return did not hold");
    // Whenever the policy said Offloaded, the detector was on the Jetson, except while the
    // rollout to it was in flight: a new ReplicaSet, a scheduled pod and KWOK's readiness take a
    // moment, longer on a loaded machine. The bound is generous but not open-ended.
    let late = on_pi_while_offloaded(&report.samples, ROLLOUT_GRACE_S);
    assert!(late.is_empty(), "Offloaded but the detector was still on the Pi {ROLLOUT_GRACE_S}s later: {late:?}");
    let picture = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(picture.contains("<polyline") && picture.contains("OFFLOADED"), "timeline SVG incomplete");
    let _ = std::fs::remove_file(svg);
}

/// The scene's options: quiet, no picture.
fn options(repo: std::path::PathBuf, actuation: scene::Actuation, scenario: Scenario) -> Options {
    Options { operator: OPERATOR.into(), repo, narrate: false, svg: None, actuation, scenario }
}

/// How long after the policy turned Offloaded the detector may still run on the Pi.
const ROLLOUT_GRACE_S: f64 = 15.0;

/// The samples that say Offloaded while the detector ran on the Pi more than `grace` seconds
/// after the policy turned Offloaded.
fn on_pi_while_offloaded(samples: &[scene::Sample], grace: f64) -> Vec<(f64, String)> {
    let mut since = None;
    let mut late = Vec::new();
    for s in samples {
        if s.phase != "Offloaded" {
            since = None;
            continue;
        }
        let start = *since.get_or_insert(s.t);
        if s.agent != JETSON_NODE && s.t - start > grace {
            late.push((s.t, s.agent.clone()));
        }
    }
    late
}

#[test]
fn the_rollout_in_flight_is_allowed_but_a_late_pi_sample_is_not() {
    let at = |t: f64, phase: &str, agent: &str| scene::Sample {
        t,
        agent: agent.into(),
        phase: phase.into(),
        ..Default::default()
    };
    let in_flight = [
        at(0.0, "Local", "raspberrypi"),
        at(1.0, "Offloaded", "raspberrypi"),
        at(2.5, "Offloaded", "raspberrypi"),
        at(3.0, "Offloaded", "jetson-agx-orin"),
    ];
    assert!(on_pi_while_offloaded(&in_flight, 2.0).is_empty());
    let late = [at(1.0, "Offloaded", "raspberrypi"), at(3.5, "Offloaded", "raspberrypi")];
    assert_eq!(on_pi_while_offloaded(&late, 2.0), vec![(3.5, "raspberrypi".to_owned())]);
    // A second Offloaded span starts its own grace.
    let again =
        [at(1.0, "Offloaded", "jetson-agx-orin"), at(2.0, "Local", "raspberrypi"), at(9.0, "Offloaded", "raspberrypi")];
    assert!(on_pi_while_offloaded(&again, 2.0).is_empty());
}

fn running_pi_endpoint(r: &scene::EdgeScene) -> String {
    r.policy().map(|p| p.spec.backends.local.endpoint).unwrap_or_else(|| panic!("the OffloadPolicy is gone"))
}

/// The same scene switching through the Service: the detector's pod is never replaced.
#[test]
fn through_a_service_the_switch_needs_no_new_pod() {
    let _one = ONE_SCENE.lock().unwrap_or_else(|p| p.into_inner());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let opts = options(repo, scene::Actuation::Service, Scenario::Recover);
    let (report, running) = scene::run(&opts).unwrap_or_else(|e| panic!("the scene failed: {e}"));
    for (t, e) in &report.events {
        eprintln!("{t:6.1}s {e}");
    }
    assert_eq!(report.transitions, "jetson-agx-orin raspberrypi", "switches recorded by the policy");
    assert_eq!(report.revision, "1", "the Deployment rolled out");
    assert!(!report.pod_at_start.is_empty());
    assert_eq!(report.pod_at_end, report.pod_at_start, "the detector's pod was replaced");
    let selector = running.backend_selector();
    assert_eq!(selector.get("node").map(String::as_str), Some("raspberrypi"));
}

/// A sustained overload with no Pi-side recovery signal: every return is a trial that fails, the
/// hold before the next one doubles, and the detector spends most of the scene on the Jetson.
#[test]
fn a_sustained_overload_keeps_the_detector_on_the_jetson_with_failed_trials_backing_off() {
    let _one = ONE_SCENE.lock().unwrap_or_else(|p| p.into_inner());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let opts = options(repo, scene::Actuation::Env, Scenario::Sustained);
    let (report, _running) = scene::run(&opts).unwrap_or_else(|e| panic!("the scene failed: {e}"));
    for (t, e) in &report.events {
        eprintln!("{t:6.1}s {e}");
    }
    eprintln!(
        "sustained: transitions [{}], reasons [{}], time on {:?}, failed trials at {:?}, holds {:?}",
        report.transitions, report.reasons, report.time_on, report.failed_trials_at, report.holds
    );
    assert!(report.reasons.starts_with("OffloadRuleHeld"), "{}", report.reasons);
    assert!(report.failed_trials_at.len() >= 2, "failed trials: {:?}", report.failed_trials_at);
    assert!(report.reasons.matches("ReturnFailed").count() >= 2, "{}", report.reasons);
    let holds: Vec<u64> = report.holds.iter().map(|h| span_seconds(h)).collect();
    assert!(holds.windows(2).all(|w| w[1] > w[0]), "the hold does not grow: {:?}", report.holds);
    let on = |agent: &str| report.time_on.iter().filter(|(a, _)| a == agent).map(|(_, t)| t).sum::<f64>();
    let (jetson, pi) = (on(JETSON_NODE), on("raspberrypi"));
    assert!(jetson > pi, "on the Jetson {jetson:.0}s, on the Pi {pi:.0}s");
}

/// `1m30s` -> 90.
fn span_seconds(span: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in span.chars() {
        match c.to_digit(10) {
            Some(d) => n = n * 10 + u64::from(d),
            None => {
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                n = 0;
            }
        }
    }
    total
}
