//! Inputs and outputs of the offload decision.

/// Where the workload runs: the local backend or one of the ranked offload backends (an index
/// into `Rules::offload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Local,
    Offload(usize),
}

impl Backend {
    pub fn is_offload(self) -> bool {
        matches!(self, Backend::Offload(_))
    }
}

/// Local or offload, without saying which offload backend (`spec.pin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
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

/// Unit of a signal: how its values and thresholds are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unit {
    #[default]
    None,
    Seconds,
    PerSecond,
    Percent,
    Ratio,
    Celsius,
}

/// A declared signal.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalDef {
    pub name: String,
    pub unit: Unit,
}

/// Which side of a threshold holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    Below(f64),
    Above(f64),
}

/// One comparison: signal `signal` (an index into `Rules::signals`) against a threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    pub signal: usize,
    pub bound: Bound,
}

/// Rules combined with `any` (`all == false`) or `all`, holding for `for_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSet {
    pub all: bool,
    pub rules: Vec<Threshold>,
    pub for_ms: i64,
}

/// The trial after a return: `for_ms` (0 = none), and the hold after failed trials.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verify {
    pub for_ms: i64,
    pub backoff_initial_ms: i64,
    pub backoff_max_ms: i64,
}

/// A backend: its name (status, Events) and its vAccel RPC address.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub name: String,
    pub endpoint: String,
}

/// The policy's rules with every default already applied; times in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub signals: Vec<SignalDef>,
    pub offload_when: RuleSet,
    pub recover_when: RuleSet,
    pub verify: Verify,
    /// `telemetry.interval`: a data gap longer than this restarts the sustain windows.
    pub interval_ms: i64,
    pub cooldown_ms: i64,
    pub max_switches_per_hour: usize,
    pub max_sample_age_ms: i64,
    pub on_no_data: NoData,
    pub dry_run: bool,
    pub suspend: bool,
    pub pin: Option<Side>,
    pub local: Target,
    /// Offload backends in order of preference (at least one).
    pub offload: Vec<Target>,
}

impl Rules {
    /// The default recovery rules: every offload rule mirrored with a stricter line
    /// (`below x` → `above 1.2x`, `above x` → `below 0.8x`), all of them holding.
    pub fn mirrored(offload_when: &RuleSet, for_ms: i64) -> RuleSet {
        let rules = offload_when
            .rules
            .iter()
            .map(|t| Threshold {
                signal: t.signal,
                bound: match t.bound {
                    Bound::Below(x) => Bound::Above(x * 1.2),
                    Bound::Above(x) => Bound::Below(x * 0.8),
                },
            })
            .collect();
        RuleSet { all: true, rules, for_ms }
    }

    pub fn target(&self, b: Backend) -> &Target {
        match b {
            Backend::Offload(i) => self.offload.get(i).or(self.offload.first()).unwrap_or(&self.local),
            Backend::Local => &self.local,
        }
    }

    pub fn endpoint(&self, b: Backend) -> &str {
        &self.target(b).endpoint
    }

    /// `jetson (tcp://jetson:8192)`.
    pub fn describe(&self, b: Backend) -> String {
        let t = self.target(b);
        format!("{} ({})", t.name, t.endpoint)
    }
}

/// Health of an offload agent, as probed by the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetHealth {
    Healthy,
    Unhealthy(String),
    /// Not probed (non-TCP endpoint or probing disabled): trusted.
    Unchecked,
}

impl TargetHealth {
    pub fn usable(&self) -> bool {
        !matches!(self, TargetHealth::Unhealthy(_))
    }
}

/// One signal's reading.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reading {
    pub value: Option<f64>,
    /// Time of the newest sample behind the value, at the source; `None` when it cannot be
    /// known (then its age is not checked).
    pub sample_time_ms: Option<i64>,
    /// Why the signal could not be read, if it could not.
    pub error: Option<String>,
}

/// One reading of the telemetry and of the offload agents' health.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// One reading per declared signal, in the order of `Rules::signals`.
    pub signals: Vec<Reading>,
    /// Why the source could not be read at all, if it could not.
    pub error: Option<String>,
    /// One health per offload backend, in the order of `Rules::offload`; a missing entry counts
    /// as unchecked.
    pub targets: Vec<TargetHealth>,
}

impl Observation {
    pub fn health(&self, i: usize) -> TargetHealth {
        self.targets.get(i).cloned().unwrap_or(TargetHealth::Unchecked)
    }
}

/// Decision timers and history, persisted in status.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub active: Backend,
    /// Since when the offload rules have held (sample time of the first such reading).
    pub violating_since_ms: Option<i64>,
    /// Since when the recovery rules have held.
    pub healthy_since_ms: Option<i64>,
    pub no_data_since_ms: Option<i64>,
    /// Times of the switches in the last hour, oldest first.
    pub recent_switches_ms: Vec<i64>,
    /// While a trial return runs: when it ends.
    pub trial_until_ms: Option<i64>,
    /// Failed trial returns in a row.
    pub failed_trials: u32,
    /// The earliest time of the next return (after a failed trial).
    pub next_return_ms: Option<i64>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            active: Backend::Local,
            violating_since_ms: None,
            healthy_since_ms: None,
            no_data_since_ms: None,
            recent_switches_ms: Vec::new(),
            trial_until_ms: None,
            failed_trials: 0,
            next_return_ms: None,
        }
    }
}

impl State {
    /// The hold after `failed_trials` failed trials: initial, doubling, capped at max.
    pub fn hold_ms(&self, v: &Verify) -> i64 {
        if self.failed_trials == 0 {
            return 0;
        }
        let doublings = (self.failed_trials - 1).min(40);
        v.backoff_initial_ms.saturating_mul(1i64 << doublings).min(v.backoff_max_ms)
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
    /// The hold after a failed trial return.
    Backoff,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub state: State,
    pub action: Move,
    pub phase: Phase,
    /// Why, as a type: match on this, never on `reason`.
    pub cause: super::Reason,
    /// `cause` as text (Event and condition reason), e.g. `OffloadRuleHeld`, `Recovered`.
    pub reason: &'static str,
    /// The decision in one sentence, with the numbers.
    pub message: String,
    /// Whether the sample was usable.
    pub telemetry_ok: bool,
    /// Offloaded and the offload rules hold there too (the `Degraded` condition).
    pub degraded: bool,
}
