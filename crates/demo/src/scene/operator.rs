//! The operator process of the scene, started with the chart's command line and restarted when
//! it exits, as a Deployment's pod would be (it exits by design when it cannot renew its Lease,
//! e.g. while the host plane's etcd restarts).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use continuum_testenv::edge::EdgeCluster;
use continuum_testenv::{ControlPlane, Prometheus};

use super::narrate::Narrator;
use super::{Error, Options, Result, chart};

#[derive(Debug)]
pub(super) struct OperatorProcess {
    command: Vec<OsString>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Child,
    pub(super) restarts: u32,
}

/// Starts the operator on the edge cluster (its control plane) with the host plane for its
/// Lease, allowed to read the scene's Prometheus and the host plane's etcd metrics.
pub(super) fn start(
    opts: &Options,
    n: &Narrator,
    host: &ControlPlane,
    edge: &EdgeCluster,
    prometheus: &Prometheus,
) -> Result<OperatorProcess> {
    let allowed = [format!("{}/*", prometheus.url), host.etcd_metrics_url.clone()];
    let chart = chart::command(&opts.repo, &edge.cp.dir, &allowed)?;
    n.say(&format!("the operator runs with the arguments the Helm chart renders: {}", chart.args.join(" ")));
    let mut command: Vec<OsString> = vec![opts.operator.clone().into()];
    command.extend(chart.args.iter().map(Into::into));
    // What the pod gets from its environment and mounts, given here as flags.
    for (flag, value) in [
        ("--identity", "continuum-operator-0".as_ref()),
        ("--kubeconfig", edge.cp.kubeconfig.as_os_str()),
        ("--host-kubeconfig", host.kubeconfig.as_os_str()),
    ] {
        command.push(flag.into());
        command.push(value.to_os_string());
    }
    OperatorProcess::spawn(command, chart.env, edge.cp.dir.join("operator.log"))
}

impl OperatorProcess {
    fn spawn(command: Vec<OsString>, env: Vec<(String, String)>, log: PathBuf) -> Result<Self> {
        let child = Self::launch(&command, &env, &log)?;
        Ok(Self { command, env, log, child, restarts: 0 })
    }

    fn launch(command: &[OsString], env: &[(String, String)], log: &Path) -> Result<Child> {
        let (program, args) = command.split_first().ok_or_else(|| Error::Operator("empty command".into()))?;
        let io = |what: String| move |source| Error::Io { what, source };
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io(format!("opening {}", log.display())))?;
        Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(io(format!("starting {}", program.to_string_lossy())))
    }

    /// Restarts the operator if it exited; returns why.
    pub(super) fn keep_running(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        self.restarts += 1;
        match Self::launch(&self.command, &self.env, &self.log) {
            Ok(child) => self.child = child,
            Err(e) => return Some(format!("the operator exited ({status}) and could not be restarted: {e}")),
        }
        Some(format!("the operator exited ({status}; see its log) and was restarted, as its pod would be"))
    }

    /// Where its stderr goes.
    pub(super) fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
