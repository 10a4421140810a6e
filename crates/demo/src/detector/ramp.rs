//! The load on the Pi over time: the camera pipeline's share of the board, which slows the Pi's
//! own vAccel agent and which the detector exports as the Pi-side signal `pi_load`.

use std::fmt;

/// Piecewise-linear load over time: `(seconds since start, load)` points. Before the first
/// point the load is the first point's; after the last it stays at the last point's, so a ramp
/// that ends high keeps the Pi overloaded for as long as the scene runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Ramp(pub Vec<(f64, f64)>);

impl Ramp {
    /// Parses `0:1,20:3,40:3,50:0.5` (seconds:load, increasing times, loads > 0).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut points = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (t, l) = part.split_once(':').ok_or_else(|| format!("{part:?} is not seconds:load"))?;
            let t: f64 = t.trim().trim_end_matches('s').parse().map_err(|_| format!("bad time in {part:?}"))?;
            let l: f64 = l.trim().parse().map_err(|_| format!("bad load in {part:?}"))?;
            if points.last().is_some_and(|(prev, _)| t <= *prev) || l <= 0.0 {
                return Err(format!("{part:?}: times must increase and loads be > 0"));
            }
            points.push((t, l));
        }
        if points.is_empty() {
            return Err("an empty load ramp".into());
        }
        Ok(Self(points))
    }

    /// The load `t` seconds after the start.
    pub fn at(&self, t: f64) -> f64 {
        let p = &self.0;
        let Some(after) = p.iter().position(|(x, _)| *x > t) else { return p.last().map_or(1.0, |x| x.1) };
        if after == 0 {
            return p[0].1;
        }
        let ((t0, l0), (t1, l1)) = (p[after - 1], p[after]);
        l0 + (l1 - l0) * (t - t0) / (t1 - t0)
    }

    /// The last point: from then on the load stays at its value.
    pub fn last(&self) -> (f64, f64) {
        self.0.last().copied().unwrap_or((0.0, 1.0))
    }
}

impl fmt::Display for Ramp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let points: Vec<String> = self.0.iter().map(|(t, l)| format!("{t}:{l}")).collect();
        f.write_str(&points.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(text: &str) -> Ramp {
        Ramp::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn ramps_interpolate_and_hold_their_ends() {
        let r = ramp("0:1,10:3,20:3,30:0.5");
        assert_eq!(r.at(0.0), 1.0);
        assert_eq!(r.at(5.0), 2.0);
        assert_eq!(r.at(15.0), 3.0);
        assert_eq!(r.at(25.0), 1.75);
        assert_eq!(r.at(99.0), 0.5);
        assert!(Ramp::parse("10:1,5:2").is_err());
        assert!(Ramp::parse("0:0").is_err());
        assert!(Ramp::parse("x").is_err());
    }

    #[test]
    fn a_ramp_ending_high_keeps_the_load_high_for_good() {
        let r = ramp("0:1,8:1,16:4");
        assert_eq!(r.last(), (16.0, 4.0));
        for t in [16.0, 60.0, 600.0, 86_400.0] {
            assert_eq!(r.at(t), 4.0, "at {t}s");
        }
    }

    #[test]
    fn a_ramp_prints_as_it_parses() {
        let text = "0:1,8:1,16:4,38:4,42:1.5";
        assert_eq!(ramp(text).to_string(), text);
        assert_eq!(ramp(&ramp(text).to_string()), ramp(text));
    }
}
