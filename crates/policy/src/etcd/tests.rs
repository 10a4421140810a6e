//! Verdict tables.

use super::*;

const MS: i64 = 1;
const SEC: i64 = 1000 * MS;
const T0: i64 = 1_795_600_000_000;

fn thresholds() -> Thresholds {
    Thresholds {
        wal_fsync_p99: 0.1,
        backend_commit_p99: 0.1,
        advisory_wal_fsync_p99: 0.01,
        advisory_backend_commit_p99: 0.025,
        critical: 1.0,
        leader_changes: 3.0,
        for_ms: 30 * SEC,
        window_ms: 300 * SEC,
    }
}

fn p99(value: f64) -> P99 {
    // Enclosing bucket of etcd's 0.001 * 2^n layout.
    let upper = (0..14).map(|n| 0.001 * f64::from(1u32 << n)).find(|b| *b >= value).unwrap_or(f64::INFINITY);
    P99 { value, lower: if upper > 0.001 { upper / 2.0 } else { 0.0 }, upper }
}

fn member(wal: f64, commit: f64) -> MemberReading {
    MemberReading {
        name: "etcd-0".into(),
        wal_fsync_p99: Some(p99(wal)),
        backend_commit_p99: Some(p99(commit)),
        wal_fsync_slow_fraction: Some((0.14, 0.128)),
        has_leader: Some(true),
        leader_changes: Some(0.0),
        ..Default::default()
    }
}

fn eval(prev: &State, m: &[MemberReading], now: i64) -> Evaluation {
    evaluate(&thresholds(), prev, m, &[], now)
}

#[test]
fn a_fast_disk_is_reported_fast() {
    let e = eval(&State::default(), &[member(0.002, 0.004)], T0);
    assert_eq!((e.slow_disk.status, e.slow_disk.reason, e.level), (Tri::False, "DiskFast", Level::Ok));
    assert_eq!(e.state, State::default());
    assert!(e.slow_disk.message.contains("etcd-0") && e.slow_disk.message.contains("4ms"), "{}", e.slow_disk.message);
    assert_eq!((e.ready.status, e.reachable.status, e.leader_unstable.status), (Tri::True, Tri::True, Tri::False));
}

#[test]
fn above_etcds_recommendation_but_under_the_threshold_is_advisory_only() {
    let e = eval(&State::default(), &[member(0.02, 0.004)], T0);
    assert_eq!((e.slow_disk.status, e.slow_disk.reason, e.level), (Tri::False, "AboveRecommendation", Level::Advisory));
}

#[test]
fn slow_disk_turns_true_only_after_the_threshold_is_exceeded_for_the_whole_sustain_window() {
    let slow = [member(0.212, 0.004)];
    let e1 = eval(&State::default(), &slow, T0);
    assert_eq!((e1.slow_disk.status, e1.slow_disk.reason), (Tri::False, "SlowDiskPending"));
    assert_eq!(e1.state.slow_since_ms, Some(T0));
    let e2 = eval(&e1.state, &slow, T0 + 29 * SEC);
    assert_eq!(e2.slow_disk.status, Tri::False);
    let e3 = eval(&e2.state, &slow, T0 + 30 * SEC);
    assert_eq!((e3.slow_disk.status, e3.slow_disk.reason), (Tri::True, "WalFsyncSlow"));
    let msg = &e3.slow_disk.message;
    for needle in [
        "etcd-0",
        "212ms",
        "bucket 128ms-256ms",
        "100ms threshold",
        "2026-11-25T09:46:40Z",
        "14% of WAL fsyncs took longer than 128ms",
        "fio --rw=write --ioengine=sync --fdatasync=1",
        "sync=disabled",
        "ionice -c2 -n0",
        "liveness probe",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in {msg}");
    }
}

#[test]
fn a_p99_that_oscillates_around_the_threshold_never_flaps_the_condition() {
    let mut state = State::default();
    for tick in 0..40 {
        let value = if tick % 2 == 0 { 0.11 } else { 0.09 };
        let e = eval(&state, &[member(value, 0.004)], T0 + tick * 10 * SEC);
        assert_eq!(e.slow_disk.status, Tri::False, "tick {tick}");
        state = e.state;
    }
}

