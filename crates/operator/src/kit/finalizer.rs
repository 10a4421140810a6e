//! Adding and removing the operator's finalizer, gated on leadership. A merge patch carrying the
//! object's resourceVersion: a concurrent change of the list fails the write instead of being lost.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use super::{Context, Error, Managed};

/// Whether `obj` carries `finalizer`.
pub fn holds<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.finalizers().iter().any(|f| f == finalizer)
}

async fn set<K, S>(ctx: &Context<S>, obj: &K, finalizers: Vec<String>) -> Result<(), Error>
where
    K: Managed,
{
    let resource = K::plural(&()).into_owned();
    ctx.rt.may_write(&resource)?;
    let patch =
        serde_json::json!({ "metadata": { "finalizers": finalizers, "resourceVersion": obj.resource_version() } });
    let api: Api<K> = Api::namespaced(ctx.rt.control.clone(), &obj.namespace().unwrap_or_default());
    match api.patch(&obj.name_any(), &PatchParams::default(), &Patch::Merge(patch)).await {
        Ok(_) => Ok(()),
        // Already gone: nothing holds it any more.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::Write { resource, source }),
    }
}

/// Adds `finalizer` unless `obj` has it.
pub async fn ensure<K, S>(ctx: &Context<S>, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Managed,
{
    if holds(obj, finalizer) {
        return Ok(());
    }
    let mut list = obj.finalizers().to_vec();
    list.push(finalizer.to_owned());
    set(ctx, obj, list).await
}

/// Removes `finalizer`, letting the deletion go on.
pub async fn remove<K, S>(ctx: &Context<S>, obj: &K, finalizer: &str) -> Result<(), Error>
where
    K: Managed,
{
    let left = obj.finalizers().iter().filter(|f| *f != finalizer).cloned().collect();
    set(ctx, obj, left).await
}
