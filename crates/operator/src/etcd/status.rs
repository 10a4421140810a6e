//! Turning an evaluation into `status` and into Events on condition changes.

use continuum_api::EtcdHealth;
use continuum_api::etcd::{EtcdHealthStatus, MemberStatus};
use continuum_policy::etcd::{Evaluation, Reason, State, Thresholds, Tri, Verdict};
use continuum_policy::format;

use super::listing;
use crate::clock::{ms_of, time};
use crate::kit::conditions::{self, Cond, Label, Status};
use crate::kit::events::Note;

/// The condition types of an EtcdHealth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    SlowDisk,
    LeaderUnstable,
    Reachable,
    Ready,
}

impl Label for Type {
    fn as_str(&self) -> &'static str {
        match self {
            Type::SlowDisk => "SlowDisk",
            Type::LeaderUnstable => "LeaderUnstable",
            Type::Reachable => "Reachable",
            Type::Ready => "Ready",
        }
    }
}

impl Label for Reason {
    fn as_str(&self) -> &'static str {
        Reason::as_str(*self)
    }
}

impl From<Tri> for Status {
    fn from(t: Tri) -> Self {
        match t {
            Tri::True => Status::True,
            Tri::False => Status::False,
            Tri::Unknown => Status::Unknown,
        }
    }
}

type EtcdCond = Cond<Type, Reason>;

/// Persisted decision timers.
pub fn state_of(status: Option<&EtcdHealthStatus>) -> State {
    match status {
        None => State::default(),
        Some(s) => State {
            slow: s.slow_disk.as_deref() == Some("True"),
            slow_since_ms: ms_of(s.slow_since.as_ref()),
            clear_since_ms: ms_of(s.clear_since.as_ref()),
        },
    }
}

/// The verdicts as conditions.
pub fn conditions(e: &Evaluation) -> Vec<EtcdCond> {
    let cond = |t: Type, v: &Verdict| Cond::new(t, v.status, v.cause, v.message.clone());
    vec![
        cond(Type::SlowDisk, &e.slow_disk),
        cond(Type::LeaderUnstable, &e.leader_unstable),
        cond(Type::Reachable, &e.reachable),
        cond(Type::Ready, &e.ready),
    ]
}

/// The status of this evaluation: the verdicts, the worst figures over every member, and the
/// members worst first (see [`listing`]).
pub fn build(
    obj: &EtcdHealth,
    e: &Evaluation,
    members: Vec<MemberStatus>,
    t: &Thresholds,
    now_ms: i64,
) -> EtcdHealthStatus {
    let previous = obj.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let generation = obj.metadata.generation;
    let worst =
        |f: fn(&MemberStatus) -> Option<f64>| members.iter().filter_map(f).max_by(f64::total_cmp).map(format::seconds);
    let slow_disk = match (e.state.slow, e.slow_disk.status) {
        (true, _) => Status::True,
        (false, Tri::Unknown) => Status::Unknown,
        (false, _) => Status::False,
    };
    let (wal_fsync_p99, backend_commit_p99) =
        (worst(|m| m.wal_fsync_p99_seconds), worst(|m| m.backend_commit_p99_seconds));
    let leader_changes = members.iter().filter_map(|m| m.leader_changes).reduce(|a, b| a + b);
    let listed = listing::list(members, t);
    EtcdHealthStatus {
        observed_generation: generation,
        slow_disk: Some(slow_disk.as_str().to_owned()),
        wal_fsync_p99,
        backend_commit_p99,
        leader_changes,
        slow_since: e.state.slow_since_ms.map(time),
        clear_since: e.state.clear_since_ms.map(time),
        conditions: conditions::render(&conditions(e), previous, generation, now_ms),
        members: listed.members,
        members_total: Some(listed.total),
        members_omitted: listed.omitted,
        members_summary: listed.summary,
    }
}

/// One Event per condition whose status or reason changed (never one per scrape); a condition
/// that starts out Unknown says nothing yet.
pub fn events(obj: &EtcdHealth, e: &Evaluation) -> Vec<Note> {
    let previous = obj.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    let conds = conditions(e);
    conditions::changes(&conds, previous)
        .into_iter()
        .filter(|c| !(c.before.is_none() && c.now.status == Status::Unknown))
        .map(|c| {
            let bad = matches!(
                (c.now.type_, c.now.status),
                (Type::SlowDisk | Type::LeaderUnstable, Status::True) | (Type::Reachable | Type::Ready, Status::False)
            );
            Note::new(bad, c.now.reason.as_str(), c.now.message.clone(), format!("Evaluate{}", c.now.type_.as_str()))
        })
        .collect()
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
