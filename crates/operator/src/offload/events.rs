//! Which Events an evaluation publishes: one per switch, one per DryRun decision, and one per
//! notable condition change.

use continuum_api::offload::Transition;
use continuum_policy::offload::{Decision, Reason as DecisionReason};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::conditions::{OffloadCond, Reason, Type};
use crate::kit::conditions::{self, Label, Status};
use crate::kit::events::Note;

/// Whether a decision reason of the Ready condition deserves an Event of its own (the others are
/// either a switch, reported as such, routine, or reported by a condition of their own, like
/// OffloadDegraded by Degraded).
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
            | BackoffActive
            | TrialPassed
    )
}

/// The Event reason of a switch: what moved it, in a word people search for.
fn switch_reason(d: &Decision) -> &'static str {
    use DecisionReason::*;
    match d.cause {
        OffloadRuleHeld => "Offloaded",
        Recovered => "Recovered",
        ReturnFailed => "ReturnFailed",
        FailedOver => "FailedOver",
        TargetUnhealthy => "FailedBack",
        NoDataFallback => "NoDataFallback",
        Pinned => "Pinned",
        other => other.as_str(),
    }
}

/// Whether a condition in this state is how it should be (then its first sight is no news and
/// a change to it is a Normal Event); Degraded is good while False.
fn good(c: &OffloadCond) -> bool {
    match c.type_ {
        Type::Degraded => c.status != Status::True,
        _ => c.is_true() || c.reason == Reason::NotAResourceTemplate,
    }
}

/// The Events for one evaluation; `previous` is the status the policy had before it.
pub fn select(d: &Decision, switched: Option<&Transition>, conds: &[OffloadCond], previous: &[Condition]) -> Vec<Note> {
    let mut notes = Vec::new();
    if switched.is_some() {
        let warning = matches!(d.cause, DecisionReason::ReturnFailed | DecisionReason::TargetUnhealthy);
        notes.push(Note::new(warning, switch_reason(d), d.message.clone(), "Evaluate"));
    }
    for c in conditions::changes(conds, previous) {
        let notable = match (c.now.type_, c.now.reason) {
            (Type::Ready, Reason::Decision(r)) => notable(r),
            (Type::Ready, _) => false,
            _ => true,
        };
        // A condition's first appearance is news only when it is bad (and a plain Deployment
        // not being a Karmada template is not bad); Degraded moving between its good reasons
        // (local, offloaded and well) is not news either.
        let still_fine = c.now.type_ == Type::Degraded && good(c.now) && c.before.is_some_and(|b| b.status == "False");
        let quiet = (c.before.is_none() && good(c.now)) || still_fine;
        if notable && !quiet {
            let warning = !good(c.now);
            notes.push(Note::new(warning, c.now.reason.as_str(), c.now.message.clone(), "Evaluate"));
        }
    }
    notes
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
