//! How an OffloadPolicy points the workload at a vAccel backend.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::rules;

/// How the switch is carried out. Exactly one mode is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.env), has(self.service), has(self.overridePolicy), has(self.configMap)].filter(x, x).size() == 1").message("set exactly one actuation mode: env, service, overridePolicy or configMap"))]
pub struct Actuation {
    /// Server-side apply one environment variable of one container of the target Deployment.
    /// Changing it rolls the Deployment's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvActuation>,
    /// Repoint a stable Service that the workload already uses as its vAccel endpoint.
    /// No pod restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceActuation>,
    /// Manage a Karmada OverridePolicy that sets the environment variable on member clusters;
    /// the resource template itself stays untouched (GitOps-safe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_policy: Option<OverridePolicyActuation>,
    /// Write the endpoint into a ConfigMap key, for workloads that re-read a mounted file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapActuation>,
}

/// Set an environment variable of a container of the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvActuation {
    /// Name of the container whose environment is set.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = rules::dns_label())]
    pub container: String,
    /// Name of the environment variable. Default: VACCEL_RPC_ADDRESS.
    #[serde(default = "default_env_name")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("must be an environment variable name like VACCEL_RPC_ADDRESS"))]
    pub name: String,
}

/// Repoint a Service between the agents of the local and the offload backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.localSelector) == has(self.offloadSelector)").message("set both localSelector and offloadSelector, or neither (then the operator owns the Service's EndpointSlice)"))]
pub struct ServiceActuation {
    /// Name of the Service, in the namespace of the policy.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = rules::dns_label())]
    pub name: String,
    /// Service port that carries vAccel RPC. Default: the port of the active backend endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("must be a port number between 1 and 65535"))]
    pub port: Option<i32>,
    /// Pod selector of the local (e.g. Raspberry Pi) agent. Without selectors the operator
    /// writes the Service's EndpointSlice from the backend endpoints instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub local_selector: Option<BTreeMap<String, String>>,
    /// Pod selector of the offload (e.g. Jetson) agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub offload_selector: Option<BTreeMap<String, String>>,
}

/// Set the environment variable through a Karmada OverridePolicy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverridePolicyActuation {
    /// Name of the container whose environment is overridden.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = rules::dns_label())]
    pub container: String,
    /// Name of the environment variable. Default: VACCEL_RPC_ADDRESS.
    #[serde(default = "default_env_name")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("must be an environment variable name like VACCEL_RPC_ADDRESS"))]
    pub name: String,
    /// Member clusters the override applies to. Default: every cluster the template
    /// propagates to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub clusters: Vec<String>,
}

/// Write the endpoint into a ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapActuation {
    /// Name of the ConfigMap, in the namespace of the policy.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = rules::object_name())]
    pub name: String,
    /// Key whose value is the active endpoint. Default: VACCEL_RPC_ADDRESS.
    #[serde(default = "default_env_name")]
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[-._a-zA-Z0-9]+$')").message("must be a ConfigMap key: letters, digits, '-', '_' and '.'"))]
    pub key: String,
}

fn default_env_name() -> String {
    "VACCEL_RPC_ADDRESS".to_owned()
}
