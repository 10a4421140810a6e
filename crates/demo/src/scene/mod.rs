//! The edge scene, for the demo (narrated) and the end-to-end test (headless): the Pi falls
//! behind, the operator moves inference to the Jetson, detection snaps back to real time. Then,
//! by [`Scenario`]: the Pi's load drops and the policy, judging the Pi by its own load signal,
//! brings inference back and the trial holds; the host plane's etcd gets a slow disk and
//! EtcdHealth names it (`Recover`). Or the Pi stays overloaded and a policy that judges the
//! return by the frame rate measured on the Jetson tries to come back, fails its trials, backs
//! off and keeps the workload on the Jetson (`Sustained`). Every step waits with a deadline and
//! fails with what it saw.
//!
//! [`run`] starts everything into an [`EdgeScene`] and plays it, returning a [`Report`].

mod chart;
mod cluster;
mod error;
mod manifests;
mod narrate;
mod operator;
mod play;
mod stats;
mod svg;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use continuum_testenv::edge::{EdgeCluster, JETSON_NODE, PI_NODE};
use continuum_testenv::{ControlPlane, Load, Prometheus, gobuild};

use crate::detector::{Detector, EndpointSource, ProfileAgent, Ramp};
pub use error::{Error, Result};
use narrate::Narrator;
pub use narrate::figures;
use operator::OperatorProcess;
pub use stats::time_on;
pub use svg::{default_svg, svg};

/// How to run the scene.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `continuum-operator` binary.
    pub operator: PathBuf,
    /// The repository (for `deploy/crds` and the Helm chart).
    pub repo: PathBuf,
    /// Print progress, a live status line and the timeline.
    pub narrate: bool,
    /// Where to write the SVG timeline.
    pub svg: Option<PathBuf>,
    /// How the operator switches the backend.
    pub actuation: Actuation,
    /// Which story the scene tells after the offload.
    pub scenario: Scenario,
}

/// What happens on the Pi after the offload, and how the policy judges the return.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scenario {
    /// The load drops ([`RAMP`]); the policy returns when the Pi's own load (`pi_load`) is low
    /// again, the trial after the return holds; then the slow disk under the host plane's etcd.
    #[default]
    Recover,
    /// The load stays high ([`SUSTAINED_RAMP`]); the policy has no Pi-side recovery signal (its
    /// recoverWhen mirrors the fps and latency rules, which describe the Jetson while offloaded),
    /// so every return is a trial that fails (ReturnFailed), the hold before the next one doubles
    /// and the workload stays on the Jetson most of the time.
    Sustained,
}

impl Scenario {
    /// The load ramp of the Pi in this scenario.
    pub fn ramp(self) -> &'static str {
        match self {
            Self::Recover => RAMP,
            Self::Sustained => SUSTAINED_RAMP,
        }
    }
}

/// The two ways the scene can switch the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Actuation {
    /// Set `VACCEL_RPC_ADDRESS` in the Deployment: a rollout (new pod) per switch.
    #[default]
    Env,
    /// The detector talks to the Service `vaccel-backend`; the operator switches its selector
    /// between the agents' pods: no new pod.
    Service,
}

/// One sample of the scene, once per second.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub t: f64,
    pub fps: f64,
    pub latency: f64,
    /// The Pi-side load the detector exports (`pi_load`), whichever agent runs inference.
    pub pi_load: f64,
    /// The agent the detector talks to (`raspberrypi`, `jetson-agx-orin`; empty: none answers).
    pub agent: String,
    /// The policy's `status.phase` (`Local`, `Offloaded`, ...; empty before the first status).
    pub phase: String,
    /// The policy's `status.activeTarget` (the backend's name).
    pub target: String,
    /// A trial return is running.
    pub in_trial: bool,
    /// Failed trial returns in a row (`status.trial.failed`).
    pub failed_trials: i32,
}

/// What happened, with times in seconds since the workload started.
#[derive(Debug, Default)]
pub struct Report {
    pub scenario: Scenario,
    pub continuum_start: f64,
    pub samples: Vec<Sample>,
    pub events: Vec<(f64, String)>,
    pub offloaded_at: Option<f64>,
    pub realtime_at: Option<f64>,
    pub recovered_at: Option<f64>,
    /// When the trial after the return to the Pi held (Recover).
    pub trial_held_at: Option<f64>,
    /// When each trial return failed and the workload went back to the Jetson (Sustained).
    pub failed_trials_at: Vec<f64>,
    /// The hold before the next return after each failed trial, as status showed it (`15s`,
    /// `30s`, ...).
    pub holds: Vec<String>,
    pub slow_disk_after: Option<f64>,
    pub slow_disk_message: String,
    pub replica_sets: usize,
    /// The Deployment's rollout revision (the Deployment controller counts each switch).
    pub revision: String,
    /// The policy's `status.recentTransitions[*].to` (backend names), space-separated.
    pub transitions: String,
    /// The policy's `status.recentTransitions[*].reason`, space-separated.
    pub reasons: String,
    /// Seconds the detector spent on each agent, in order of first use.
    pub time_on: Vec<(String, f64)>,
    /// UIDs of the detector's pods when it first ran and at the end (equal: no pod restarted).
    pub pod_at_start: String,
    pub pod_at_end: String,
    pub member_env: String,
    /// Times the operator exited and was started again (it exits when it cannot renew its Lease).
    pub operator_restarts: u32,
}

