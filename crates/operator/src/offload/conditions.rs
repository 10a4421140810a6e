//! The OffloadPolicy's condition types and reasons, and the conditions built from one evaluation.

use continuum_policy::offload::{Decision, Observation, Reason as DecisionReason, Rules, TargetHealth};

use crate::kit::conditions::{Cond, Label};

/// The condition types of an OffloadPolicy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// The decision in one sentence; True while telemetry, target and actuation all work.
    Ready,
    TargetFound,
    Actuated,
    TelemetryAvailable,
    OffloadTargetHealthy,
    /// Offloaded, and the offload rules hold there too with no better backend to go to.
    Degraded,
    Propagated,
}

impl Label for Type {
    fn as_str(&self) -> &'static str {
        match self {
            Type::Ready => "Ready",
            Type::TargetFound => "TargetFound",
            Type::Actuated => "Actuated",
            Type::TelemetryAvailable => "TelemetryAvailable",
            Type::OffloadTargetHealthy => "OffloadTargetHealthy",
            Type::Degraded => "Degraded",
            Type::Propagated => "Propagated",
        }
    }
}

/// Every reason an OffloadPolicy condition can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Ready: the decision's own reason (`Violating`, `FpsBelowThreshold`, `CooldownActive`, ...).
    Decision(DecisionReason),
    Found,
    TargetMissing,
    SampleRead,
    NoUsableSample,
    Reachable,
    Unreachable,
    NotProbed,
    SomeUnreachable,
    PerformingWell,
    NotOffloaded,
    NotEnforced,
    Applied,
    InSync,
    ContainerMissing,
    InvalidActuation,
    WriteFailed,
    NotAResourceTemplate,
    AllClustersHealthy,
    NotAllClustersHealthy,
    BindingNotFound,
    KarmadaNotInstalled,
    BindingUnreadable,
}

impl Label for Reason {
    fn as_str(&self) -> &'static str {
        match self {
            Reason::Decision(r) => r.as_str(),
            Reason::Found => "Found",
            Reason::TargetMissing => "TargetMissing",
            Reason::SampleRead => "SampleRead",
            Reason::NoUsableSample => "NoUsableSample",
            Reason::Reachable => "Reachable",
            Reason::Unreachable => "Unreachable",
            Reason::NotProbed => "NotProbed",
            Reason::SomeUnreachable => "SomeUnreachable",
            Reason::PerformingWell => "PerformingWell",
            Reason::NotOffloaded => "NotOffloaded",
            Reason::NotEnforced => "NotEnforced",
            Reason::Applied => "Applied",
            Reason::InSync => "InSync",
            Reason::ContainerMissing => "ContainerMissing",
            Reason::InvalidActuation => "InvalidActuation",
            Reason::WriteFailed => "WriteFailed",
            Reason::NotAResourceTemplate => "NotAResourceTemplate",
            Reason::AllClustersHealthy => "AllClustersHealthy",
            Reason::NotAllClustersHealthy => "NotAllClustersHealthy",
            Reason::BindingNotFound => "BindingNotFound",
            Reason::KarmadaNotInstalled => "KarmadaNotInstalled",
            Reason::BindingUnreadable => "BindingUnreadable",
        }
    }
}

/// An OffloadPolicy condition before timestamps are attached.
pub type OffloadCond = Cond<Type, Reason>;

/// OffloadTargetHealthy: True while at least one offload backend can be used; the message names
/// every unreachable one.
pub fn target_condition(r: &Rules, o: &Observation) -> OffloadCond {
    let t = Type::OffloadTargetHealthy;
    let health: Vec<(String, TargetHealth)> =
        r.offload.iter().enumerate().map(|(i, b)| (b.name.clone(), o.health(i))).collect();
    let dead: Vec<String> = health
        .iter()
        .filter_map(|(name, h)| match h {
            TargetHealth::Unhealthy(why) => Some(format!("{name}: {why}")),
            _ => None,
        })
        .collect();
    let probed = health.iter().any(|(_, h)| !matches!(h, TargetHealth::Unchecked));
    match dead.len() {
        0 if !probed => Cond::new(
            t,
            true,
            Reason::NotProbed,
            "The offload backends are not probed (non-TCP endpoints or healthCheck.tcp false).",
        ),
        0 => Cond::new(t, true, Reason::Reachable, "Every offload backend accepts TCP connections."),
        n if n == health.len() => Cond::new(
            t,
            false,
            Reason::Unreachable,
            format!("No offload backend is reachable ({}). None is switched to while so.", dead.join("; ")),
        ),
        _ => Cond::new(
            t,
            true,
            Reason::SomeUnreachable,
            format!("Unreachable, so skipped: {}. The others accept TCP connections.", dead.join("; ")),
        ),
    }
}

