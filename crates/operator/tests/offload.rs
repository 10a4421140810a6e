//! OffloadPolicy end to end: the operator on a real kube-apiserver, telemetry from a real
//! Prometheus scraping a simulated detector whose fps/latency the test sets, simulated vAccel
//! agents as TCP listeners, and the switch observed on the real Deployment.

use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_api::offload::{Mode, Phase};
use continuum_testenv::Prometheus;
use continuum_testenv::kit::{self, Cluster, Kubectl, Objects, wait};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::DynamicObject;

mod common;
use common::{Testbed, env_of, fixtures};

const RPC: &str = "VACCEL_RPC_ADDRESS";

/// The detector, plus an env entry that belongs to another field manager.
fn deployment(pi: &str) -> kit::Result<Deployment> {
    let mut d = common::detector(pi)?;
    common::set_env(&mut d, "VACCEL_LOG_LEVEL", "2");
    Ok(d)
}

fn policy(prom: &str, pi: &str, jetson: &str) -> kit::Result<OffloadPolicy> {
    let mut p: OffloadPolicy = fixtures().load("offloadpolicy-prometheus.yaml")?;
    if let Some(source) = p.spec.telemetry.prometheus.as_mut() {
        source.url = prom.to_owned();
    }
    p.spec.backends.local.endpoint = pi.to_owned();
    p.spec.backends.offload[0].endpoint = jetson.to_owned();
    Ok(p)
}

/// The same policy reading the detector's /metrics directly instead of through Prometheus.
fn scrape_policy(s: &Testbed) -> kit::Result<OffloadPolicy> {
    let (pi, jetson) = (s.pi.endpoint(), s.jetson.endpoint());
    let mut p = policy("http://unused:9090", &pi, &jetson)?;
    let scraped = common::scrape_policy(&s.scrape_url(), &pi, &jetson)?.spec;
    let mut telemetry = scraped.telemetry;
    telemetry.max_sample_age = p.spec.telemetry.max_sample_age;
    p.spec.telemetry = telemetry;
    for signal in &mut p.spec.signals {
        let metric = if signal.name == "fps" { "detector_fps" } else { "detector_inference_latency_seconds" };
        (signal.query, signal.metric) = (None, Some(metric.into()));
    }
    Ok(p)
}

struct Views {
    deployments: Objects<Deployment>,
    policies: Objects<OffloadPolicy>,
    events: Objects<Event>,
}

fn views(cluster: &Cluster) -> Views {
    Views {
        deployments: cluster.namespaced("default"),
        policies: cluster.namespaced("default"),
        events: cluster.namespaced("default"),
    }
}

impl Views {
    fn env(&self, var: &str) -> kit::Result<Option<String>> {
        Ok(env_of(&self.deployments.get("detector")?, var))
    }

    /// Waits until the detector's `VACCEL_RPC_ADDRESS` is `endpoint`; returns how long it took.
    fn wait_env(&self, what: &str, limit: Duration, endpoint: &str) -> kit::Result<Duration> {
        let started = Instant::now();
        self.deployments.wait_for("detector", what, limit, |d| env_of(d, RPC).as_deref() == Some(endpoint))?;
        Ok(started.elapsed())
    }

    fn wait_policy(
        &self,
        what: &str,
        limit: Duration,
        cond: impl Fn(&OffloadPolicy) -> bool,
    ) -> kit::Result<OffloadPolicy> {
        self.policies.wait_for("detector", what, limit, cond)
    }

    fn events_named(&self, reason: &str) -> kit::Result<usize> {
        Ok(self.events.list(&format!("reason={reason}"))?.len())
    }
}

fn condition(p: &OffloadPolicy, type_: &str) -> Option<Condition> {
    common::condition(&p.status.as_ref()?.conditions, type_).cloned()
}

fn phase(p: &OffloadPolicy) -> Option<Phase> {
    p.status.as_ref()?.phase
}

fn fps(p: &OffloadPolicy) -> Option<f64> {
    common::signal(p, "fps")
}

