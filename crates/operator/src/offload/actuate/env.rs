//! `env`: server-side apply of exactly one environment variable of one container, so other fields
//! and other managers' entries stay put. Changing it rolls the Deployment's pods.

use continuum_api::offload::EnvActuation;
use continuum_policy::offload::Backend;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::{ActuationError, FIELD_MANAGER, Reading, Target, write_error};

fn env_value(d: &Deployment, container: &str, var: &str) -> Result<Option<String>, Vec<String>> {
    let containers = d.spec.template.spec.as_ref().map(|p| p.containers.clone()).unwrap_or_default();
    match containers.iter().find(|c| c.name == container) {
        None => Err(containers.into_iter().map(|c| c.name).collect()),
        Some(c) => Ok(c.env.iter().flatten().find(|e| e.name == var).and_then(|e| e.value.clone())),
    }
}

/// The target Deployment (from the watch), or why it cannot be used.
pub fn deployment(t: &Target<'_>) -> Result<std::sync::Arc<Deployment>, ActuationError> {
    let name = &t.spec.target_ref.name;
    t.stores.deployment(t.ns, name).ok_or_else(|| ActuationError::MissingTarget(format!("Deployment {name}")))
}

/// Index of `container` in the Deployment's pod template, or which containers there are.
pub fn container_index(d: &Deployment, container: &str) -> Result<usize, ActuationError> {
    let containers = d.spec.template.spec.as_ref().map(|p| p.containers.as_slice()).unwrap_or_default();
    containers.iter().position(|c| c.name == container).ok_or_else(|| ActuationError::MissingContainer {
        deployment: d.metadata.name.clone().unwrap_or_default(),
        container: container.to_owned(),
        present: containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
    })
}

pub fn read(t: &Target<'_>, e: &EnvActuation) -> Result<Reading, ActuationError> {
    reading(t, e, &*deployment(t)?)
}

/// What `d` says about the backend.
fn reading(t: &Target<'_>, e: &EnvActuation, d: &Deployment) -> Result<Reading, ActuationError> {
    let name = &t.spec.target_ref.name;
    let value = env_value(d, &e.container, &e.name).map_err(|present| ActuationError::MissingContainer {
        deployment: name.clone(),
        container: e.container.clone(),
        present: present.join(", "),
    })?;
    let backend = value.as_deref().and_then(|v| t.backend_of(v));
    Ok(Reading { object: format!("Deployment {name}"), value, backend })
}

/// Applies the variable; returns what the API server's answer (the object after the write) says.
pub async fn write(t: &Target<'_>, e: &EnvActuation, backend: Backend) -> Result<Reading, ActuationError> {
    let name = &t.spec.target_ref.name;
    let value = t.rules.endpoint(backend);
    let body = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": { "template": { "spec": { "containers": [
            { "name": e.container, "env": [ { "name": e.name, "value": value } ] }
        ] } } }
    });
    t.rt.may_write("deployments")?;
    let api: Api<Deployment> = Api::namespaced(t.client(), t.ns);
    let object = format!("{} of Deployment {name}", e.name);
    let after = api
        .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map_err(write_error(&object))?;
    reading(t, e, &after)
}
