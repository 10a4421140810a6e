use continuum_api::offload::Transition;
use continuum_policy::offload::{Decision, Move, Phase, Reason as DecisionReason, State};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::select;
use crate::kit::conditions::Cond;
use crate::offload::conditions::{OffloadCond, Reason, Type};

fn decision(cause: DecisionReason) -> Decision {
    Decision {
        state: State::default(),
        action: Move::Stay,
        phase: Phase::Local,
        cause,
        reason: cause.as_str(),
        message: format!("{} because of the numbers", cause.as_str()),
        telemetry_ok: true,
        degraded: false,
    }
}

fn stored(c: &OffloadCond) -> Condition {
    c.render(&[], Some(1), 1_000)
}

fn ready(cause: DecisionReason) -> OffloadCond {
    Cond::new(Type::Ready, true, Reason::Decision(cause), "ready")
}

fn transition() -> Transition {
    let (from, to) = ("local".into(), "jetson".into());
    Transition { time: crate::clock::time(1), from, to, reason: "x".into(), message: None }
}

#[test]
fn a_switch_is_named_by_what_moved_it_and_a_failed_trial_is_a_warning() {
    let notes = |cause| select(&decision(cause), Some(&transition()), &[], &[]);
    let named = |cause| (notes(cause)[0].reason, notes(cause)[0].warning);
    assert_eq!(named(DecisionReason::OffloadRuleHeld), ("Offloaded", false));
    assert_eq!(named(DecisionReason::Recovered), ("Recovered", false));
    assert_eq!(named(DecisionReason::TargetUnhealthy), ("FailedBack", true));
    assert_eq!(named(DecisionReason::ReturnFailed), ("ReturnFailed", true));
    assert_eq!(named(DecisionReason::FailedOver), ("FailedOver", false));
    assert_eq!(named(DecisionReason::NoDataFallback), ("NoDataFallback", false));
    assert_eq!(named(DecisionReason::Pinned), ("Pinned", false));
}

#[test]
fn degraded_is_news_when_it_turns_true_and_quiet_while_false() {
    let fine = Cond::new(Type::Degraded, false, Reason::NotOffloaded, "local");
    assert!(select(&decision(DecisionReason::Steady), None, std::slice::from_ref(&fine), &[]).is_empty());
    let bad = Cond::new(Type::Degraded, true, Reason::Decision(DecisionReason::OffloadDegraded), "fps 4 < 10 on cloud");
    let notes = select(&decision(DecisionReason::OffloadDegraded), None, &[bad], &[stored(&fine)]);
    assert_eq!(notes.iter().map(|n| (n.reason, n.warning)).collect::<Vec<_>>(), [("OffloadDegraded", true)]);
    let offloaded_and_well = Cond::new(Type::Degraded, false, Reason::PerformingWell, "well");
    let notes = select(&decision(DecisionReason::Steady), None, &[offloaded_and_well], &[stored(&fine)]);
    assert!(notes.is_empty(), "a move between good reasons is no news");
}

#[test]
fn routine_decisions_publish_nothing_and_held_switches_publish_once() {
    let before = [stored(&ready(DecisionReason::Steady))];
    let violating = [ready(DecisionReason::Violating)];
    assert!(select(&decision(DecisionReason::Violating), None, &violating, &before).is_empty());
    let held = [ready(DecisionReason::CooldownActive)];
    let notes = select(&decision(DecisionReason::CooldownActive), None, &held, &before);
    assert_eq!(notes.iter().map(|n| (n.reason, n.warning)).collect::<Vec<_>>(), [("CooldownActive", false)]);
    // The same held decision again changes nothing, so publishes nothing.
    let again = [stored(&held[0])];
    assert!(select(&decision(DecisionReason::CooldownActive), None, &held, &again).is_empty());
}

#[test]
fn a_condition_is_news_on_first_sight_only_when_it_is_bad() {
    let fine = Cond::new(Type::TargetFound, true, Reason::Found, "exists");
    let plain = Cond::new(Type::Propagated, false, Reason::NotAResourceTemplate, "not Karmada");
    let broken = Cond::new(Type::Actuated, false, Reason::WriteFailed, "refused");
    let notes = select(&decision(DecisionReason::Steady), None, &[fine, plain, broken.clone()], &[]);
    assert_eq!(notes.iter().map(|n| (n.reason, n.warning)).collect::<Vec<_>>(), [("WriteFailed", true)]);
    // Once it works again, the change back is news too (a Normal Event).
    let healed = Cond::new(Type::Actuated, true, Reason::InSync, "fine");
    let notes = select(&decision(DecisionReason::Steady), None, &[healed], &[stored(&broken)]);
    assert_eq!(notes.iter().map(|n| (n.reason, n.warning)).collect::<Vec<_>>(), [("InSync", false)]);
}
