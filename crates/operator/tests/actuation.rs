//! No-redeployment actuation on the real kube-apiserver: the backend switched by repointing a
//! Service (selector or EndpointSlice), by a Karmada OverridePolicy, or through a ConfigMap — the
//! Deployment's pod template never changes — and deleting a policy restores the local backend
//! unless `onDelete: Keep`.

use std::time::{Duration, Instant};

use continuum_testenv::ControlPlane;
use continuum_testenv::sim::Agent;

mod common;
use common::{DETECTOR, Scene};

fn scene() -> Scene {
    let s = Scene::start(true);
    apply(&s.cp, &DETECTOR.replace("PI", &s.pi.endpoint()), "gitops");
    s
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> String {
    let out = cp.kubectl_output(args).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success() || args[0] == "get", "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(cp: &ControlPlane, kind: &str, name: &str, path: &str) -> String {
    kubectl(cp, &["get", kind, name, "-o", &format!("jsonpath={path}")])
}

fn apply(cp: &ControlPlane, yaml: &str, manager: &str) {
    let path = cp.dir.join(format!("{manager}-{}.yaml", yaml.len()));
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    kubectl(cp, &["apply", "--server-side", "--field-manager", manager, "-f", &path.to_string_lossy()]);
}

/// Waits for `done`; on timeout the panic shows the policy's conditions.
fn wait(s: &Scene, what: &str, mut done: impl FnMut() -> bool) {
    let (started, limit) = (Instant::now(), Duration::from_secs(20));
    while !done() {
        if started.elapsed() > limit {
            let conditions = status(&s.cp, "{.status.conditions}");
            panic!("timed out after {limit:?} waiting for {what}; policy conditions: {conditions}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("{what}: {:.1}s", started.elapsed().as_secs_f64());
}

fn policy(s: &Scene, actuation: &str, on_delete: &str) -> String {
    POLICY
        .replace("EXPORTER", &s.exporter.port.to_string())
        .replace("PI", &s.pi.endpoint())
        .replace("JETSON", &s.jetson.endpoint())
        .replace("ACTUATION", actuation)
        .replace("ONDELETE", on_delete)
}

fn degrade(s: &Scene) {
    s.exporter.set(3.0, 0.5);
}

fn recover(s: &Scene) {
    s.exporter.set(25.0, 0.04);
}

/// The Deployment's pod template and generation: must never change in these modes.
fn template(cp: &ControlPlane) -> String {
    get(cp, "deployment", "detector", "{.metadata.generation} {.spec.template}")
}

fn status(cp: &ControlPlane, path: &str) -> String {
    get(cp, "offloadpolicy", "detector", path)
}

#[test]
fn service_selector_mode_repoints_the_service_and_leaves_the_pods_alone() {
    let s = scene();
    apply(&s.cp, SERVICE.replace("SELECTOR", "  selector: {app: vaccel-agent, node: pi}\n").as_str(), "gitops");
    let before = template(&s.cp);
    let _op = common::start_operator(&s.cp, "127.0.0.1:0");
    let actuation = "service: {name: vaccel-backend, localSelector: {app: vaccel-agent, node: pi}, offloadSelector: {app: vaccel-agent, node: jetson}}";
    apply(&s.cp, &policy(&s, actuation, "Restore"), "user");
    wait(&s, "actuation status", || {
        status(&s.cp, "{.status.actuation.mode} {.status.actuation.object} {.status.actuation.observedValue}")
            == "service Service vaccel-backend app=vaccel-agent,node=pi"
    });
    kubectl(&s.cp, &["annotate", "service", "vaccel-backend", "team=edge"]);
    let selector = || get(&s.cp, "service", "vaccel-backend", "{.spec.selector.node}");
    for round in 0..2 {
        degrade(&s);
        wait(&s, &format!("round {round}: selector on the Jetson agents"), || selector() == "jetson");
        recover(&s);
        wait(&s, &format!("round {round}: selector back on the Pi agents"), || selector() == "pi");
    }
    assert_eq!(get(&s.cp, "service", "vaccel-backend", "{.metadata.annotations.team}"), "edge", "user edit lost");
    assert_eq!(get(&s.cp, "service", "vaccel-backend", "{.metadata.annotations.owner}"), "gitops");
    assert_eq!(get(&s.cp, "service", "vaccel-backend", "{.spec.ports[0].port}"), "8192");
    assert_eq!(template(&s.cp), before, "the Deployment's pod template changed: pods would restart");
    assert_eq!(status(&s.cp, "{.status.recentTransitions[*].to}"), "Offload Local Offload Local");
}

#[test]
fn service_without_selector_gets_an_endpointslice_for_the_active_agent() {
    // The API server refuses loopback addresses in EndpointSlices: the agents listen on the
    // machine's own address.
    let host = continuum_testenv::sim::primary_address()
        .unwrap_or_else(|| panic!("this test needs a non-loopback address on the default route"));
    let mut s = scene();
    s.pi = Agent::start_on(host);
    s.jetson = Agent::start_on(host);
    apply(&s.cp, &DETECTOR.replace("PI", &s.pi.endpoint()), "gitops");
    apply(&s.cp, SERVICE.replace("SELECTOR", "").as_str(), "gitops");
    let before = template(&s.cp);
    let _op = common::start_operator(&s.cp, "127.0.0.1:0");
    apply(&s.cp, &policy(&s, "service: {name: vaccel-backend}", "Restore"), "user");
    let slice = |p: &str| get(&s.cp, "endpointslice", "vaccel-backend-vaccel", p);
    let port = |a: &Agent| a.endpoint().rsplit(':').next().unwrap_or_default().to_owned();
    wait(&s, "EndpointSlice on the Pi agent", || slice("{.ports[0].port}") == port(&s.pi));
    assert_eq!(
        slice(
            "{.addressType} {.endpoints[0].addresses[0]} {.ports[0].name} {.metadata.labels.kubernetes\\.io/service-name}"
        ),
        format!("{} {host} vaccel vaccel-backend", if host.is_ipv4() { "IPv4" } else { "IPv6" })
    );
    assert_eq!(
        slice("{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name}"),
        "Service vaccel-backend"
    );
    kubectl(&s.cp, &["annotate", "endpointslice", "vaccel-backend-vaccel", "team=edge"]);
    for round in 0..2 {
        degrade(&s);
        wait(&s, &format!("round {round}: slice on the Jetson"), || slice("{.ports[0].port}") == port(&s.jetson));
        recover(&s);
        wait(&s, &format!("round {round}: slice on the Pi"), || slice("{.ports[0].port}") == port(&s.pi));
    }
    assert_eq!(slice("{.metadata.annotations.team}"), "edge", "user edit lost");
    assert_eq!(template(&s.cp), before);
}

#[test]
fn configmap_mode_switches_one_key_and_deletion_restores_unless_keep() {
    let s = scene();
    apply(&s.cp, &CONFIGMAP.replace("PI", &s.pi.endpoint()), "gitops");
    let before = template(&s.cp);
    let _op = common::start_operator(&s.cp, "127.0.0.1:0");
    apply(&s.cp, &policy(&s, "configMap: {name: vaccel-config}", "Restore"), "user");
    let key = || get(&s.cp, "configmap", "vaccel-config", "{.data.VACCEL_RPC_ADDRESS}");
    wait(&s, "finalizer added", || status(&s.cp, "{.metadata.finalizers}").contains("continuum.dev/restore-backend"));
    kubectl(&s.cp, &["patch", "configmap", "vaccel-config", "--type=merge", "-p", r#"{"data":{"log-level":"3"}}"#]);
    for round in 0..2 {
        degrade(&s);
        wait(&s, &format!("round {round}: key on the Jetson"), || key() == s.jetson.endpoint());
        recover(&s);
        wait(&s, &format!("round {round}: key on the Pi"), || key() == s.pi.endpoint());
    }
    assert_eq!(get(&s.cp, "configmap", "vaccel-config", "{.data.log-level}"), "3", "user edit lost");
    assert_eq!(status(&s.cp, "{.status.actuation.object}"), "ConfigMap vaccel-config");

    // Deleted while offloaded: back to the Pi first, then the policy goes.
    degrade(&s);
    wait(&s, "offloaded", || key() == s.jetson.endpoint());
    kubectl(&s.cp, &["delete", "offloadpolicy", "detector", "--wait=false"]);
    wait(&s, "policy gone", || status(&s.cp, "{.metadata.name}").is_empty());
    assert_eq!(key(), s.pi.endpoint(), "deletion did not restore the local backend");
    let events = kubectl(&s.cp, &["get", "events.events.k8s.io", "--field-selector", "reason=Restored", "-o", "name"]);
    assert!(!events.is_empty(), "no Restored Event");

    // onDelete: Keep leaves it on the Jetson.
    apply(&s.cp, &policy(&s, "configMap: {name: vaccel-config}", "Keep"), "user");
    wait(&s, "offloaded again", || key() == s.jetson.endpoint());
    kubectl(&s.cp, &["delete", "offloadpolicy", "detector", "--wait=false"]);
    wait(&s, "policy gone", || status(&s.cp, "{.metadata.name}").is_empty());
    assert_eq!(key(), s.jetson.endpoint(), "onDelete: Keep switched back");
    assert_eq!(template(&s.cp), before);
}

#[test]
fn override_policy_mode_overrides_member_clusters_and_leaves_the_template_alone() {
    let s = scene();
    kubectl(&s.cp, &["label", "deployment", "detector", "propagationpolicy.karmada.io/permanent-id=2c5e1a"]);
    apply(&s.cp, BINDING, "karmada");
    let aggregated = r#"{"status":{"aggregatedStatus":[{"clusterName":"edge-pi","applied":true,"health":"Healthy"},{"clusterName":"edge-jetson","applied":true,"health":"Healthy"}]}}"#;
    kubectl(
        &s.cp,
        &["patch", "resourcebinding", "detector-deployment", "--subresource=status", "--type=merge", "-p", aggregated],
    );
    let before = template(&s.cp);
    let _op = common::start_operator(&s.cp, "127.0.0.1:0");
    apply(&s.cp, &policy(&s, "overridePolicy: {container: detector}", "Restore"), "user");
    wait(&s, "template value reported while local", || {
        status(&s.cp, "{.status.actuation.object}") == "OverridePolicy detector-vaccel (absent; template value)"
    });
    let op = |p: &str| get(&s.cp, "overridepolicy.policy.karmada.io", "detector-vaccel", p);
    let value = || op("{.spec.overrideRules[0].overriders.plaintext[0].value}");
    degrade(&s);
    wait(&s, "override to the Jetson", || value() == s.jetson.endpoint());
    assert_eq!(
        op(
            "{.spec.resourceSelectors[0].kind}/{.spec.resourceSelectors[0].name} {.spec.overrideRules[0].targetCluster.clusterNames}"
        ),
        r#"Deployment/detector ["edge-pi","edge-jetson"]"#
    );
    assert_eq!(
        op(
            "{.spec.overrideRules[0].overriders.plaintext[0].path} {.spec.overrideRules[0].overriders.plaintext[0].operator}"
        ),
        "/spec/template/spec/containers/0/env/0/value replace"
    );
    kubectl(&s.cp, &["annotate", "overridepolicy.policy.karmada.io", "detector-vaccel", "team=edge"]);
    recover(&s);
    wait(&s, "override back to the Pi", || value() == s.pi.endpoint());
    degrade(&s);
    wait(&s, "override to the Jetson again", || value() == s.jetson.endpoint());
    assert_eq!(op("{.metadata.annotations.team}"), "edge", "user edit lost");
    assert_eq!(template(&s.cp), before, "the resource template changed");
    kubectl(&s.cp, &["delete", "offloadpolicy", "detector", "--wait=false"]);
    wait(&s, "policy gone", || status(&s.cp, "{.metadata.name}").is_empty());
    assert!(op("{.metadata.name}").is_empty(), "the OverridePolicy outlived its OffloadPolicy");
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: vaccel-backend
  annotations: {owner: gitops}
spec:
SELECTOR  ports:
  - {name: vaccel, port: 8192, targetPort: 8192}
";

const CONFIGMAP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: vaccel-config
data:
  VACCEL_RPC_ADDRESS: PI
  log-level: \"2\"
";

const BINDING: &str = "apiVersion: work.karmada.io/v1alpha2
kind: ResourceBinding
metadata:
  name: detector-deployment
spec:
  resource: {apiVersion: apps/v1, kind: Deployment, name: detector}
";

const POLICY: &str = "apiVersion: continuum.dev/v1alpha1
kind: OffloadPolicy
metadata:
  name: detector
spec:
  targetRef: {name: detector}
  telemetry:
    scrape: {url: \"http://127.0.0.1:EXPORTER/metrics\"}
    fps: {metric: detector_fps}
    interval: 1s
  offloadWhen: {fpsBelow: 10, for: 1s}
  recoverWhen: {fpsAbove: 12, for: 1s}
  backends:
    local: {endpoint: \"PI\"}
    offload: {endpoint: \"JETSON\"}
  actuation:
    ACTUATION
  cooldown: 0s
  maxSwitchesPerHour: 20
  onDelete: ONDELETE
";