#[test]
fn degraded_fps_offloads_to_the_healthy_agent_and_recovery_switches_back() -> kit::Result<()> {
    let s = Testbed::start(false)?;
    let v = views(&s.cluster);
    let target = format!("127.0.0.1:{}/metrics", s.exporter.port);
    let prom = Prometheus::start(&[&target], Duration::from_secs(1))?;
    let (pi, jetson) = (s.pi.endpoint(), s.jetson.endpoint());
    v.deployments.apply(&deployment(&pi)?, "gitops")?;
    let operator = s.operator("test-operator")?;
    v.policies.apply(&policy(&prom.url, &pi, &jetson)?, "user")?;

    v.wait_policy("healthy policy reports Local with the observed fps", Duration::from_secs(30), |p| {
        phase(p) == Some(Phase::Local) && fps(p) == Some(25.0)
    })?;
    assert_eq!(v.env(RPC)?, Some(pi.clone()));

    // Degrade: offload within `for` (3s) + one interval + Prometheus' scrape interval + slack.
    s.exporter.set(4.0, 0.3);
    let took = v.wait_env("switch to the Jetson agent", Duration::from_secs(20), &jetson)?;
    assert!(took < Duration::from_secs(9), "offload took {took:?}");
    assert_eq!(v.env("VACCEL_LOG_LEVEL")?.as_deref(), Some("2"), "another manager's env entry survives the switch");
    let offloaded =
        v.wait_policy("status Offloaded", Duration::from_secs(10), |p| phase(p) == Some(Phase::Offloaded))?;
    let table = Kubectl(&s.cp).table("offloadpolicies", "default")?;
    let row = table.get(1).cloned().unwrap_or_default();
    assert_eq!(
        row.get(1..6),
        Some(&["detector", "jetson", "Offloaded", "fps=4.0", "latency=300ms"].map(String::from)[..]),
        "{table:?}"
    );
    let last = offloaded.status.and_then(|s| s.last_transition?.message).unwrap_or_default();
    assert!(
        last.starts_with("fps 4.0 < 10 and latency 300ms > 150ms for ")
            && last.ends_with(&format!(": offload to jetson ({jetson})")),
        "{last}"
    );
    let managed = v.deployments.get("detector")?.metadata.managed_fields.unwrap_or_default();
    assert!(managed.iter().any(|m| m.manager.as_deref() == Some("continuum-operator")), "{managed:?}");

    // Recover: back to the Pi's agent.
    s.exporter.set(25.0, 0.04);
    v.wait_env("switch back to the Pi agent", Duration::from_secs(20), &pi)?;
    // The Events follow the write (after the status): wait for them rather than race them.
    let reasons = || -> kit::Result<Vec<String>> {
        let events = v.events.list("involvedObject.kind=OffloadPolicy")?;
        Ok(events.into_iter().filter_map(|e| e.reason).collect())
    };
    wait::until_value("the Offloaded and Recovered Events", Duration::from_secs(10), reasons, |r| {
        r.iter().any(|r| r == "Offloaded") && r.iter().any(|r| r == "Recovered")
    })?;

    // A dead offload agent is never switched to, and the condition says why.
    s.jetson.close();
    s.exporter.set(4.0, 0.3);
    v.wait_policy("OffloadTargetHealthy False", Duration::from_secs(20), |p| {
        condition(p, "OffloadTargetHealthy").is_some_and(|c| c.status == "False")
    })?;
    // Several evaluations on the degraded signal (well past `for`) with the agent still down.
    let evaluations = "continuum_offload_evaluation_duration_seconds_count";
    let before = operator.metric(evaluations).unwrap_or(0.0);
    wait::until("five more evaluations", Duration::from_secs(30), || {
        operator.metric(evaluations).is_some_and(|n| n >= before + 5.0)
    })?;
    assert_eq!(v.env(RPC)?, Some(pi.clone()), "switched to a dead agent");
    let ready = condition(&v.policies.get("detector")?, "Ready").map(|c| c.message).unwrap_or_default();
    assert!(ready.contains("no offload backend is reachable (jetson: ") && ready.contains("not switching"), "{ready}");
    s.jetson.open();
    v.wait_env("switch once the agent is back", Duration::from_secs(20), &jetson)?;
    Ok(())
}

/// Control plane, CRDs, exporter, agents and the Deployment, for the scenarios below.
fn testbed() -> kit::Result<(Testbed, Views)> {
    let s = Testbed::start(false)?;
    let v = views(&s.cluster);
    v.deployments.apply(&deployment(&s.pi.endpoint())?, "gitops")?;
    Ok((s, v))
}

fn prometheus(s: &Testbed) -> kit::Result<Prometheus> {
    Ok(Prometheus::start(&[&format!("127.0.0.1:{}/metrics", s.exporter.port)], Duration::from_secs(1))?)
}

