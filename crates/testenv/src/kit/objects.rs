//! Blocking, typed create / get / apply / patch / delete / wait on one kind of object.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cluster::block_on;
use super::error::{Error, Result, kube_err};

/// The objects of one kind in one namespace (or cluster-wide).
#[derive(Debug, Clone)]
pub struct Objects<K> {
    api: Api<K>,
}

impl<K> Objects<K> {
    pub(crate) fn new(api: Api<K>) -> Self {
        Self { api }
    }
}

impl<K> Objects<K>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned + Send + 'static,
{
    /// The kube `Api`, for calls the kit does not wrap.
    pub fn api(&self) -> &Api<K> {
        &self.api
    }

    fn what(&self, verb: &str, name: &str) -> String {
        format!("{verb} {}/{name}", self.api.resource_url())
    }

    pub fn create(&self, obj: &K) -> Result<K> {
        block_on(self.api.create(&PostParams::default(), obj)).map_err(kube_err(self.what("create", &obj.name_any())))
    }

    pub fn get(&self, name: &str) -> Result<K> {
        block_on(self.api.get(name)).map_err(kube_err(self.what("get", name)))
    }

    /// `None` when the object does not exist.
    pub fn get_opt(&self, name: &str) -> Result<Option<K>> {
        block_on(self.api.get_opt(name)).map_err(kube_err(self.what("get", name)))
    }

    /// Lists with a field selector such as `reason=Restored` (empty: everything).
    pub fn list(&self, fields: &str) -> Result<Vec<K>> {
        let params = ListParams::default().fields(fields);
        let list = block_on(self.api.list(&params)).map_err(kube_err(self.what("list", fields)))?;
        Ok(list.items)
    }

    /// Server-side apply of `obj` as field manager `manager`, taking over conflicting fields, as
    /// `kubectl apply --server-side --force-conflicts` does. Zero durations go out as `0s`, as a
    /// user writes them (see [`as_written`]).
    pub fn apply(&self, obj: &K, manager: &str) -> Result<K> {
        let name = obj.name_any();
        let what = self.what("apply", &name);
        let body = as_written(obj).map_err(|e| Error::Failed(format!("{what}: {e}")))?;
        let params = PatchParams::apply(manager).force();
        block_on(self.api.patch(&name, &params, &Patch::Apply(&body))).map_err(kube_err(what))
    }

    /// A JSON merge patch, as a user's `kubectl patch --type=merge` (or `annotate`) makes it.
    pub fn merge(&self, name: &str, patch: &serde_json::Value) -> Result<K> {
        let params = PatchParams::default();
        block_on(self.api.patch(name, &params, &Patch::Merge(patch))).map_err(kube_err(self.what("patch", name)))
    }

    /// A JSON merge patch of the status subresource (what a controller of that kind would write).
    pub fn merge_status(&self, name: &str, patch: &serde_json::Value) -> Result<K> {
        let params = PatchParams::default();
        block_on(self.api.patch_status(name, &params, &Patch::Merge(patch)))
            .map_err(kube_err(self.what("patch status of", name)))
    }

    /// Deletes without waiting for finalizers (`kubectl delete --wait=false`).
    pub fn delete(&self, name: &str) -> Result<()> {
        block_on(self.api.delete(name, &DeleteParams::default())).map_err(kube_err(self.what("delete", name)))?;
        Ok(())
    }

    /// Waits until `cond` holds for the object `name` (`None`: it does not exist), watching it
    /// with `await_condition`, for at most `limit`. On timeout the error shows the object as it
    /// was last seen. Returns the object that matched.
    pub fn wait(
        &self,
        name: &str,
        what: &str,
        limit: Duration,
        cond: impl Fn(Option<&K>) -> bool,
    ) -> Result<Option<K>> {
        let started = Instant::now();
        let mut last_error = String::new();
        while let Some(left) = limit.checked_sub(started.elapsed()) {
            let watched =
                block_on(async { tokio::time::timeout(left, await_condition(self.api.clone(), name, &cond)).await });
            match watched {
                Ok(Ok(obj)) => {
                    eprintln!("{what}: after {:.1}s", started.elapsed().as_secs_f64());
                    return Ok(obj);
                }
                // A watch can break (a restarted server, a closed connection): watch again.
                Ok(Err(e)) => last_error = format!(" (watch failed: {e})"),
                Err(_) => break,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let last = match self.get_opt(name) {
            Ok(Some(obj)) => describe(&obj),
            Ok(None) => "no such object".to_owned(),
            Err(e) => e.to_string(),
        };
        Err(Error::Timeout {
            what: what.to_owned(),
            seconds: started.elapsed().as_secs_f64(),
            last: last + &last_error,
        })
    }

    /// Waits until the object exists and `cond` holds for it; returns it.
    pub fn wait_for(&self, name: &str, what: &str, limit: Duration, cond: impl Fn(&K) -> bool) -> Result<K> {
        let matched = self.wait(name, what, limit, |o| o.is_some_and(&cond))?;
        matched.ok_or_else(|| Error::Failed(format!("{what}: the object vanished")))
    }

    /// Waits until the object `name` no longer exists.
    pub fn wait_gone(&self, name: &str, limit: Duration) -> Result<()> {
        self.wait(name, &format!("{name} gone"), limit, |o| o.is_none()).map(drop)
    }
}

/// `obj` as JSON, with every zero `kube::core::Duration` written `0s`: kube writes zero as `0ns`,
/// which Go parses but which the CRDs' duration pattern (`30s`, `1m30s`, `500ms`) refuses.
pub fn as_written<T: Serialize>(obj: &T) -> serde_json::Result<serde_json::Value> {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) if s == "0ns" => *s = "0s".to_owned(),
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(obj)?;
    walk(&mut value);
    Ok(value)
}

/// The object as YAML without its managed fields, for error messages.
fn describe<K: Resource + Serialize + Clone>(obj: &K) -> String {
    let mut obj = obj.clone();
    obj.meta_mut().managed_fields = None;
    serde_yaml::to_string(&obj).unwrap_or_else(|e| format!("(not serializable: {e})"))
}
