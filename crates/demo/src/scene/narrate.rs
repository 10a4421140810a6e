//! Narration: timestamped lines and a live status line on stderr (silent when headless).

use std::time::Instant;

use super::{Report, Sample, stats};

#[derive(Debug)]
pub(super) struct Narrator {
    on: bool,
    started: Instant,
}

impl Narrator {
    pub(super) fn new(on: bool) -> Self {
        Self { on, started: Instant::now() }
    }

    /// One line, stamped with the seconds since the scene started.
    pub(super) fn say(&self, text: &str) {
        if self.on {
            eprintln!("\r\x1b[K[{:6.1}s] {text}", self.started.elapsed().as_secs_f64());
        }
    }

    /// Rewrites the live status line.
    pub(super) fn status(&self, s: &Sample) {
        if self.on {
            let backend = if s.agent.contains("jetson") { "Jetson" } else { "Pi" };
            let trial = if s.in_trial { " trial" } else { "" };
            eprint!(
                "\r\x1b[K  t={:5.1}s  backend={backend:<6} fps={:5.1}  latency={:4.0}ms  pi_load={:3.1}  phase={}{trial}  failed={}",
                s.t,
                s.fps,
                s.latency * 1000.0,
                s.pi_load,
                s.phase,
                s.failed_trials
            );
        }
    }

    /// The closing summary: what `kubectl get` shows, the timeline, then the figures.
    pub(super) fn summary(&self, objects: impl FnOnce() -> String, report: &Report) {
        if self.on {
            eprintln!("\r\x1b[K\n{}", objects());
            eprintln!("timeline:");
            for (t, text) in &report.events {
                eprintln!("  {t:6.1}s  {text}");
            }
            eprintln!("{}", figures(report));
        }
    }
}

/// Switches, time on each backend and failed trials, for people.
pub fn figures(r: &Report) -> String {
    let switches = r.reasons.split_whitespace().count();
    let holds = if r.holds.is_empty() { String::new() } else { format!(" (holds {})", r.holds.join(", ")) };
    format!(
        "switches: {switches} ({}); time on each backend: {}; failed trials: {}{holds}",
        if r.reasons.is_empty() { "none" } else { &r.reasons },
        stats::describe(&r.time_on),
        r.failed_trials_at.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_count_switches_time_and_failed_trials() {
        let r = Report {
            reasons: "OffloadRuleHeld Recovered ReturnFailed Recovered ReturnFailed".into(),
            time_on: vec![("raspberrypi".into(), 25.0), ("jetson-agx-orin".into(), 75.0)],
            failed_trials_at: vec![40.0, 62.0],
            holds: vec!["15s".into(), "30s".into()],
            ..Report::default()
        };
        assert_eq!(
            figures(&r),
            "switches: 5 (OffloadRuleHeld Recovered ReturnFailed Recovered ReturnFailed); time on each backend: raspberrypi 25.0s (25%), jetson-agx-orin 75.0s (75%); failed trials: 2 (holds 15s, 30s)"
        );
        assert!(
            figures(&Report::default()).starts_with("switches: 0 (none); time on each backend: ; failed trials: 0")
        );
    }
}
