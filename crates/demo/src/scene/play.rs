//! The scene's steps, each awaited with a deadline while the detector is sampled once a second.

use std::time::{Duration, Instant};

use continuum_testenv::Load;
use continuum_testenv::edge::{JETSON_NODE, PI_NODE};

use super::narrate::Narrator;
use super::{Actuation, EdgeScene, Error, NS, Options, Report, Result, Sample, Scenario, cluster, stats};

/// The scene being played: what it has seen so far, in seconds since `t0`.
struct Play<'a> {
    n: &'a Narrator,
    scene: &'a mut EdgeScene,
    report: Report,
    t0: Instant,
}

/// Plays the scene on running clusters and returns what happened.
pub(super) fn play(n: &Narrator, scene: &mut EdgeScene, continuum_start: f64, opts: &Options) -> Result<Report> {
    let report = Report { scenario: opts.scenario, continuum_start, ..Report::default() };
    let mut p = Play { n, scene, report, t0: Instant::now() };
    p.offload(opts.actuation, opts.scenario)?;
    match opts.scenario {
        Scenario::Recover => {
            p.return_on_the_pis_load()?;
            p.record_rollout();
            p.slow_disk()?;
        }
        Scenario::Sustained => {
            p.failing_trials()?;
            p.record_rollout();
        }
    }
    p.report.time_on = stats::time_on(&p.report.samples);
    let cp = &p.scene.edge.cp;
    n.summary(|| cluster::kubectl(cp, &["get", "offloadpolicies,etcdhealths", "-n", NS]), &p.report);
    Ok(p.report)
}

