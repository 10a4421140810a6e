//! Status written by server-side apply with the operator's field manager; apiVersion and kind
//! come from the resource type.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;

use super::{Context, Error, FIELD_MANAGER, Managed};

/// The apply body for `status` of a `K`.
pub fn body<K: Resource<DynamicType = ()>>(status: &impl Serialize) -> serde_json::Value {
    serde_json::json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status })
}

/// Applies the whole `status` of `obj` (only while leading).
pub async fn apply<K, S>(ctx: &Context<S>, obj: &K, status: &impl Serialize) -> Result<(), Error>
where
    K: Managed,
{
    let resource = format!("{}/status", K::plural(&()));
    ctx.rt.may_write(&resource)?;
    let api: Api<K> = Api::namespaced(ctx.rt.control.clone(), &obj.namespace().unwrap_or_default());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&obj.name_any(), &params, &Patch::Apply(body::<K>(status)))
        .await
        .map(drop)
        .map_err(|source| Error::Write { resource, source })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_apply_body_names_the_type_it_was_built_for() {
        let b = super::body::<continuum_api::EtcdHealth>(&serde_json::json!({"slowDisk": "False"}));
        assert_eq!(b["apiVersion"], "continuum.dev/v1alpha1");
        assert_eq!(b["kind"], "EtcdHealth");
        assert_eq!(b["status"]["slowDisk"], "False");
        assert_eq!(
            super::body::<continuum_api::OffloadPolicy>(&()).get("kind").and_then(|k| k.as_str()),
            Some("OffloadPolicy")
        );
    }
}
