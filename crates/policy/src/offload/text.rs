//! Sentences for offload decisions: values in their signal's unit, comparisons like
//! `fps 4.0 < 10`, and the decision's context.

use super::{Bound, Decision, Move, Observation, Phase, Reason, RuleSet, Rules, State, Threshold, Unit};
use crate::format::{seconds, span};

pub(super) struct Ctx<'a> {
    pub r: &'a Rules,
    pub o: &'a Observation,
    pub now: i64,
}

pub(super) fn span_ms(ms: i64) -> String {
    span((ms.max(0) as u64).div_ceil(1000))
}

/// `10.0` -> `10`, `12.5` -> `12.5`, `0.4213` -> `0.421`.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A value in its unit, for people: `212ms`, `97%`, `71°C`, `4.0` (a rate), `0.42`.
pub fn show(unit: Unit, v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match unit {
        Unit::Seconds => seconds(v),
        Unit::Percent => format!("{}%", trim(v)),
        Unit::Celsius => format!("{}°C", trim(v)),
        Unit::PerSecond => format!("{v:.1}"),
        Unit::Ratio | Unit::None => trim(v),
    }
}

/// A threshold in its unit: like `show`, but a rate's line is written as given (`10`).
fn line(unit: Unit, v: f64) -> String {
    match unit {
        Unit::PerSecond => trim(v),
        other => show(other, v),
    }
}

/// The current value of signal `i`, if it has one.
pub(super) fn value(o: &Observation, i: usize) -> Option<f64> {
    o.signals.get(i).and_then(|s| s.value).filter(|v| v.is_finite())
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
        Decision { state, action, phase, cause, reason: cause.as_str(), message, telemetry_ok, degraded: false }
    }

    /// `fps 4.0 < 10`, or `None` when the rule does not hold (or its signal has no value).
    fn comparison(&self, t: &Threshold) -> Option<String> {
        let v = value(self.o, t.signal)?;
        let def = self.r.signals.get(t.signal)?;
        let (holds, op, limit) = match t.bound {
            Bound::Below(x) => (v < x, "<", x),
            Bound::Above(x) => (v > x, ">", x),
        };
        holds.then(|| format!("{} {} {op} {}", def.name, show(def.unit, v), line(def.unit, limit)))
    }

    /// Whether the rule set holds now, as the comparisons that make it hold
    /// (`fps 4.0 < 10 and latency 300ms > 150ms`); `None` when it does not.
    pub fn holds(&self, set: &RuleSet) -> Option<String> {
        let held: Vec<String> = set.rules.iter().filter_map(|t| self.comparison(t)).collect();
        let ok = if set.all { held.len() == set.rules.len() } else { !held.is_empty() };
        (ok && !set.rules.is_empty()).then(|| held.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_in_their_unit() {
        assert_eq!(show(Unit::Seconds, 0.2123), "212ms");
        assert_eq!(show(Unit::Percent, 97.0), "97%");
        assert_eq!(show(Unit::Celsius, 71.25), "71.25°C");
        assert_eq!(show(Unit::PerSecond, 4.04), "4.0");
        assert_eq!(show(Unit::Ratio, 0.4213), "0.421");
        assert_eq!(show(Unit::None, 3.0), "3");
        assert_eq!(show(Unit::None, f64::NAN), "n/a");
        assert_eq!(line(Unit::PerSecond, 10.0), "10");
    }
}
