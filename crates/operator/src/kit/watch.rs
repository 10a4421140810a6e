//! The controllers' own watch: every object of the kind, without what no reconcile reads
//! (managedFields, kubectl's last-applied copy of the spec), so 10,000 policies cost their spec
//! and status, not the bookkeeping of every field manager that ever wrote them.

use std::fmt::Debug;

use kube::runtime::reflector::{self, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops the metadata no reconcile reads.
pub fn trim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
}

/// A watch's objects, as its reflector passes them on.
pub type Events<K> = std::pin::Pin<Box<dyn futures::Stream<Item = Result<K, watcher::Error>> + Send>>;

/// A reflector of `api`, retried with back-off, each object trimmed by `trim` before it is
/// stored; the caller polls the events for the store to fill.
pub fn reflect<K>(api: Api<K>, config: watcher::Config, trim: fn(&mut K)) -> (Store<K>, Events<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, config).default_backoff().modify(trim).reflect(writer).applied_objects();
    (store, Box::pin(stream))
}

/// A controller for every `K`, fed by a trimmed reflector, and that reflector's store.
pub fn controller<K>(client: Client) -> (Controller<K>, Store<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, stream) = reflect(Api::<K>::all(client), watcher::Config::default(), trim::<K>);
    (Controller::for_stream(stream, store.clone()), store)
}

#[cfg(test)]
mod tests {
    #[test]
    fn trimming_keeps_spec_status_and_other_annotations() {
        let mut p: continuum_api::EtcdHealth = serde_json::from_value(serde_json::json!({
            "apiVersion": "continuum.dev/v1alpha1", "kind": "EtcdHealth",
            "metadata": {"name": "etcd", "managedFields": [{"manager": "kubectl"}],
                "annotations": {super::LAST_APPLIED: "{…}", "team": "edge"}},
            "spec": {"endpoints": [{"name": "etcd-0", "metricsUrl": "http://etcd:2381/metrics"}]},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        super::trim(&mut p);
        assert!(p.metadata.managed_fields.is_none());
        assert_eq!(p.metadata.annotations.map(|a| a.into_keys().collect::<Vec<_>>()), Some(vec!["team".to_owned()]));
        assert_eq!(p.spec.endpoints.len(), 1);
    }
}
