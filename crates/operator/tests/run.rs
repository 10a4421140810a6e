//! `continuum-operator run` against a real kube-apiserver.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use continuum_testenv::ControlPlane;

const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

fn start_operator(cp: &ControlPlane, extra: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(OPERATOR)
        .args(["run", "--metrics-addr", "127.0.0.1:0", "--kubeconfig"])
        .arg(&cp.kubeconfig)
        .args(extra)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the operator: {e}"));
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Collects log lines until one contains `needle` (returns true) or `limit` passes.
fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str, limit: Duration, seen: &mut Vec<String>) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn run_fails_clearly_when_the_crds_are_missing_then_starts_once_they_are_established() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));

    let (mut child, rx) = start_operator(&cp, &["--crd-wait-seconds", "2"]);
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    let log: Vec<String> = rx.try_iter().collect();
    assert!(!status.success(), "operator ran without CRDs: {log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("offloadpolicies.continuum.dev is not established") && l.contains("apply deploy/crds")),
        "no clear error in {log:?}"
    );

    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    cp.apply_crds(&crds).unwrap_or_else(|e| panic!("{e}"));
    let (mut child, rx) = start_operator(&cp, &[]);
    let mut seen = Vec::new();
    let version = continuum_testenv::versions::kubernetes();
    assert!(wait_for_line(&rx, &version, Duration::from_secs(30), &mut seen), "no server version logged: {seen:?}");
    assert!(wait_for_line(&rx, "leading", Duration::from_secs(30), &mut seen), "operator not leading: {seen:?}");
    assert!(seen.iter().any(|l| l.contains("etcdhealths.continuum.dev") && l.contains("established")), "{seen:?}");

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap_or_else(|e| panic!("{e}"));
    assert!(killed.success());
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "operator did not shut down cleanly on SIGTERM: {status}");
    assert!(wait_for_line(&rx, "shutting down", Duration::from_secs(5), &mut seen), "{seen:?}");
}

#[test]
fn install_crds_registers_and_waits_for_established_and_is_idempotent() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    for round in 0..2 {
        let out = Command::new(OPERATOR)
            .args(["install-crds", "--wait-seconds", "30", "--kubeconfig"])
            .arg(&cp.kubeconfig)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "round {round}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        for crd in ["offloadpolicies.continuum.dev established", "etcdhealths.continuum.dev established"] {
            assert!(stdout.contains(crd), "round {round}: {stdout}");
        }
    }
    let out = cp
        .kubectl_output(&[
            "get",
            "crd",
            "offloadpolicies.continuum.dev",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("continuum-operator"));
    let version = Command::new(OPERATOR).arg("version").output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        String::from_utf8_lossy(&version.stdout)
            .starts_with(&format!("continuum-operator {}", env!("CARGO_PKG_VERSION")))
    );
}
