//! `configMap`: one key of a ConfigMap the workload mounts as a file. The kubelet refreshes a
//! mounted ConfigMap within its sync period (about a minute by default; not for `subPath`
//! mounts), and a workload that re-reads the file per request then uses the new backend without a
//! restart. Only the one key is owned by the operator; other keys and their managers stay put.

use continuum_api::offload::ConfigMapActuation;
use continuum_policy::offload::Backend;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams};

use kube::runtime::reflector::ObjectRef;

use super::{ActuationError, FIELD_MANAGER, Reading, Target, write_error};

/// The ConfigMap (from the watch) and what its key says.
pub fn read(t: &Target<'_>, c: &ConfigMapActuation) -> Result<Reading, ActuationError> {
    let object = format!("ConfigMap {}", c.name);
    let cm = t.stores.config_maps.get(&ObjectRef::new(&c.name).within(t.ns));
    let cm = cm.ok_or_else(|| ActuationError::MissingTarget(object.clone()))?;
    Ok(reading(t, c, &cm, object))
}

fn reading(t: &Target<'_>, c: &ConfigMapActuation, cm: &ConfigMap, object: String) -> Reading {
    let value = cm.data.as_ref().and_then(|d| d.get(&c.key)).map(|v| v.trim().to_owned());
    let backend = value.as_deref().and_then(|v| t.backend_of(v));
    Reading { object, value, backend }
}

pub async fn write(t: &Target<'_>, c: &ConfigMapActuation, backend: Backend) -> Result<Reading, ActuationError> {
    let object = format!("key {} of ConfigMap {}", c.key, c.name);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": c.name },
        "data": { c.key.clone(): t.rules.endpoint(backend) }
    });
    t.rt.may_write("configmaps")?;
    let api: Api<ConfigMap> = Api::namespaced(t.client(), t.ns);
    let after = api
        .patch(&c.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map_err(write_error(&object))?;
    Ok(reading(t, c, &after, format!("ConfigMap {}", c.name)))
}
