use continuum_api::EtcdHealth;
use continuum_api::etcd::{EtcdHealthSpec, EtcdHealthStatus, MemberStatus};
use continuum_policy::etcd::{Evaluation, Level, Reason, State, Tri, Verdict};

use super::events;

fn build(h: &EtcdHealth, e: &Evaluation, members: Vec<MemberStatus>, now_ms: i64) -> EtcdHealthStatus {
    let spec = h.spec.clone();
    super::build(h, e, members, &crate::etcd::thresholds(&spec), now_ms)
}

fn verdict(status: Tri, reason: Reason) -> Verdict {
    Verdict::new(status, reason, format!("{} message", reason.as_str()))
}

fn evaluation(slow: Tri, reachable: Tri) -> Evaluation {
    Evaluation {
        state: State { slow: slow == Tri::True, slow_since_ms: Some(5_000), clear_since_ms: None },
        level: Level::Ok,
        slow_disk: verdict(slow, if slow == Tri::True { Reason::WalFsyncSlow } else { Reason::WaitingForData }),
        leader_unstable: verdict(Tri::False, Reason::Stable),
        reachable: verdict(
            reachable,
            if reachable == Tri::False { Reason::ScrapeFailed } else { Reason::AllMembersAnswered },
        ),
        ready: verdict(Tri::True, Reason::Evaluated),
    }
}

fn health(status: Option<EtcdHealthStatus>) -> EtcdHealth {
    let spec: EtcdHealthSpec = serde_json::from_value(serde_json::json!({
        "endpoints": [{"name": "etcd-0", "metricsUrl": "http://127.0.0.1:2381/metrics"}]
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let mut h = EtcdHealth::new("h", spec);
    h.metadata.generation = Some(3);
    h.status = status;
    h
}

fn member(name: &str, wal: f64, changes: i64) -> MemberStatus {
    MemberStatus {
        name: name.into(),
        wal_fsync_p99_seconds: Some(wal),
        leader_changes: Some(changes),
        ..Default::default()
    }
}

#[test]
fn status_shows_the_worst_member_and_the_decision_timers() {
    let e = evaluation(Tri::True, Tri::True);
    let s = build(&health(None), &e, vec![member("a", 0.012, 1), member("b", 0.3, 2)], 9_000);
    assert_eq!(s.slow_disk.as_deref(), Some("True"));
    assert_eq!(s.wal_fsync_p99.as_deref(), Some("300ms"));
    assert_eq!(s.leader_changes, Some(3));
    assert_eq!(s.slow_since.map(|t| t.0.as_millisecond()), Some(5_000));
    assert_eq!(s.observed_generation, Some(3));
    let types: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["SlowDisk", "LeaderUnstable", "Reachable", "Ready"]);
    assert!(s.conditions.iter().all(|c| c.last_transition_time.0.as_millisecond() == 9_000));
}

#[test]
fn an_unknown_verdict_that_is_not_slow_reads_unknown() {
    let s = build(&health(None), &evaluation(Tri::Unknown, Tri::True), vec![], 1);
    assert_eq!(s.slow_disk.as_deref(), Some("Unknown"));
    assert_eq!(s.wal_fsync_p99, None);
}

#[test]
fn events_on_first_sight_and_on_changes_only_warnings_for_bad_news() {
    let first = events(&health(None), &evaluation(Tri::True, Tri::True));
    let reasons: Vec<(&str, bool)> = first.iter().map(|n| (n.reason, n.warning)).collect();
    assert_eq!(
        reasons,
        [("WalFsyncSlow", true), ("Stable", false), ("AllMembersAnswered", false), ("Evaluated", false)]
    );
    assert_eq!(first[0].action, "EvaluateSlowDisk");
    // The same evaluation again: nothing changed, nothing published.
    let e = evaluation(Tri::True, Tri::True);
    let written = build(&health(None), &e, vec![], 1);
    assert!(events(&health(Some(written.clone())), &e).is_empty());
    // Unreachable now: one warning.
    let later = events(&health(Some(written)), &evaluation(Tri::True, Tri::False));
    assert_eq!(later.iter().map(|n| (n.reason, n.warning)).collect::<Vec<_>>(), [("ScrapeFailed", true)]);
}

#[test]
fn a_condition_that_starts_unknown_publishes_nothing() {
    let notes = events(&health(None), &evaluation(Tri::Unknown, Tri::True));
    assert!(notes.iter().all(|n| n.reason != "WaitingForData"), "{notes:?}");
    assert_eq!(notes.len(), 3);
}

#[test]
fn the_same_verdict_over_the_same_figures_a_minute_later_writes_nothing() {
    let e = evaluation(Tri::True, Tri::True);
    // Each scrape has its own sample time: status shows none of them for members that answer.
    let members = |at: i64| {
        let scraped = |m: MemberStatus| MemberStatus { last_scrape: Some(crate::clock::time(at)), ..m };
        vec![scraped(member("a", 0.012, 1)), scraped(member("b", 0.3, 2))]
    };
    let first = build(&health(None), &e, members(8_000), 9_000);
    let later = build(&health(Some(first.clone())), &e, members(68_000), 69_000);
    assert!(!crate::kit::status::differs(Some(&first), &later), "{first:?}\n{later:?}");
    let moved = build(&health(Some(first.clone())), &e, vec![member("a", 0.012, 1), member("b", 0.5, 2)], 69_000);
    assert!(crate::kit::status::differs(Some(&first), &moved));
}
