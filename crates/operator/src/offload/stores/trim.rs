//! What each watched object keeps in memory: only the fields the controller reads. A trimmed
//! Deployment is its name, Karmada's claim marks and its containers' names and env; the rest
//! (images, probes, volumes, status, managedFields) would cost memory for every Deployment of
//! the cluster and is never read.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use serde_json::{Value, json};

/// A ConfigMap value longer than this is not kept: a backend endpoint is a short address.
pub const MAX_CONFIG_VALUE: usize = 1024;

/// Keeps identity, resource version and owner references; drops managedFields, annotations and
/// labels (callers keep the few they read).
fn meta(m: &mut ObjectMeta) {
    m.managed_fields = None;
    m.annotations = None;
    m.labels = None;
    m.generate_name = None;
}

/// Keeps only the labels and annotations `keep` accepts.
fn meta_keeping(m: &mut ObjectMeta, keep: impl Fn(&str) -> bool) {
    let only = |map: &mut Option<BTreeMap<String, String>>| {
        let kept: BTreeMap<String, String> =
            map.take().unwrap_or_default().into_iter().filter(|(k, _)| keep(k)).collect();
        (!kept.is_empty()).then_some(kept)
    };
    let (labels, annotations) = (only(&mut m.labels), only(&mut m.annotations));
    meta(m);
    (m.labels, m.annotations) = (labels, annotations);
}

pub fn deployment(d: &mut Deployment) {
    meta_keeping(&mut d.metadata, |k| k.contains("karmada.io/"));
    let containers: Vec<Container> = std::mem::take(&mut d.spec)
        .template
        .spec
        .map(|p| p.containers)
        .unwrap_or_default()
        .into_iter()
        .map(|c| Container { name: c.name, env: c.env, ..Container::default() })
        .collect();
    let template = PodTemplateSpec { metadata: None, spec: Some(PodSpec { containers, ..PodSpec::default() }) };
    d.spec = DeploymentSpec { template, ..DeploymentSpec::default() };
    d.status = None;
}

pub fn service(s: &mut Service) {
    meta(&mut s.metadata);
    let spec = s.spec.take().unwrap_or_default();
    let ports = spec.ports.map(|ports| {
        ports.into_iter().map(|p| ServicePort { name: p.name, port: p.port, ..ServicePort::default() }).collect()
    });
    s.spec = Some(ServiceSpec { selector: spec.selector, ports, ..ServiceSpec::default() });
    s.status = None;
}

pub fn slice(s: &mut EndpointSlice) {
    s.metadata.managed_fields = None;
    s.metadata.annotations = None;
}

pub fn config_map(c: &mut ConfigMap) {
    meta(&mut c.metadata);
    c.binary_data = None;
    if let Some(data) = c.data.as_mut() {
        data.retain(|_, v| v.len() <= MAX_CONFIG_VALUE);
    }
}

/// A ResourceBinding keeps its placement (`spec.clusters`) and per-cluster status.
pub fn binding(b: &mut DynamicObject) {
    meta(&mut b.metadata);
    let clusters = b.data.pointer("/spec/clusters").cloned().unwrap_or(Value::Null);
    let empty = Vec::new();
    let aggregated = b.data.pointer("/status/aggregatedStatus").and_then(Value::as_array).unwrap_or(&empty);
    let kept: Vec<Value> = aggregated
        .iter()
        .map(|c| {
            json!({
                "clusterName": c.get("clusterName"),
                "health": c.get("health"),
                "applied": c.get("applied"),
                "appliedMessage": c.get("appliedMessage"),
                "status": { "readyReplicas": c.pointer("/status/readyReplicas") },
            })
        })
        .collect();
    b.data = json!({ "spec": { "clusters": clusters }, "status": { "aggregatedStatus": kept } });
}

/// An OverridePolicy keeps its spec and the operator's labels.
pub fn override_policy(o: &mut DynamicObject) {
    meta_keeping(&mut o.metadata, |k| k.starts_with("continuum.dev/") || k == "app.kubernetes.io/managed-by");
    let spec = o.data.get("spec").cloned().unwrap_or(Value::Null);
    o.data = json!({ "spec": spec });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trimmed_deployment_keeps_what_the_controller_reads_and_nothing_else() {
        let mut d: Deployment = serde_json::from_value(json!({
            "metadata": {
                "name": "detector", "namespace": "vision", "resourceVersion": "7",
                "labels": {"app": "detector", "propagationpolicy.karmada.io/permanent-id": "x"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{…}"},
                "managedFields": [{"manager": "kubectl"}],
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "detector"}},
                "template": {"metadata": {"labels": {"app": "detector"}}, "spec": {"containers": [{
                    "name": "detector", "image": "detector:1",
                    "env": [{"name": "VACCEL_RPC_ADDRESS", "value": "tcp://pi:8192"}],
                }]}},
            },
            "status": {"readyReplicas": 3},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        deployment(&mut d);
        let c = &d.spec.template.spec.as_ref().map(|p| p.containers.clone()).unwrap_or_default()[0];
        assert_eq!((c.name.as_str(), c.image.as_deref()), ("detector", None));
        assert_eq!(c.env.as_ref().and_then(|e| e[0].value.as_deref()), Some("tcp://pi:8192"));
        assert!(d.metadata.labels.as_ref().is_some_and(|l| l.len() == 1), "only Karmada's claim label stays");
        assert!(d.metadata.annotations.is_none() && d.metadata.managed_fields.is_none() && d.status.is_none());
        assert_eq!(d.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!((d.spec.replicas, d.spec.template.metadata.as_ref()), (None, None));
    }

    #[test]
    fn a_trimmed_binding_keeps_its_placement_and_cluster_health() {
        let ar = crate::offload::stores::binding_resource();
        let mut b = DynamicObject::new("detector-deployment", &ar).within("vision");
        b.data = json!({
            "spec": {"clusters": [{"name": "edge-1"}], "resource": {"kind": "Deployment"}},
            "status": {"aggregatedStatus": [{"clusterName": "edge-1", "health": "Healthy", "applied": true,
                "status": {"readyReplicas": 1, "replicas": 1}}], "conditions": []},
        });
        binding(&mut b);
        assert_eq!(b.data.pointer("/spec/clusters/0/name"), Some(&json!("edge-1")));
        assert_eq!(b.data.pointer("/status/aggregatedStatus/0/health"), Some(&json!("Healthy")));
        assert_eq!(b.data.pointer("/status/aggregatedStatus/0/status/readyReplicas"), Some(&json!(1)));
        assert_eq!(b.data.pointer("/spec/resource"), None);
    }

    #[test]
    fn long_config_map_values_are_not_kept() {
        let mut c = ConfigMap {
            data: Some([("addr".to_owned(), "tcp://j:1".to_owned()), ("blob".to_owned(), "x".repeat(5000))].into()),
            ..ConfigMap::default()
        };
        config_map(&mut c);
        assert_eq!(c.data.map(|d| d.into_keys().collect::<Vec<_>>()), Some(vec!["addr".to_owned()]));
    }
}
