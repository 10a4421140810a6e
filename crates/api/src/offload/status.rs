//! Observed state of an OffloadPolicy, written by the operator.
//!
//! The decision timers live here so that a restarted operator, or a new leader, resumes them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spec::BackendName;

/// Most recent transitions kept in `status.recentTransitions`.
pub const MAX_RECENT_TRANSITIONS: usize = 20;

/// What the operator observed and decided.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OffloadPolicyStatus {
    /// The `metadata.generation` of the spec this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Local, Offloaded, Pinned, Suspended or Degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::field_doc_wins)]
    pub phase: Option<Phase>,
    /// Whether the workload is pointed at the local backend or an offload backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::field_doc_wins)]
    pub active_backend: Option<BackendName>,
    /// Name of the backend the workload is pointed at, for example `local` or `jetson`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_target: Option<String>,
    /// The vAccel RPC address the workload is pointed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_endpoint: Option<String>,
    /// The latest value of every signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// Since when an offload rule has been violated without a break (unset while none is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub violating_since: Option<Time>,
    /// Since when every recovery rule has held without a break (unset while one does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_since: Option<Time>,
    /// Since when telemetry has given no usable sample (unset while it does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_since: Option<Time>,
    /// The trial after a return and the back-off after failed ones (unset while neither is
    /// in effect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<TrialStatus>,
    /// The most recent switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<Transition>,
    /// The latest switches, newest last, at most 20; used for the hourly switch budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub recent_transitions: Vec<Transition>,
    /// Where the target runs, from its Karmada ResourceBinding (empty without Karmada).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    /// The object the operator changes to switch the backend, and the value read back from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actuation: Option<ActuationStatus>,
    /// Ready, TargetFound, Actuated, TelemetryAvailable, OffloadTargetHealthy, Degraded and
    /// Propagated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub conditions: Vec<Condition>,
}

/// Where the backend switch is carried out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActuationStatus {
    /// Actuation mode: env, service, overridePolicy or configMap.
    #[serde(default)]
    pub mode: String,
    /// The object written, for example `Service vaccel-backend` or
    /// `OverridePolicy detector-vaccel`.
    #[serde(default)]
    pub object: String,
    /// The value read back after the last write or check, for example the Service selector
    /// `app=vaccel-agent,node=jetson` or the endpoint `tcp://10.0.0.7:8192`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_value: Option<String>,
}

/// Summary phase shown by `kubectl get`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    /// Running on the local backend.
    Local,
    /// Running on the offload backend.
    Offloaded,
    /// Held on a backend by `spec.pin`.
    Pinned,
    /// `spec.suspend` is set.
    Suspended,
    /// Something prevents the policy from working; see the conditions.
    Degraded,
}

/// The latest reading of the signals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Every signal for people, for example `fps=4.0 latency=300ms pi_cpu=97%`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    /// One entry per signal, in the order of `spec.signals`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub signals: Vec<ObservedSignal>,
}

/// The latest reading of one signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedSignal {
    /// Name of the signal in `spec.signals`.
    pub name: String,
    /// The value, in the signal's unit (unset when it could not be read). Status is written only
    /// when something in it changed: a value that moved less than 5% since it was written stays
    /// as it was (the live value and its freshness are the operator's `continuum_offload_signal`
    /// metric; a stale sample is named in the TelemetryAvailable condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The value for people, for example `212ms` or `97%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// How the sample's age is known: `Checked`, or why it cannot be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<String>,
    /// Why the signal could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The trial after a return to the local backend, and the back-off after failed trials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrialStatus {
    /// While a trial runs: when it ends; an offload rule violated before then offloads again at
    /// once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Time>,
    /// Trial returns that failed in a row.
    #[serde(default)]
    pub failed: i32,
    /// The current hold after a failed trial, for example `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    /// The current hold in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_seconds: Option<i64>,
    /// The earliest time of the next return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_return_after: Option<Time>,
}

/// One switch between backends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// When the switch was made.
    pub time: Time,
    /// Name of the backend before the switch, for example `local`.
    pub from: String,
    /// Name of the backend after the switch, for example `jetson`.
    pub to: String,
    /// Machine-readable cause, for example `OffloadRuleHeld`, `Recovered` or `ReturnFailed`.
    pub reason: String,
    /// The decision in one sentence, with the numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Propagation of the target to member clusters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Propagation {
    /// One entry per member cluster the target is scheduled to, clusters that are not healthy
    /// first, at most 64 (Karmada's own scale tests run about 100 member clusters; a placement
    /// may select more): the counts below always cover all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub clusters: Vec<ClusterStatus>,
    /// Member clusters the target is scheduled to, listed or not.
    #[serde(default)]
    pub clusters_total: i32,
    /// How many of them Karmada reports Healthy.
    #[serde(default)]
    pub clusters_healthy: i32,
}

/// State of the target in one member cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Member cluster name.
    pub name: String,
    /// Healthy, Unhealthy or Unknown, as Karmada reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Whether Karmada applied the latest template there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<bool>,
    /// Ready replicas there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
}
