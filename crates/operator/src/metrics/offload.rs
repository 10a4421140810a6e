//! `continuum_offload_*`: what the OffloadPolicy controller observed, decided and carried out.

use std::time::Duration;

use continuum_policy::offload::Backend;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::FGauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub namespace: String,
    pub policy: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SwitchLabels {
    pub namespace: String,
    pub policy: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CategoryLabels {
    pub namespace: String,
    pub policy: String,
    pub category: String,
}

/// Buckets of `evaluation_duration_seconds`: a telemetry read takes milliseconds to seconds.
const EVALUATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Debug)]
pub struct OffloadMetrics {
    pub switches: Family<SwitchLabels, Counter>,
    pub fps: Family<PolicyLabels, FGauge>,
    pub latency: Family<PolicyLabels, FGauge>,
    pub offloaded: Family<PolicyLabels, FGauge>,
    pub telemetry_errors: Family<CategoryLabels, Counter>,
    /// PromQL queries sent; handed to the query cache, which counts them.
    pub queries: Counter,
    pub evaluation: Histogram,
}

impl OffloadMetrics {
    pub const PREFIX: &'static str = "offload";

    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            switches: Family::default(),
            fps: Family::default(),
            latency: Family::default(),
            offloaded: Family::default(),
            telemetry_errors: Family::default(),
            queries: Counter::default(),
            evaluation: Histogram::new(EVALUATION_BUCKETS),
        };
        let r = registry.sub_registry_with_prefix(Self::PREFIX);
        r.register("switches", "Backend switches carried out, by direction", m.switches.clone());
        r.register("fps", "Observed frame rate", m.fps.clone());
        r.register("latency_seconds", "Observed inference latency", m.latency.clone());
        r.register("offloaded", "1 while the workload runs on the offload backend", m.offloaded.clone());
        r.register("telemetry_errors", "Failed telemetry reads, by category", m.telemetry_errors.clone());
        r.register("telemetry_queries", "PromQL queries sent (identical queries are shared)", m.queries.clone());
        r.register_with_unit(
            "evaluation_duration",
            "Time to read telemetry, decide and actuate one policy",
            Unit::Seconds,
            m.evaluation.clone(),
        );
        m
    }

    /// The latest reading and where the workload runs; a signal that is missing or not finite
    /// keeps its last value.
    pub fn observed(&self, labels: &PolicyLabels, fps: Option<f64>, latency: Option<f64>, active: Backend) {
        if let Some(f) = fps.filter(|v| v.is_finite()) {
            self.fps.get_or_create(labels).set(f);
        }
        if let Some(l) = latency.filter(|v| v.is_finite()) {
            self.latency.get_or_create(labels).set(l);
        }
        self.offloaded.get_or_create(labels).set(if active == Backend::Offload { 1.0 } else { 0.0 });
    }

    /// A failed telemetry read, by a fixed `category` (never the error text).
    pub fn telemetry_error(&self, labels: &PolicyLabels, category: &'static str) {
        let l = CategoryLabels {
            namespace: labels.namespace.clone(),
            policy: labels.policy.clone(),
            category: category.into(),
        };
        self.telemetry_errors.get_or_create(&l).inc();
    }

    /// A switch carried out (not DryRun) to `to`.
    pub fn switched(&self, labels: &PolicyLabels, to: Backend) {
        let to = if to == Backend::Offload { "offload" } else { "local" };
        let l = SwitchLabels { namespace: labels.namespace.clone(), policy: labels.policy.clone(), to: to.into() };
        self.switches.get_or_create(&l).inc();
    }

    /// One evaluation (read, decide, actuate) took `took`.
    pub fn evaluated(&self, took: Duration) {
        self.evaluation.observe(took.as_secs_f64());
    }
}
