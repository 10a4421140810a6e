//! What the OffloadPolicy controller reads about the cluster, from watches instead of GETs: one
//! reflector per kind (Deployments, Services, the operator's own EndpointSlices, ConfigMaps, and
//! Karmada's ResourceBindings and OverridePolicies where that API is served), each trimmed with
//! `.modify()` to the fields the controller uses. A steady state sends no reads at all; the
//! Deployment watch also wakes the policies that target a changed Deployment.
//!
//! Karmada's APIs are looked up once at start: a Karmada installed later needs a restart of the
//! operator (its policies say "not installed" until then).

mod trim;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::kit::wait_synced;
use crate::kit::watch::reflect;

/// Karmada's binding of a Deployment template (`work.karmada.io/v1alpha2`).
pub fn binding_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("work.karmada.io", "v1alpha2", "ResourceBinding"))
}

/// Karmada's OverridePolicy (`policy.karmada.io/v1alpha1`).
pub fn override_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("policy.karmada.io", "v1alpha1", "OverridePolicy");
    ApiResource::from_gvk_with_plural(&gvk, "overridepolicies")
}

/// The label the operator puts on the EndpointSlices it owns (only those are watched).
pub const SLICE_MANAGER: (&str, &str) = ("endpointslice.kubernetes.io/managed-by", "continuum-operator");

/// The watched objects, and which policies target which Deployment.
pub struct Stores {
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
    pub config_maps: Store<ConfigMap>,
    /// `None`: this API server serves no ResourceBindings (no Karmada).
    pub bindings: Option<Store<DynamicObject>>,
    /// `None`: this API server serves no OverridePolicies.
    pub overrides: Option<Store<DynamicObject>>,
    targets: Targets,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("deployments", &self.deployments.len())
            .field("karmada", &self.bindings.is_some())
            .finish_non_exhaustive()
    }
}

/// Deployments changed after the first full list (the policies evaluate at start anyway).
pub type DeploymentEvents = futures::channel::mpsc::UnboundedReceiver<Deployment>;

impl Stores {
    /// Starts every watch, each kept up to date by its own task.
    pub async fn start(client: &Client) -> (Self, DeploymentEvents) {
        let (tx, events) = futures::channel::mpsc::unbounded();
        let (deployments, stream) = reflect(Api::all(client.clone()), watcher::Config::default(), trim::deployment);
        let ready = deployments.clone();
        let forward = stream.inspect(move |event| {
            let synced = futures::FutureExt::now_or_never(ready.wait_until_ready()).is_some();
            if let (true, Ok(d)) = (synced, event) {
                let _ = tx.unbounded_send(d.clone());
            }
        });
        tokio::spawn(drain(forward, "Deployment".to_owned()));
        let services = spawn(Api::all(client.clone()), watcher::Config::default(), trim::service);
        let owned = watcher::Config::default().labels(&format!("{}={}", SLICE_MANAGER.0, SLICE_MANAGER.1));
        let slices = spawn(Api::all(client.clone()), owned, trim::slice);
        let config_maps = spawn(Api::all(client.clone()), watcher::Config::default(), trim::config_map);
        let bindings = match served(client, &binding_resource()).await {
            true => Some(spawn_dynamic(client, &binding_resource(), trim::binding)),
            false => None,
        };
        let overrides = match served(client, &override_resource()).await {
            true => Some(spawn_dynamic(client, &override_resource(), trim::override_policy)),
            false => None,
        };
        let stores =
            Self { deployments, services, slices, config_maps, bindings, overrides, targets: Targets::default() };
        (stores, events)
    }

    /// Resolves once every store holds its first full list.
    pub async fn synced(&self) -> bool {
        let karmada = async {
            for s in self.bindings.iter().chain(&self.overrides) {
                if !wait_synced(s).await {
                    return false;
                }
            }
            true
        };
        let (a, b, c, d, e) = tokio::join!(
            wait_synced(&self.deployments),
            wait_synced(&self.services),
            wait_synced(&self.slices),
            wait_synced(&self.config_maps),
            karmada
        );
        a && b && c && d && e
    }

    pub fn deployment(&self, ns: &str, name: &str) -> Option<std::sync::Arc<Deployment>> {
        self.deployments.get(&ObjectRef::new(name).within(ns))
    }

