//! Errors of the operator's commands (`run`, `install-crds`, `crd`).

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
    #[error("--allowed-url: {0}")]
    AllowList(#[from] crate::allow::UrlError),
    #[error(transparent)]
    LeaderSettings(#[from] crate::leader::SettingsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}; exiting so that a fresh start can rejoin the election")]
    Stopped(Stop),
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("CRD {name} is not established after {seconds}s: {detail}")]
    CrdNotEstablished { name: String, seconds: u64, detail: String },
}

/// Why the controllers stopped while leading.
#[derive(Debug, thiserror::Error)]
pub enum Stop {
    #[error("lost leadership: {0}")]
    LostLease(#[from] crate::leader::Lost),
    #[error("the {0} controller stopped unexpectedly")]
    ControllerEnded(&'static str),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