/// The running scene; its servers and simulations stop when it is dropped (kept alive for
/// `--keep`).
#[derive(Debug)]
pub struct EdgeScene {
    /// The host plane (standing in for Karmada's): the operator's Lease and the slow etcd.
    pub host: ControlPlane,
    /// The member cluster with the Pi and Jetson nodes.
    pub edge: EdgeCluster,
    pub prometheus: Prometheus,
    /// The simulated detector the policy watches through Prometheus.
    pub detector: Detector,
    /// The Pi's and the Jetson's simulated vAccel agents.
    pub pi: ProfileAgent,
    pub jetson: ProfileAgent,
    /// The writes that keep the host plane's etcd busy once its disk is slow.
    pub etcd_load: Option<Load>,
    operator: OperatorProcess,
}

impl EdgeScene {
    /// The scene's OffloadPolicy as the edge cluster has it now.
    pub fn policy(&self) -> Option<continuum_api::OffloadPolicy> {
        cluster::policy(&self.edge.cp)
    }

    /// The selector of the Service `vaccel-backend` (service mode).
    pub fn backend_selector(&self) -> std::collections::BTreeMap<String, String> {
        cluster::backend_selector(&self.edge.cp)
    }
}

/// Namespace of the scene's objects on the edge cluster.
pub const NS: &str = "vision";
/// Load on the Pi over time (seconds since the detector started : load factor): high from 16s,
/// down again from 38s (Recover).
pub const RAMP: &str = "0:1,8:1,16:4,38:4,42:1";
/// The same rise, but the load stays at 4 for good: a ramp holds its last point (Sustained).
pub const SUSTAINED_RAMP: &str = "0:1,8:1,16:4";

/// Starts everything and plays the scene; the servers keep running in the returned value.
pub fn run(opts: &Options) -> Result<(Report, EdgeScene)> {
    let n = Narrator::new(opts.narrate);
    n.say("building or reusing etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (first run: ~10 min on 2 cores)");
    gobuild::ensure()?;
    gobuild::edge()?;
    let started = Instant::now();
    n.say("starting the host plane (etcd + kube-apiserver standing in for Karmada's) and the edge cluster");
    let host = ControlPlane::start()?;
    let edge = EdgeCluster::start()?;
    let continuum_start = started.elapsed().as_secs_f64();
    n.say(&format!("continuum up in {continuum_start:.1}s: nodes {PI_NODE} and {JETSON_NODE} Ready (KWOK)"));
    edge.cp.apply_crds(&opts.repo.join("deploy/crds"))?;
    cluster::kubectl(&host, &["create", "namespace", "continuum-system"]);

    let io = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Io { what, source }
    };
    let pi = ProfileAgent::start(PI_NODE, 0.075, 0).map_err(io("starting the Pi's agent"))?;
    let jetson = ProfileAgent::start(JETSON_NODE, 0.025, 0).map_err(io("starting the Jetson's agent"))?;
    let source = endpoint_source(&edge, opts.actuation, &pi, &jetson);
    let ramp = Ramp::parse(opts.scenario.ramp()).map_err(Error::Ramp)?;
    let detector = Detector::start(source, ramp, 0).map_err(io("starting the detector"))?;
    let prometheus = Prometheus::start(&[&format!("127.0.0.1:{}/metrics", detector.port)], Duration::from_secs(1))?;
    let operator = operator::start(opts, &n, &host, &edge, &prometheus)?;
    let objects = manifests::scene(
        &manifests::Endpoints {
            pi: &pi.endpoint(),
            jetson: &jetson.endpoint(),
            prometheus: &prometheus.url,
            etcd_metrics: &host.etcd_metrics_url,
        },
        opts.actuation,
        opts.scenario,
    );
    edge.apply(&objects)?;
    n.say("applied the detector Deployment (on the Pi node), an OffloadPolicy and an EtcdHealth");
    let mut scene = EdgeScene { host, edge, prometheus, detector, pi, jetson, etcd_load: None, operator };
    let report = play::play(&n, &mut scene, continuum_start, opts)?;
    if let Some(path) = &opts.svg {
        std::fs::write(path, svg(&report)).map_err(io("writing the SVG timeline"))?;
        n.say(&format!("timeline written to {}", path.display()));
    }
    Ok((report, scene))
}

/// Where the detector learns its agent's address: from its newest Ready pod (env mode), or
/// from the Service's selector, routed as kube-proxy would (service mode).
fn endpoint_source(
    edge: &EdgeCluster,
    actuation: Actuation,
    pi: &ProfileAgent,
    jetson: &ProfileAgent,
) -> EndpointSource {
    let (kubectl, kubeconfig) = (edge.cp.binaries.kubectl.clone(), edge.cp.kubeconfig.clone());
    match actuation {
        Actuation::Env => EndpointSource::Pods {
            kubectl,
            kubeconfig,
            namespace: NS.into(),
            app: "detector".into(),
            var: "VACCEL_RPC_ADDRESS".into(),
        },
        Actuation::Service => EndpointSource::Service {
            kubectl,
            kubeconfig,
            namespace: NS.into(),
            service: "vaccel-backend".into(),
            label: "node".into(),
            routes: vec![(PI_NODE.into(), pi.endpoint()), (JETSON_NODE.into(), jetson.endpoint())],
        },
    }
}
