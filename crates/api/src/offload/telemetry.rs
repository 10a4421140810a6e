//! Where an OffloadPolicy reads its signals, and how often.

use std::collections::BTreeMap;

use kube::KubeSchema;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{SecretKeyRef, SecretRef, TlsConfig};
use crate::rules;

/// The telemetry source of the policy's signals, how often they are read and how old a sample may be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.prometheus) != has(self.scrape)").message("set exactly one telemetry source: prometheus or scrape"),
    validation = Rule::new("duration(self.maxSampleAge) >= duration(self.interval)").message("maxSampleAge must be at least interval, or every sample would count as stale")
)]
pub struct Telemetry {
    /// Read the signals through a Prometheus-compatible HTTP API (Prometheus, Thanos, Mimir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    /// Read the signals by scraping a Prometheus text / OpenMetrics endpoint directly,
    /// for setups without a Prometheus server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape: Option<ScrapeSource>,
    /// How often the signals are read and the policy evaluated. Between 1s and 10m. Default: 15s.
    #[serde(default = "default_interval")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1s", "10m"))]
    pub interval: Duration,
    /// A signal whose newest sample is older than this counts as no data (see `onNoData`), so
    /// stale telemetry never drives a switch. Between 1s and 1h, and at least `interval`. Default: 1m.
    #[serde(default = "default_max_sample_age")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("1s", "1h"))]
    pub max_sample_age: Duration,
    /// What to do while there is no usable sample: `Hold` keeps the current backend,
    /// `Local` falls back to the local backend, `Offload` treats missing data as a violation.
    /// Default: Hold.
    #[serde(default)]
    pub on_no_data: OnNoData,
}

/// What to do while telemetry gives no usable sample (no series, NaN, or older than `maxSampleAge`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OnNoData {
    /// Keep the current backend and timers as they are.
    #[default]
    Hold,
    /// Go back to the local backend once data has been missing for `offloadWhen.for`.
    Local,
    /// Count missing data as a violation: offload once it has lasted `offloadWhen.for`.
    Offload,
}

/// A Prometheus-compatible query API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSource {
    /// Base URL of the API, without `/api/v1`, for example `http://prometheus.monitoring:9090`
    /// or `https://mimir.example/prometheus`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = rules::http_url())]
    pub url: String,
    /// Credentials sent with every query. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<PrometheusAuth>,
    /// TLS settings for an https URL. Default: verify against the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Extra HTTP headers sent with every query, for example `X-Scope-OrgID` for Mimir.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    pub headers: Option<BTreeMap<String, String>>,
    /// Give up on a query after this long; the attempt counts as no data. Between 100ms and 1m.
    /// Default: 5s.
    #[serde(default = "default_timeout")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("100ms", "1m"))]
    pub timeout: Duration,
}

/// Credentials for a Prometheus-compatible API: one of bearer token or basic auth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.bearerTokenSecretRef) != has(self.basicAuthSecretRef)").message("set exactly one of bearerTokenSecretRef and basicAuthSecretRef"))]
pub struct PrometheusAuth {
    /// Secret key holding a bearer token, sent as `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret_ref: Option<SecretKeyRef>,
    /// Secret with keys `username` and `password`, sent as HTTP basic auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth_secret_ref: Option<SecretRef>,
}

/// A metrics endpoint scraped directly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeSource {
    /// URL of the metrics endpoint, for example `http://detector.vision:9100/metrics`.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = rules::http_url())]
    pub url: String,
    /// TLS settings for an https URL. Default: verify against the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Give up on a scrape after this long; the attempt counts as no data. Between 100ms and 1m.
    /// Default: 5s.
    #[serde(default = "default_timeout")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = rules::duration_between("100ms", "1m"))]
    pub timeout: Duration,
}

fn default_interval() -> Duration {
    std::time::Duration::from_secs(15).into()
}

fn default_max_sample_age() -> Duration {
    std::time::Duration::from_secs(60).into()
}

fn default_timeout() -> Duration {
    std::time::Duration::from_secs(5).into()
}