#[test]
fn slow_disk_clears_only_after_the_disk_stays_fast_for_the_sustain_window() {
    let slow_state = State { slow: true, slow_since_ms: Some(T0), clear_since_ms: None };
    let fast = [member(0.003, 0.004)];
    let e1 = eval(&slow_state, &fast, T0 + 100 * SEC);
    assert_eq!(e1.slow_disk.status, Tri::True);
    assert!(e1.slow_disk.message.contains("back under the threshold since"), "{}", e1.slow_disk.message);
    // A relapse resets the recovery timer.
    let e2 = eval(&e1.state, &[member(0.2, 0.004)], T0 + 120 * SEC);
    assert_eq!((e2.slow_disk.status, e2.state.clear_since_ms), (Tri::True, None));
    let e3 = eval(&e2.state, &fast, T0 + 130 * SEC);
    let e4 = eval(&e3.state, &fast, T0 + 159 * SEC);
    assert_eq!(e4.slow_disk.status, Tri::True);
    let e5 = eval(&e4.state, &fast, T0 + 160 * SEC);
    assert_eq!((e5.slow_disk.status, e5.slow_disk.reason), (Tri::False, "DiskFast"));
    assert_eq!(e5.state, State::default());
}

#[test]
fn a_restarted_operator_resumes_the_timer_from_the_persisted_state() {
    let persisted = State { slow: false, slow_since_ms: Some(T0), clear_since_ms: None };
    let e = eval(&persisted, &[member(0.3, 0.004)], T0 + 30 * SEC);
    assert_eq!(e.slow_disk.status, Tri::True);
    assert!(e.slow_disk.message.contains("slow since 2026-11-25T09:46:40Z"), "{}", e.slow_disk.message);
}

#[test]
fn critical_latency_and_slow_backend_commits_are_named() {
    let state = State { slow: true, slow_since_ms: Some(T0), clear_since_ms: None };
    let e = eval(&state, &[member(1.7, 0.004)], T0 + SEC);
    assert_eq!(e.level, Level::Critical);
    assert!(e.slow_disk.message.contains("(critical: over 1s)"), "{}", e.slow_disk.message);
    let e = eval(&state, &[member(0.004, 0.4)], T0 + SEC);
    assert_eq!((e.slow_disk.status, e.slow_disk.reason), (Tri::True, "BackendCommitSlow"));
    assert!(e.slow_disk.message.contains("p99 backend commit latency 400ms"), "{}", e.slow_disk.message);
}

#[test]
fn the_slowest_member_is_the_one_reported() {
    let mut other = member(0.002, 0.002);
    other.name = "etcd-1".into();
    let state = State { slow: true, slow_since_ms: Some(T0), clear_since_ms: None };
    let e = eval(&state, &[other, member(0.5, 0.002)], T0 + SEC);
    assert!(e.slow_disk.message.starts_with("etcd member etcd-0"), "{}", e.slow_disk.message);
}

#[test]
fn unreachable_members_make_the_verdict_unknown_and_keep_the_timers() {
    let state = State { slow: true, slow_since_ms: Some(T0), clear_since_ms: None };
    let down = MemberReading { name: "etcd-0".into(), error: Some("connection refused".into()), ..Default::default() };
    let e = eval(&state, &[down], T0 + SEC);
    assert_eq!((e.slow_disk.status, e.slow_disk.reason), (Tri::Unknown, "MembersUnreachable"));
    assert_eq!(e.state, state);
    assert_eq!((e.reachable.status, e.reachable.reason), (Tri::False, "ScrapeFailed"));
    assert!(e.reachable.message.contains("etcd-0: connection refused"), "{}", e.reachable.message);
    assert_eq!(e.ready.status, Tri::False);
}

#[test]
fn no_window_yet_means_waiting_not_healthy() {
    let first = MemberReading { name: "etcd-0".into(), has_leader: Some(true), ..Default::default() };
    let e = eval(&State::default(), &[first], T0);
    assert_eq!((e.slow_disk.status, e.slow_disk.reason), (Tri::Unknown, "WaitingForData"));
    assert_eq!((e.ready.status, e.ready.reason), (Tri::False, "WaitingForWindow"));
}

