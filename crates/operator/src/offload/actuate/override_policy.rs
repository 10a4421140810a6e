//! `overridePolicy`: on a Karmada control plane the Deployment is a resource template that
//! GitOps tools own; the operator leaves it untouched and server-side-applies a Karmada
//! OverridePolicy `<policy>-vaccel` whose `plaintext` rule sets the variable of the container in
//! the member clusters' copies. Deleting the OffloadPolicy removes it (finalizer), so the
//! template's own value applies again.

use continuum_api::offload::OverridePolicyActuation;
use continuum_policy::offload::Backend;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};

use super::super::stores::override_resource;
use super::{ActuationError, FIELD_MANAGER, Reading, Target, env, write_error};

fn api(t: &Target<'_>) -> Api<DynamicObject> {
    Api::namespaced_with(t.client(), t.ns, &override_resource())
}

pub fn name(policy: &str) -> String {
    format!("{}-vaccel", policy.chars().take(56).collect::<String>())
}

fn not_installed() -> ActuationError {
    ActuationError::Invalid(
        "Karmada's OverridePolicy API (policy.karmada.io/v1alpha1) is not installed in this control plane (it is looked up when the operator starts)".into(),
    )
}

/// The managed OverridePolicy (from the watch), if it exists.
fn current(t: &Target<'_>) -> Result<Option<std::sync::Arc<DynamicObject>>, ActuationError> {
    let store = t.stores.overrides.as_ref().ok_or_else(not_installed)?;
    Ok(store.get(&ObjectRef::new_with(&name(t.policy), override_resource()).within(t.ns)))
}

/// The value the first plaintext rule sets: a string (`.../value`) or an env entry (`.../env/-`,
/// `.../env`).
fn override_value(obj: &DynamicObject) -> Option<String> {
    let rule = obj.data.pointer("/spec/overrideRules/0/overriders/plaintext/0/value")?;
    let value = match rule {
        Value::Array(entries) => entries.first()?.get("value")?,
        Value::Object(_) => rule.get("value")?,
        other => other,
    };
    value.as_str().map(str::to_owned)
}

pub fn read(t: &Target<'_>, o: &OverridePolicyActuation) -> Result<Reading, ActuationError> {
    match current(t)? {
        Some(obj) => Ok(reading(t, &obj)),
        None => {
            // No override: the members run the template's own value.
            let object = format!("OverridePolicy {}", name(t.policy));
            let e = continuum_api::offload::EnvActuation { container: o.container.clone(), name: o.name.clone() };
            let template = env::read(t, &e)?;
            Ok(Reading { object: format!("{object} (absent; template value)"), ..template })
        }
    }
}

fn reading(t: &Target<'_>, obj: &DynamicObject) -> Reading {
    let value = override_value(obj);
    let backend = value.as_deref().and_then(|v| t.backend_of(v));
    Reading { object: format!("OverridePolicy {}", name(t.policy)), value, backend }
}

/// Applies the OverridePolicy; returns what the API server's answer says.
pub async fn write(t: &Target<'_>, o: &OverridePolicyActuation, backend: Backend) -> Result<Reading, ActuationError> {
    let clusters = if o.clusters.is_empty() { t.clusters.clone() } else { o.clusters.clone() };
    let target = &t.spec.target_ref.name;
    if clusters.is_empty() {
        return Err(ActuationError::Invalid(format!(
            "no member clusters known for Deployment {target}: it has no ResourceBinding with clusters yet; set actuation.overridePolicy.clusters"
        )));
    }
    current(t)?;
    let deployment = env::deployment(t)?;
    let i = env::container_index(&deployment, &o.container)?;
    let value = t.rules.endpoint(backend);
    let container = deployment.spec.template.spec.as_ref().and_then(|p| p.containers.get(i));
    let envs = container.and_then(|c| c.env.as_ref()).cloned().unwrap_or_default();
    let base = format!("/spec/template/spec/containers/{i}/env");
    let rule = match envs.iter().position(|e| e.name == o.name) {
        Some(j) => json!({ "path": format!("{base}/{j}/value"), "operator": "replace", "value": value }),
        None if !envs.is_empty() => {
            json!({ "path": format!("{base}/-"), "operator": "add", "value": { "name": o.name, "value": value } })
        }
        None => json!({ "path": base, "operator": "add", "value": [ { "name": o.name, "value": value } ] }),
    };
    let body = json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {
            "name": name(t.policy),
            "labels": { "app.kubernetes.io/managed-by": "continuum-operator", "continuum.dev/offloadpolicy": t.policy },
        },
        "spec": {
            "resourceSelectors": [ { "apiVersion": "apps/v1", "kind": "Deployment", "name": target, "namespace": t.ns } ],
            "overrideRules": [ {
                "targetCluster": { "clusterNames": clusters },
                "overriders": { "plaintext": [ rule ] },
            } ],
        },
    });
    t.rt.may_write("overridepolicies")?;
    let object = format!("OverridePolicy {}", name(t.policy));
    let after = api(t)
        .patch(&name(t.policy), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map_err(write_error(&object))?;
    Ok(reading(t, &after))
}

/// Deletes the managed OverridePolicy (deleting the OffloadPolicy with `onDelete: Restore`).
pub async fn remove(t: &Target<'_>, _o: &OverridePolicyActuation) -> Result<String, ActuationError> {
    let object = format!("OverridePolicy {}", name(t.policy));
    if current(t)?.is_none() {
        return Ok(format!("{object} does not exist; nothing to restore"));
    }
    t.rt.may_write("overridepolicies")?;
    match api(t).delete(&name(t.policy), &DeleteParams::default()).await {
        Ok(_) => Ok(format!("{object} deleted: member clusters run the template's own value again")),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(format!("{object} already gone")),
        Err(source) => Err(ActuationError::Write { object, source }),
    }
}

#[cfg(test)]
mod tests {
    use kube::api::ApiResource;

    use super::*;

    fn with(rule_value: Value) -> DynamicObject {
        let mut o = DynamicObject::new("x", &ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()));
        o.data =
            json!({ "spec": { "overrideRules": [ { "overriders": { "plaintext": [ { "value": rule_value } ] } } ] } });
        o
    }

    #[test]
    fn the_overridden_value_is_read_from_each_rule_shape() {
        assert_eq!(override_value(&with(json!("tcp://j:1"))).as_deref(), Some("tcp://j:1"));
        assert_eq!(override_value(&with(json!({"name": "V", "value": "tcp://j:2"}))).as_deref(), Some("tcp://j:2"));
        assert_eq!(override_value(&with(json!([{"name": "V", "value": "tcp://j:3"}]))).as_deref(), Some("tcp://j:3"));
        assert_eq!(override_value(&with(json!(7))), None);
    }
}
