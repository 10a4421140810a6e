//! A kube client on a control plane, driven by one tokio runtime per process.

use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};

use super::error::{Error, Result, kube_err};
use super::namespace::TempNamespace;
use super::objects::Objects;
use crate::ControlPlane;

/// Runs `fut` to completion on the kit's runtime (two worker threads, started on first use and
/// kept for the life of the process, so clients made on it stay usable from any test thread).
/// Call it from synchronous code only: inside a tokio runtime it panics.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kit")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the test kit's tokio runtime: {e}"))
    });
    rt.block_on(fut)
}

/// A typed client on one API server.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("default_namespace", &self.client.default_namespace()).finish()
    }
}

impl Cluster {
    /// A client with the control plane's cluster-admin credentials.
    pub fn connect(cp: &ControlPlane) -> Result<Self> {
        Self::from_kubeconfig(&cp.kubeconfig)
    }

    /// A client for the current context of the kubeconfig at `path`.
    pub fn from_kubeconfig(path: &Path) -> Result<Self> {
        let what = format!("reading {}", path.display());
        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Failed(format!("{what}: {e}")))?;
        let client = block_on(async {
            let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Failed(format!("{what}: {e}")))?;
            Client::try_from(config).map_err(kube_err(format!("a client from {}", path.display())))
        })?;
        Ok(Self { client })
    }

    /// The underlying client, for calls the kit does not wrap (run them with [`block_on`]).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Objects of a namespaced kind in `ns`.
    pub fn namespaced<K>(&self, ns: &str) -> Objects<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Objects::new(Api::namespaced(self.client(), ns))
    }

    /// Objects of a cluster-scoped kind (or a namespaced kind across all namespaces: list only).
    pub fn cluster<K>(&self) -> Objects<K>
    where
        K: Resource,
        K::DynamicType: Default,
    {
        Objects::new(Api::all(self.client()))
    }

    /// Objects of a kind without Rust types (Karmada's, say), named by apiVersion and kind.
    pub fn dynamic(&self, ns: &str, api_version: &str, kind: &str) -> Objects<DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk(&gvk);
        Objects::new(Api::namespaced_with(self.client(), ns, &resource))
    }

    /// A namespace named `<prefix>-<unique suffix>`, deleted when the returned value drops.
    pub fn temp_namespace(&self, prefix: &str) -> Result<TempNamespace> {
        TempNamespace::create(self.clone(), prefix)
    }

    /// Creates the namespace `name` unless it exists (for namespaces a scenario names itself).
    pub fn ensure_namespace(&self, name: &str) -> Result<()> {
        let namespaces = self.cluster::<Namespace>();
        if namespaces.get_opt(name)?.is_none() {
            let mut ns = Namespace::default();
            ns.metadata.name = Some(name.to_owned());
            namespaces.create(&ns)?;
        }
        Ok(())
    }
}
