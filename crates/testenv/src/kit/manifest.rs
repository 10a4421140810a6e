//! Manifests are YAML files, loaded into typed objects; a test sets its few values on the typed
//! object, never by editing text.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result, io_err};

/// A typed object from YAML text.
pub fn from_str<T: DeserializeOwned>(yaml: &str) -> Result<T> {
    serde_yaml::from_str(yaml).map_err(|source| Error::Yaml { what: "parsing a manifest".into(), source })
}

/// A typed object from the YAML file at `path` (one document).
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io_err(format!("reading {}", path.display())))?;
    serde_yaml::from_str(&text).map_err(|source| Error::Yaml { what: format!("parsing {}", path.display()), source })
}

/// Every document of the YAML file at `path`, typed.
pub fn load_all<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(io_err(format!("reading {}", path.display())))?;
    let yaml = |source| Error::Yaml { what: format!("parsing {}", path.display()), source };
    let mut objects = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        // A document of comments only (before the first `---`, say) is no object.
        let value = serde_yaml::Value::deserialize(doc).map_err(yaml)?;
        if !value.is_null() {
            objects.push(serde_yaml::from_value(value).map_err(yaml)?);
        }
    }
    Ok(objects)
}

/// YAML text of an object (for files handed to tools such as helm or promtool).
pub fn to_yaml<T: Serialize>(obj: &T) -> Result<String> {
    serde_yaml::to_string(obj).map_err(|source| Error::Yaml { what: "writing YAML".into(), source })
}

/// A directory of fixture files.
#[derive(Debug, Clone)]
pub struct Fixtures(pub PathBuf);

impl Fixtures {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// The typed object in `file`.
    pub fn load<T: DeserializeOwned>(&self, file: &str) -> Result<T> {
        load(&self.path(file))
    }
}
