//! Decisions over time, end to end: the operator on a real kube-apiserver, telemetry from a real
//! Prometheus scraping a simulated detector that behaves like the real one (slow while its
//! Deployment points at the loaded Pi's agent, fast on an offload agent), and every switch seen on
//! the real Deployment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_api::offload::{Phase, Transition};
use continuum_testenv::Prometheus;
use continuum_testenv::kit::{self, Objects, wait};
use continuum_testenv::sim::Agent;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;

mod common;
use common::{Testbed, env_of, fixtures};

const RPC: &str = "VACCEL_RPC_ADDRESS";
/// How often the simulated detector looks where its Deployment points (and the tests sample it).
const STEP: Duration = Duration::from_millis(200);

/// A control plane with the detector Deployment on the Pi, a Prometheus scraping the detector
/// every second (its samples stamped by the exporter when `stamped`), and the operator.
struct Bed {
    s: Testbed,
    prom: Prometheus,
    deployments: Objects<Deployment>,
    policies: Objects<OffloadPolicy>,
    events: Objects<Event>,
    _operator: kit::Operator,
}

fn bed(stamped: bool) -> kit::Result<Bed> {
    let s = Testbed::start(false)?;
    if stamped {
        s.exporter.stamp_samples();
    }
    let deployments = s.cluster.namespaced("default");
    deployments.apply(&common::detector(&s.pi.endpoint())?, "gitops")?;
    let prom = Prometheus::start(&[&format!("127.0.0.1:{}/metrics", s.exporter.port)], Duration::from_secs(1))?;
    let operator = s.operator("test-operator")?;
    let (policies, events) = (s.cluster.namespaced("default"), s.cluster.namespaced("default"));
    Ok(Bed { s, prom, deployments, policies, events, _operator: operator })
}

impl Bed {
    /// The policy in `file` on this bed's Prometheus and agents.
    fn policy(&self, file: &str) -> kit::Result<OffloadPolicy> {
        let mut p: OffloadPolicy = fixtures().load(file)?;
        if let Some(source) = p.spec.telemetry.prometheus.as_mut() {
            source.url = self.prom.url.clone();
        }
        p.spec.backends.local.endpoint = self.s.pi.endpoint();
        p.spec.backends.offload[0].endpoint = self.s.jetson.endpoint();
        Ok(p)
    }

    fn get(&self) -> kit::Result<OffloadPolicy> {
        self.policies.get("detector")
    }

    /// Events of the policy with this reason, as (type, occurrences, message): a repeat with the
    /// same message is counted on its Event's series, a new message is an Event of its own.
    fn events(&self, reason: &str) -> kit::Result<Vec<(String, i32, String)>> {
        let events = self.events.list(&format!("reason={reason},involvedObject.kind=OffloadPolicy"))?;
        let seen = |e: Event| {
            let count = e.series.and_then(|s| s.count).unwrap_or(1);
            (e.type_.unwrap_or_default(), count, e.message.unwrap_or_default())
        };
        Ok(events.into_iter().map(seen).collect())
    }
}

/// The simulated detector: every step it reads where its Deployment points and shows the
/// figures it would make there (4 fps at 300ms on the Pi while the Pi's load is over 0.5,
/// 25 fps at 40ms otherwise), and counts the time spent on each endpoint.
struct Detector<'a> {
    bed: &'a Bed,
    /// The Pi's load; shown as the gauge `pi_load` when `load_gauge` is set.
    pi_load: f64,
    load_gauge: bool,
    on: BTreeMap<String, Duration>,
    last: Option<Instant>,
}

impl<'a> Detector<'a> {
    fn new(bed: &'a Bed, pi_load: f64, load_gauge: bool) -> Self {
        Self { bed, pi_load, load_gauge, on: BTreeMap::new(), last: None }
    }

    /// One step; returns where the Deployment points.
    fn step(&mut self) -> kit::Result<String> {
        let at = env_of(&self.bed.deployments.get("detector")?, RPC).unwrap_or_default();
        let slow = at == self.bed.s.pi.endpoint() && self.pi_load > 0.5;
        let exporter = &self.bed.s.exporter;
        if slow {
            exporter.set(4.0, 0.3)
        } else {
            exporter.set(25.0, 0.04)
        }
        if self.load_gauge {
            exporter.set_pi_load(self.pi_load);
        }
        let now = Instant::now();
        if let Some(last) = self.last.replace(now) {
            *self.on.entry(at.clone()).or_default() += now - last;
        }
        Ok(at)
    }