/// Degraded: True while offloaded and failing there with no better backend.
fn degraded_condition(d: &Decision) -> OffloadCond {
    if d.degraded {
        return Cond::new(Type::Degraded, true, Reason::Decision(DecisionReason::OffloadDegraded), d.message.clone());
    }
    if d.state.active.is_offload() {
        Cond::new(
            Type::Degraded,
            false,
            Reason::PerformingWell,
            "The offload rules do not hold on the offload backend.",
        )
    } else {
        Cond::new(Type::Degraded, false, Reason::NotOffloaded, "The workload runs on the local backend.")
    }
}

/// What the conditions are built from.
#[derive(Debug)]
pub struct Facts<'a> {
    pub target: &'a str,
    pub ns: &'a str,
    pub target_found: bool,
    pub decision: &'a Decision,
    pub observation: &'a Observation,
    pub rules: &'a Rules,
}

/// Ready (whose message is the decision), TargetFound, Actuated, TelemetryAvailable,
/// OffloadTargetHealthy, Degraded and Propagated.
pub fn conditions(f: &Facts<'_>, actuated: OffloadCond, propagated: OffloadCond) -> Vec<OffloadCond> {
    let (d, o, target) = (f.decision, f.observation, f.target);
    let found = if f.target_found {
        Cond::new(Type::TargetFound, true, Reason::Found, format!("Deployment {target} exists."))
    } else {
        let msg =
            format!("Deployment {target} does not exist in namespace {}; nothing is switched until it does.", f.ns);
        Cond::new(Type::TargetFound, false, Reason::TargetMissing, msg)
    };
    let telemetry = if d.telemetry_ok {
        Cond::new(Type::TelemetryAvailable, true, Reason::SampleRead, "The latest sample was read and is fresh.")
    } else {
        let msg = o.error.clone().map_or_else(|| d.message.clone(), |e| format!("{e}."));
        Cond::new(Type::TelemetryAvailable, false, Reason::NoUsableSample, msg)
    };
    let ready = d.telemetry_ok && f.target_found && actuated.is_true() && !d.degraded;
    vec![
        Cond::new(Type::Ready, ready, Reason::Decision(d.cause), d.message.clone()),
        found,
        actuated,
        telemetry,
        target_condition(f.rules, o),
        degraded_condition(d),
        propagated,
    ]
}

#[cfg(test)]
mod tests {
    use continuum_policy::offload::{Observation, RuleSet, Rules, Target, TargetHealth, Verify};

    use super::*;

    fn rules() -> Rules {
        let t = |n: &str| Target { name: n.into(), endpoint: format!("tcp://{n}:8192") };
        Rules {
            signals: Vec::new(),
            offload_when: RuleSet { all: false, rules: Vec::new(), for_ms: 0 },
            recover_when: RuleSet { all: true, rules: Vec::new(), for_ms: 0 },
            verify: Verify { for_ms: 0, backoff_initial_ms: 1, backoff_max_ms: 1 },
            interval_ms: 1000,
            cooldown_ms: 0,
            max_switches_per_hour: 1,
            max_sample_age_ms: 1000,
            on_no_data: Default::default(),
            dry_run: false,
            suspend: false,
            pin: None,
            local: t("pi"),
            offload: vec![t("jetson"), t("cloud")],
        }
    }

    fn health(targets: [TargetHealth; 2]) -> (bool, &'static str, String) {
        let c = target_condition(&rules(), &Observation { targets: targets.to_vec(), ..Default::default() });
        (c.is_true(), c.reason.as_str(), c.message)
    }

    #[test]
    fn the_target_condition_is_false_only_when_no_offload_backend_can_be_used() {
        use TargetHealth::*;
        let dead = || Unhealthy("refused".into());
        assert_eq!(health([Healthy, Healthy]).1, "Reachable");
        assert_eq!(health([Unchecked, Unchecked]).1, "NotProbed");
        let (ok, reason, msg) = health([dead(), Healthy]);
        assert_eq!((ok, reason), (true, "SomeUnreachable"));
        assert!(msg.contains("jetson: refused"), "{msg}");
        let (ok, reason, msg) = health([dead(), dead()]);
        assert_eq!((ok, reason), (false, "Unreachable"));
        assert!(msg.contains("jetson: refused; cloud: refused"), "{msg}");
    }
}