#[test]
fn dry_run_only_reports_and_a_prometheus_outage_is_held_and_explained() -> kit::Result<()> {
    let (s, v) = testbed()?;
    let prom = prometheus(&s)?;
    let _operator = s.operator("test-operator")?;
    let mut p = policy(&prom.url, &s.pi.endpoint(), &s.jetson.endpoint())?;
    p.spec.mode = Mode::DryRun;
    v.policies.apply(&p, "user")?;
    s.exporter.set(4.0, 0.3);
    wait::until_value(
        "DryRunWouldOffload Event",
        Duration::from_secs(20),
        || v.events_named("DryRunWouldOffload"),
        |n| *n == 1,
    )?;
    assert_eq!(v.env(RPC)?, Some(s.pi.endpoint()), "DryRun patched the Deployment");
    let ready = condition(&v.policies.get("detector")?, "Ready").map(|c| c.message).unwrap_or_default();
    assert!(
        ready.starts_with(&format!("DryRun: would offload to jetson ({}): fps 4.0 < 10", s.jetson.endpoint())),
        "{ready}"
    );

    drop(prom);
    let held = v.wait_policy("TelemetryAvailable False", Duration::from_secs(20), |p| {
        condition(p, "TelemetryAvailable").is_some_and(|c| c.status == "False")
    })?;
    let ready = condition(&held, "Ready").map(|c| c.message).unwrap_or_default();
    assert!(ready.contains("no usable telemetry") && ready.contains("onNoData Hold"), "{ready}");
    let telemetry = condition(&held, "TelemetryAvailable").map(|c| c.message).unwrap_or_default();
    assert!(telemetry.contains("connection failed"), "{telemetry}");
    assert_eq!(phase(&held), Some(Phase::Degraded));
    assert_eq!(v.env(RPC)?, Some(s.pi.endpoint()));
    Ok(())
}

#[test]
fn a_restarted_operator_resumes_the_sustain_window_from_status() -> kit::Result<()> {
    let (s, v) = testbed()?;
    let prom = prometheus(&s)?;
    let operator = s.operator("test-operator")?;
    let mut p = policy(&prom.url, &s.pi.endpoint(), &s.jetson.endpoint())?;
    p.spec.offload_when.for_ = Duration::from_secs(12).into();
    v.policies.apply(&p, "user")?;
    v.wait_policy("first evaluation", Duration::from_secs(20), |p| phase(p) == Some(Phase::Local))?;
    s.exporter.set(4.0, 0.3);
    let violating = v.wait_policy("violatingSince recorded", Duration::from_secs(20), |p| {
        p.status.as_ref().is_some_and(|s| s.violating_since.is_some())
    })?;
    let since = violating.status.and_then(|s| s.violating_since);
    std::thread::sleep(Duration::from_secs(4)); // part of the scenario: the window runs on
    drop(operator);
    let restarted = Instant::now();
    let _operator = s.operator("test-operator")?;
    v.wait_env("offload after the restart", Duration::from_secs(30), &s.jetson.endpoint())?;
    // The 12s window started ~5s before the restart: the switch comes well before restart + 12s.
    assert!(
        restarted.elapsed() < Duration::from_secs(12),
        "the window restarted: {:?} after the restart",
        restarted.elapsed()
    );
    let first = v.policies.get("detector")?.status.and_then(|s| s.last_transition?.message).unwrap_or_default();
    assert!(first.starts_with("fps 4.0 < 10 and latency 300ms > 150ms for 1"), "{first} (violating since {since:?})");
    Ok(())
}

#[test]
fn direct_scrape_mode_offloads_without_prometheus() -> kit::Result<()> {
    let (s, v) = testbed()?;
    let _operator = s.operator("test-operator")?;
    v.policies.apply(&scrape_policy(&s)?, "user")?;
    let scraped = v.wait_policy("scraped fps in status", Duration::from_secs(20), |p| fps(p) == Some(25.0))?;
    let plain = condition(&scraped, "Propagated").map(|c| c.reason).unwrap_or_default();
    assert_eq!(plain, "NotAResourceTemplate", "a plain Deployment (no Karmada) is reported as such");
    s.exporter.set(3.0, 0.5);
    v.wait_env("offload from scraped telemetry", Duration::from_secs(20), &s.jetson.endpoint())?;
    Ok(())
}

#[test]
fn a_missing_container_becomes_a_condition_and_an_event_not_a_crash() -> kit::Result<()> {
    let (s, v) = testbed()?;
    let _operator = s.operator("test-operator")?;
    let mut p = scrape_policy(&s)?;
    if let Some(env) = p.spec.actuation.env.as_mut() {
        env.container = "inference".into();
    }
    v.policies.apply(&p, "user")?;
    let missing = v.wait_policy("Actuated False", Duration::from_secs(20), |p| {
        condition(p, "Actuated").is_some_and(|c| c.reason == "ContainerMissing")
    })?;
    let msg = condition(&missing, "Actuated").map(|c| c.message).unwrap_or_default();
    assert!(msg.contains("has no container inference (it has: detector)"), "{msg}");
    wait::until_value(
        "ContainerMissing Event",
        Duration::from_secs(10),
        || v.events_named("ContainerMissing"),
        |n| *n == 1,
    )?;
    Ok(())
}

