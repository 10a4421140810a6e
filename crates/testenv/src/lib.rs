//! A real control plane for tests (and the demo in `continuum-demo`): etcd and kube-apiserver built from Go modules
//! (cached per version), started on loopback with generated certificates.
//!
//! ```no_run
//! let cp = continuum_testenv::ControlPlane::start()?;
//! cp.apply_crds(std::path::Path::new("deploy/crds"))?;
//! # Ok::<(), continuum_testenv::Error>(())
//! ```

pub mod audit;
pub mod certs;
mod controlplane;
pub mod edge;
mod error;
pub mod etcd;
pub mod gobuild;
pub mod guard;
pub mod kit;
pub mod paths;
pub mod prometheus;
pub mod sim;
pub mod versions;

use std::sync::OnceLock;

pub use controlplane::ControlPlane;
pub use error::{Error, Result};
pub use etcd::{Etcd, EtcdOptions, Load};
pub use prometheus::Prometheus;

/// Directory of the minimal Karmada CRDs (ResourceBinding) used by tests.
pub fn karmada_crds() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("karmada")
}

/// One control plane per process, started on first use and shared by every test in a test
/// binary (each test works in its own namespace). Its servers stop and its directory is removed
/// when the process exits, however it exits.
pub fn shared() -> std::result::Result<&'static ControlPlane, String> {
    static SHARED: OnceLock<std::result::Result<ControlPlane, String>> = OnceLock::new();
    SHARED.get_or_init(|| ControlPlane::start().map_err(|e| e.to_string())).as_ref().map_err(Clone::clone)
}
