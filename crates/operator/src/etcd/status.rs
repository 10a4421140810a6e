//! Turning an evaluation into `status` (server-side apply) and Events on condition changes.

use continuum_api::EtcdHealth;
use continuum_api::etcd::{EtcdHealthStatus, MemberStatus};
use continuum_policy::etcd::{Evaluation, State, Tri, Verdict};
use continuum_policy::format;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Resource, ResourceExt};

pub const FIELD_MANAGER: &str = "continuum-operator";

/// Persisted decision timers.
pub fn state_of(status: Option<&EtcdHealthStatus>) -> State {
    let ms = |t: &Option<Time>| t.as_ref().map(|t| t.0.as_millisecond());
    match status {
        None => State::default(),
        Some(s) => State {
            slow: s.slow_disk.as_deref() == Some("True"),
            slow_since_ms: ms(&s.slow_since),
            clear_since_ms: ms(&s.clear_since),
        },
    }
}

fn time(ms: i64) -> Time {
    Time(Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A condition, keeping its lastTransitionTime when status did not change.
fn condition(type_: &str, v: &Verdict, previous: &[Condition], generation: Option<i64>, now_ms: i64) -> Condition {
    let status = v.status.as_str().to_owned();
    let last = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| time(now_ms), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status,
        reason: v.reason.to_owned(),
        message: v.message.clone(),
        last_transition_time: last,
        observed_generation: generation,
    }
}

/// The verdicts by condition type.
pub fn verdicts(e: &Evaluation) -> [(&'static str, &Verdict); 4] {
    [
        ("SlowDisk", &e.slow_disk),
        ("LeaderUnstable", &e.leader_unstable),
        ("Reachable", &e.reachable),
        ("Ready", &e.ready),
    ]
}

pub fn build(obj: &EtcdHealth, e: &Evaluation, members: Vec<MemberStatus>, now_ms: i64) -> EtcdHealthStatus {
    let previous = obj.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let generation = obj.metadata.generation;
    let worst =
        |f: fn(&MemberStatus) -> Option<f64>| members.iter().filter_map(f).max_by(f64::total_cmp).map(format::seconds);
    EtcdHealthStatus {
        observed_generation: generation,
        slow_disk: Some(
            if e.state.slow {
                "True"
            } else if e.slow_disk.status == Tri::Unknown {
                "Unknown"
            } else {
                "False"
            }
            .to_owned(),
        ),
        wal_fsync_p99: worst(|m| m.wal_fsync_p99_seconds),
        backend_commit_p99: worst(|m| m.backend_commit_p99_seconds),
        leader_changes: members.iter().filter_map(|m| m.leader_changes).reduce(|a, b| a + b),
        slow_since: e.state.slow_since_ms.map(time),
        clear_since: e.state.clear_since_ms.map(time),
        conditions: verdicts(e).iter().map(|(t, v)| condition(t, v, &previous, generation, now_ms)).collect(),
        members,
    }
}

/// Server-side applies the whole status with the operator's field manager.
pub async fn apply(api: &Api<EtcdHealth>, name: &str, status: &EtcdHealthStatus) -> Result<(), kube::Error> {
    let body = serde_json::json!({
        "apiVersion": "continuum.dev/v1alpha1",
        "kind": "EtcdHealth",
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body)).await.map(drop)
}

/// One Event per condition whose status or reason changed (never one per scrape).
pub async fn publish_changes(rt: &crate::shared::Runtime, recorder: &Recorder, obj: &EtcdHealth, e: &Evaluation) {
    let previous = obj.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    for (type_, v) in verdicts(e) {
        let before = previous.iter().find(|c| c.type_ == type_);
        if before.is_some_and(|c| c.status == v.status.as_str() && c.reason == v.reason) {
            continue;
        }
        if before.is_none() && v.status == Tri::Unknown {
            continue;
        }
        let bad = matches!(
            (type_, v.status),
            ("SlowDisk" | "LeaderUnstable", Tri::True) | ("Reachable" | "Ready", Tri::False)
        );
        let note: String = v.message.chars().take(1000).collect();
        let event = Event {
            type_: if bad { EventType::Warning } else { EventType::Normal },
            reason: v.reason.to_owned(),
            note: Some(note),
            action: format!("Evaluate{type_}"),
            secondary: None,
        };
        if let Err(err) = crate::shared::publish_event(rt, recorder, &event, &obj.object_ref(&())).await {
            tracing::warn!(etcdhealth = %obj.name_any(), %err, "cannot publish an Event");
        }
    }
}