    pub fn targets(&self) -> &Targets {
        &self.targets
    }
}

/// Which policies target which Deployment, so a Deployment event wakes its policies without a
/// scan of every policy. Filled as policies are evaluated (a policy not evaluated yet will be).
#[derive(Debug, Default)]
pub struct Targets(Mutex<TargetIndex>);

#[derive(Debug, Default)]
struct TargetIndex {
    by_target: HashMap<(String, String), BTreeSet<String>>,
    of_policy: HashMap<(String, String), String>,
}

impl Targets {
    /// Records that policy `ns/policy` targets Deployment `ns/target`.
    pub fn set(&self, ns: &str, policy: &str, target: &str) {
        let Ok(mut ix) = self.0.lock() else { return };
        let key = (ns.to_owned(), policy.to_owned());
        if ix.of_policy.get(&key).is_some_and(|t| t == target) {
            return;
        }
        ix.forget(&key);
        ix.by_target.entry((ns.to_owned(), target.to_owned())).or_default().insert(policy.to_owned());
        ix.of_policy.insert(key, target.to_owned());
    }

    /// Forgets policy `ns/policy` (deleted).
    pub fn forget(&self, ns: &str, policy: &str) {
        if let Ok(mut ix) = self.0.lock() {
            ix.forget(&(ns.to_owned(), policy.to_owned()));
        }
    }

    /// The policies that target Deployment `ns/name`.
    pub fn of<K: Resource<DynamicType = ()>>(&self, ns: &str, name: &str) -> Vec<ObjectRef<K>> {
        let Ok(ix) = self.0.lock() else { return Vec::new() };
        let names = ix.by_target.get(&(ns.to_owned(), name.to_owned()));
        names.into_iter().flatten().map(|p| ObjectRef::new(p).within(ns)).collect()
    }

    /// Every indexed policy, as `(namespace, name)`.
    pub fn policies(&self) -> Vec<(String, String)> {
        self.0.lock().map(|ix| ix.of_policy.keys().cloned().collect()).unwrap_or_default()
    }
}

impl TargetIndex {
    fn forget(&mut self, key: &(String, String)) {
        if let Some(old) = self.of_policy.remove(key) {
            let tk = (key.0.clone(), old);
            if let Some(set) = self.by_target.get_mut(&tk) {
                set.remove(&key.1);
                if set.is_empty() {
                    self.by_target.remove(&tk);
                }
            }
        }
    }
}

/// Whether the API server serves `ar` (discovery of its group version).
async fn served(client: &Client, ar: &ApiResource) -> bool {
    match client.list_api_group_resources(&ar.api_version).await {
        Ok(list) => list.resources.iter().any(|r| r.name == ar.plural),
        Err(e) => {
            tracing::info!(api = %ar.api_version, "not served ({e}): {} are not watched", ar.plural);
            false
        }
    }
}

/// A trimmed reflector kept up to date by its own task.
fn spawn<K>(api: Api<K>, config: watcher::Config, trim: fn(&mut K)) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, stream) = reflect(api, config, trim);
    tokio::spawn(drain(stream, K::kind(&()).into_owned()));
    store
}

fn spawn_dynamic(client: &Client, ar: &ApiResource, trim: fn(&mut DynamicObject)) -> Store<DynamicObject> {
    let writer = reflector::store::Writer::new(ar.clone());
    let store = writer.as_reader();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let stream = watcher(api, watcher::Config::default()).default_backoff().modify(trim).reflect(writer);
    tokio::spawn(drain(stream.applied_objects(), ar.kind.clone()));
    store
}

/// Polls a watch for as long as the process runs; errors are retried by the watcher's back-off.
async fn drain<K, S: Stream<Item = Result<K, watcher::Error>> + Send>(stream: S, kind: String) {
    let mut stream = std::pin::pin!(stream);
    let mut logged: Option<std::time::Instant> = None;
    while let Some(event) = stream.next().await {
        if let Err(e) = event
            && logged.is_none_or(|t| t.elapsed() > Duration::from_secs(60))
        {
            tracing::warn!(%kind, "watch failed (retrying with back-off): {e}");
            logged = Some(std::time::Instant::now());
        }
    }
}
