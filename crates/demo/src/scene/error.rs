//! Why the scene failed.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Env(#[from] continuum_testenv::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the load ramp: {0}")]
    Ramp(String),
    #[error("the Helm chart: {0}")]
    Chart(String),
    #[error("the operator: {0}")]
    Operator(String),
    /// The scene went a way it must not, for example a trial that should hold failed.
    #[error("the scene: {0}")]
    Scene(String),
    /// A step of the scene did not happen in time; `seen` is what the cluster showed.
    #[error("{step}: not seen within {limit:?}; last sample {last}\n{seen}")]
    Deadline { step: String, limit: Duration, last: String, seen: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
