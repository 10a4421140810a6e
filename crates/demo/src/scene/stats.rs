//! Figures of a played scene, from its once-a-second samples: what the detector actually used,
//! not what the policy says it chose.

use super::Sample;

/// Seconds the detector spent on each agent, in order of first use: each sample's agent is
/// counted until the next sample. Samples without an answering agent count as `none`.
pub fn time_on(samples: &[Sample]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for pair in samples.windows(2) {
        let agent = if pair[0].agent.is_empty() { "none" } else { pair[0].agent.as_str() };
        let dt = (pair[1].t - pair[0].t).max(0.0);
        match out.iter_mut().find(|(a, _)| a == agent) {
            Some((_, total)) => *total += dt,
            None => out.push((agent.to_owned(), dt)),
        }
    }
    out
}

/// The share of `agent` in `time_on`, between 0 and 1 (0 without samples).
pub fn share(time_on: &[(String, f64)], agent: &str) -> f64 {
    let total: f64 = time_on.iter().map(|(_, t)| t).sum();
    let mine: f64 = time_on.iter().filter(|(a, _)| a == agent).map(|(_, t)| t).sum();
    if total > 0.0 { mine / total } else { 0.0 }
}

/// `raspberrypi 21.0s (35%), jetson-agx-orin 39.0s (65%)`.
pub fn describe(time_on: &[(String, f64)]) -> String {
    let parts: Vec<String> =
        time_on.iter().map(|(a, t)| format!("{a} {t:.1}s ({:.0}%)", 100.0 * share(time_on, a))).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(t: f64, agent: &str) -> Sample {
        Sample { t, agent: agent.into(), ..Sample::default() }
    }

    #[test]
    fn time_on_each_agent_counts_until_the_next_sample() {
        let samples = [
            on(0.0, "raspberrypi"),
            on(2.0, "jetson-agx-orin"),
            on(7.0, "raspberrypi"),
            on(8.0, ""),
            on(9.0, "raspberrypi"),
        ];
        let time = time_on(&samples);
        assert_eq!(
            time,
            [("raspberrypi".to_owned(), 3.0), ("jetson-agx-orin".to_owned(), 5.0), ("none".to_owned(), 1.0)]
        );
        assert!((share(&time, "jetson-agx-orin") - 5.0 / 9.0).abs() < 1e-9);
        assert_eq!(describe(&time), "raspberrypi 3.0s (33%), jetson-agx-orin 5.0s (56%), none 1.0s (11%)");
    }

    #[test]
    fn no_samples_give_no_time() {
        assert!(time_on(&[on(0.0, "raspberrypi")]).is_empty());
        assert_eq!(share(&[], "raspberrypi"), 0.0);
    }
}
