//! OffloadPolicy: switch a workload's vAccel backend from telemetry.

use kube::core::Duration;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::actuation::Actuation;
use super::signals::{OffloadWhen, RecoverWhen, Signal};
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
    doc = "Switches a workload's vAccel backend between a local agent and ranked offload agents, driven by named signals: the workload's frame rate and latency, and the local device's own load.",
    plural = "offloadpolicies",
    singular = "offloadpolicy",
    shortname = "offload",
    shortname = "op",
    category = "continuum",
    namespaced,
    status = "OffloadPolicyStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.targetRef.name"}"#,
    printcolumn = r#"{"name":"Backend","type":"string","jsonPath":".status.activeTarget"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Signals","type":"string","jsonPath":".status.observed.summary"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.signals.all(a, self.signals.filter(b, b.name == a.name).size() == 1)").message("signal names must be unique").field_path(".signals"),
    validation = Rule::new(signal_refs("self.offloadWhen")).message("offloadWhen names a signal that spec.signals does not declare").field_path(".offloadWhen"),
    validation = Rule::new(format!("!has(self.recoverWhen) || ({})", signal_refs("self.recoverWhen"))).message("recoverWhen names a signal that spec.signals does not declare").field_path(".recoverWhen"),
    validation = Rule::new("!has(self.telemetry.prometheus) || self.signals.all(s, has(s.query))").message("with telemetry.prometheus every signal needs a PromQL query").field_path(".signals"),
    validation = Rule::new("!has(self.telemetry.scrape) || self.signals.all(s, has(s.metric))").message("with telemetry.scrape every signal needs a metric name").field_path(".signals"),
    validation = Rule::new(hysteresis()).message("a recoverWhen line must be stricter than the offloadWhen line of the same signal (above at least its below, below at most its above), or the policy switches back and forth").field_path(".recoverWhen"),
    validation = Rule::new("!has(self.actuation.service) || !has(self.actuation.service.offloadSelector) || size(self.backends.offload) == 1").message("service mode with selectors has one offloadSelector, so it takes exactly one offload backend; remove the selectors (the operator then owns the EndpointSlice) to rank several").field_path(".backends.offload")
)]
pub struct OffloadPolicySpec {
    /// The workload whose vAccel backend is switched: a Deployment in the namespace of the
    /// policy (on Karmada, the resource template in the karmada-apiserver).
    pub target_ref: TargetRef,
    /// Where the signals are read, how often, and how old a sample may be.
    pub telemetry: Telemetry,
    /// The values the rules compare: the workload's frame rate and latency, and signals of the
    /// local device itself (CPU load, temperature, input rate). Between 1 and 8, names unique.
    #[schemars(length(min = 1, max = 8))]
    pub signals: Vec<Signal>,
    /// When to offload: `any` or `all` of its rules holding continuously for `for`.
    pub offload_when: OffloadWhen,
    /// When to come back, and the trial that follows a return.
    /// Default: the offload rules mirrored with stricter lines, for 60s, verify for 1m with
    /// backoff initial 5m, max 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover_when: Option<RecoverWhen>,
    /// The vAccel RPC agents to switch between: one local, and offload agents in order of
    /// preference.
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
    /// Manual override: `Local` keeps the workload on the local backend, `Offload` on the first
    /// healthy offload backend, regardless of telemetry (the offload backends' health is still
    /// probed and reported). Default: unset (automatic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = super::field_doc_wins)]
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

/// The vAccel RPC agents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.offload.all(b, b.name != self.local.name && b.endpoint != self.local.endpoint)").message("every offload backend needs a name and an endpoint different from the local backend's"),
    validation = Rule::new("self.offload.all(a, self.offload.filter(b, b.name == a.name || b.endpoint == a.endpoint).size() == 1)").message("offload backend names and endpoints must be unique").field_path(".offload")
)]
pub struct Backends {
    /// The agent the workload uses normally (e.g. on the Raspberry Pi).
    pub local: LocalBackend,
    /// The agents inference is offloaded to, in order of preference (e.g. the Jetson's GPU
    /// agent, then a cloud GPU agent). The first healthy one is used; when the active one dies
    /// or stays degraded the workload moves to the next healthy one, and to the local backend
    /// only when none is. Between 1 and 4.
    #[schemars(length(min = 1, max = 4))]
    pub offload: Vec<OffloadBackend>,
}

/// The local vAccel agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalBackend {
    /// Name shown in status, Events and `kubectl get`. Default: local.
    #[serde(default = "default_local_name")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = rules::dns_label())]
    pub name: String,
    /// vAccel RPC address (VACCEL_RPC_ADDRESS): tcp://host:port, unix:///path or vsock://cid:port.
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = rules::vaccel_endpoint())]
    pub endpoint: String,
}

/// A remote vAccel agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OffloadBackend {
    /// Name shown in status, Events and `kubectl get`, for example `jetson`.
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = rules::dns_label())]
    pub name: String,
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

/// The local backend or the offload backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum BackendName {
    /// The local agent.
    Local,
    /// An offload agent (the first healthy one, in order of preference).
    Offload,
}

/// `check` of each of `when`'s rule lists that is set. CEL cannot pick `any` or `all` with `?:`:
/// the API server types them as two different lists, so each rule is written out for both.
fn each_list(when: &str, check: &dyn Fn(&str) -> String) -> String {
    ["any", "all"].map(|list| format!("(!has({when}.{list}) || {})", check(&format!("{when}.{list}")))).join(" && ")
}

/// Every rule of `when` (`self.offloadWhen` or `self.recoverWhen`) names a declared signal.
fn signal_refs(when: &str) -> String {
    each_list(when, &|list| format!("{list}.all(r, self.signals.exists(s, s.name == r.signal))"))
}

/// No recovery line of a signal is on the offload side of that signal's offload line.
fn hysteresis() -> String {
    let stricter = "o.signal != r.signal || ((!has(r.above) || !has(o.below) || r.above >= o.below) \
        && (!has(r.below) || !has(o.above) || r.below <= o.above))";
    let rules = each_list("self.recoverWhen", &|rec| {
        each_list("self.offloadWhen", &|off| format!("{rec}.all(r, {off}.all(o, {stricter}))"))
    });
    format!("!has(self.recoverWhen) || ({rules})")
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
fn default_local_name() -> String {
    "local".to_owned()
}
fn default_true() -> bool {
    true
}
fn default_health_timeout() -> Duration {
    std::time::Duration::from_secs(2).into()
}
