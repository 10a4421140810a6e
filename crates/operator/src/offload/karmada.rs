//! Karmada awareness: is the target a propagated resource template, and where does it run?
//! Read from its ResourceBinding (`work.karmada.io/v1alpha2`, `<name>-deployment`).

use continuum_api::offload::{ClusterStatus, Propagation};
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::reflector::ObjectRef;

use super::conditions::{OffloadCond, Reason, Type};
use super::stores::Stores;
use crate::kit::conditions::Cond;

const CLAIM_LABELS: [&str; 2] =
    ["propagationpolicy.karmada.io/permanent-id", "clusterpropagationpolicy.karmada.io/permanent-id"];
const CLAIM_ANNOTATIONS: [&str; 2] = ["propagationpolicy.karmada.io/name", "clusterpropagationpolicy.karmada.io/name"];

/// Whether Karmada claimed the Deployment (label since v1.11, annotation or label before).
pub fn is_template(d: &Deployment) -> bool {
    let labels = d.labels();
    let annotations = d.annotations();
    CLAIM_LABELS.iter().any(|k| labels.contains_key(*k))
        || CLAIM_ANNOTATIONS.iter().any(|k| annotations.contains_key(*k) || labels.contains_key(*k))
}

fn clusters(binding: &DynamicObject) -> Vec<ClusterStatus> {
    let empty = Vec::new();
    let items = binding.data["status"]["aggregatedStatus"].as_array().unwrap_or(&empty);
    items
        .iter()
        .map(|c| ClusterStatus {
            name: c["clusterName"].as_str().unwrap_or_default().to_owned(),
            health: c["health"].as_str().map(str::to_owned),
            applied: c["applied"].as_bool(),
            ready_replicas: c["status"]["readyReplicas"].as_i64().map(|n| n as i32),
        })
        .collect()
}

fn describe(c: &[ClusterStatus]) -> String {
    let parts: Vec<String> = c
        .iter()
        .map(|c| {
            format!(
                "{} ({}, {} ready)",
                c.name,
                c.health.as_deref().unwrap_or("Unknown"),
                c.ready_replicas.unwrap_or(0)
            )
        })
        .collect();
    parts.join(", ")
}

/// The propagation status and the `Propagated` condition, from the watched ResourceBindings.
pub fn propagation(stores: &Stores, ns: &str, d: Option<&Deployment>) -> (Option<Propagation>, OffloadCond) {
    let not = |reason, msg: String| (None, Cond::new(Type::Propagated, false, reason, msg));
    let Some(d) = d else {
        return not(Reason::TargetMissing, "The target Deployment does not exist.".into());
    };
    if !is_template(d) {
        let msg =
            format!("Deployment {} is not claimed by a Karmada PropagationPolicy: it runs where it is.", d.name_any());
        return not(Reason::NotAResourceTemplate, msg);
    }
    let Some(bindings) = stores.bindings.as_ref() else {
        return not(
            Reason::KarmadaNotInstalled,
            "The template is labelled for Karmada but this API server serves no ResourceBindings.".into(),
        );
    };
    let name = format!("{}-deployment", d.name_any()).to_lowercase();
    match bindings.get(&ObjectRef::new_with(&name, super::stores::binding_resource()).within(ns)) {
        Some(b) => {
            let c = clusters(&b);
            let msg = if c.is_empty() {
                format!("ResourceBinding {name} has no cluster status yet.")
            } else {
                format!("Propagated to {}: {}.", c.len(), describe(&c))
            };
            let healthy = !c.is_empty() && c.iter().all(|c| c.health.as_deref() == Some("Healthy"));
            let reason = if healthy { Reason::AllClustersHealthy } else { Reason::NotAllClustersHealthy };
            (Some(Propagation { clusters: c }), Cond::new(Type::Propagated, healthy, reason, msg))
        }
        None => not(Reason::BindingNotFound, format!("Karmada has no ResourceBinding {name} for this template yet.")),
    }
}
