//! Verdicts on the health of etcd members: slow disk (sustained, no flapping at the threshold),
//! leader stability and reachability, each with a sentence that says what it means and what to do.

mod message;
mod reason;

pub use message::REMEDY;
pub use reason::{Histogram, Reason};

/// Levels, in seconds (and a count for leader changes).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    pub wal_fsync_p99: f64,
    pub backend_commit_p99: f64,
    pub advisory_wal_fsync_p99: f64,
    pub advisory_backend_commit_p99: f64,
    pub critical: f64,
    pub leader_changes: f64,
    /// How long a level must be exceeded (or clear) before the verdict changes, milliseconds.
    pub for_ms: i64,
    /// The window the figures cover, milliseconds (for messages).
    pub window_ms: i64,
}

/// A p99 and the histogram bucket bounds that enclose it, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct P99 {
    pub value: f64,
    pub lower: f64,
    pub upper: f64,
}

/// What was measured for one member in the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberReading {
    pub name: String,
    /// Why the member could not be read; `None` when the last scrape worked.
    pub error: Option<String>,
    pub wal_fsync_p99: Option<P99>,
    pub backend_commit_p99: Option<P99>,
    /// (fraction of fsyncs slower than `bound`, `bound` seconds).
    pub wal_fsync_slow_fraction: Option<(f64, f64)>,
    pub has_leader: Option<bool>,
    pub leader_changes: Option<f64>,
    pub heartbeat_send_failures: Option<f64>,
    pub db_size_bytes: Option<f64>,
    pub quota_bytes: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

/// Trouble of a dependent pod in the window (from the correlation).
#[derive(Clone, Debug, PartialEq)]
pub struct PodTrouble {
    pub pod: String,
    pub restarts: u32,
    pub liveness_failures: u32,
}

/// Decision timers, persisted in the status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// SlowDisk is True.
    pub slow: bool,
    /// Start of the current episode above the threshold (kept while `slow`).
    pub slow_since_ms: Option<i64>,
    /// Since when the disk has been below the threshold while `slow` (recovery timer).
    pub clear_since_ms: Option<i64>,
}

/// Which level the worst member is at right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Advisory,
    Slow,
    Critical,
}

/// One condition as the operator writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub status: Tri,
    /// Why, as a type: match on this, never on `reason`.
    pub cause: Reason,
    /// `cause` as text (the condition's reason).
    pub reason: &'static str,
    pub message: String,
}

impl Verdict {
    pub fn new(status: Tri, cause: Reason, message: impl Into<String>) -> Self {
        Self { status, cause, reason: cause.as_str(), message: message.into() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    pub fn as_str(self) -> &'static str {
        match self {
            Tri::True => "True",
            Tri::False => "False",
            Tri::Unknown => "Unknown",
        }
    }
}

/// Everything decided in one evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub state: State,
    pub level: Level,
    pub slow_disk: Verdict,
    pub leader_unstable: Verdict,
    pub reachable: Verdict,
    pub ready: Verdict,
}

/// A member's disk figures against the thresholds: (level, which histogram, p99, slow threshold).
type Rated = (Level, Histogram, P99, f64);

fn rate_member(m: &MemberReading, t: &Thresholds) -> Vec<Rated> {
    let rate = |p: Option<P99>, slow: f64, advisory: f64, which: Histogram| {
        p.map(|p| {
            let level = if p.value > t.critical {
                Level::Critical
            } else if p.value > slow {
                Level::Slow
            } else if p.value > advisory {
                Level::Advisory
            } else {
                Level::Ok
            };
            (level, which, p, slow)
        })
    };
    let wal = rate(m.wal_fsync_p99, t.wal_fsync_p99, t.advisory_wal_fsync_p99, Histogram::WalFsync);
    let commit =
        rate(m.backend_commit_p99, t.backend_commit_p99, t.advisory_backend_commit_p99, Histogram::BackendCommit);
    [wal, commit].into_iter().flatten().collect()
}

/// How far over its threshold a figure is.
fn ratio(r: &Rated) -> f64 {
    r.2.value / r.3
}

/// Evaluates the members at `now_ms` given the previous state.
pub fn evaluate(
    t: &Thresholds,
    prev: &State,
    members: &[MemberReading],
    pods: &[PodTrouble],
    now_ms: i64,
) -> Evaluation {
    let rated: Vec<(&MemberReading, Vec<Rated>)> =
        members.iter().map(|m| (m, rate_member(m, t))).filter(|(_, r)| !r.is_empty()).collect();
    let worst_of = |r: &Vec<Rated>| r.iter().map(ratio).fold(f64::MIN, f64::max);
    let worst = rated.iter().max_by(|a, b| worst_of(&a.1).total_cmp(&worst_of(&b.1)));
    let level = worst.and_then(|w| w.1.iter().map(|r| r.0).max()).unwrap_or(Level::Ok);
    let state = match worst {
        None => prev.clone(),
        Some(_) => next_state(prev, level >= Level::Slow, t.for_ms, now_ms),
    };
    let slow_disk = match worst {
        None => message::no_figures(prev, members),
        Some((m, figures)) => {
            let mut figures = figures.clone();
            // Worst first, so the message leads with what matters most.
            figures.sort_by(|a, b| ratio(b).total_cmp(&ratio(a)));
            let ctx = message::Context { t, member: m, figures, level, pods, now_ms };
            message::slow_disk(&ctx, &state)
        }
    };
    Evaluation {
        state,
        level,
        slow_disk,
        leader_unstable: message::leader(t, members),
        reachable: message::reachable(members),
        ready: message::ready(members, !rated.is_empty()),
    }
}

/// Sustain windows both ways: True only after `for_ms` above, False only after `for_ms` below.
fn next_state(prev: &State, above: bool, for_ms: i64, now: i64) -> State {
    if above {
        let since = prev.slow_since_ms.unwrap_or(now);
        State { slow: prev.slow || now - since >= for_ms, slow_since_ms: Some(since), clear_since_ms: None }
    } else if prev.slow {
        let clear = prev.clear_since_ms.unwrap_or(now);
        if now - clear >= for_ms {
            State::default()
        } else {
            State { slow: true, slow_since_ms: prev.slow_since_ms, clear_since_ms: Some(clear) }
        }
    } else {
        State::default()
    }
}

#[cfg(test)]
mod tests;
