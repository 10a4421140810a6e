//! Helpers shared by the end-to-end tests, on the test kit (`continuum_testenv::kit`): the shared
//! control plane with the CRDs, its typed client, a namespace per test, kubectl for what a user
//! sees through it, and the fixtures under `tests/fixtures/`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use continuum_testenv::ControlPlane;
use continuum_testenv::kit::manifest::Fixtures;
use continuum_testenv::kit::{Cluster, Kubectl, TempNamespace};

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The YAML manifests of these tests.
pub fn fixtures() -> Fixtures {
    Fixtures::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
}

/// The control plane of this test binary, with the generated CRDs applied and Established.
pub fn control_plane() -> &'static ControlPlane {
    static CRDS: OnceLock<Result<(), String>> = OnceLock::new();
    let cp = continuum_testenv::shared().unwrap_or_else(|e| panic!("control plane did not start: {e}"));
    let applied = CRDS.get_or_init(|| cp.apply_crds(&repo_root().join("deploy/crds")).map_err(|e| e.to_string()));
    if let Err(e) = applied {
        panic!("applying the CRDs failed: {e}");
    }
    cp
}

/// The typed client of the shared control plane.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| Cluster::connect(control_plane()).map_err(|e| e.to_string()));
    cluster.as_ref().unwrap_or_else(|e| panic!("no client for the control plane: {e}"))
}

/// kubectl on the shared control plane.
pub fn kubectl() -> Kubectl<'static> {
    Kubectl(control_plane())
}

/// A fresh namespace for one test, deleted when it drops.
pub fn namespace(prefix: &str) -> TempNamespace {
    cluster().temp_namespace(prefix).unwrap_or_else(|e| panic!("creating a namespace: {e}"))
}
