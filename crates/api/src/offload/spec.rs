//! OffloadPolicy: switch a workload's vAccel backend from telemetry.

use kube::core::Duration;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::actuation::Actuation;
use super::status::OffloadPolicyStatus;
use super::telemetry::Telemetry;
use crate::rules;

/// Desired behaviour of an OffloadPolicy: which workload, which telemetry, when to offload its
/// vAccel inference to the remote backend and when to return to the local one.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "continuum.dev",
    version = "v1alpha1",
    kind = "OffloadPolicy",
    doc = "Switches a workload's vAccel backend between a local and an offload agent, driven by its frame rate and inference latency.",
    plural = "offloadpolicies",
    singular = "offloadpolicy",
    shortname = "offload",
    shortname = "op",
    category = "continuum",
    namespaced,
    status = "OffloadPolicyStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.targetRef.name"}"#,
    printcolumn = r#"{"name":"Backend","type":"string","jsonPath":".status.activeBackend"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"FPS","type":"number","jsonPath":".status.observed.fps"}"#,
    printcolumn = r#"{"name":"Latency","type":"string","jsonPath":".status.observed.latency"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.offloadWhen.fpsBelow) || has(self.telemetry.fps)").message("offloadWhen.fpsBelow needs telemetry.fps"),
    validation = Rule::new("!has(self.offloadWhen.latencyAbove) || has(self.telemetry.latency)").message("offloadWhen.latencyAbove needs telemetry.latency"),
    validation = Rule::new("!has(self.recoverWhen) || !has(self.recoverWhen.fpsAbove) || has(self.telemetry.fps)").message("recoverWhen.fpsAbove needs telemetry.fps"),
    validation = Rule::new("!has(self.recoverWhen) || !has(self.recoverWhen.latencyBelow) || has(self.telemetry.latency)").message("recoverWhen.latencyBelow needs telemetry.latency"),
    validation = Rule::new("!has(self.recoverWhen) || !has(self.recoverWhen.fpsAbove) || !has(self.offloadWhen.fpsBelow) || self.recoverWhen.fpsAbove >= self.offloadWhen.fpsBelow").message("recoverWhen.fpsAbove must be at least offloadWhen.fpsBelow: a looser recovery line would switch back and forth").field_path(".recoverWhen.fpsAbove"),
    validation = Rule::new("!has(self.recoverWhen) || !has(self.recoverWhen.latencyBelow) || !has(self.offloadWhen.latencyAbove) || duration(self.recoverWhen.latencyBelow) <= duration(self.offloadWhen.latencyAbove)").message("recoverWhen.latencyBelow must be at most offloadWhen.latencyAbove: a looser recovery line would switch back and forth").field_path(".recoverWhen.latencyBelow"),
    validation = Rule::new("self.backends.local.endpoint != self.backends.offload.endpoint").message("backends.local.endpoint and backends.offload.endpoint must differ").field_path(".backends")
)]
pub struct OffloadPolicySpec {
    /// The workload whose vAccel backend is switched: a Deployment in the namespace of the
    /// policy (on Karmada, the resource template in the karmada-apiserver).
    pub target_ref: TargetRef,
    /// Where the frame rate and inference latency of the workload are read.
    pub telemetry: Telemetry,
    /// Offload when ANY of these rules is violated continuously for `for`.
    pub offload_when: OffloadWhen,
    /// Return to the local backend when ALL of these hold continuously for `for`.
    /// Default: fpsAbove = 1.2 × offloadWhen.fpsBelow, latencyBelow = 0.8 ×
    /// offloadWhen.latencyAbove, for = 60s (stricter than offloadWhen, so it does not flap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_when: Option<RecoverWhen>,
    /// The vAccel RPC agents to switch between.
    pub backends: Backends,
    /// How the workload is pointed at the chosen backend. Exactly one mode.
    pub actuation: Actuation,
    /// Minimum time between two switches, whatever the telemetry says. Between 0s and 24h.
    /// Default: 2m.
    #[serde(default = "default_cooldown")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("0s", "24h"))]
    pub cooldown: Duration,
    /// At most this many switches in any rolling hour; further switches wait. Between 1 and 20.
    /// Default: 6.
    #[serde(default = "default_max_switches")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 20").message("must be between 1 and 20"))]
    pub max_switches_per_hour: i32,
    /// `Enforce` switches the backend; `DryRun` only reports (status, Events, metrics) what it
    /// would do. Default: Enforce.
    #[serde(default)]
    pub mode: Mode,
    /// Stop evaluating and switching; the current backend stays as it is. Default: false.
    #[serde(default)]
    pub suspend: bool,
    /// Manual override: keep the workload on this backend regardless of telemetry
    /// (the offload target's health is still reported). Default: unset (automatic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<BackendName>,
    /// What deleting the policy does to the workload: Restore switches it back to the local
    /// backend first (and removes a managed OverridePolicy); Keep leaves it on the backend it is
    /// on. Default: Restore.
    #[serde(default)]
    pub on_delete: OnDelete,
}

