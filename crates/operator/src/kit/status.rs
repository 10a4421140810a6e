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

/// Whether `new` differs from the status the object has, as the API server stores it (compared in
/// their JSON form, so times are compared to the second, as they are stored).
pub fn differs<S: Serialize>(stored: Option<&S>, new: &S) -> bool {
    match stored {
        None => true,
        Some(old) => match (serde_json::to_value(old), serde_json::to_value(new)) {
            (Ok(a), Ok(b)) => a != b,
            _ => true,
        },
    }
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
    fn status_differs_only_in_what_the_api_server_would_store() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let at = |ms: i64| Some(Time(k8s_openapi::jiff::Timestamp::from_millisecond(ms).unwrap_or_default()));
        let status =
            |since| continuum_api::offload::OffloadPolicyStatus { violating_since: since, ..Default::default() };
        let stored = status(at(1_795_600_000_000));
        assert!(!super::differs(Some(&stored), &status(at(1_795_600_000_400))), "same second");
        assert!(super::differs(Some(&stored), &status(at(1_795_600_001_000))));
        assert!(super::differs(None, &stored));
    }

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