    /// Steps until `done` holds for the policy and where the Deployment points; returns the
    /// policy and how long it took.
    fn until(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&OffloadPolicy, &str) -> bool,
    ) -> kit::Result<(OffloadPolicy, Duration)> {
        let started = Instant::now();
        loop {
            let at = self.step()?;
            let p = self.bed.get()?;
            if done(&p, &at) {
                eprintln!("{what}: after {:.1}s", started.elapsed().as_secs_f64());
                return Ok((p, started.elapsed()));
            }
            if started.elapsed() > limit {
                let status = p.status.map(|s| (s.phase, s.observed.map(|o| o.summary), s.conditions));
                return Err(kit::Error::Failed(format!("{what}: not within {limit:?}; at {at}, status {status:?}")));
            }
            std::thread::sleep(STEP);
        }
    }

    /// Steps for `span`, requiring `ok` of the policy and where the Deployment points each time.
    fn hold(&mut self, span: Duration, ok: impl Fn(&OffloadPolicy, &str) -> Result<(), String>) -> kit::Result<()> {
        let started = Instant::now();
        while started.elapsed() < span {
            let at = self.step()?;
            ok(&self.bed.get()?, &at).map_err(|e| kit::Error::Failed(format!("after {:?}: {e}", started.elapsed())))?;
            std::thread::sleep(STEP);
        }
        Ok(())
    }

    fn time_on(&self, endpoint: &str) -> Duration {
        self.on.get(endpoint).copied().unwrap_or_default()
    }
}

fn transitions(p: &OffloadPolicy) -> Vec<Transition> {
    p.status.as_ref().map(|s| s.recent_transitions.clone()).unwrap_or_default()
}

/// `reason from->to` of every recorded switch.
fn moves(p: &OffloadPolicy) -> Vec<String> {
    transitions(p).iter().map(|t| format!("{} {}->{}", t.reason, t.from, t.to)).collect()
}

fn ready(p: &OffloadPolicy) -> (String, String) {
    let conditions = p.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    common::condition(conditions, "Ready").map(|c| (c.reason.clone(), c.message.clone())).unwrap_or_default()
}

fn phase(p: &OffloadPolicy) -> Option<Phase> {
    p.status.as_ref()?.phase
}

/// The Deployment points at `endpoint` and the status names `backend` active (the status is
/// written after the Deployment).
fn landed(p: &OffloadPolicy, at: &str, endpoint: &str, backend: &str) -> bool {
    at == endpoint && p.status.as_ref().and_then(|s| s.active_target.as_deref()) == Some(backend)
}

/// Scene time compressed: holds of 40s then 80s stand for 5m then 10m.
const SCENE: Duration = Duration::from_secs(100);

/// The trial back-off as status shows it, each distinct (failed, holdSeconds) in order.
type Trials = Vec<(i32, Option<i64>)>;

/// Runs the overloaded scene for `SCENE` from the operator's first reading of the overload (so
/// the operator's and Prometheus' start-up are not counted); returns the trial states seen and
/// when the scene ended (Unix ms: switches after it are not the scene's, however slow the
/// machine made the last steps).
fn overloaded_scene(bed: &Bed, detector: &mut Detector<'_>) -> kit::Result<(Trials, i64)> {
    let limit = Duration::from_secs(30);
    detector.until("the overload read", limit, |p, _| common::signal(p, "fps") == Some(4.0))?;
    detector.on.clear();
    let mut trials = Trials::new();
    let started = Instant::now();
    while started.elapsed() < SCENE {
        detector.step()?;
        let trial = bed.get()?.status.and_then(|s| s.trial).map(|t| (t.failed, t.hold_seconds));
        if let Some(t) = trial.filter(|t| t.0 > 0)
            && trials.last() != Some(&t)
        {
            trials.push(t);
        }
        std::thread::sleep(STEP);
    }
    let end = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    Ok((trials, end))
}

