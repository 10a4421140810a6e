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
pub struct SignalLabels {
    pub namespace: String,
    pub policy: String,
    pub signal: String,
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
    pub signals: Family<SignalLabels, FGauge>,
    pub offloaded: Family<PolicyLabels, FGauge>,
    pub degraded: Family<PolicyLabels, FGauge>,
    pub failed_trials: Family<PolicyLabels, Counter>,
    pub telemetry_errors: Family<CategoryLabels, Counter>,
    /// PromQL queries sent; handed to the query cache, which counts them.
    pub queries: Counter,
    pub evaluation: Histogram,
    /// The signals each policy has series of, so a deleted policy's series can be removed.
    series: std::sync::Mutex<std::collections::HashMap<PolicyLabels, std::collections::BTreeSet<String>>>,
}

/// Every `category` label value of `telemetry_errors`.
const CATEGORIES: [&str; 4] = ["not_allowed", "timeout", "series", "unavailable"];

impl OffloadMetrics {
    pub const PREFIX: &'static str = "offload";

    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            switches: Family::default(),
            signals: Family::default(),
            offloaded: Family::default(),
            degraded: Family::default(),
            failed_trials: Family::default(),
            telemetry_errors: Family::default(),
            queries: Counter::default(),
            evaluation: Histogram::new(EVALUATION_BUCKETS),
            series: Default::default(),
        };
        let r = registry.sub_registry_with_prefix(Self::PREFIX);
        r.register("switches", "Backend switches carried out, by direction", m.switches.clone());
        r.register("signal", "Latest value of each signal, in its unit", m.signals.clone());
        r.register("offloaded", "1 while the workload runs on an offload backend", m.offloaded.clone());
        r.register(
            "degraded",
            "1 while offloaded and the offload rules hold there too, with no better backend",
            m.degraded.clone(),
        );
        r.register("failed_trials", "Trial returns to the local backend that failed", m.failed_trials.clone());
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

    /// The latest readings (`(signal, value)`) and where the workload runs; a signal without a
    /// usable value (missing, not finite, or older than `maxSampleAge`) has no series, so an
    /// outage never shows its last value as if it were live.
    pub fn observed(&self, labels: &PolicyLabels, readings: &[(&str, Option<f64>)], active: Backend, degraded: bool) {
        for (signal, value) in readings {
            let l = SignalLabels {
                namespace: labels.namespace.clone(),
                policy: labels.policy.clone(),
                signal: (*signal).to_owned(),
            };
            match value.filter(|v| v.is_finite()) {
                Some(v) => {
                    self.signals.get_or_create(&l).set(v);
                    if let Ok(mut series) = self.series.lock() {
                        series.entry(labels.clone()).or_default().insert(l.signal);
                    }
                }
                None => {
                    self.signals.remove(&l);
                }
            }
        }
        if let Ok(mut series) = self.series.lock() {
            series.entry(labels.clone()).or_default();
        }
        let flag = |on: bool| if on { 1.0 } else { 0.0 };
        self.offloaded.get_or_create(labels).set(flag(active.is_offload()));
        self.degraded.get_or_create(labels).set(flag(degraded));
    }

    /// Removes every series of a deleted policy.
    pub fn forget(&self, labels: &PolicyLabels) {
        let signals = self.series.lock().ok().and_then(|mut s| s.remove(labels)).unwrap_or_default();
        let (namespace, policy) = (labels.namespace.clone(), labels.policy.clone());
        for signal in signals {
            self.signals.remove(&SignalLabels { namespace: namespace.clone(), policy: policy.clone(), signal });
        }
        for to in ["local", "offload"] {
            self.switches.remove(&SwitchLabels { namespace: namespace.clone(), policy: policy.clone(), to: to.into() });
        }
        for category in CATEGORIES {
            let l = CategoryLabels { namespace: namespace.clone(), policy: policy.clone(), category: category.into() };
            self.telemetry_errors.remove(&l);
        }
        self.offloaded.remove(labels);
        self.degraded.remove(labels);
        self.failed_trials.remove(labels);
    }

    /// The policies that have series.
    pub fn known(&self) -> Vec<PolicyLabels> {
        self.series.lock().map(|s| s.keys().cloned().collect()).unwrap_or_default()
    }

    /// A trial return failed.
    pub fn trial_failed(&self, labels: &PolicyLabels) {
        self.failed_trials.get_or_create(labels).inc();
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
        let to = if to.is_offload() { "offload" } else { "local" };
        let l = SwitchLabels { namespace: labels.namespace.clone(), policy: labels.policy.clone(), to: to.into() };
        self.switches.get_or_create(&l).inc();
    }

    /// One evaluation (read, decide, actuate) took `took`.
    pub fn evaluated(&self, took: Duration) {
        self.evaluation.observe(took.as_secs_f64());
    }
}
