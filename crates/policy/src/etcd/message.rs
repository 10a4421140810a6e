//! The sentences behind each verdict: member, figure, threshold, since when, impact, fix.

use super::{Histogram, Level, MemberReading, P99, PodTrouble, Reason, State, Thresholds, Tri, Verdict};
use crate::format::{rfc3339, seconds, span};

/// What to do about a slow etcd disk.
pub const REMEDY: &str = "Fix: put etcd's data directory on a dedicated SSD or NVMe with no other heavy writers; \
on ZFS, for state you can afford to lose, set sync=disabled, recordsize=8k, compression=lz4 and atime=off; \
raise etcd's I/O priority with `ionice -c2 -n0 -p $(pgrep etcd)`; give etcd's liveness probe a timeout that \
does not restart a merely slow etcd; benchmark the disk with `fio --rw=write --ioengine=sync --fdatasync=1 \
--directory=<etcd data dir> --size=22m --bs=2300 --name=etcd-disk` (p99 fdatasync should be under 10ms).";

const IMPACT: &str = "Slow fsyncs make etcd miss heartbeats and lose its leader, and the API servers and \
controllers that depend on it time out and restart.";

/// A figure: (level, which histogram, p99, slow threshold).
type Figure = (Level, Histogram, P99, f64);

pub(super) struct Context<'a> {
    pub t: &'a Thresholds,
    pub member: &'a MemberReading,
    /// Worst first.
    pub figures: Vec<Figure>,
    pub level: Level,
    pub pods: &'a [PodTrouble],
    pub now_ms: i64,
}

fn bucket(p: &P99) -> String {
    if p.upper.is_infinite() {
        format!("above the largest bucket, {}", seconds(p.lower))
    } else {
        format!("bucket {}-{}", seconds(p.lower), seconds(p.upper))
    }
}

fn window(t: &Thresholds) -> String {
    span((t.window_ms / 1000).max(0) as u64)
}

fn pods_sentence(pods: &[PodTrouble], t: &Thresholds) -> String {
    let mut troubled: Vec<&PodTrouble> = pods.iter().filter(|p| p.restarts > 0 || p.liveness_failures > 0).collect();
    if troubled.is_empty() {
        return String::new();
    }
    troubled.sort_by(|a, b| b.restarts.cmp(&a.restarts).then(b.liveness_failures.cmp(&a.liveness_failures)));
    let parts: Vec<String> = troubled
        .iter()
        .take(3)
        .map(|p| match (p.restarts, p.liveness_failures) {
            (r, 0) => format!("{} restarted {r}x", p.pod),
            (0, l) => format!("{} failed {l} liveness probes", p.pod),
            (r, l) => format!("{} restarted {r}x and failed {l} liveness probes", p.pod),
        })
        .collect();
    let more = if troubled.len() > 3 { format!(" (and {} more pods)", troubled.len() - 3) } else { String::new() };
    format!("In the last {}, {}{more}. ", window(t), parts.join(", "))
}

fn describe(f: &Figure) -> String {
    format!("p99 {} latency {} ({})", f.1, seconds(f.2.value), bucket(&f.2))
}

fn over_text(list: &[&Figure]) -> String {
    let parts: Vec<String> =
        list.iter().map(|f| format!("{} is over the {} threshold", describe(f), seconds(f.3))).collect();
    parts.join(" and ")
}

/// `spec.for`, for people.
fn for_text(t: &Thresholds) -> String {
    span((t.for_ms / 1000).max(0) as u64)
}

pub(super) fn slow_disk(c: &Context<'_>, state: &State) -> Verdict {
    let Some(worst) = c.figures.first() else {
        return Verdict::new(Tri::Unknown, Reason::WaitingForData, "No disk figures yet.");
    };
    let over: Vec<&Figure> = c.figures.iter().filter(|f| f.0 >= Level::Slow).collect();
    let fraction = c
        .member
        .wal_fsync_slow_fraction
        .filter(|(f, _)| *f > 0.0)
        .map(|(f, bound)| format!(" {:.0}% of WAL fsyncs took longer than {}.", f * 100.0, seconds(bound)))
        .unwrap_or_default();
    if state.slow { slow(c, state, worst, &over, &fraction) } else { not_slow(c, state, worst, &over, &fraction) }
}

