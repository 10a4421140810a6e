//! The scene's steps, each awaited with a deadline while the detector is sampled once a second.

use std::time::{Duration, Instant};

use continuum_testenv::Load;
use continuum_testenv::edge::{JETSON_NODE, PI_NODE};

use super::narrate::Narrator;
use super::{Actuation, EdgeScene, Error, NS, RAMP, Report, Result, Sample, cluster};

/// The scene being played: what it has seen so far, in seconds since `t0`.
struct Play<'a> {
    n: &'a Narrator,
    scene: &'a mut EdgeScene,
    report: Report,
    t0: Instant,
}

/// Plays the scene on running clusters and returns what happened.
pub(super) fn play(n: &Narrator, scene: &mut EdgeScene, continuum_start: f64, actuation: Actuation) -> Result<Report> {
    let mut p = Play { n, scene, report: Report { continuum_start, ..Report::default() }, t0: Instant::now() };
    p.offload_and_back(actuation)?;
    p.record_rollout();
    p.slow_disk()?;
    let cp = &p.scene.edge.cp;
    n.summary(|| cluster::kubectl(cp, &["get", "offloadpolicies,etcdhealths", "-n", NS]), &p.report);
    Ok(p.report)
}

impl Play<'_> {
    /// The Pi falls behind, the policy offloads, the Jetson gives real time, the load drops and
    /// the policy recovers to the Pi.
    fn offload_and_back(&mut self, actuation: Actuation) -> Result<()> {
        let minute = Duration::from_secs(60);
        let t =
            self.until("the detector running on the Pi", minute, |_, s| s.agent == PI_NODE && s.phase == "Local")?;
        self.note(t, format!("the detector runs on the Pi's vAccel agent (load {RAMP})"));
        self.report.pod_at_start = cluster::detector_pods(&self.scene.edge.cp);
        let t = self.until("the Pi falling behind", minute, |_, s| s.fps < 8.0 && s.fps > 0.0)?;
        self.note(t, "the Pi falls behind: fps under 8".into());
        let t = self.until("offload", minute, |_, s| s.phase == "Offloaded")?;
        self.report.offloaded_at = Some(t);
        let why = cluster::last_transition(&self.scene.edge.cp);
        self.note(t, format!("OFFLOADED: {why}"));
        let t = self.until("real time on the Jetson", minute, |_, s| s.agent == JETSON_NODE && s.fps >= 25.0)?;
        self.report.realtime_at = Some(t);
        let how = match actuation {
            Actuation::Env => "the rolled-out pod talks to the Jetson",
            Actuation::Service => "the same pod now reaches the Jetson through the Service",
        };
        self.note(t, format!("{how}: real time again (30 fps)"));
        let t = self.until("recovery to the Pi", Duration::from_secs(90), |_, s| s.phase == "Local")?;
        self.report.recovered_at = Some(t);
        let why = cluster::last_transition(&self.scene.edge.cp);
        self.note(t, format!("RECOVERED: {why}"));
        let t = self.until("the Pi coping", minute, |_, s| s.agent == PI_NODE && s.fps >= 10.0)?;
        self.note(t, "the Pi copes at the lower load".into());
        Ok(())
    }

    /// What the two switches left behind in the member cluster.
    fn record_rollout(&mut self) {
        let cp = &self.scene.edge.cp;
        self.report.pod_at_end = cluster::detector_pods(cp);
        self.report.replica_sets = cluster::replica_sets(cp);
        self.report.transitions = cluster::transitions(cp);
        (self.report.revision, self.report.member_env) = cluster::rollout(cp);
    }

    /// The host plane's etcd restarts on a slow disk under load; EtcdHealth names it.
    fn slow_disk(&mut self) -> Result<()> {
        let t = self.t0.elapsed().as_secs_f64();
        self.note(t, "restarting the host plane's etcd on a slow disk (every fsync +150ms)".into());
        self.scene.host.restart_etcd(Some(Duration::from_millis(150)))?;
        self.scene.etcd_load = Some(Load::start(&self.scene.host.etcd_url, Duration::from_millis(20)));
        let slow_from = Instant::now();
        let t = self.until("SlowDisk", Duration::from_secs(120), |scene, _| cluster::slow_disk(&scene.edge.cp))?;
        self.report.slow_disk_after = Some(slow_from.elapsed().as_secs_f64());
        self.report.slow_disk_message = cluster::slow_disk_message(&self.scene.edge.cp);
        self.report.operator_restarts = self.scene.operator.restarts;
        self.note(t, format!("SLOW DISK: {}", self.report.slow_disk_message));
        Ok(())
    }

    fn note(&mut self, t: f64, text: String) {
        self.n.say(&text);
        self.report.events.push((t, text));
    }

    /// What the detector shows now, and the policy's phase; restarts the operator if it exited.
    fn sample(&mut self) -> Sample {
        let t = self.t0.elapsed().as_secs_f64();
        if let Some(why) = self.scene.operator.keep_running() {
            eprintln!("\r\x1b[K[{t:6.1}s] {why}");
        }
        let f = self.scene.detector.figures();
        let phase = cluster::phase(&self.scene.edge.cp);
        Sample { t, fps: f.fps, latency: f.latency, agent: f.agent.unwrap_or_default(), phase }
    }

    /// Samples once per second until `done` holds for the latest sample, or fails after `limit`
    /// with what the cluster and the operator's log show.
    fn until(&mut self, step: &str, limit: Duration, done: impl Fn(&EdgeScene, &Sample) -> bool) -> Result<f64> {
        let started = Instant::now();
        loop {
            let s = self.sample();
            self.n.status(&s);
            let hit = done(self.scene, &s);
            self.report.samples.push(s.clone());
            if hit {
                return Ok(s.t);
            }
            if started.elapsed() > limit {
                return Err(self.missed(step, limit, &s));
            }
            std::thread::sleep(Duration::from_millis(1000));
        }
    }

    fn missed(&self, step: &str, limit: Duration, last: &Sample) -> Error {
        let cp = &self.scene.edge.cp;
        let objects = cluster::kubectl(cp, &["get", "deployments,replicasets,pods", "-n", NS, "-o", "wide"]);
        let log = std::fs::read_to_string(self.scene.operator.log()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let seen = format!(
            "{objects}\npolicy conditions: {}\netcdhealth status: {}\noperator log (newest first):\n{}",
            cluster::policy_conditions(cp),
            cluster::etcd_health_status(cp),
            tail.join("\n")
        );
        Error::Deadline { step: step.to_owned(), limit, last: format!("{last:?}"), seen }
    }
}
