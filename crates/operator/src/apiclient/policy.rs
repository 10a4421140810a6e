//! When an API call is tried again: the pure part of the client's retry layer (no clock, no I/O;
//! elapsed time and the server's hint are passed in).
//!
//! Watches are never retried here (the watcher reconnects with its own back-off). Reads are tried
//! again after throttling (429), unavailability (503, 504), a timeout or a broken connection.
//! Writes only after 429, 503, 504 or a timeout, within a smaller budget: a write must never land
//! after this replica could have lost the Lease, so the budget stays below
//! `leaseDuration - renewDeadline`, and the layer checks the write gate before each retry.

use std::time::Duration;

use http::{Method, Uri};

/// What kind of call a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A long-lived watch: no deadline, no retry.
    Watch,
    /// GET / LIST.
    Read,
    /// POST, PUT, PATCH, DELETE.
    Write,
}

impl Kind {
    pub fn of(method: &Method, uri: &Uri) -> Self {
        if *method == Method::GET || *method == Method::HEAD {
            let watch = uri.query().is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
            return if watch { Kind::Watch } else { Kind::Read };
        }
        Kind::Write
    }
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with this status code.
    Status(u16),
    /// No answer within the attempt's deadline.
    TimedOut,
    /// The connection failed (refused, reset, TLS).
    Broken,
}

impl Outcome {
    /// Worth trying again for a call of `kind`.
    fn transient(self, kind: Kind) -> bool {
        match (self, kind) {
            (_, Kind::Watch) => false,
            (Outcome::Status(code), _) => matches!(code, 429 | 503 | 504),
            (Outcome::TimedOut, _) => true,
            (Outcome::Broken, kind) => kind == Kind::Read,
        }
    }
}

/// Bounds of the retries of one kind of call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Time from the first attempt until the last answer at the latest.
    pub budget: Duration,
    /// Wait before the first retry; doubled for each further one.
    pub first_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Limits {
    /// No retry: one attempt within `budget`.
    pub fn once(budget: Duration) -> Self {
        Self { attempts: 1, budget, first_backoff: Duration::ZERO, max_backoff: Duration::ZERO }
    }

    /// The wait before attempt `attempt + 1` (after `attempt` attempts, `elapsed` since the
    /// first), or None to give up and return what the last attempt got. `hint` is the server's
    /// Retry-After. A wait that would leave no time for the next attempt gives up.
    pub fn next_wait(
        &self,
        kind: Kind,
        outcome: Outcome,
        attempt: u32,
        elapsed: Duration,
        hint: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.attempts || !outcome.transient(kind) {
            return None;
        }
        let doubled = self.first_backoff.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let wait = doubled.min(self.max_backoff).max(hint.unwrap_or_default());
        // The next attempt needs time of its own: at least as long as the wait before it.
        let left = self.budget.saturating_sub(elapsed);
        (wait.saturating_mul(2) < left).then_some(wait)
    }
}

/// A Retry-After header in seconds (the form the API server sends).
pub fn retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    value?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn writes() -> Limits {
        Limits { attempts: 3, budget: MS(5000), first_backoff: MS(200), max_backoff: MS(1000) }
    }

    #[test]
    fn watches_reads_and_writes_are_told_apart() {
        let uri = |s: &str| s.parse::<Uri>().unwrap_or_else(|e| panic!("{e}"));
        let watch = uri("/api/v1/pods?watch=true&resourceVersion=1");
        assert_eq!(Kind::of(&Method::GET, &watch), Kind::Watch);
        assert_eq!(Kind::of(&Method::GET, &uri("/api/v1/pods?limit=500")), Kind::Read);
        assert_eq!(Kind::of(&Method::GET, &uri("/api/v1/pods?watchx=true")), Kind::Read);
        assert_eq!(Kind::of(&Method::PATCH, &uri("/apis/x/v1/y/status")), Kind::Write);
        assert_eq!(Kind::of(&Method::DELETE, &uri("/api/v1/pods/p")), Kind::Write);
    }

    #[test]
    fn writes_retry_only_throttling_unavailability_and_timeouts() {
        let l = writes();
        for outcome in [Outcome::Status(429), Outcome::Status(503), Outcome::Status(504), Outcome::TimedOut] {
            assert_eq!(l.next_wait(Kind::Write, outcome, 1, MS(0), None), Some(MS(200)), "{outcome:?}");
        }
        for outcome in [Outcome::Status(500), Outcome::Status(409), Outcome::Status(422), Outcome::Broken] {
            assert_eq!(l.next_wait(Kind::Write, outcome, 1, MS(0), None), None, "{outcome:?}");
        }
        assert_eq!(l.next_wait(Kind::Read, Outcome::Broken, 1, MS(0), None), Some(MS(200)));
        assert_eq!(l.next_wait(Kind::Watch, Outcome::Status(429), 1, MS(0), None), None);
    }

    #[test]
    fn retries_are_bounded_in_count_and_in_total_time() {
        let l = writes();
        assert_eq!(l.next_wait(Kind::Write, Outcome::Status(429), 2, MS(300), None), Some(MS(400)));
        assert_eq!(l.next_wait(Kind::Write, Outcome::Status(429), 3, MS(900), None), None, "attempts used up");
        // 4.7 s spent: a 200 ms wait leaves too little for another attempt within 5 s.
        assert_eq!(l.next_wait(Kind::Write, Outcome::Status(429), 1, MS(4700), None), None);
        let many = Limits { attempts: 20, ..l };
        assert_eq!(many.next_wait(Kind::Write, Outcome::Status(503), 10, MS(0), None), Some(MS(1000)), "capped");
    }

    #[test]
    fn the_servers_retry_after_is_honoured_only_when_it_fits_the_budget() {
        let l = writes();
        assert_eq!(l.next_wait(Kind::Write, Outcome::Status(429), 1, MS(0), Some(MS(1000))), Some(MS(1000)));
        assert_eq!(l.next_wait(Kind::Write, Outcome::Status(429), 1, MS(0), Some(MS(3000))), None);
        let h = http::HeaderValue::from_static("2");
        assert_eq!(retry_after(Some(&h)), Some(MS(2000)));
        assert_eq!(retry_after(Some(&http::HeaderValue::from_static("soon"))), None);
        assert_eq!(Limits::once(MS(100)).next_wait(Kind::Read, Outcome::TimedOut, 1, MS(0), None), None);
    }
}