/// SlowDisk True: the figures over their thresholds (while recovering, the one that was), since
/// when, the pods that suffered, the impact and the fix.
fn slow(c: &Context<'_>, state: &State, worst: &Figure, over: &[&Figure], fraction: &str) -> Verdict {
    let m = &c.member.name;
    let since = state.slow_since_ms.map(rfc3339).unwrap_or_else(|| "now".into());
    let critical =
        if c.level == Level::Critical { format!(" (critical: over {})", seconds(c.t.critical)) } else { String::new() };
    let (figures, recovering) = match state.clear_since_ms {
        Some(clear) => (
            format!("{} (was over its threshold)", describe(worst)),
            format!(
                " It has been back under the threshold since {}; SlowDisk clears once that lasts {}.",
                rfc3339(clear),
                for_text(c.t)
            ),
        ),
        None => (over_text(over), String::new()),
    };
    let wal = |f: &Figure| f.1 == Histogram::WalFsync;
    let cause = if over.iter().any(|f| wal(f)) || (over.is_empty() && wal(worst)) {
        Reason::WalFsyncSlow
    } else {
        Reason::BackendCommitSlow
    };
    let message = format!(
        "etcd member {m} has a slow disk: {figures}{critical}, slow since {since} (figures over the last {}).{fraction}{recovering} {}{IMPACT} {REMEDY}",
        window(c.t),
        pods_sentence(c.pods, c.t),
    );
    Verdict::new(Tri::True, cause, message)
}

/// SlowDisk False: pending (over a threshold, not for long enough), above etcd's
/// recommendation, or fast.
fn not_slow(c: &Context<'_>, state: &State, worst: &Figure, over: &[&Figure], fraction: &str) -> Verdict {
    let m = &c.member.name;
    match c.level {
        Level::Slow | Level::Critical => {
            let since = state.slow_since_ms.unwrap_or(c.now_ms);
            let message = format!(
                "etcd member {m}: {}, since {}; SlowDisk turns True once that lasts {}.{fraction}",
                over_text(over),
                rfc3339(since),
                for_text(c.t)
            );
            Verdict::new(Tri::False, Reason::SlowDiskPending, message)
        }
        Level::Advisory => {
            let message = format!(
                "etcd member {m}: {} is under the {} threshold but above etcd's recommendation (WAL fsync p99 < {}, backend commit p99 < {}); keep an eye on the disk.",
                describe(worst),
                seconds(worst.3),
                seconds(c.t.advisory_wal_fsync_p99),
                seconds(c.t.advisory_backend_commit_p99)
            );
            Verdict::new(Tri::False, Reason::AboveRecommendation, message)
        }
        Level::Ok => {
            let message = format!(
                "The slowest member, {m}, has {}, within etcd's recommendation; no member's disk is slow.",
                describe(worst)
            );
            Verdict::new(Tri::False, Reason::DiskFast, message)
        }
    }
}

pub(super) fn no_figures(prev: &State, members: &[MemberReading]) -> Verdict {
    let failing: Vec<String> = members.iter().filter(|m| m.error.is_some()).map(|m| m.name.clone()).collect();
    let held = if prev.slow { " SlowDisk was True at the last reading; its timers are kept." } else { "" };
    if !members.is_empty() && failing.len() == members.len() {
        return Verdict::new(
            Tri::Unknown,
            Reason::MembersUnreachable,
            format!("No disk figures: no member could be read ({}).{held}", first_few(&failing, ", ")),
        );
    }
    Verdict::new(
        Tri::Unknown,
        Reason::WaitingForData,
        format!("No disk figures yet: quantiles need two scrapes of a member inside the window.{held}"),
    )
}

