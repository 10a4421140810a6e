//! Inputs and outputs of the offload decision.

/// One of the two backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Local,
    Offload,
}

/// What to do without a usable sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NoData {
    #[default]
    Hold,
    Local,
    Offload,
}

/// The policy's rules with every default already applied; times in milliseconds, latency in seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub fps_below: Option<f64>,
    pub latency_above: Option<f64>,
    pub offload_for_ms: i64,
    pub fps_above: Option<f64>,
    pub latency_below: Option<f64>,
    pub recover_for_ms: i64,
    pub cooldown_ms: i64,
    pub max_switches_per_hour: usize,
    pub max_sample_age_ms: i64,
    pub on_no_data: NoData,
    pub dry_run: bool,
    pub suspend: bool,
    pub pin: Option<Backend>,
    pub local_endpoint: String,
    pub offload_endpoint: String,
}

impl Rules {
    /// Recovery lines default to 1.2 × fpsBelow and 0.8 × latencyAbove (stricter than the
    /// offload lines, so the policy does not flap).
    pub fn with_recovery_defaults(mut self) -> Self {
        if self.fps_above.is_none() {
            self.fps_above = self.fps_below.map(|f| f * 1.2);
        }
        if self.latency_below.is_none() {
            self.latency_below = self.latency_above.map(|l| l * 0.8);
        }
        self
    }

    pub fn endpoint(&self, b: Backend) -> &str {
        match b {
            Backend::Local => &self.local_endpoint,
            Backend::Offload => &self.offload_endpoint,
        }
    }
}

/// Health of the offload agent, as probed by the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetHealth {
    Healthy,
    Unhealthy(String),
    /// Not probed (non-TCP endpoint or probing disabled).
    Unchecked,
}

/// One reading of the telemetry.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub fps: Option<f64>,
    pub latency_seconds: Option<f64>,
    /// Timestamp of the sample at the source.
    pub sample_time_ms: Option<i64>,
    /// Why the telemetry could not be read, if it could not.
    pub error: Option<String>,
    pub target: TargetHealth,
}

/// Decision timers and history, persisted in status.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub active: Backend,
    pub violating_since_ms: Option<i64>,
    pub healthy_since_ms: Option<i64>,
    pub no_data_since_ms: Option<i64>,
    /// Times of the switches in the last hour, oldest first.
    pub recent_switches_ms: Vec<i64>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            active: Backend::Local,
            violating_since_ms: None,
            healthy_since_ms: None,
            no_data_since_ms: None,
            recent_switches_ms: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Local,
    Offloaded,
    Pinned,
    Suspended,
    Degraded,
}

/// What happens now.
#[derive(Clone, Debug, PartialEq)]
pub enum Move {
    Stay,
    /// Point the workload at `to` (DryRun: report only).
    Switch {
        to: Backend,
        dry_run: bool,
    },
    /// A switch is wanted but a gate holds it.
    Blocked {
        wanted: Backend,
        gate: Gate,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    TargetUnhealthy,
    Cooldown,
    SwitchBudget,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub state: State,
    pub action: Move,
    pub phase: Phase,
    /// Why, as a type: match on this, never on `reason`.
    pub cause: super::Reason,
    /// `cause` as text (Event and condition reason), e.g. `FpsBelowThreshold`, `Recovered`.
    pub reason: &'static str,
    /// The decision in one sentence, with the numbers.
    pub message: String,
    /// Whether the sample was usable.
    pub telemetry_ok: bool,
}
