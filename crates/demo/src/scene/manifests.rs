//! The scene's objects on the edge cluster, as YAML: the detector Deployment on the Pi node, its
//! OffloadPolicy, an EtcdHealth for the host plane's etcd, and (service mode) the agents' pods
//! with the Service the detector talks to.

use continuum_testenv::edge::{JETSON_NODE, PI_NODE};

use super::{Actuation, NS};

/// The addresses the objects point at.
#[derive(Clone, Copy, Debug)]
pub(super) struct Endpoints<'a> {
    pub pi: &'a str,
    pub jetson: &'a str,
    pub prometheus: &'a str,
    pub etcd_metrics: &'a str,
}

/// Every object of the scene, one YAML stream.
pub(super) fn scene(at: &Endpoints<'_>, actuation: Actuation) -> String {
    match actuation {
        Actuation::Env => {
            let policy = offload_policy(at, "env: {container: detector}");
            [namespace(), detector(at.pi), policy, etcd_health(at.etcd_metrics)].concat()
        }
        Actuation::Service => {
            let how = format!(
                "service: {{name: vaccel-backend, localSelector: {{app: vaccel-agent, node: {PI_NODE}}}, offloadSelector: {{app: vaccel-agent, node: {JETSON_NODE}}}}}"
            );
            let detector = detector(&format!("tcp://vaccel-backend.{NS}:8192"));
            let policy = offload_policy(at, &how);
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

/// Offload below 8 fps or above 150 ms for 4 s; recover above 10 fps and below 100 ms for 30 s.
fn offload_policy(at: &Endpoints<'_>, actuation: &str) -> String {
    let Endpoints { pi, jetson, prometheus, .. } = at;
    format!(
        "---
apiVersion: continuum.dev/v1alpha1
kind: OffloadPolicy
metadata: {{name: detector, namespace: {NS}}}
spec:
  targetRef: {{name: detector}}
  telemetry:
    prometheus: {{url: \"{prometheus}\"}}
    fps: {{query: \"max(detector_fps)\"}}
    latency: {{query: \"histogram_quantile(0.9, sum by (le) (rate(detector_inference_latency_seconds_bucket[5s])))\"}}
    interval: 1s
    maxSampleAge: 10s
  offloadWhen: {{fpsBelow: 8, latencyAbove: 150ms, for: 4s}}
  recoverWhen: {{fpsAbove: 10, latencyBelow: 100ms, for: 30s}}
  backends:
    local: {{endpoint: \"{pi}\"}}
    offload: {{endpoint: \"{jetson}\", healthCheck: {{timeout: 500ms}}}}
  actuation:
    {actuation}
  cooldown: 10s
  maxSwitchesPerHour: 6
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

    #[test]
    fn env_mode_points_the_deployment_at_the_pi() {
        let yaml = scene(&AT, Actuation::Env);
        let kinds = kinds(&yaml);
        assert_eq!(
            kinds,
            ["Namespace vision", "Deployment detector", "OffloadPolicy detector", "EtcdHealth karmada-etcd"]
        );
        assert!(yaml.contains("value: \"tcp://127.0.0.1:1\"") && yaml.contains("env: {container: detector}"));
    }

    #[test]
    fn service_mode_adds_the_agents_and_their_service() {
        let yaml = scene(&AT, Actuation::Service);
        assert_eq!(kinds(&yaml).len(), 7, "{yaml}");
        assert!(yaml.contains("tcp://vaccel-backend.vision:8192") && yaml.contains("kind: Service"));
        let policy = yaml.split("kind: OffloadPolicy").nth(1).unwrap_or_default();
        assert!(policy.contains("offloadSelector: {app: vaccel-agent, node: jetson-agx-orin}"), "{policy}");
    }
}