pub(super) fn leader(t: &Thresholds, members: &[MemberReading]) -> Verdict {
    if let Some(m) = members.iter().find(|m| m.has_leader == Some(false)) {
        return Verdict::new(
            Tri::True,
            Reason::NoLeader,
            format!("etcd member {} has no leader: the cluster cannot commit writes until one is elected.", m.name),
        );
    }
    let changes = members.iter().filter_map(|m| Some((m, m.leader_changes?))).max_by(|a, b| a.1.total_cmp(&b.1));
    match changes {
        Some((m, n)) if n >= t.leader_changes => {
            let failures = m
                .heartbeat_send_failures
                .filter(|f| *f > 0.0)
                .map(|f| format!(" and failed to send {f:.0} heartbeats"))
                .unwrap_or_default();
            Verdict::new(
                Tri::True,
                Reason::FrequentLeaderChanges,
                format!(
                    "etcd member {} saw {n:.0} leader changes{failures} in the last {} (threshold {:.0}); members miss heartbeats when their disk or network is slow.",
                    m.name,
                    window(t),
                    t.leader_changes
                ),
            )
        }
        Some((_, n)) => Verdict::new(
            Tri::False,
            Reason::Stable,
            format!("Every member has a leader; at most {n:.0} leader changes in the last {}.", window(t)),
        ),
        None => Verdict::new(Tri::Unknown, Reason::WaitingForData, "No leader figures yet."),
    }
}

/// The most failing members a message names (the rest are counted): a Prometheus source may see
/// a hundred members, and a condition message must stay readable and small.
const NAMED: usize = 5;

/// The first [`NAMED`] of `parts` joined by `sep`, then how many more there are.
fn first_few(parts: &[String], sep: &str) -> String {
    let named = parts.iter().take(NAMED).cloned().collect::<Vec<_>>().join(sep);
    match parts.len().saturating_sub(NAMED) {
        0 => named,
        more => format!("{named}{sep}and {more} more"),
    }
}

pub(super) fn reachable(members: &[MemberReading]) -> Verdict {
    let failing: Vec<String> =
        members.iter().filter_map(|m| m.error.as_ref().map(|e| format!("{}: {e}", m.name))).collect();
    if members.is_empty() {
        return Verdict::new(Tri::Unknown, Reason::NoMembers, "No members to read.");
    }
    if failing.is_empty() {
        return Verdict::new(
            Tri::True,
            Reason::AllMembersAnswered,
            format!("All {} members answered their last scrape.", members.len()),
        );
    }
    Verdict::new(
        Tri::False,
        Reason::ScrapeFailed,
        format!("{} of {} members could not be read: {}.", failing.len(), members.len(), first_few(&failing, "; ")),
    )
}

/// Database near its quota, file descriptors near their limit: worth a sentence in Ready.
fn warnings(members: &[MemberReading]) -> Vec<String> {
    let mut out = Vec::new();
    for m in members {
        if let (Some(size), Some(quota)) = (m.db_size_bytes, m.quota_bytes)
            && quota > 0.0
            && size / quota > 0.8
        {
            out.push(format!(
                "{}'s database uses {:.0}% of its {:.1} GiB quota (etcd refuses writes at 100%: compact and defragment, or raise --quota-backend-bytes)",
                m.name,
                100.0 * size / quota,
                quota / 1_073_741_824.0
            ));
        }
        if let (Some(open), Some(max)) = (m.open_fds, m.max_fds)
            && max > 0.0
            && open / max > 0.8
        {
            out.push(format!("{} has {open:.0} of {max:.0} file descriptors open", m.name));
        }
    }
    out
}

pub(super) fn ready(members: &[MemberReading], have_figures: bool) -> Verdict {
    if members.iter().any(|m| m.error.is_some()) {
        return Verdict::new(Tri::False, Reason::MembersUnreachable, "Some members could not be read; see Reachable.");
    }
    if !have_figures {
        return Verdict::new(
            Tri::False,
            Reason::WaitingForWindow,
            "Collecting a second scrape to compute quantiles over the window.",
        );
    }
    let warnings = warnings(members);
    if warnings.is_empty() {
        return Verdict::new(Tri::True, Reason::Evaluated, "Every member was read and evaluated.");
    }
    Verdict::new(
        Tri::True,
        Reason::EvaluatedWithWarnings,
        format!("Every member was read and evaluated. Warning: {}.", warnings.join("; ")),
    )
}