#[test]
fn leader_loss_and_frequent_leader_changes_are_flagged() {
    let mut m = member(0.002, 0.002);
    m.has_leader = Some(false);
    assert_eq!(eval(&State::default(), &[m], T0).leader_unstable.reason, "NoLeader");
    let mut m = member(0.002, 0.002);
    m.leader_changes = Some(4.0);
    m.heartbeat_send_failures = Some(12.0);
    let v = eval(&State::default(), &[m], T0).leader_unstable;
    assert_eq!((v.status, v.reason), (Tri::True, "FrequentLeaderChanges"));
    assert!(v.message.contains("4 leader changes and failed to send 12 heartbeats in the last 5m"), "{}", v.message);
    let mut m = member(0.002, 0.002);
    m.leader_changes = Some(2.0);
    assert_eq!(eval(&State::default(), &[m], T0).leader_unstable.status, Tri::False);
}

#[test]
fn restarts_of_dependent_pods_are_attached_to_the_slow_disk_message() {
    let state = State { slow: true, slow_since_ms: Some(T0), clear_since_ms: None };
    let pods = [
        PodTrouble { pod: "karmada-apiserver-7d9".into(), restarts: 7, liveness_failures: 12 },
        PodTrouble { pod: "karmada-scheduler-1".into(), restarts: 0, liveness_failures: 0 },
    ];
    let e = evaluate(&thresholds(), &state, &[member(0.212, 0.004)], &pods, T0 + SEC);
    let msg = e.slow_disk.message;
    assert!(msg.contains("In the last 5m, karmada-apiserver-7d9 restarted 7x and failed 12 liveness probes."), "{msg}");
    assert!(!msg.contains("karmada-scheduler"), "{msg}");
}

#[test]
fn when_both_histograms_are_slow_both_are_named_and_the_reason_is_wal_fsync() {
    let state = State { slow: true, slow_since_ms: Some(T0), clear_since_ms: None };
    let e = eval(&state, &[member(0.255, 0.509)], T0 + SEC);
    assert_eq!(e.slow_disk.reason, "WalFsyncSlow");
    let msg = &e.slow_disk.message;
    assert!(msg.contains("p99 backend commit latency 509ms (bucket 256ms-512ms) is over the 100ms threshold and p99 WAL fsync latency 255ms (bucket 128ms-256ms) is over the 100ms threshold"), "{msg}");
}

#[test]
fn a_database_near_its_quota_and_scarce_file_descriptors_are_warned_about() {
    let mut m = member(0.002, 0.002);
    m.db_size_bytes = Some(2_040_109_466.0);
    m.quota_bytes = Some(2_147_483_648.0);
    m.open_fds = Some(950.0);
    m.max_fds = Some(1024.0);
    let v = eval(&State::default(), &[m], T0).ready;
    assert_eq!((v.status, v.reason), (Tri::True, "EvaluatedWithWarnings"));
    assert!(v.message.contains("etcd-0's database uses 95% of its 2.0 GiB quota"), "{}", v.message);
    assert!(v.message.contains("etcd-0 has 950 of 1024 file descriptors open"), "{}", v.message);
    let fine = eval(&State::default(), &[member(0.002, 0.002)], T0).ready;
    assert_eq!(fine.reason, "Evaluated");
}

#[test]
fn a_hundred_unreachable_members_name_five_and_count_the_rest() {
    let down: Vec<MemberReading> = (0..100)
        .map(|i| MemberReading {
            name: format!("etcd-{i}"),
            error: Some("connection refused".into()),
            ..Default::default()
        })
        .collect();
    let e = eval(&State::default(), &down, T0);
    let msg = &e.reachable.message;
    assert!(msg.starts_with("100 of 100 members could not be read: etcd-0: connection refused;"), "{msg}");
    assert!(msg.contains("etcd-4: connection refused; and 95 more."), "{msg}");
    assert!(!msg.contains("etcd-5:"), "{msg}");
    assert!(
        e.slow_disk.message.contains("(etcd-0, etcd-1, etcd-2, etcd-3, etcd-4, and 95 more)"),
        "{}",
        e.slow_disk.message
    );
}