#[test]
fn under_sustained_overload_failed_trial_returns_back_off_and_the_workload_stays_offloaded() -> kit::Result<()> {
    let bed = bed(false)?;
    let (pi, jetson) = (bed.s.pi.endpoint(), bed.s.jetson.endpoint());
    bed.policies.apply(&bed.policy("offloadpolicy-trial.yaml")?, "user")?;
    let mut detector = Detector::new(&bed, 0.95, false);
    let (trials, end) = overloaded_scene(&bed, &mut detector)?;
    let p = bed.get()?;
    let all: Vec<Transition> = transitions(&p).into_iter().filter(|t| t.time.0.as_millisecond() <= end).collect();
    let returns = all.iter().filter(|t| t.reason == "Recovered").count();
    let (on_pi, on_jetson) = (detector.time_on(&pi), detector.time_on(&jetson));
    let share = on_jetson.as_secs_f64() / (on_pi + on_jetson).as_secs_f64();
    eprintln!(
        "{}s of overload: {} switches, {returns} trial returns, on the Jetson {:.1}s ({:.1}%), on the Pi {:.1}s; \
         status.trial (failed, holdSeconds): {trials:?}; switches: {}",
        SCENE.as_secs(),
        all.len(),
        on_jetson.as_secs_f64(),
        share * 100.0,
        on_pi.as_secs_f64(),
        timeline(&all)
    );
    let failed = bed.events("ReturnFailed")?;
    eprintln!("ReturnFailed Events (type, count, message): {failed:?}");
    assert!((1..=2).contains(&returns), "trial returns: {}", timeline(&all));
    check_backoff(&p, &all, &trials, returns);
    assert!(share >= 0.9, "on the Jetson only {:.1}% of the time", share * 100.0);
    assert_eq!(failed.iter().map(|e| e.1 as usize).sum::<usize>(), returns, "{failed:?}");
    assert!(failed.iter().all(|(kind, ..)| kind == "Warning"), "{failed:?}");
    for n in 1..=returns {
        let own = format!("({n} failed in a row)");
        assert!(failed.iter().any(|e| e.2.contains(&own)), "no ReturnFailed Event says {own}: {failed:?}");
    }
    Ok(())
}

/// `+0.0s OffloadRuleHeld local->jetson, +3.1s Recovered jetson->local, ...`
fn timeline(all: &[Transition]) -> String {
    let first = all.first().map_or(0, |t| t.time.0.as_millisecond());
    let at = |t: &Transition| (t.time.0.as_millisecond() - first) as f64 / 1000.0;
    let parts: Vec<String> = all.iter().map(|t| format!("+{:.1}s {} {}->{}", at(t), t.reason, t.from, t.to)).collect();
    parts.join(", ")
}

/// Every trial return failed at once, each failure one more in status.trial with the hold
/// doubling from backoff.initial (40s), and no return came before the hold had passed.
fn check_backoff(p: &OffloadPolicy, all: &[Transition], trials: &Trials, returns: usize) {
    for (i, _) in all.iter().enumerate().filter(|(_, t)| t.reason == "Recovered") {
        let next = all.get(i + 1).map(|t| t.reason.as_str());
        assert_eq!(next, Some("ReturnFailed"), "a trial return held on the overloaded Pi: {}", timeline(all));
    }
    let expected: Trials = (1..=returns as i32).map(|k| (k, Some(40 << (k - 1)))).collect();
    assert_eq!(trials, &expected, "status.trial (failed, holdSeconds) over the scene");
    let ms = |t: &Transition| t.time.0.as_millisecond();
    for pair in all.windows(2).filter(|w| w[0].reason == "ReturnFailed" && w[1].reason == "Recovered") {
        assert!(ms(&pair[1]) - ms(&pair[0]) >= 39_000, "returned within the 40s hold: {}", timeline(all));
    }
    let trial = p.status.as_ref().and_then(|s| s.trial.as_ref());
    let next = trial.and_then(|t| t.next_return_after.as_ref()).map(|t| t.0.as_millisecond());
    let last_failure = all.iter().rfind(|t| t.reason == "ReturnFailed").map(ms);
    let hold_ms = 40_000 << (returns - 1);
    let off = next.zip(last_failure).map(|(n, f)| n - f - hold_ms);
    assert!(off.is_some_and(|ms| ms.abs() < 1000), "nextReturnAfter - last failure - hold = {off:?} ms");
}

