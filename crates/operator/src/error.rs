//! Errors of the operator binary.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot render the CRDs as YAML: {0}")]
    Render(#[from] serde_yaml::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0} is stale: regenerate it with `cargo run -p continuum-operator -- crd --write deploy/crds --write charts/continuum-operator/crds`"
    )]
    StaleCrd(PathBuf),
    #[error("cannot load the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("{0}")]
    Setup(String),
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("CRD {name} is not established after {seconds}s: {detail}")]
    CrdNotEstablished { name: String, seconds: u64, detail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
