//! The scene's objects on the edge cluster, as YAML: the detector Deployment on the Pi node, its
//! OffloadPolicy, an EtcdHealth for the host plane's etcd, and (service mode) the agents' pods
//! with the Service the detector talks to.

use continuum_testenv::edge::{JETSON_NODE, PI_NODE};

use super::{Actuation, NS, Scenario};
use crate::detector::PI_LOAD_METRIC;

/// The addresses the objects point at.
#[derive(Clone, Copy, Debug)]
pub(super) struct Endpoints<'a> {
    pub pi: &'a str,
    pub jetson: &'a str,
    pub prometheus: &'a str,
    pub etcd_metrics: &'a str,
}

/// Every object of the scene, one YAML stream.
pub(super) fn scene(at: &Endpoints<'_>, actuation: Actuation, scenario: Scenario) -> String {
    match actuation {
        Actuation::Env => {
            let policy = offload_policy(at, "env: {container: detector}", scenario);
            [namespace(), detector(at.pi), policy, etcd_health(at.etcd_metrics)].concat()
        }
        Actuation::Service => {
            let how = format!(
                "service: {{name: vaccel-backend, localSelector: {{app: vaccel-agent, node: {PI_NODE}}}, offloadSelector: {{app: vaccel-agent, node: {JETSON_NODE}}}}}"
            );
            let detector = detector(&format!("tcp://vaccel-backend.{NS}:8192"));
            let policy = offload_policy(at, &how, scenario);
            [namespace(), detector, policy, etcd_health(at.etcd_metrics), service_objects()].concat()
        }
    }
}

fn namespace() -> String {
    format!("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n")
}