#[test]
fn a_return_judged_on_the_pis_own_load_waits_for_it_however_well_the_jetson_does() -> kit::Result<()> {
    let bed = bed(false)?;
    let (pi, jetson) = (bed.s.pi.endpoint(), bed.s.jetson.endpoint());
    bed.policies.apply(&bed.policy("offloadpolicy-pi-load.yaml")?, "user")?;
    let mut detector = Detector::new(&bed, 0.95, true);
    detector.until("offload to the Jetson", Duration::from_secs(30), |p, at| landed(p, at, &jetson, "jetson"))?;
    // Six recover windows (2s) with the Jetson at 25 fps (the mirrored fps rule would hold) and
    // the Pi still loaded.
    detector.hold(Duration::from_secs(12), |p, at| {
        if at != jetson {
            return Err(format!("returned while pi_load is 0.95: {:?}", moves(p)));
        }
        Ok(())
    })?;
    let p = bed.get()?;
    assert_eq!((common::signal(&p, "fps"), common::signal(&p, "pi_load")), (Some(25.0), Some(0.95)));
    assert_eq!(ready(&p).0, "Steady", "{:?}", ready(&p));
    assert_eq!(moves(&p), ["OffloadRuleHeld local->jetson"]);

    detector.pi_load = 0.2;
    let (p, took) = detector.until("return to the Pi", Duration::from_secs(20), |p, at| landed(p, at, &pi, "local"))?;
    // recoverWhen.for (2s) + a scrape + an evaluation + the detector's step, with room for load.
    assert!(took < Duration::from_secs(10), "the return took {took:?}");
    let last = transitions(&p).pop().map(|t| (t.reason, t.message.unwrap_or_default())).unwrap_or_default();
    assert_eq!(last.0, "Recovered");
    assert!(last.1.starts_with("pi_load 0.2 < 0.5 for ") && last.1.contains("go back to local"), "{}", last.1);
    // The unloaded Pi copes: the trial (verify.for 3s) passes and the workload stays.
    detector.until("the trial passes", Duration::from_secs(20), |p, _| {
        ["TrialPassed", "Steady"].contains(&ready(p).0.as_str()) && phase(p) == Some(Phase::Local)
    })?;
    detector.hold(Duration::from_secs(3), |p, at| if at == pi { Ok(()) } else { Err(format!("{:?}", moves(p))) })?;
    assert_eq!(moves(&bed.get()?), ["OffloadRuleHeld local->jetson", "Recovered jetson->local"]);
    wait::until_value("TrialPassed Event", Duration::from_secs(10), || bed.events("TrialPassed"), |e| e.len() == 1)?;
    Ok(())
}

