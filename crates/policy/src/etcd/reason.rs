//! The closed sets behind etcd verdicts: why a condition has its status, and which disk
//! histogram a figure comes from. Rendered to text only at the edge (conditions, messages).

/// Why a verdict came out as it did (the condition's reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// SlowDisk / LeaderUnstable: no figures yet.
    WaitingForData,
    /// SlowDisk: no member could be read. Ready: some member could not be read.
    MembersUnreachable,
    /// SlowDisk is True and the WAL fsync p99 is (or was) over its threshold.
    WalFsyncSlow,
    /// SlowDisk is True because of the backend commit p99.
    BackendCommitSlow,
    /// Over a threshold, not yet for long enough.
    SlowDiskPending,
    /// Under the thresholds but above etcd's recommendation.
    AboveRecommendation,
    /// Within etcd's recommendation.
    DiskFast,
    /// A member has no leader.
    NoLeader,
    /// Leader changes at or over the threshold.
    FrequentLeaderChanges,
    /// Every member has a leader and few leader changes.
    Stable,
    /// Reachable: the resource lists no member.
    NoMembers,
    /// Reachable: every member answered.
    AllMembersAnswered,
    /// Reachable: some member could not be read.
    ScrapeFailed,
    /// Ready: a second scrape is needed for quantiles.
    WaitingForWindow,
    /// Ready: every member read and evaluated.
    Evaluated,
    /// Ready: evaluated, with a warning (quota, file descriptors).
    EvaluatedWithWarnings,
}

impl Reason {
    /// The text written to the condition.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::WaitingForData => "WaitingForData",
            Reason::MembersUnreachable => "MembersUnreachable",
            Reason::WalFsyncSlow => "WalFsyncSlow",
            Reason::BackendCommitSlow => "BackendCommitSlow",
            Reason::SlowDiskPending => "SlowDiskPending",
            Reason::AboveRecommendation => "AboveRecommendation",
            Reason::DiskFast => "DiskFast",
            Reason::NoLeader => "NoLeader",
            Reason::FrequentLeaderChanges => "FrequentLeaderChanges",
            Reason::Stable => "Stable",
            Reason::NoMembers => "NoMembers",
            Reason::AllMembersAnswered => "AllMembersAnswered",
            Reason::ScrapeFailed => "ScrapeFailed",
            Reason::WaitingForWindow => "WaitingForWindow",
            Reason::Evaluated => "Evaluated",
            Reason::EvaluatedWithWarnings => "EvaluatedWithWarnings",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Reason> for String {
    fn from(r: Reason) -> Self {
        r.as_str().to_owned()
    }
}

/// The disk histogram a figure comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Histogram {
    WalFsync,
    BackendCommit,
}

impl std::fmt::Display for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Histogram::WalFsync => "WAL fsync",
            Histogram::BackendCommit => "backend commit",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Histogram, Reason};

    #[test]
    fn every_reason_renders_as_its_variant_name() {
        for r in [
            Reason::WaitingForData,
            Reason::MembersUnreachable,
            Reason::WalFsyncSlow,
            Reason::BackendCommitSlow,
            Reason::SlowDiskPending,
            Reason::AboveRecommendation,
            Reason::DiskFast,
            Reason::NoLeader,
            Reason::FrequentLeaderChanges,
            Reason::Stable,
            Reason::NoMembers,
            Reason::AllMembersAnswered,
            Reason::ScrapeFailed,
            Reason::WaitingForWindow,
            Reason::Evaluated,
            Reason::EvaluatedWithWarnings,
        ] {
            assert_eq!(r.as_str(), format!("{r:?}"));
        }
        assert_eq!(Histogram::WalFsync.to_string(), "WAL fsync");
        assert_eq!(Histogram::BackendCommit.to_string(), "backend commit");
    }
}
