//! Which Events an evaluation publishes: one per switch, one per DryRun decision, and one per
//! notable condition change.

use continuum_api::offload::{BackendName, Transition};
use continuum_policy::offload::{Decision, Reason as DecisionReason};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::conditions::{OffloadCond, Reason, Type};
use crate::kit::conditions::{self, Label, Status};
use crate::kit::events::Note;

/// Whether a decision reason of the Ready condition deserves an Event of its own (the others are
/// either a switch, reported as such, or routine).
fn notable(r: DecisionReason) -> bool {
    use DecisionReason::*;
    matches!(
        r,
        DryRunWouldOffload
            | DryRunWouldRecover
            | CooldownActive
            | SwitchBudgetExhausted
            | TargetUnhealthy
            | TelemetryUnavailable
    )
}

/// The Event reason of a switch.
fn switch_reason(t: &Transition, d: &Decision) -> &'static str {
    match (t.to, d.cause) {
        (BackendName::Offload, _) => "Offloaded",
        (BackendName::Local, DecisionReason::TargetUnhealthy) => "FailedBack",
        (BackendName::Local, _) => "Recovered",
    }
}

/// The Events for one evaluation; `previous` is the status the policy had before it.
pub fn select(d: &Decision, switched: Option<&Transition>, conds: &[OffloadCond], previous: &[Condition]) -> Vec<Note> {
    let mut notes = Vec::new();
    if let Some(t) = switched {
        notes.push(Note::new(false, switch_reason(t, d), d.message.clone(), "Evaluate"));
    }
    for c in conditions::changes(conds, previous) {
        let notable = match (c.now.type_, c.now.reason) {
            (Type::Ready, Reason::Decision(r)) => notable(r),
            (Type::Ready, _) => false,
            _ => true,
        };
        // A condition's first appearance is news only when it is bad (and a plain Deployment
        // not being a Karmada template is not bad).
        let quiet = c.before.is_none() && (c.now.is_true() || c.now.reason == Reason::NotAResourceTemplate);
        if notable && !quiet {
            let warning = c.now.status != Status::True;
            notes.push(Note::new(warning, c.now.reason.as_str(), c.now.message.clone(), "Evaluate"));
        }
    }
    notes
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