/// The detector, pinned to the Pi, pointed at `address`.
fn detector(address: &str) -> String {
    format!(
        "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: detector, namespace: {NS}}}
spec:
  selector: {{matchLabels: {{app: detector}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: detector}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {PI_NODE}}}
      containers:
      - name: detector
        image: registry.example/object-detector:1.0
        env:
        - {{name: VACCEL_RPC_ADDRESS, value: \"{address}\"}}
"
    )
}

/// Offload when fps < 8 or latency > 150 ms for 4 s. Recover: when the Pi's own load is below
/// 1.5 for 8 s; Sustained: recoverWhen without rules, so it mirrors the fps and latency rules,
/// which the Jetson satisfies while offloaded. Short windows, so the scene takes about a minute.
fn offload_policy(at: &Endpoints<'_>, actuation: &str, scenario: Scenario) -> String {
    let Endpoints { pi, jetson, prometheus, .. } = at;
    let recover_rules = match scenario {
        Scenario::Recover => "\n    all: [{signal: pi_load, below: 1.5}]",
        Scenario::Sustained => "",
    };
    format!(
        "---
apiVersion: continuum.dev/v1alpha1
kind: OffloadPolicy
metadata: {{name: detector, namespace: {NS}}}
spec:
  targetRef: {{name: detector}}
  telemetry:
    prometheus: {{url: \"{prometheus}\"}}
    interval: 1s
    maxSampleAge: 10s
  signals:
  - {{name: fps, query: 'max(detector_fps)', unit: PerSecond}}
  - {{name: latency, query: 'histogram_quantile(0.9, sum by (le) (rate(detector_inference_latency_seconds_bucket[5s])))', unit: Seconds}}
  - {{name: pi_load, query: 'max({PI_LOAD_METRIC})'}}
  offloadWhen:
    any: [{{signal: fps, below: 8}}, {{signal: latency, above: 0.15}}]
    for: 4s
  recoverWhen:{recover_rules}
    for: 8s
    verify: {{for: 20s, backoff: {{initial: 15s, max: 1m}}}}
  backends:
    local: {{name: {PI_NODE}, endpoint: \"{pi}\"}}
    offload:
    - {{name: {JETSON_NODE}, endpoint: \"{jetson}\", healthCheck: {{timeout: 500ms}}}}
  actuation:
    {actuation}
  cooldown: 10s
  maxSwitchesPerHour: 20
"
    )
}

fn etcd_health(metrics_url: &str) -> String {
    format!(
        "---
apiVersion: continuum.dev/v1alpha1
kind: EtcdHealth
metadata: {{name: karmada-etcd, namespace: {NS}}}
spec:
  endpoints:
  - {{name: etcd-0, metricsUrl: \"{metrics_url}\"}}
  interval: 2s
  window: 20s
  for: 6s
"
    )
}

/// The agents' pods and the Service the detector uses in service mode.
fn service_objects() -> String {
    let agent = |node: &str| {
        format!(
            "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: vaccel-agent-{node}, namespace: {NS}}}
spec:
  selector: {{matchLabels: {{app: vaccel-agent, node: {node}}}}}
  template:
    metadata: {{labels: {{app: vaccel-agent, node: {node}}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers:
      - {{name: vaccel-rpc-agent, image: registry.example/vaccel-rpc-agent:0.6, ports: [{{containerPort: 8192}}]}}
"
        )
    };
    let service = format!(
        "---
apiVersion: v1
kind: Service
metadata: {{name: vaccel-backend, namespace: {NS}}}
spec:
  selector: {{app: vaccel-agent, node: {PI_NODE}}}
  ports: [{{name: vaccel, port: 8192, targetPort: 8192}}]
"
    );
    [agent(PI_NODE), agent(JETSON_NODE), service].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Endpoints<'static> = Endpoints {
        pi: "tcp://127.0.0.1:1",
        jetson: "tcp://127.0.0.1:2",
        prometheus: "http://127.0.0.1:3",
        etcd_metrics: "http://127.0.0.1:4/metrics",
    };

    fn kinds(yaml: &str) -> Vec<String> {
        serde_yaml::Deserializer::from_str(yaml)
            .map(|doc| {
                let value = serde_yaml::Value::deserialize(doc).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
                format!(
                    "{} {}",
                    value["kind"].as_str().unwrap_or("?"),
                    value["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    use serde::Deserialize as _;

    /// The scene's OffloadPolicy, decoded with the API's types.
    fn policy(yaml: &str) -> continuum_api::OffloadPolicy {
        let doc = yaml.split("---\n").find(|d| d.contains("kind: OffloadPolicy")).unwrap_or_default();
        serde_yaml::from_str(doc).unwrap_or_else(|e| panic!("{e}\n{doc}"))
    }

    /// The rules as `signal<x` / `signal>x`, checking that each names a declared signal.
    fn rules(p: &continuum_api::OffloadPolicy, rules: &[continuum_api::offload::Threshold]) -> Vec<String> {
        let declared: Vec<&str> = p.spec.signals.iter().map(|s| s.name.as_str()).collect();
        rules
            .iter()
            .map(|r| {
                assert!(declared.contains(&r.signal.as_str()), "{} is not in {declared:?}", r.signal);
                match (r.below, r.above) {
                    (Some(b), None) => format!("{}<{b}", r.signal),
                    (None, Some(a)) => format!("{}>{a}", r.signal),
                    other => panic!("{}: {other:?}", r.signal),
                }
            })
            .collect()
    }

    #[test]
    fn env_mode_points_the_deployment_at_the_pi() {
        let yaml = scene(&AT, Actuation::Env, Scenario::Recover);
        let kinds = kinds(&yaml);
        assert_eq!(
            kinds,
            ["Namespace vision", "Deployment detector", "OffloadPolicy detector", "EtcdHealth karmada-etcd"]
        );
        assert!(yaml.contains("value: \"tcp://127.0.0.1:1\"") && yaml.contains("env: {container: detector}"));
    }

    #[test]
    fn service_mode_adds_the_agents_and_their_service() {
        let yaml = scene(&AT, Actuation::Service, Scenario::Recover);
        assert_eq!(kinds(&yaml).len(), 7, "{yaml}");
        assert!(yaml.contains("tcp://vaccel-backend.vision:8192") && yaml.contains("kind: Service"));
        let policy = yaml.split("kind: OffloadPolicy").nth(1).unwrap_or_default();
        assert!(policy.contains("offloadSelector: {app: vaccel-agent, node: jetson-agx-orin}"), "{policy}");
    }

    #[test]
    fn the_return_is_judged_on_the_pis_own_load_and_offload_on_the_workload() {
        let p = policy(&scene(&AT, Actuation::Env, Scenario::Recover));
        let names: Vec<&str> = p.spec.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["fps", "latency", "pi_load"]);
        assert_eq!(p.spec.signals[2].query.as_deref(), Some("max(pi_load)"));
        let (offload, all) = p.spec.offload_when.rules();
        assert_eq!((rules(&p, offload), all), (vec!["fps<8".to_owned(), "latency>0.15".to_owned()], false));
        let recover = p.spec.recover_when.as_ref().and_then(|r| r.rules()).unwrap_or_else(|| panic!("no rules"));
        assert_eq!((rules(&p, recover.0), recover.1), (vec!["pi_load<1.5".to_owned()], true));
        let verify = &p.spec.recover_when.as_ref().unwrap_or_else(|| panic!("no recoverWhen")).verify;
        assert_eq!(verify.for_.to_string(), "20s");
        assert_eq!((verify.backoff.initial.to_string(), verify.backoff.max.to_string()), ("15s".into(), "60s".into()));
        let b = &p.spec.backends;
        assert_eq!((b.local.name.as_str(), b.local.endpoint.as_str()), ("raspberrypi", AT.pi));
        let offload: Vec<(&str, &str)> = b.offload.iter().map(|o| (o.name.as_str(), o.endpoint.as_str())).collect();
        assert_eq!(offload, [("jetson-agx-orin", AT.jetson)]);
    }

    #[test]
    fn the_sustained_policy_returns_on_the_jetsons_figures_but_still_shows_the_pi_load() {
        let p = policy(&scene(&AT, Actuation::Service, Scenario::Sustained));
        let recover = p.spec.recover_when.as_ref().unwrap_or_else(|| panic!("no recoverWhen"));
        assert_eq!(recover.rules(), None, "the default mirrors offloadWhen");
        assert_eq!(recover.for_.to_string(), "8s");
        assert!(p.spec.signals.iter().any(|s| s.name == "pi_load"), "pi_load is observed in status");
        assert_eq!(p.spec.backends.offload.len(), 1, "service mode with selectors takes one offload backend");
    }
}
