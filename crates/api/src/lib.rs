//! Custom resource types of continuum-operator (group `continuum.dev`, version `v1alpha1`).
//!
//! Types and their admission rules only: no I/O. The CRD YAML in `deploy/crds/` is generated
//! from these types by `continuum-operator crd`.

pub mod common;
pub mod etcd;
pub mod offload;
mod rules;

pub use etcd::{EtcdHealth, EtcdHealthSpec, EtcdHealthStatus};
pub use offload::{OffloadPolicy, OffloadPolicySpec, OffloadPolicyStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// API group of every resource.
pub const GROUP: &str = "continuum.dev";

/// The CRDs of every resource, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![OffloadPolicy::crd(), EtcdHealth::crd()]
}

/// File name and YAML text of each CRD, as checked in under `deploy/crds/`.
pub fn crd_files() -> Result<Vec<(String, String)>, serde_yaml::Error> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("crd"));
            let body = serde_yaml::to_string(&crd)?;
            Ok((name, format!("---\n{body}")))
        })
        .collect()
}
