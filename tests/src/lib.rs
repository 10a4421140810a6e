//! Helpers shared by the end-to-end tests: the shared control plane, namespaces, kubectl.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use continuum_testenv::ControlPlane;

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The control plane of this test binary, with the generated CRDs applied and Established.
pub fn control_plane() -> &'static ControlPlane {
    static CRDS: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let cp = continuum_testenv::shared().unwrap_or_else(|e| panic!("control plane did not start: {e}"));
    let applied = CRDS.get_or_init(|| cp.apply_crds(&repo_root().join("deploy/crds")).map_err(|e| e.to_string()));
    if let Err(e) = applied {
        panic!("applying the CRDs failed: {e}");
    }
    cp
}

/// A fresh namespace for one test.
pub fn namespace(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}-{}-{n}", std::process::id());
    let out = kubectl(&["create", "namespace", &name]);
    assert!(out.status.success(), "creating namespace {name}: {}", stderr(&out));
    name
}

/// Runs kubectl against the shared control plane.
pub fn kubectl(args: &[&str]) -> Output {
    control_plane().kubectl_output(args).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs kubectl with `input` on stdin.
pub fn kubectl_stdin(args: &[&str], input: &str) -> Output {
    let mut child = control_plane()
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting kubectl: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).unwrap_or_else(|e| panic!("writing to kubectl: {e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("waiting for kubectl: {e}"))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
