//! Which members `status.members` lists: worst first, at most [`MAX_LISTED_MEMBERS`], and one
//! line counting the rest. A Prometheus source may see a hundred members; the status must stay
//! within its schema (never a 422) and small enough to write.

use continuum_api::etcd::{MAX_LISTED_MEMBERS, MemberStatus};
use continuum_policy::etcd::Thresholds;

/// A member's health, worst first (the order `status.members` lists them in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Unreachable,
    Slow,
    LeaderTrouble,
    AboveRecommendation,
    WaitingForData,
    Healthy,
}

impl Health {
    const ALL: [Health; 6] = [
        Health::Unreachable,
        Health::Slow,
        Health::LeaderTrouble,
        Health::AboveRecommendation,
        Health::WaitingForData,
        Health::Healthy,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Health::Unreachable => "unreachable",
            Health::Slow => "slow",
            Health::LeaderTrouble => "without a stable leader",
            Health::AboveRecommendation => "above etcd's recommendation",
            Health::WaitingForData => "waiting for data",
            Health::Healthy => "healthy",
        }
    }

    /// How `m` fares against the thresholds.
    pub fn of(m: &MemberStatus, t: &Thresholds) -> Self {
        let over = |v: Option<f64>, limit: f64| v.is_some_and(|v| v > limit);
        let (wal, commit) = (m.wal_fsync_p99_seconds, m.backend_commit_p99_seconds);
        if m.error.is_some() {
            Health::Unreachable
        } else if over(wal, t.wal_fsync_p99) || over(commit, t.backend_commit_p99) {
            Health::Slow
        } else if m.has_leader == Some(false) || m.leader_changes.is_some_and(|n| n as f64 >= t.leader_changes) {
            Health::LeaderTrouble
        } else if over(wal, t.advisory_wal_fsync_p99) || over(commit, t.advisory_backend_commit_p99) {
            Health::AboveRecommendation
        } else if wal.is_none() && commit.is_none() {
            Health::WaitingForData
        } else {
            Health::Healthy
        }
    }
}

/// What `status` shows of the members.
#[derive(Debug, Default, PartialEq)]
pub struct Listing {
    pub members: Vec<MemberStatus>,
    pub total: i64,
    pub omitted: Option<i64>,
    pub summary: Option<String>,
}

/// Counts per health, in [`Health::ALL`] order, of the non-zero ones: `3 slow, 97 healthy`.
fn counts(healths: &[Health]) -> String {
    let parts: Vec<String> = Health::ALL
        .iter()
        .map(|h| (h, healths.iter().filter(|x| *x == h).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(h, n)| format!("{n} {}", h.as_str()))
        .collect();
    parts.join(", ")
}

/// The members worst first (by name within a health, so the order does not move with the
/// figures), at most [`MAX_LISTED_MEMBERS`]. A listed member that answers shows no sample time:
/// that changes every scrape (it is in the metrics), while an unreachable one's last good scrape
/// does not.
pub fn list(members: Vec<MemberStatus>, t: &Thresholds) -> Listing {
    let mut rated: Vec<(Health, MemberStatus)> = members.into_iter().map(|m| (Health::of(&m, t), m)).collect();
    rated.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    let total = rated.len();
    let all: Vec<Health> = rated.iter().map(|(h, _)| *h).collect();
    let left_out = &all[total.min(MAX_LISTED_MEMBERS)..];
    let summary = (!left_out.is_empty())
        .then(|| format!("{total} members: {}; {} not listed ({})", counts(&all), left_out.len(), counts(left_out)));
    let members = rated
        .into_iter()
        .take(MAX_LISTED_MEMBERS)
        .map(|(_, mut m)| {
            if m.error.is_none() {
                m.last_scrape = None;
            }
            m
        })
        .collect();
    Listing { members, total: total as i64, omitted: (!left_out.is_empty()).then_some(left_out.len() as i64), summary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thresholds() -> Thresholds {
        Thresholds {
            wal_fsync_p99: 0.1,
            backend_commit_p99: 0.1,
            advisory_wal_fsync_p99: 0.01,
            advisory_backend_commit_p99: 0.025,
            critical: 1.0,
            leader_changes: 3.0,
            for_ms: 0,
            window_ms: 300_000,
        }
    }

    fn member(name: &str, wal: Option<f64>, error: bool) -> MemberStatus {
        MemberStatus {
            name: name.into(),
            wal_fsync_p99_seconds: wal,
            error: error.then(|| "connection refused".into()),
            last_scrape: Some(crate::clock::time(1_000)),
            ..Default::default()
        }
    }

    #[test]
    fn a_hundred_members_list_the_worst_sixteen_and_count_the_rest() {
        let mut members: Vec<MemberStatus> =
            (0..100).map(|i| member(&format!("m{i:03}"), Some(0.002), false)).collect();
        members[50].wal_fsync_p99_seconds = Some(0.2);
        members[70].wal_fsync_p99_seconds = Some(0.15);
        members[90].wal_fsync_p99_seconds = Some(0.3);
        for i in [5, 6] {
            members[i].error = Some("connection refused".into());
        }
        let l = list(members, &thresholds());
        let names: Vec<&str> = l.members.iter().take(5).map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["m005", "m006", "m050", "m070", "m090"], "unreachable, then slow, by name");
        assert_eq!(l.members.len(), MAX_LISTED_MEMBERS);
        assert_eq!((l.total, l.omitted), (100, Some(84)));
        assert_eq!(
            l.summary.as_deref(),
            Some("100 members: 2 unreachable, 3 slow, 95 healthy; 84 not listed (84 healthy)")
        );
        assert!(l.members[0].last_scrape.is_some(), "an unreachable member keeps its last good scrape");
        assert!(l.members[2].last_scrape.is_none(), "a live member's sample time is not in status");
    }

    #[test]
    fn a_few_members_are_all_listed_without_a_summary() {
        let l = list(vec![member("b", Some(0.002), false), member("a", None, false)], &thresholds());
        assert_eq!(l.members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((l.total, l.omitted, l.summary), (2, None, None));
    }
}
