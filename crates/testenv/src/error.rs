//! Errors of the test environment.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot find a cache directory: set CONTINUUM_CACHE_DIR or HOME")]
    NoCacheDir,
    #[error("{what} failed: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}); last lines of {log}:\n{tail}")]
    Command { command: String, status: String, log: PathBuf, tail: String },
    #[error("`go mod download` printed no go.mod path for {0}")]
    NoGoMod(String),
    #[error("{component} did not become ready within {seconds}s; last lines of {log}:\n{tail}")]
    NotReady { component: &'static str, seconds: u64, log: PathBuf, tail: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with what was being done.
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Last `n` lines of a log file, for error messages.
pub(crate) fn tail(path: &std::path::Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
