//! Named signals of an OffloadPolicy and the rules that compare them with thresholds.

use std::collections::BTreeMap;

use kube::KubeSchema;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules;

/// One named signal: a PromQL query (prometheus source) or a metric name with label matchers
/// (scrape source).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.query) != has(self.metric)").message("set exactly one of query (prometheus source) and metric (scrape source)"),
    validation = Rule::new("!has(self.quantile) || has(self.metric)").message("quantile applies to a scraped histogram or summary metric; put the quantile into the PromQL query instead"),
    validation = Rule::new("!has(self.freshness) || has(self.query)").message("freshness is a PromQL query: it needs a query signal (prometheus source)"),
    validation = Rule::new("!has(self.labels) || has(self.metric)").message("labels select a scraped metric's series; put label matchers into the PromQL query instead")
)]
pub struct Signal {
    /// Name the rules use, for example `fps`, `latency` or `pi_cpu`: lower-case letters, digits
    /// and `_`, starting with a letter, at most 32 characters.
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z][a-z0-9_]*$')").message("must be lower-case letters, digits and '_', starting with a letter, for example pi_cpu"))]
    pub name: String,
    /// PromQL instant query returning exactly one series, for example
    /// `avg(detector_fps{namespace="vision"})`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub query: Option<String>,
    /// PromQL query returning the Unix time of the newest sample behind `query`, checked against
    /// `telemetry.maxSampleAge`, for example `max(timestamp(detector_fps{namespace="vision"}))`.
    /// Default: derived for a plain selector (`timestamp(q)`) and for one aggregation of a
    /// selector (`max(timestamp(selector))`); for other expressions the freshness is not checked
    /// and status says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub freshness: Option<String>,
    /// Metric name on the scraped endpoint. A gauge is read as it is; for a histogram
    /// (`<metric>_bucket`) the `quantile` is computed over the bucket increase between two
    /// scrapes; for a summary the series with that `quantile` label is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z_:][a-zA-Z0-9_:]*$')").message("must be a Prometheus metric name"))]
    pub metric: Option<String>,
    /// Label matchers (equality) selecting one series of `metric`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub labels: Option<BTreeMap<String, String>>,
    /// Quantile read from a histogram or summary `metric`, between 0 and 1 (exclusive).
    /// Default: 0.99 for histograms and summaries; ignored for gauges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self < 1.0").message("must be between 0 and 1, for example 0.99"))]
    pub quantile: Option<f64>,
    /// Unit of the value, for messages and `kubectl get`: `Seconds` values are written like
    /// `212ms`, `Percent` like `85%`, `Celsius` like `71°C`; `PerSecond`, `Ratio` and `None`
    /// as plain numbers. Thresholds are always in this unit (seconds for a latency).
    /// Default: None.
    #[serde(default)]
    pub unit: Unit,
}

/// Unit of a signal's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Unit {
    /// A plain number.
    #[default]
    None,
    /// Seconds, for latencies and durations.
    Seconds,
    /// Events per second, for frame rates.
    PerSecond,
    /// Percent, 0 to 100.
    Percent,
    /// A fraction, 0 to 1 (CPU busy ratio, queue fill).
    Ratio,
    /// Degrees Celsius.
    Celsius,
}

/// One comparison of a signal with a threshold: exactly one of `below` and `above`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.below) != has(self.above)").message("set exactly one of below and above"))]
pub struct Threshold {
    /// Name of a signal declared in `spec.signals`.
    #[schemars(length(min = 1, max = 32))]
    pub signal: String,
    /// Holds while the signal is below this value, in the signal's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// Holds while the signal is above this value, in the signal's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
}

/// Rules that trigger an offload: exactly one of `any` and `all`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.any) != has(self.all)").message("set exactly one of any and all"))]
pub struct OffloadWhen {
    /// Offload when ANY of these holds continuously for `for`. At most 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8))]
    pub any: Option<Vec<Threshold>>,
    /// Offload when ALL of these hold together continuously for `for`. At most 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8))]
    pub all: Option<Vec<Threshold>>,
    /// How long the rules must hold before the workload is offloaded. Between 0s and 1h.
    /// Default: 30s.
    #[serde(default = "default_offload_for", rename = "for")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("0s", "1h"))]
    pub for_: Duration,
}

