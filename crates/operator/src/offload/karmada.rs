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

/// Most clusters listed in status (see `Propagation.clusters`).
pub const MAX_LISTED: usize = 64;
/// Most clusters named in the condition's message.
const MAX_NAMED: usize = 8;

fn healthy(c: &ClusterStatus) -> bool {
    c.health.as_deref() == Some("Healthy")
}

/// The status of all `clusters`: the unhealthy ones first, at most [`MAX_LISTED`] listed.
fn summarise(mut clusters: Vec<ClusterStatus>) -> Propagation {
    let total = clusters.len();
    let healthy_count = clusters.iter().filter(|c| healthy(c)).count();
    clusters.sort_by_key(healthy);
    clusters.truncate(MAX_LISTED);
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    Propagation { clusters, clusters_total: count(total), clusters_healthy: count(healthy_count) }
}

fn describe(p: &Propagation) -> String {
    let c = &p.clusters;
    let mut parts: Vec<String> = c
        .iter()
        .take(MAX_NAMED)
        .map(|c| {
            format!(
                "{} ({}, {} ready)",
                c.name,
                c.health.as_deref().unwrap_or("Unknown"),
                c.ready_replicas.unwrap_or(0)
            )
        })
        .collect();
    let unnamed = usize::try_from(p.clusters_total).unwrap_or(0).saturating_sub(parts.len());
    if unnamed > 0 {
        parts.push(format!("and {unnamed} more"));
    }
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
            let p = summarise(clusters(&b));
            let msg = if p.clusters_total == 0 {
                format!("ResourceBinding {name} has no cluster status yet.")
            } else {
                format!("Propagated to {} ({} healthy): {}.", p.clusters_total, p.clusters_healthy, describe(&p))
            };
            let all = p.clusters_total > 0 && p.clusters_healthy == p.clusters_total;
            let reason = if all { Reason::AllClustersHealthy } else { Reason::NotAllClustersHealthy };
            (Some(p), Cond::new(Type::Propagated, all, reason, msg))
        }
        None => not(Reason::BindingNotFound, format!("Karmada has no ResourceBinding {name} for this template yet.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(i: usize, health: &str) -> ClusterStatus {
        ClusterStatus {
            name: format!("edge-{i}"),
            health: Some(health.into()),
            applied: Some(true),
            ready_replicas: Some(1),
        }
    }

    #[test]
    fn a_thousand_clusters_fit_in_status_with_the_unhealthy_ones_listed_and_all_counted() {
        let mut all: Vec<ClusterStatus> = (0..1000).map(|i| cluster(i, "Healthy")).collect();
        all[700] = cluster(700, "Unhealthy");
        let p = summarise(all);
        assert_eq!((p.clusters.len(), p.clusters_total, p.clusters_healthy), (MAX_LISTED, 1000, 999));
        assert_eq!(p.clusters[0].name, "edge-700", "the unhealthy cluster comes first");
        let text = describe(&p);
        assert!(text.starts_with("edge-700 (Unhealthy, 1 ready), edge-0") && text.ends_with("and 992 more"), "{text}");
    }
}
