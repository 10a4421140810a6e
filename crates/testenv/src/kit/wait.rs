//! Polling waits with deadlines, for what cannot be watched (metrics, logs, lists). A timeout
//! names what was awaited and the last state seen.

use std::time::{Duration, Instant};

use super::error::{Error, Result};

/// How often the polling waits look: short, so that measured durations stay precise.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns `Ok`; `Err(state)` means "not yet" and `state` is reported if
/// `limit` passes first. Returns the value and how long it took.
pub fn until_ok<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Result<T, String>) -> Result<(T, Duration)> {
    let started = Instant::now();
    loop {
        let last = match check() {
            Ok(v) => {
                let took = started.elapsed();
                eprintln!("{what}: after {:.2}s", took.as_secs_f64());
                return Ok((v, took));
            }
            Err(state) => state,
        };
        if started.elapsed() >= limit {
            return Err(Error::Timeout { what: what.to_owned(), seconds: started.elapsed().as_secs_f64(), last });
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Polls until `done` holds; returns how long it took.
pub fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Result<Duration> {
    until_ok(what, limit, || if done() { Ok(()) } else { Err("not yet".to_owned()) }).map(|(_, took)| took)
}

/// Polls until `check` returns `Some`; returns the value.
pub fn until_some<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> Result<T> {
    until_ok(what, limit, || check().ok_or_else(|| "not yet".to_owned())).map(|(v, _)| v)
}

/// Polls `probe` until its value satisfies `done`; the last value is reported on timeout.
pub fn until_value<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<T>,
    done: impl Fn(&T) -> bool,
) -> Result<T> {
    let check = || match probe() {
        Ok(v) if done(&v) => Ok(v),
        Ok(v) => Err(format!("{v:?}")),
        Err(e) => Err(e.to_string()),
    };
    until_ok(what, limit, check).map(|(v, _)| v)
}
