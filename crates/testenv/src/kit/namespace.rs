//! A namespace per test, deleted when the test ends (also when it panics).

use std::sync::atomic::{AtomicU32, Ordering};

use k8s_openapi::api::core::v1::Namespace;

use super::cluster::Cluster;
use super::error::Result;

/// A namespace with a unique name; dropping it deletes it (without waiting for its contents).
#[derive(Debug)]
pub struct TempNamespace {
    cluster: Cluster,
    name: String,
}

impl TempNamespace {
    pub(crate) fn create(cluster: Cluster, prefix: &str) -> Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{}-{n}", std::process::id());
        let mut ns = Namespace::default();
        ns.metadata.name = Some(name.clone());
        cluster.cluster::<Namespace>().create(&ns)?;
        Ok(Self { cluster, name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds labels to the namespace (Pod Security levels, say).
    pub fn label(&self, labels: &[(&str, &str)]) -> Result<()> {
        let labels: serde_json::Map<String, serde_json::Value> =
            labels.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
        let patch = serde_json::json!({"metadata": {"labels": labels}});
        self.cluster.cluster::<Namespace>().merge(&self.name, &patch).map(drop)
    }
}

impl std::ops::Deref for TempNamespace {
    type Target = str;

    fn deref(&self) -> &str {
        &self.name
    }
}

impl Drop for TempNamespace {
    fn drop(&mut self) {
        if let Err(e) = self.cluster.cluster::<Namespace>().delete(&self.name) {
            eprintln!("deleting namespace {}: {e}", self.name);
        }
    }
}
