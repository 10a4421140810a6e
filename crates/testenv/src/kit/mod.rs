//! One test kit for every test: a typed client on a [`ControlPlane`](crate::ControlPlane),
//! waits with deadlines, temporary namespaces, the operator process and manifests from YAML files.
//!
//! The tests are synchronous; the kit owns one tokio runtime per process and offers a blocking
//! API over `kube` (create / get / server-side apply / delete, and waits built on
//! `kube::runtime::wait::await_condition`). kubectl is kept only for what a user sees through it
//! ([`Kubectl`]): printer columns, `auth can-i`, `explain`, admission messages.
//!
//! ```no_run
//! use continuum_testenv::kit::{self, Cluster};
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! let cp = continuum_testenv::ControlPlane::start()?;
//! let cluster = Cluster::connect(&cp)?;
//! let ns = cluster.temp_namespace("example")?;
//! let mut map: ConfigMap = kit::manifest::from_str("{apiVersion: v1, kind: ConfigMap, metadata: {name: m}}")?;
//! map.data = Some([("k".to_owned(), "v".to_owned())].into());
//! cluster.namespaced::<ConfigMap>(ns.name()).apply(&map, "example")?;
//! # Ok::<(), kit::Error>(())
//! ```

mod cluster;
mod error;
mod kubeconfig;
mod kubectl;
pub mod manifest;
mod namespace;
mod objects;
pub mod operator;
pub mod wait;

pub use cluster::{Cluster, block_on};
pub use error::{Error, Result};
pub use kubeconfig::write_token_kubeconfig;
pub use kubectl::{Kubectl, Ran};
pub use namespace::TempNamespace;
pub use objects::{Objects, as_written};
pub use operator::{Launch, Operator};
