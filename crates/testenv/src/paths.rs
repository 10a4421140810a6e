//! Where built binaries are cached.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// `$CONTINUUM_CACHE_DIR`, else `$XDG_CACHE_HOME/continuum-operator`, else `~/.cache/continuum-operator`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CONTINUUM_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("continuum-operator"));
    }
    let home = std::env::var_os("HOME").ok_or(Error::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache").join("continuum-operator"))
}
