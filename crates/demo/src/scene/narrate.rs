//! Narration: timestamped lines and a live status line on stderr (silent when headless).

use std::time::Instant;

use super::{Report, Sample};

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
            eprint!(
                "\r\x1b[K  t={:5.1}s  backend={backend:<6} fps={:5.1}  latency={:4.0}ms  phase={}",
                s.t,
                s.fps,
                s.latency * 1000.0,
                s.phase
            );
        }
    }

    /// The closing summary: what `kubectl get` shows, then the timeline.
    pub(super) fn summary(&self, objects: impl FnOnce() -> String, report: &Report) {
        if self.on {
            eprintln!("\r\x1b[K\n{}", objects());
            eprintln!("timeline:");
            for (t, text) in &report.events {
                eprintln!("  {t:6.1}s  {text}");
            }
        }
    }
}
