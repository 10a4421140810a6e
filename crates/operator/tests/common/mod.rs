//! Shared by the operator's integration tests.
#![allow(dead_code)]

use std::process::{Child, Command};

use continuum_testenv::ControlPlane;

pub const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

/// The operator process; killed when the test ends, also on panic.
pub struct Operator(pub Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `continuum-operator run` against `cp`, logging to `<cp.dir>/operator.log`.
pub fn start_operator(cp: &ControlPlane, metrics_addr: &str) -> Operator {
    let log = std::fs::File::create(cp.dir.join("operator.log")).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(OPERATOR)
        .args(["run", "--metrics-addr", metrics_addr, "--kubeconfig"])
        .arg(&cp.kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting the operator: {e}"));
    Operator(child)
}