impl Play<'_> {
    /// The Pi falls behind, the policy offloads, the Jetson gives real time.
    fn offload(&mut self, actuation: Actuation, scenario: Scenario) -> Result<()> {
        let minute = Duration::from_secs(60);
        let s =
            self.until("the detector running on the Pi", minute, |_, s| s.agent == PI_NODE && s.phase == "Local")?;
        let ramp = match scenario {
            Scenario::Recover => format!("load ramp {}: high from 16s, down from 38s", scenario.ramp()),
            Scenario::Sustained => format!("load ramp {}: high from 16s, for good", scenario.ramp()),
        };
        self.note(s.t, format!("the detector runs on the Pi's vAccel agent ({ramp})"));
        self.report.pod_at_start = cluster::detector_pods(&self.scene.edge.cp);
        let s = self.until("the Pi falling behind", minute, |_, s| s.fps < 8.0 && s.fps > 0.0)?;
        self.note(s.t, format!("the Pi falls behind: {:.1} fps, pi_load {:.1}", s.fps, s.pi_load));
        let s = self.until("offload", minute, |_, s| s.phase == "Offloaded")?;
        self.report.offloaded_at = Some(s.t);
        let why = cluster::last_transition(&self.scene.edge.cp);
        self.note(s.t, format!("OFFLOADED: {why}"));
        let s = self.until("real time on the Jetson", minute, |_, s| s.agent == JETSON_NODE && s.fps >= 25.0)?;
        self.report.realtime_at = Some(s.t);
        let how = match actuation {
            Actuation::Env => "the rolled-out pod talks to the Jetson",
            Actuation::Service => "the same pod now reaches the Jetson through the Service",
        };
        let note = format!("{how}: real time again ({:.0} fps) while the Pi's own load is {:.1}", s.fps, s.pi_load);
        self.note(s.t, note);
        Ok(())
    }

    /// Recover: the Pi's own load drops, the policy returns on that signal, the trial holds.
    fn return_on_the_pis_load(&mut self) -> Result<()> {
        let minute = Duration::from_secs(60);
        let s = self.until("the Pi's load dropping", Duration::from_secs(90), |_, s| s.pi_load < 1.5)?;
        let note =
            format!("the Pi's own load drops to {:.1} (pi_load); on the Jetson fps stays {:.0}", s.pi_load, s.fps);
        self.note(s.t, note);
        let s = self.until("the return to the Pi", minute, |_, s| s.phase == "Local")?;
        self.report.recovered_at = Some(s.t);
        let why = cluster::last_transition(&self.scene.edge.cp);
        self.note(s.t, format!("RECOVERED, judged on the Pi's own load: {why}"));
        self.until("the trial after the return", Duration::from_secs(10), |_, s| s.in_trial)?;
        let s = self.until("the Pi coping", minute, |_, s| (s.agent == PI_NODE && s.fps >= 10.0) || !s.in_trial)?;
        self.expect_local("the Pi coping", &s)?;
        self.note(s.t, format!("the Pi copes at the lower load: {:.1} fps; trial running", s.fps));
        let s = self.until("the trial holding", minute, |_, s| !s.in_trial)?;
        self.expect_local("the trial holding", &s)?;
        self.report.trial_held_at = Some(s.t);
        self.note(s.t, format!("TRIAL HELD: no offload rule violated during verify.for ({:.1} fps)", s.fps));
        Ok(())
    }

    /// Sustained: the policy returns on the Jetson's figures while the Pi's load stays high; each
    /// trial fails, the hold doubles, the workload stays on the Jetson.
    fn failing_trials(&mut self) -> Result<()> {
        let limit = Duration::from_secs(90);
        let s = self.until("a return to the Pi", limit, |_, s| s.phase == "Local")?;
        self.report.recovered_at = Some(s.t);
        let why = cluster::last_transition(&self.scene.edge.cp);
        self.note(s.t, format!("RETURNED on the Jetson's fps and latency, with pi_load {:.1}: {why}", s.pi_load));
        for k in 1..=2 {
            let s = self.until(&format!("failed trial {k}"), limit, |_, s| s.failed_trials >= k)?;
            self.report.failed_trials_at.push(s.t);
            let hold = cluster::view(&self.scene.edge.cp).hold;
            let why = cluster::last_transition(&self.scene.edge.cp);
            self.note(s.t, format!("RETURN FAILED ({k} in a row, hold {hold}): {why}"));
            self.report.holds.push(hold);
            if k < 2 {
                let s = self.until(&format!("return {}", k + 1), limit, |_, s| s.phase == "Local" && s.in_trial)?;
                self.note(s.t, format!("the hold is over: trial return {} (pi_load {:.1})", k + 1, s.pi_load));
            }
        }
        let end = self.t0.elapsed().as_secs_f64() + 20.0;
        let s =
            self.until("20s held on the Jetson", Duration::from_secs(30), |_, s| s.t >= end || s.phase == "Local")?;
        if s.phase == "Local" {
            return Err(Error::Scene(format!("back on the Pi at {:.1}s, before the doubled hold ended: {s:?}", s.t)));
        }
        let observed = cluster::observed(&self.scene.edge.cp);
        self.note(s.t, format!("held on the Jetson by the back-off: {observed}"));
        Ok(())
    }

    /// Fails when the trial after a return did not keep the workload on the Pi.
    fn expect_local(&self, step: &str, s: &Sample) -> Result<()> {
        if s.phase == "Local" && s.failed_trials == 0 {
            return Ok(());
        }
        let why = cluster::last_transition(&self.scene.edge.cp);
        Err(Error::Scene(format!("{step}: the trial return failed at {:.1}s ({why}); last sample {s:?}", s.t)))
    }

    /// What the switches left behind in the member cluster.
    fn record_rollout(&mut self) {
        let cp = &self.scene.edge.cp;
        self.report.pod_at_end = cluster::detector_pods(cp);
        self.report.replica_sets = cluster::replica_sets(cp);
        (self.report.transitions, self.report.reasons) = cluster::transitions(cp);
        (self.report.revision, self.report.member_env) = cluster::rollout(cp);
    }

    /// The host plane's etcd restarts on a slow disk under load; EtcdHealth names it.
    fn slow_disk(&mut self) -> Result<()> {
        let t = self.t0.elapsed().as_secs_f64();
        self.note(t, "restarting the host plane's etcd on a slow disk (every fsync +150ms)".into());
        self.scene.host.restart_etcd(Some(Duration::from_millis(150)))?;
        self.scene.etcd_load = Some(Load::start(&self.scene.host.etcd_url, Duration::from_millis(20)));
        let slow_from = Instant::now();
        let s = self.until("SlowDisk", Duration::from_secs(120), |scene, _| cluster::slow_disk(&scene.edge.cp))?;
        self.report.slow_disk_after = Some(slow_from.elapsed().as_secs_f64());
        self.report.slow_disk_message = cluster::slow_disk_message(&self.scene.edge.cp);
        self.report.operator_restarts = self.scene.operator.restarts;
        self.note(s.t, format!("SLOW DISK: {}", self.report.slow_disk_message));
        Ok(())
    }

    fn note(&mut self, t: f64, text: String) {
        self.n.say(&text);
        self.report.events.push((t, text));
    }

    /// What the detector shows now, and the policy's status; restarts the operator if it exited.
    fn sample(&mut self) -> Sample {
        let t = self.t0.elapsed().as_secs_f64();
        if let Some(why) = self.scene.operator.keep_running() {
            eprintln!("\r\x1b[K[{t:6.1}s] {why}");
        }
        let f = self.scene.detector.figures();
        let v = cluster::view(&self.scene.edge.cp);
        Sample {
            t,
            fps: f.fps,
            latency: f.latency,
            pi_load: f.pi_load.unwrap_or(0.0),
            agent: f.agent.unwrap_or_default(),
            phase: v.phase,
            target: v.target,
            in_trial: v.in_trial,
            failed_trials: v.failed_trials,
        }
    }

    /// Samples once per second until `done` holds for the latest sample (returned), or fails
    /// after `limit` with what the cluster and the operator's log show.
    fn until(&mut self, step: &str, limit: Duration, done: impl Fn(&EdgeScene, &Sample) -> bool) -> Result<Sample> {
        let started = Instant::now();
        loop {
            let s = self.sample();
            self.n.status(&s);
            let hit = done(self.scene, &s);
            self.report.samples.push(s.clone());
            if hit {
                return Ok(s);
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