#[test]
fn a_flapping_signal_switches_no_more_often_than_cooldown_and_budget_allow() -> kit::Result<()> {
    let (s, v) = testbed()?;
    let _operator = s.operator("test-operator")?;
    let mut p = scrape_policy(&s)?;
    p.spec.offload_when.for_ = Duration::ZERO.into();
    if let Some(recover) = p.spec.recover_when.as_mut() {
        recover.for_ = Duration::ZERO.into();
    }
    p.spec.cooldown = Duration::from_secs(6).into();
    p.spec.max_switches_per_hour = 3;
    v.policies.apply(&p, "user")?;
    v.wait_policy("first evaluation", Duration::from_secs(20), |p| phase(p) == Some(Phase::Local))?;
    // The signal flips every second for 30 s: unbounded, that would be ~30 switches.
    let started = Instant::now();
    let mut bad = true;
    while started.elapsed() < Duration::from_secs(30) {
        if bad {
            s.exporter.set(3.0, 0.5)
        } else {
            s.exporter.set(30.0, 0.02)
        }
        bad = !bad;
        std::thread::sleep(Duration::from_secs(1));
    }
    let transitions = v.policies.get("detector")?.status.map(|s| s.recent_transitions).unwrap_or_default();
    let times: Vec<i64> = transitions.iter().map(|t| t.time.0.as_millisecond()).collect();
    assert!(!times.is_empty() && times.len() <= 3, "switches: {times:?}");
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 6000, "switches closer than the cooldown: {times:?}");
    }
    let reasons: Vec<String> = v.events.list("")?.into_iter().filter_map(|e| e.reason).collect();
    assert!(reasons.iter().any(|r| r == "CooldownActive" || r == "SwitchBudgetExhausted"), "{reasons:?}");
    eprintln!("{} switches in 30 s of flapping: {times:?}", times.len());
    Ok(())
}

#[test]
fn a_karmada_template_reports_where_it_runs_from_its_resource_binding() -> kit::Result<()> {
    let (s, v) = testbed()?;
    s.cp.apply_crds(&continuum_testenv::karmada_crds())?;
    let label = serde_json::json!({"metadata": {"labels": {"propagationpolicy.karmada.io/permanent-id": "2c5e1a"}}});
    v.deployments.merge("detector", &label)?;
    let binding: DynamicObject = fixtures().load("resourcebinding.yaml")?;
    let bindings = s.cluster.dynamic("default", "work.karmada.io/v1alpha2", "ResourceBinding");
    bindings.apply(&binding, "karmada")?;
    let status = serde_json::json!({"status": {"aggregatedStatus": [
        {"clusterName": "edge-pi", "applied": true, "health": "Healthy", "status": {"replicas": 1, "readyReplicas": 1}},
        {"clusterName": "edge-jetson", "applied": true, "health": "Unhealthy", "status": {"replicas": 1, "readyReplicas": 0}},
    ]}});
    bindings.merge_status("detector-deployment", &status)?;
    let _operator = s.operator("test-operator")?;
    v.policies.apply(&scrape_policy(&s)?, "user")?;
    let clusters = |p: &OffloadPolicy| {
        p.status.as_ref().and_then(|s| s.propagation.as_ref()).map(|p| p.clusters.clone()).unwrap_or_default()
    };
    let propagated = v.wait_policy("propagation in status", Duration::from_secs(20), |p| {
        clusters(p).iter().map(|c| c.name.as_str()).eq(["edge-jetson", "edge-pi"])
    })?;
    // The unhealthy cluster first, both counted.
    let first = clusters(&propagated).first().map(|c| (c.health.clone(), c.ready_replicas));
    assert_eq!(first, Some((Some("Unhealthy".into()), Some(0))));
    let counts =
        propagated.status.as_ref().and_then(|s| s.propagation.as_ref()).map(|p| (p.clusters_total, p.clusters_healthy));
    assert_eq!(counts, Some((2, 1)));
    let msg = condition(&propagated, "Propagated").map(|c| c.message).unwrap_or_default();
    assert_eq!(msg, "Propagated to 2 (1 healthy): edge-jetson (Unhealthy, 0 ready), edge-pi (Healthy, 1 ready).");
    Ok(())
}
