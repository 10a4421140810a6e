//! OffloadPolicy end to end: the operator on a real kube-apiserver, telemetry from a real
//! Prometheus scraping a simulated detector whose fps/latency the test sets, simulated vAccel
//! agents as TCP listeners, and the switch observed on the real Deployment.

use std::time::{Duration, Instant};

use continuum_testenv::sim::{Agent, Exporter};
use continuum_testenv::{ControlPlane, Prometheus};

mod common;
use common::Scene;

fn kubectl(cp: &ControlPlane, args: &[&str]) -> String {
    let out = cp.kubectl_output(args).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn apply(cp: &ControlPlane, yaml: &str, manager: &str) {
    let path = cp.dir.join(format!("{manager}.yaml"));
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    let out = cp
        .kubectl_output(&["apply", "--field-manager", manager, "-f", &path.to_string_lossy()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn env_of(cp: &ControlPlane, var: &str) -> String {
    kubectl(
        cp,
        &[
            "get",
            "deployment",
            "detector",
            "-o",
            &format!("jsonpath={{.spec.template.spec.containers[0].env[?(@.name==\"{var}\")].value}}"),
        ],
    )
}

fn policy(cp: &ControlPlane, path: &str) -> String {
    kubectl(cp, &["get", "offloadpolicy", "detector", "-o", &format!("jsonpath={path}")])
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{what}: {:.1}s", started.elapsed().as_secs_f64());
    started.elapsed()
}

/// The detector, plus an env entry that belongs to another field manager.
fn deployment(pi: &str) -> String {
    format!("{}        - {{name: VACCEL_LOG_LEVEL, value: \"2\"}}\n", common::DETECTOR.replace("PI", pi))
}

fn policy_yaml(prom: &str, pi: &str, jetson: &str) -> String {
    format!(
        "apiVersion: continuum.dev/v1alpha1
kind: OffloadPolicy
metadata:
  name: detector
spec:
  targetRef: {{name: detector}}
  telemetry:
    prometheus: {{url: \"{prom}\"}}
    fps: {{query: \"max(detector_fps)\"}}
    latency: {{query: \"max(detector_inference_latency_seconds)\"}}
    interval: 1s
    maxSampleAge: 10s
  offloadWhen: {{fpsBelow: 10, latencyAbove: 150ms, for: 3s}}
  recoverWhen: {{fpsAbove: 12, latencyBelow: 120ms, for: 3s}}
  backends:
    local: {{endpoint: \"{pi}\"}}
    offload: {{endpoint: \"{jetson}\", healthCheck: {{timeout: 500ms}}}}
  actuation:
    env: {{container: detector}}
  cooldown: 0s
  maxSwitchesPerHour: 20
"
    )
}

#[test]
fn degraded_fps_offloads_to_the_healthy_agent_and_recovery_switches_back() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    cp.apply_crds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"))
        .unwrap_or_else(|e| panic!("{e}"));
    let exporter = Exporter::start(25.0, 0.04);
    let (pi, jetson) = (Agent::start(), Agent::start());
    let prom = Prometheus::start(&[&format!("127.0.0.1:{}/metrics", exporter.port)], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    apply(&cp, &deployment(&pi.endpoint()), "gitops");
    let _operator = common::start_operator(&cp, "127.0.0.1:0");
    apply(&cp, &policy_yaml(&prom.url, &pi.endpoint(), &jetson.endpoint()), "user");

    wait_for("healthy policy reports Local with the observed fps", Duration::from_secs(30), || {
        policy(&cp, "{.status.phase} {.status.observed.fps}") == "Local 25"
    });
    assert_eq!(env_of(&cp, "VACCEL_RPC_ADDRESS"), pi.endpoint());

    // Degrade: offload within `for` (3s) + one interval + Prometheus' scrape interval + slack.
    exporter.set(4.0, 0.3);
    let took = wait_for("switch to the Jetson agent", Duration::from_secs(20), || {
        env_of(&cp, "VACCEL_RPC_ADDRESS") == jetson.endpoint()
    });
    assert!(took < Duration::from_secs(9), "offload took {took:?}");
    assert_eq!(env_of(&cp, "VACCEL_LOG_LEVEL"), "2", "another manager's env entry survives the switch");
    wait_for("status Offloaded", Duration::from_secs(10), || policy(&cp, "{.status.phase}") == "Offloaded");
    let table = kubectl(&cp, &["get", "offloadpolicies"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row.get(1..6), Some(&["detector", "Offload", "Offloaded", "4", "300ms"][..]), "{table}");
    let last = policy(&cp, "{.status.lastTransition.message}");
    assert!(
        last.starts_with("fps 4.0 < 10 for ") && last.ends_with(&format!(": offload to {}", jetson.endpoint())),
        "{last}"
    );
    let managed = kubectl(&cp, &["get", "deployment", "detector", "-o", "json", "--show-managed-fields"]);
    assert!(managed.contains("\"manager\": \"continuum-operator\""), "{managed}");

    // Recover: back to the Pi's agent.
    exporter.set(25.0, 0.04);
    wait_for("switch back to the Pi agent", Duration::from_secs(20), || {
        env_of(&cp, "VACCEL_RPC_ADDRESS") == pi.endpoint()
    });
    let events = kubectl(
        &cp,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=OffloadPolicy",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
    );
    assert!(events.contains("Offloaded") && events.contains("Recovered"), "{events}");

    // A dead offload agent is never switched to, and the condition says why.
    jetson.close();
    exporter.set(4.0, 0.3);
    wait_for("OffloadTargetHealthy False", Duration::from_secs(20), || {
        policy(&cp, r#"{.status.conditions[?(@.type=="OffloadTargetHealthy")].status}"#) == "False"
    });
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(env_of(&cp, "VACCEL_RPC_ADDRESS"), pi.endpoint(), "switched to a dead agent");
    let ready = policy(&cp, r#"{.status.conditions[?(@.type=="Ready")].message}"#);
    assert!(ready.contains("unreachable") && ready.contains("not switching"), "{ready}");
    jetson.open();
    wait_for("switch once the agent is back", Duration::from_secs(20), || {
        env_of(&cp, "VACCEL_RPC_ADDRESS") == jetson.endpoint()
    });
}

/// Control plane, CRDs, exporter, agents and the Deployment, for the scenarios below.
fn scene() -> Scene {
    let s = Scene::start(false);
    apply(&s.cp, &deployment(&s.pi.endpoint()), "gitops");
    s
}

/// The policy reading the detector's /metrics directly instead of through Prometheus.
fn scrape_policy(s: &Scene) -> String {
    policy_yaml("unused", &s.pi.endpoint(), &s.jetson.endpoint())
        .replace(
            "    prometheus: {url: \"unused\"}\n",
            &format!("    scrape: {{url: \"http://127.0.0.1:{}/metrics\"}}\n", s.exporter.port),
        )
        .replace("{query: \"max(detector_fps)\"}", "{metric: detector_fps}")
        .replace("{query: \"max(detector_inference_latency_seconds)\"}", "{metric: detector_inference_latency_seconds}")
}

#[test]
fn dry_run_only_reports_and_a_prometheus_outage_is_held_and_explained() {
    let s = scene();
    let prom = Prometheus::start(&[&format!("127.0.0.1:{}/metrics", s.exporter.port)], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let _operator = common::start_operator(&s.cp, "127.0.0.1:0");
    let yaml = policy_yaml(&prom.url, &s.pi.endpoint(), &s.jetson.endpoint()) + "  mode: DryRun\n";
    apply(&s.cp, &yaml, "user");
    s.exporter.set(4.0, 0.3);
    wait_for("DryRunWouldOffload Event", Duration::from_secs(20), || {
        kubectl(&s.cp, &["get", "events", "--field-selector", "reason=DryRunWouldOffload", "-o", "name"])
            .lines()
            .count()
            == 1
    });
    assert_eq!(env_of(&s.cp, "VACCEL_RPC_ADDRESS"), s.pi.endpoint(), "DryRun patched the Deployment");
    assert!(
        policy(&s.cp, r#"{.status.conditions[?(@.type=="Ready")].message}"#).starts_with("DryRun: would fps 4.0 < 10")
    );

    drop(prom);
    wait_for("TelemetryAvailable False", Duration::from_secs(20), || {
        policy(&s.cp, r#"{.status.conditions[?(@.type=="TelemetryAvailable")].status}"#) == "False"
    });
    let ready = policy(&s.cp, r#"{.status.conditions[?(@.type=="Ready")].message}"#);
    assert!(ready.contains("no usable telemetry") && ready.contains("onNoData Hold"), "{ready}");
    assert!(
        policy(&s.cp, r#"{.status.conditions[?(@.type=="TelemetryAvailable")].message}"#).contains("connection failed")
    );
    assert_eq!(policy(&s.cp, "{.status.phase}"), "Degraded");
    assert_eq!(env_of(&s.cp, "VACCEL_RPC_ADDRESS"), s.pi.endpoint());
}

#[test]
fn a_restarted_operator_resumes_the_sustain_window_from_status() {
    let s = scene();
    let prom = Prometheus::start(&[&format!("127.0.0.1:{}/metrics", s.exporter.port)], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let operator = common::start_operator(&s.cp, "127.0.0.1:0");
    let yaml = policy_yaml(&prom.url, &s.pi.endpoint(), &s.jetson.endpoint())
        .replace("for: 3s}\n  recoverWhen", "for: 12s}\n  recoverWhen");
    apply(&s.cp, &yaml, "user");
    wait_for("first evaluation", Duration::from_secs(20), || policy(&s.cp, "{.status.phase}") == "Local");
    s.exporter.set(4.0, 0.3);
    wait_for("violatingSince recorded", Duration::from_secs(20), || {
        !policy(&s.cp, "{.status.violatingSince}").is_empty()
    });
    let since = policy(&s.cp, "{.status.violatingSince}");
    std::thread::sleep(Duration::from_secs(4));
    drop(operator);
    let restarted = Instant::now();
    let _operator = common::start_operator(&s.cp, "127.0.0.1:0");
    wait_for("offload after the restart", Duration::from_secs(30), || {
        env_of(&s.cp, "VACCEL_RPC_ADDRESS") == s.jetson.endpoint()
    });
    // The 12s window started ~5s before the restart: the switch comes well before restart + 12s.
    assert!(
        restarted.elapsed() < Duration::from_secs(12),
        "the window restarted: {:?} after the restart",
        restarted.elapsed()
    );
    let first =
        kubectl(&s.cp, &["get", "offloadpolicy", "detector", "-o", "jsonpath={.status.lastTransition.message}"]);
    assert!(first.starts_with("fps 4.0 < 10 for 1"), "{first} (violating since {since})");
}

#[test]
fn direct_scrape_mode_offloads_without_prometheus() {
    let s = scene();
    let _operator = common::start_operator(&s.cp, "127.0.0.1:0");
    let yaml = scrape_policy(&s);
    apply(&s.cp, &yaml, "user");
    wait_for("scraped fps in status", Duration::from_secs(20), || policy(&s.cp, "{.status.observed.fps}") == "25");
    let plain = policy(&s.cp, r#"{.status.conditions[?(@.type=="Propagated")].reason}"#);
    assert_eq!(plain, "NotAResourceTemplate", "a plain Deployment (no Karmada) is reported as such");
    s.exporter.set(3.0, 0.5);
    wait_for("offload from scraped telemetry", Duration::from_secs(20), || {
        env_of(&s.cp, "VACCEL_RPC_ADDRESS") == s.jetson.endpoint()
    });
}

#[test]
fn a_missing_container_becomes_a_condition_and_an_event_not_a_crash() {
    let s = scene();
    let _operator = common::start_operator(&s.cp, "127.0.0.1:0");
    let yaml = scrape_policy(&s).replace("env: {container: detector}", "env: {container: inference}");
    apply(&s.cp, &yaml, "user");
    wait_for("Actuated False", Duration::from_secs(20), || {
        policy(&s.cp, r#"{.status.conditions[?(@.type=="Actuated")].reason}"#) == "ContainerMissing"
    });
    let msg = policy(&s.cp, r#"{.status.conditions[?(@.type=="Actuated")].message}"#);
    assert!(msg.contains("has no container inference (it has: detector)"), "{msg}");
    wait_for("ContainerMissing Event", Duration::from_secs(10), || {
        kubectl(&s.cp, &["get", "events", "--field-selector", "reason=ContainerMissing", "-o", "name"]).lines().count()
            == 1
    });
}

#[test]
fn a_flapping_signal_switches_no_more_often_than_cooldown_and_budget_allow() {
    let s = scene();
    let _operator = common::start_operator(&s.cp, "127.0.0.1:0");
    let yaml = scrape_policy(&s)
        .replace("for: 3s}", "for: 0s}")
        .replace("cooldown: 0s", "cooldown: 6s")
        .replace("maxSwitchesPerHour: 20", "maxSwitchesPerHour: 3");
    apply(&s.cp, &yaml, "user");
    wait_for("first evaluation", Duration::from_secs(20), || policy(&s.cp, "{.status.phase}") == "Local");
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
    let times = policy(&s.cp, "{.status.recentTransitions[*].time}");
    let times: Vec<i64> = times
        .split_whitespace()
        .filter_map(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
        .collect();
    assert!(!times.is_empty() && times.len() <= 3, "switches: {times:?}");
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 6000, "switches closer than the cooldown: {times:?}");
    }
    let reasons = kubectl(&s.cp, &["get", "events", "-o", "jsonpath={.items[*].reason}"]);
    assert!(reasons.contains("CooldownActive") || reasons.contains("SwitchBudgetExhausted"), "{reasons}");
    eprintln!("{} switches in 30 s of flapping: {times:?}", times.len());
}

#[test]
fn a_karmada_template_reports_where_it_runs_from_its_resource_binding() {
    let s = scene();
    s.cp.apply_crds(&continuum_testenv::karmada_crds()).unwrap_or_else(|e| panic!("{e}"));
    let out =
        s.cp.kubectl_output(&["label", "deployment", "detector", "propagationpolicy.karmada.io/permanent-id=2c5e1a"])
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    apply(
        &s.cp,
        "apiVersion: work.karmada.io/v1alpha2\nkind: ResourceBinding\nmetadata:\n  name: detector-deployment\nspec:\n  resource: {apiVersion: apps/v1, kind: Deployment, name: detector}\n",
        "karmada",
    );
    let status = r#"{"status":{"aggregatedStatus":[{"clusterName":"edge-pi","applied":true,"health":"Healthy","status":{"replicas":1,"readyReplicas":1}},{"clusterName":"edge-jetson","applied":true,"health":"Unhealthy","status":{"replicas":1,"readyReplicas":0}}]}}"#;
    let out =
        s.cp.kubectl_output(&[
            "patch",
            "resourcebinding",
            "detector-deployment",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let _operator = common::start_operator(&s.cp, "127.0.0.1:0");
    let yaml = scrape_policy(&s);
    apply(&s.cp, &yaml, "user");
    wait_for("propagation in status", Duration::from_secs(20), || {
        policy(&s.cp, "{.status.propagation.clusters[*].name}") == "edge-pi edge-jetson"
    });
    assert_eq!(
        policy(&s.cp, "{.status.propagation.clusters[0].health} {.status.propagation.clusters[0].readyReplicas}"),
        "Healthy 1"
    );
    let msg = policy(&s.cp, r#"{.status.conditions[?(@.type=="Propagated")].message}"#);
    assert_eq!(msg, "Propagated to 2: edge-pi (Healthy, 1 ready), edge-jetson (Unhealthy, 0 ready).");
}
