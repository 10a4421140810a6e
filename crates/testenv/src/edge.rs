//! An edge member cluster on loopback: a control plane plus the real kube-controller-manager
//! (Deployments roll out through ReplicaSets), kube-scheduler (pods are bound to nodes) and KWOK
//! (simulated kubelets: nodes become Ready and heartbeat, pods Running and Ready, deleted pods go
//! away), with
//! two fake nodes labelled like the testbed: a Raspberry Pi and a Jetson AGX Orin.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::controlplane::free_ports;
use crate::error::{Error, Result};
use crate::gobuild::{self, EdgeBinaries};
use crate::guard::Guarded;
use crate::{ControlPlane, versions};

/// Node names of the testbed.
pub const PI_NODE: &str = "raspberrypi";
pub const JETSON_NODE: &str = "jetson-agx-orin";

const NODES: &str = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata:
    name: raspberrypi
    annotations: {kwok.x-k8s.io/node: fake}
    labels:
      kubernetes.io/hostname: raspberrypi
      kubernetes.io/arch: arm64
      kubernetes.io/os: linux
      type: kwok
      continuum.dev/device: raspberry-pi-4
- apiVersion: v1
  kind: Node
  metadata:
    name: jetson-agx-orin
    annotations: {kwok.x-k8s.io/node: fake}
    labels:
      kubernetes.io/hostname: jetson-agx-orin
      kubernetes.io/arch: arm64
      kubernetes.io/os: linux
      type: kwok
      continuum.dev/device: jetson-agx-orin
      nvidia.com/gpu.present: 'true'
";

/// A member cluster; its processes stop when it is dropped (or its owner dies).
#[derive(Debug)]
pub struct EdgeCluster {
    pub cp: ControlPlane,
    pub binaries: EdgeBinaries,
    controller_manager: Guarded,
    scheduler: Guarded,
    kwok: Guarded,
}

impl EdgeCluster {
    /// Builds (first run) and starts everything, registers the two nodes and waits until KWOK
    /// reports them Ready.
    pub fn start() -> Result<Self> {
        let binaries = gobuild::edge()?;
        let cp = ControlPlane::start()?;
        let [kcm_port, scheduler_port, kwok_port] = free_ports()?;
        let controller_manager = spawn_controller_manager(&cp, &binaries, kcm_port)?;
        let scheduler = spawn_scheduler(&cp, &binaries, scheduler_port)?;
        let kwok = spawn_kwok(&cp, &binaries, kwok_port)?;
        let edge = Self { cp, binaries, controller_manager, scheduler, kwok };
        edge.apply(NODES)?;
        edge.wait_nodes_ready(Duration::from_secs(60))?;
        Ok(edge)
    }

    /// `kubectl apply --server-side -f -` of `yaml`.
    pub fn apply(&self, yaml: &str) -> Result<()> {
        let path = self.cp.dir.join(format!("apply-{}.yaml", yaml.len()));
        std::fs::write(&path, yaml).map_err(crate::error::io("writing a manifest"))?;
        let out = self.cp.kubectl_output(&["apply", "--server-side", "-f", &path.display().to_string()])?;
        if !out.status.success() {
            return Err(Error::Command {
                command: "kubectl apply".into(),
                status: out.status.to_string(),
                log: path,
                tail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(())
    }

    fn wait_nodes_ready(&self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        let path = r#"{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}"#;
        loop {
            let out = self.cp.kubectl_output(&["get", "nodes", "-o", &format!("jsonpath={path}")])?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if text.contains(&format!("{PI_NODE}=True")) && text.contains(&format!("{JETSON_NODE}=True")) {
                return Ok(());
            }
            for (name, proc) in [("kwok", &self.kwok), ("kube-scheduler", &self.scheduler)] {
                if !proc.is_running() {
                    return Err(self.not_ready(name, started));
                }
            }
            if started.elapsed() > limit {
                return Err(self.not_ready("kwok", started));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn not_ready(&self, component: &'static str, started: Instant) -> Error {
        let log = self.cp.dir.join(format!("{component}.log"));
        Error::NotReady { component, seconds: started.elapsed().as_secs(), tail: crate::error::tail(&log, 30), log }
    }

    /// Where the kube-controller-manager, kube-scheduler and KWOK logs are.
    pub fn log_dir(&self) -> &Path {
        &self.cp.dir
    }

    /// Versions of the edge components, for reports.
    pub fn versions() -> String {
        format!(
            "Kubernetes {} (kube-controller-manager, kube-scheduler), KWOK {}",
            versions::kubernetes(),
            versions::kwok()
        )
    }

    /// Whether the controller manager is still running (its log says why not).
    pub fn healthy(&self) -> bool {
        self.controller_manager.is_running() && self.scheduler.is_running() && self.kwok.is_running()
    }
}

fn log(cp: &ControlPlane, name: &str) -> PathBuf {
    cp.dir.join(format!("{name}.log"))
}

fn spawn_controller_manager(cp: &ControlPlane, binaries: &EdgeBinaries, port: u16) -> Result<Guarded> {
    let args = [
        format!("--kubeconfig={}", cp.kubeconfig.display()),
        "--leader-elect=false".into(),
        // node-lifecycle lifts the not-ready taint the API server puts on new nodes once KWOK
        // reports them Ready (and heartbeats keep them so).
        "--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,serviceaccount-controller,node-lifecycle-controller".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        "--concurrent-deployment-syncs=2".into(),
    ];
    let name = "kube-controller-manager";
    Guarded::spawn(name, &binaries.kube_controller_manager, &args, &log(cp, name))
}

fn spawn_scheduler(cp: &ControlPlane, binaries: &EdgeBinaries, port: u16) -> Result<Guarded> {
    let args = [
        format!("--kubeconfig={}", cp.kubeconfig.display()),
        "--leader-elect=false".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
    ];
    Guarded::spawn("kube-scheduler", &binaries.kube_scheduler, &args, &log(cp, "kube-scheduler"))
}

/// KWOK with its own stages, read from its Go module: nodes become Ready, pods Running and
/// Ready, deleted pods go away.
fn spawn_kwok(cp: &ControlPlane, binaries: &EdgeBinaries, port: u16) -> Result<Guarded> {
    let kwok_src = gobuild::module_dir("sigs.k8s.io/kwok", &versions::kwok())?;
    let stages = [
        "node/fast/node-initialize.yaml",
        "node/heartbeat/node-heartbeat.yaml",
        "pod/fast/pod-ready.yaml",
        "pod/fast/pod-delete.yaml",
    ];
    let mut args: Vec<String> =
        stages.iter().map(|s| format!("--config={}", kwok_src.join("kustomize/stage").join(s).display())).collect();
    args.extend([
        format!("--kubeconfig={}", cp.kubeconfig.display()),
        "--manage-all-nodes=false".into(),
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
        "--node-ip=10.20.0.1".into(),
        "--cidr=10.30.0.0/16".into(),
        format!("--server-address=127.0.0.1:{port}"),
    ]);
    Guarded::spawn("kwok", &binaries.kwok, &args, &log(cp, "kwok"))
}
