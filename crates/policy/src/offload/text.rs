//! Sentences for offload decisions.

use super::{Decision, Move, Observation, Phase, Reason, Rules, State};
use crate::format::{seconds, span};

pub(super) struct Ctx<'a> {
    pub r: &'a Rules,
    pub o: &'a Observation,
    pub now: i64,
}

pub(super) fn span_ms(ms: i64) -> String {
    span((ms.max(0) as u64).div_ceil(1000))
}

fn fps(v: f64) -> String {
    format!("{v:.1}")
}

impl Ctx<'_> {
    pub fn done(
        &self,
        state: State,
        action: Move,
        phase: Phase,
        cause: Reason,
        message: String,
        telemetry_ok: bool,
    ) -> Decision {
        Decision { state, action, phase, cause, reason: cause.as_str(), message, telemetry_ok }
    }

    /// "fps 6.2 < 10" or "latency 212ms > 150ms".
    pub fn observed_violation(&self, reason: Reason) -> String {
        match (reason, self.o.fps, self.o.latency_seconds) {
            (Reason::FpsBelowThreshold, Some(f), _) => {
                format!("fps {} < {}", fps(f), trim(self.r.fps_below.unwrap_or_default()))
            }
            (_, _, Some(l)) => {
                format!("latency {} > {}", seconds(l), seconds(self.r.latency_above.unwrap_or_default()))
            }
            _ => "offload rule violated".into(),
        }
    }

    /// "fps 24.0 > 12 and latency 40ms < 120ms".
    pub fn observed_recovery(&self) -> String {
        let mut parts = Vec::new();
        if let (Some(limit), Some(f)) = (self.r.fps_above, self.o.fps) {
            parts.push(format!("fps {} > {}", fps(f), trim(limit)));
        }
        if let (Some(limit), Some(l)) = (self.r.latency_below, self.o.latency_seconds) {
            parts.push(format!("latency {} < {}", seconds(l), seconds(limit)));
        }
        parts.join(" and ")
    }

    /// "fps 14.0, latency 80ms".
    pub fn observed(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.o.fps {
            parts.push(format!("fps {}", fps(f)));
        }
        if let Some(l) = self.o.latency_seconds {
            parts.push(format!("latency {}", seconds(l)));
        }
        if parts.is_empty() { "no signal".into() } else { parts.join(", ") }
    }
}

/// `10.0` -> `10`, `12.5` -> `12.5`.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
