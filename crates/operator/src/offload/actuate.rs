//! The `env` actuation: server-side apply of exactly one environment variable of one container,
//! with the operator's own field manager, so other fields and other managers' entries stay put.

use continuum_api::offload::{OffloadPolicySpec, Transition};
use continuum_policy::offload::{Action, Decision, Rules, State};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::status::{self, Cond};

pub const FIELD_MANAGER: &str = "continuum-operator";

#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The value was already right: nothing written.
    Unchanged,
    /// Written and read back.
    Changed,
}

#[derive(Debug, thiserror::Error)]
pub enum ActuationError {
    #[error("Deployment {0} not found")]
    MissingTarget(String),
    #[error("Deployment {deployment} has no container {container} (it has: {present})")]
    MissingContainer { deployment: String, container: String, present: String },
    #[error("writing {var} on Deployment {deployment} failed: {source}")]
    Write { deployment: String, var: String, source: kube::Error },
    #[error("{var} on Deployment {deployment} reads back as {found:?} after writing {wanted:?}")]
    NotApplied { deployment: String, var: String, wanted: String, found: Option<String> },
    #[error("reading Deployment {deployment} failed: {source}")]
    Read { deployment: String, source: kube::Error },
    #[error(transparent)]
    NotLeading(#[from] crate::shared::NotLeading),
}

fn env_value(d: &Deployment, container: &str, var: &str) -> Result<Option<String>, Vec<String>> {
    let containers = d.spec.template.spec.as_ref().map(|p| p.containers.clone()).unwrap_or_default();
    match containers.iter().find(|c| c.name == container) {
        None => Err(containers.into_iter().map(|c| c.name).collect()),
        Some(c) => Ok(c.env.iter().flatten().find(|e| e.name == var).and_then(|e| e.value.clone())),
    }
}

/// Current value of the variable, or why it cannot be read.
pub async fn current(
    api: &Api<Deployment>,
    name: &str,
    container: &str,
    var: &str,
) -> Result<Option<String>, ActuationError> {
    let d = api.get_opt(name).await.map_err(|source| ActuationError::Read { deployment: name.into(), source })?;
    let d = d.ok_or_else(|| ActuationError::MissingTarget(name.into()))?;
    env_value(&d, container, var).map_err(|present| ActuationError::MissingContainer {
        deployment: name.into(),
        container: container.into(),
        present: present.join(", "),
    })
}

/// Makes `container`'s `var` equal `value`.
pub async fn set_env(
    rt: &crate::shared::Runtime,
    api: &Api<Deployment>,
    name: &str,
    container: &str,
    var: &str,
    value: &str,
) -> Result<Applied, ActuationError> {
    if current(api, name, container, var).await?.as_deref() == Some(value) {
        return Ok(Applied::Unchanged);
    }
    let body = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": { "template": { "spec": { "containers": [
            { "name": container, "env": [ { "name": var, "value": value } ] }
        ] } } }
    });
    rt.may_write("deployments")?;
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map_err(|source| ActuationError::Write { deployment: name.into(), var: var.into(), source })?;
    let found = current(api, name, container, var).await?;
    if found.as_deref() == Some(value) {
        Ok(Applied::Changed)
    } else {
        Err(ActuationError::NotApplied { deployment: name.into(), var: var.into(), wanted: value.into(), found })
    }
}

/// What actuation achieved: the state actually reached, the switch made (if any), `Actuated`.
pub struct Carried {
    pub state: State,
    pub switched: Option<Transition>,
    pub condition: Cond,
}

/// Points the workload at the backend the decision settled on (also re-applies it when someone
/// changed it). A failed write keeps the previous backend and timers.
pub async fn carry_out(
    rt: &crate::shared::Runtime,
    deploys: &Api<Deployment>,
    spec: &OffloadPolicySpec,
    r: &Rules,
    prev: &State,
    d: &Decision,
    now: i64,
) -> Carried {
    let kept = |condition: Cond| Carried { state: prev.clone(), switched: None, condition };
    if r.dry_run || r.suspend {
        let c = ("Actuated", true, "NotEnforced".into(), "DryRun or suspend: the workload is not changed.".into());
        return Carried { state: d.state.clone(), switched: None, condition: c };
    }
    let Some(e) = &spec.actuation.env else {
        let mode = if spec.actuation.service.is_some() {
            "service"
        } else if spec.actuation.override_policy.is_some() {
            "overridePolicy"
        } else {
            "configMap"
        };
        let msg = format!("Actuation mode {mode} is not implemented in this version; decisions are only reported.");
        return kept(("Actuated", false, "ModeNotImplemented".into(), msg));
    };
    let target = &spec.target_ref.name;
    let wanted = r.endpoint(d.state.active).to_owned();
    match set_env(rt, deploys, target, &e.container, &e.name, &wanted).await {
        Ok(applied) => {
            let switched = match d.action {
                Action::Switch { to, dry_run: false } => Some(Transition {
                    time: status::time(now),
                    from: status::to_api(prev.active),
                    to: status::to_api(to),
                    reason: d.reason.into(),
                    message: Some(d.message.clone()),
                }),
                _ => None,
            };
            let how = if applied == Applied::Changed { "Applied" } else { "InSync" };
            let msg = format!("{} of container {} in Deployment {target} is {wanted}.", e.name, e.container);
            Carried { state: d.state.clone(), switched, condition: ("Actuated", true, how.into(), msg) }
        }
        Err(err) => {
            let reason = match err {
                ActuationError::MissingTarget(_) => "TargetMissing",
                ActuationError::MissingContainer { .. } => "ContainerMissing",
                _ => "WriteFailed",
            };
            kept(("Actuated", false, reason.into(), format!("{err}.")))
        }
    }
}
