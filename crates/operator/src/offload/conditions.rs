//! The OffloadPolicy's condition types and reasons, and the conditions built from one evaluation.

use continuum_policy::offload::{Decision, Observation, Reason as DecisionReason, TargetHealth};

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

pub fn target_condition(o: &Observation) -> OffloadCond {
    let t = Type::OffloadTargetHealthy;
    match &o.target {
        TargetHealth::Healthy => Cond::new(t, true, Reason::Reachable, "The offload agent accepts TCP connections."),
        TargetHealth::Unhealthy(why) => Cond::new(
            t,
            false,
            Reason::Unreachable,
            format!("The offload agent is unreachable: {why}. It is never switched to while so."),
        ),
        TargetHealth::Unchecked => Cond::new(
            t,
            true,
            Reason::NotProbed,
            "The offload agent is not probed (non-TCP endpoint or healthCheck.tcp false).",
        ),
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
}

/// Ready (whose message is the decision), TargetFound, Actuated, TelemetryAvailable,
/// OffloadTargetHealthy and Propagated.
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
    let ready = d.telemetry_ok && f.target_found && actuated.is_true();
    vec![
        Cond::new(Type::Ready, ready, Reason::Decision(d.cause), d.message.clone()),
        found,
        actuated,
        telemetry,
        target_condition(o),
        propagated,
    ]
}