#[test]
fn a_frozen_exporter_is_reported_stale_within_max_sample_age_and_its_low_fps_moves_nothing() -> kit::Result<()> {
    let bed = bed(true)?;
    let mut p = bed.policy("offloadpolicy-prometheus.yaml")?;
    p.spec.telemetry.max_sample_age = Duration::from_secs(5).into();
    p.spec.offload_when.for_ = Duration::from_secs(1).into();
    bed.policies.apply(&p, "user")?;
    let fps = |p: &OffloadPolicy| common::signal(p, "fps");
    bed.policies.wait_for("detector", "live fps read", Duration::from_secs(30), |p| fps(p) == Some(25.0))?;
    // The detector, which stamps its samples, hangs at 4 fps: its exporter keeps serving that
    // sample, stamped when it hung, and Prometheus keeps answering it.
    bed.s.exporter.freeze(4.0, 0.3);
    let (frozen, frozen_ms) = (Instant::now(), k8s_openapi::jiff::Timestamp::now().as_millisecond());
    bed.policies.wait_for("detector", "the frozen fps read", Duration::from_secs(10), |p| fps(p) == Some(4.0))?;
    let telemetry = |p: &OffloadPolicy| {
        let conditions = p.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
        common::condition(conditions, "TelemetryAvailable").cloned()
    };
    // maxSampleAge + three intervals + 5s for a loaded machine.
    let bound = Duration::from_secs(5 + 3 + 5);
    let stale = bed.policies.wait_for("detector", "TelemetryAvailable False", bound, |p| {
        telemetry(p).is_some_and(|c| c.status == "False")
    })?;
    let took = frozen.elapsed();
    eprintln!("stale reported {:.1}s after the exporter froze (maxSampleAge 5s)", took.as_secs_f64());
    assert!(took >= Duration::from_millis(4500), "reported stale before maxSampleAge: {took:?}");
    let message = telemetry(&stale).map(|c| c.message).unwrap_or_default();
    // The message names the frozen sample's own time (not when Prometheus was asked).
    let stamp = message
        .split("the newest fps sample is from ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond());
    assert!(stamp.is_some_and(|t| (t - frozen_ms).abs() < 1500), "{message} (frozen at {frozen_ms})");
    assert!(message.contains("older than maxSampleAge 5s"), "{message}");
    assert_eq!(ready(&stale).0, "TelemetryUnavailable");
    // Well past offloadWhen.for (1s) on the low fps: nothing moved, before or after.
    std::thread::sleep(Duration::from_secs(4));
    let p = bed.get()?;
    assert_eq!(env_of(&bed.deployments.get("detector")?, RPC), Some(bed.s.pi.endpoint()), "offloaded on stale data");
    assert!(moves(&p).is_empty(), "switched: {:?}", moves(&p));
    Ok(())
}

#[test]
fn ranked_offload_agents_fail_over_in_order_and_back_to_local_only_when_none_is_left() -> kit::Result<()> {
    let bed = bed(false)?;
    let cloud = Agent::start();
    let (pi, jetson) = (bed.s.pi.endpoint(), bed.s.jetson.endpoint());
    let mut p = bed.policy("offloadpolicy-pi-load.yaml")?;
    let mut second = p.spec.backends.offload[0].clone();
    (second.name, second.endpoint) = ("cloud".into(), cloud.endpoint());
    p.spec.backends.offload.push(second);
    bed.policies.apply(&p, "user")?;
    // The Pi stays loaded throughout: no return, only moves between the agents.
    let mut detector = Detector::new(&bed, 0.95, true);
    let limit = Duration::from_secs(15);
    let first = "offload to the first agent, the Jetson";
    detector.until(first, Duration::from_secs(30), |p, at| landed(p, at, &jetson, "jetson"))?;
    bed.s.jetson.close();
    let (_, took) =
        detector.until("fail over to the cloud agent", limit, |p, at| landed(p, at, &cloud.endpoint(), "cloud"))?;
    let mut expected = vec!["OffloadRuleHeld local->jetson", "FailedOver jetson->cloud"];
    assert_eq!(moves(&bed.get()?), expected);
    cloud.close();
    let (_, took_back) = detector.until("back to the Pi, none left", limit, |p, at| landed(p, at, &pi, "local"))?;
    expected.push("TargetUnhealthy cloud->local");
    assert_eq!(moves(&bed.get()?), expected);
    let back = bed.events("FailedBack")?;
    assert!(back.len() == 1 && back[0].0 == "Warning" && back[0].1 == 1, "{back:?}");
    // Still overloaded with nowhere to go: it stays, Degraded, and says why.
    detector.hold(Duration::from_secs(4), |_, at| if at == pi { Ok(()) } else { Err(format!("moved to {at}")) })?;
    let (p, _) = detector.until("no target", limit, |p, _| ready(p).0 == "TargetUnhealthy")?;
    assert_eq!(phase(&p), Some(Phase::Degraded));
    assert!(ready(&p).1.contains("no offload backend is reachable"), "{:?}", ready(&p));
    bed.s.jetson.open();
    let (p, took_again) =
        detector.until("offload to the Jetson again", limit, |p, at| landed(p, at, &jetson, "jetson"))?;
    expected.push("OffloadRuleHeld local->jetson");
    assert_eq!(moves(&p), expected);
    eprintln!("failover {took:?}, back to local {took_back:?}, offloaded again {took_again:?} after each agent change");
    for took in [took, took_back, took_again] {
        // One interval, a probe (500ms timeout) and the detector's step, with room for load.
        assert!(took < Duration::from_secs(8), "{took:?}");
    }
    Ok(())
}