/// What deleting an OffloadPolicy does to the workload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OnDelete {
    /// Switch back to the local backend before the policy goes away.
    #[default]
    Restore,
    /// Leave the workload on its current backend.
    Keep,
}

/// Reference to the workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.apiVersion == 'apps/v1' && self.kind == 'Deployment'").message("only apps/v1 Deployment targets are supported"))]
pub struct TargetRef {
    /// API version of the target. Default: apps/v1.
    #[serde(default = "default_api_version")]
    #[schemars(length(max = 64))]
    pub api_version: String,
    /// Kind of the target. Default: Deployment.
    #[serde(default = "default_kind")]
    #[schemars(length(max = 64))]
    pub kind: String,
    /// Name of the target, in the namespace of the policy.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = rules::object_name())]
    pub name: String,
}

/// Rules that trigger an offload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.fpsBelow) || has(self.latencyAbove)").message("set at least one of fpsBelow and latencyAbove"))]
pub struct OffloadWhen {
    /// Violated while the frame rate is below this many frames per second. Must be > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::positive())]
    pub fps_below: Option<f64>,
    /// Violated while the inference latency is above this, for example 150ms.
    /// Between 1ms and 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1ms", "1h"))]
    pub latency_above: Option<Duration>,
    /// How long a violation must last before the workload is offloaded. Between 0s and 1h.
    /// Default: 30s.
    #[serde(default = "default_offload_for", rename = "for")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("0s", "1h"))]
    pub for_: Duration,
}

/// Rules that bring the workload back to the local backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverWhen {
    /// Healthy while the frame rate is above this. Must be > 0 and at least
    /// offloadWhen.fpsBelow. Default: 1.2 × offloadWhen.fpsBelow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::positive())]
    pub fps_above: Option<f64>,
    /// Healthy while the inference latency is below this; at most offloadWhen.latencyAbove.
    /// Default: 0.8 × offloadWhen.latencyAbove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1ms", "1h"))]
    pub latency_below: Option<Duration>,
    /// How long every rule must hold before switching back. Between 0s and 1h. Default: 60s.
    #[serde(default = "default_recover_for", rename = "for")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("0s", "1h"))]
    pub for_: Duration,
}

/// The two vAccel RPC agents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backends {
    /// The agent the workload uses normally (e.g. on the Raspberry Pi).
    pub local: LocalBackend,
    /// The agent inference is offloaded to (e.g. the Jetson's GPU agent).
    pub offload: OffloadBackend,
}

/// The local vAccel agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalBackend {
    /// vAccel RPC address (VACCEL_RPC_ADDRESS): tcp://host:port, unix:///path or vsock://cid:port.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::vaccel_endpoint())]
    pub endpoint: String,
}

/// The remote vAccel agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OffloadBackend {
    /// vAccel RPC address (VACCEL_RPC_ADDRESS): tcp://host:port, unix:///path or vsock://cid:port.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::vaccel_endpoint())]
    pub endpoint: String,
    /// How the operator checks that the agent is alive before switching to it.
    /// Default: TCP connect with a 2s timeout.
    #[serde(default)]
    pub health_check: HealthCheck,
}

/// Liveness check of a vAccel agent (the agent has no ping RPC, so a connect is the probe).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Open a TCP connection to a tcp:// endpoint before switching to it and while offloaded;
    /// a dead target is never switched to. Default: true.
    #[serde(default = "default_true")]
    pub tcp: bool,
    /// Connect timeout. Between 100ms and 1m. Default: 2s.
    #[serde(default = "default_health_timeout")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("100ms", "1m"))]
    pub timeout: Duration,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self { tcp: true, timeout: default_health_timeout() }
    }
}

/// One of the two backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BackendName {
    /// The local agent.
    Local,
    /// The offload agent.
    Offload,
}

/// Whether decisions are carried out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Mode {
    /// Switch the backend.
    #[default]
    Enforce,
    /// Report what would be done, change nothing.
    DryRun,
}

fn default_cooldown() -> Duration {
    std::time::Duration::from_secs(120).into()
}
fn default_max_switches() -> i32 {
    6
}
fn default_api_version() -> String {
    "apps/v1".to_owned()
}
fn default_kind() -> String {
    "Deployment".to_owned()
}
fn default_offload_for() -> Duration {
    std::time::Duration::from_secs(30).into()
}
fn default_recover_for() -> Duration {
    std::time::Duration::from_secs(60).into()
}
fn default_true() -> bool {
    true
}
fn default_health_timeout() -> Duration {
    std::time::Duration::from_secs(2).into()
}