/// Rules that bring the workload back to the local backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.any) && has(self.all))").message("set at most one of any and all"))]
pub struct RecoverWhen {
    /// Return when ANY of these holds continuously for `for`. At most 8. Prefer signals of the
    /// local device itself (its CPU load, temperature, input rate): while offloaded, the
    /// workload's own frame rate and latency describe the offload agent, not the local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8))]
    pub any: Option<Vec<Threshold>>,
    /// Return when ALL of these hold together continuously for `for`. At most 8.
    /// Default (neither any nor all): all of the offload rules mirrored with a stricter line,
    /// `below x` as `above 1.2x` and `above x` as `below 0.8x`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 8))]
    pub all: Option<Vec<Threshold>>,
    /// How long the rules must hold before switching back. Between 0s and 1h. Default: 60s.
    #[serde(default = "default_recover_for", rename = "for")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("0s", "1h"))]
    pub for_: Duration,
    /// The trial after a return: `offloadWhen` is watched without its sustain window for
    /// `verify.for`; a violation offloads again at once (ReturnFailed) and the hold before the
    /// next return doubles. Default: for 1m, backoff initial 5m, max 1h.
    #[serde(default)]
    pub verify: Verify,
}

impl Default for RecoverWhen {
    fn default() -> Self {
        Self { any: None, all: None, for_: default_recover_for(), verify: Verify::default() }
    }
}

/// The trial that follows a return to the local backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verify {
    /// How long after a return any offload rule violation sends the workload back at once.
    /// 0s turns the trial off. Between 0s and 1h. Default: 1m.
    #[serde(default = "default_verify_for", rename = "for")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("0s", "1h"))]
    pub for_: Duration,
    /// How long the workload stays offloaded after a failed trial before the next return.
    /// Default: initial 5m, max 1h.
    #[serde(default)]
    pub backoff: Backoff,
}

impl Default for Verify {
    fn default() -> Self {
        Self { for_: default_verify_for(), backoff: Backoff::default() }
    }
}

/// Hold time after failed trial returns: `initial` after the first, doubling after each further
/// one up to `max`; a trial that holds resets it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("duration(self.initial) <= duration(self.max)").message("backoff.initial must be at most backoff.max").field_path(".initial"))]
pub struct Backoff {
    /// Hold after the first failed trial. Between 1s and 24h. Default: 5m.
    #[serde(default = "default_backoff_initial")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1s", "24h"))]
    pub initial: Duration,
    /// Longest hold. Between 1s and 24h. Default: 1h.
    #[serde(default = "default_backoff_max")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1s", "24h"))]
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: default_backoff_initial(), max: default_backoff_max() }
    }
}

/// The set list and whether all of its rules must hold (`all`) or any one (`any`).
fn pick<'a>(any: &'a Option<Vec<Threshold>>, all: &'a Option<Vec<Threshold>>) -> Option<(&'a [Threshold], bool)> {
    match (any, all) {
        (_, Some(all)) => Some((all, true)),
        (Some(any), None) => Some((any, false)),
        (None, None) => None,
    }
}

impl OffloadWhen {
    /// The rules and whether all of them must hold (`all`) or any one (`any`).
    pub fn rules(&self) -> (&[Threshold], bool) {
        pick(&self.any, &self.all).unwrap_or((&[], false))
    }
}

impl RecoverWhen {
    /// The rules and whether all of them must hold; `None` when neither list is set.
    pub fn rules(&self) -> Option<(&[Threshold], bool)> {
        pick(&self.any, &self.all)
    }
}

fn secs(s: u64) -> Duration {
    std::time::Duration::from_secs(s).into()
}
fn default_offload_for() -> Duration {
    secs(30)
}
fn default_recover_for() -> Duration {
    secs(60)
}
fn default_verify_for() -> Duration {
    secs(60)
}
fn default_backoff_initial() -> Duration {
    secs(300)
}
fn default_backoff_max() -> Duration {
    secs(3600)
}
