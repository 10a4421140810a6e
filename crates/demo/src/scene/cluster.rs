//! What the scene reads from the edge cluster: `kubectl get -o json` decoded into the typed
//! objects (continuum-api's CRDs, k8s-openapi's built-ins). The scene is synchronous code, so
//! kubectl stands in for a client; a missing or unreadable object reads as `None`.

use std::collections::BTreeMap;

use continuum_api::{EtcdHealth, OffloadPolicy};
use continuum_testenv::ControlPlane;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use serde::de::DeserializeOwned;

use super::NS;

/// kubectl's stdout (empty when it fails: the scene's deadlines report what was missing).
pub(super) fn kubectl(cp: &ControlPlane, args: &[&str]) -> String {
    cp.kubectl_output(args).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// `kubectl get <what> -n vision -o json`, decoded.
fn get<T: DeserializeOwned>(cp: &ControlPlane, what: &[&str]) -> Option<T> {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-n", NS, "-o", "json"]);
    let out = cp.kubectl_output(&args).ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The items of a `kubectl get` list (kind `List`, which k8s-openapi's typed lists refuse).
#[derive(serde::Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

fn list<T: DeserializeOwned>(cp: &ControlPlane, what: &[&str]) -> Vec<T> {
    get::<Items<T>>(cp, what).map(|l| l.items).unwrap_or_default()
}

/// A value as it appears in the API (e.g. `Offloaded`), for the report.
fn render<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub(super) fn policy(cp: &ControlPlane) -> Option<OffloadPolicy> {
    get(cp, &["offloadpolicy", "detector"])
}

/// What the scene reads from the policy's status once a second.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct PolicyView {
    /// `status.phase` (empty before the first status).
    pub phase: String,
    /// `status.activeTarget`: the backend's name.
    pub target: String,
    /// A trial return is running (`status.trial.until` is set).
    pub in_trial: bool,
    /// `status.trial.failed`: failed trial returns in a row.
    pub failed_trials: i32,
    /// `status.trial.hold`: the hold before the next return.
    pub hold: String,
}

/// The policy's status as the scene samples it (all empty before the first status).
pub(super) fn view(cp: &ControlPlane) -> PolicyView {
    let Some(status) = policy(cp).and_then(|p| p.status) else { return PolicyView::default() };
    let trial = status.trial.unwrap_or_default();
    PolicyView {
        phase: status.phase.map(|p| render(&p)).unwrap_or_default(),
        target: status.active_target.unwrap_or_default(),
        in_trial: trial.until.is_some(),
        failed_trials: trial.failed,
        hold: trial.hold.unwrap_or_default(),
    }
}

/// The message of the policy's latest switch.
pub(super) fn last_transition(cp: &ControlPlane) -> String {
    policy(cp).and_then(|p| p.status?.last_transition?.message).unwrap_or_default()
}

/// `status.observed.summary`, for example `fps=30.0 latency=25ms pi_load=4.0`.
pub(super) fn observed(cp: &ControlPlane) -> String {
    policy(cp).and_then(|p| p.status?.observed).map(|o| o.summary).unwrap_or_default()
}

/// `status.recentTransitions` as `to` names and as reasons, each space-separated.
pub(super) fn transitions(cp: &ControlPlane) -> (String, String) {
    let status = policy(cp).and_then(|p| p.status).unwrap_or_default();
    let join = |f: fn(&continuum_api::offload::Transition) -> &str| {
        status.recent_transitions.iter().map(f).collect::<Vec<_>>().join(" ")
    };
    (join(|t| &t.to), join(|t| &t.reason))
}

fn etcd_health(cp: &ControlPlane) -> Option<EtcdHealth> {
    get(cp, &["etcdhealth", "karmada-etcd"])
}

/// Whether EtcdHealth says the host plane's etcd has a slow disk.
pub(super) fn slow_disk(cp: &ControlPlane) -> bool {
    etcd_health(cp).and_then(|h| h.status?.slow_disk).is_some_and(|s| s == "True")
}

/// The message of the SlowDisk condition.
pub(super) fn slow_disk_message(cp: &ControlPlane) -> String {
    let conditions = etcd_health(cp).and_then(|h| h.status).map(|s| s.conditions).unwrap_or_default();
    conditions.into_iter().find(|c| c.type_ == "SlowDisk").map(|c| c.message).unwrap_or_default()
}

/// The EtcdHealth's status as JSON, for failure reports.
pub(super) fn etcd_health_status(cp: &ControlPlane) -> String {
    etcd_health(cp).and_then(|h| h.status).map(|s| render(&s)).unwrap_or_default()
}

/// The policy's conditions as JSON, for failure reports.
pub(super) fn policy_conditions(cp: &ControlPlane) -> String {
    policy(cp).and_then(|p| p.status).map(|s| render(&s.conditions)).unwrap_or_default()
}

/// UIDs of the detector's pods, space-separated.
pub(super) fn detector_pods(cp: &ControlPlane) -> String {
    let pods: Vec<Pod> = list(cp, &["pods", "-l", "app=detector"]);
    pods.into_iter().filter_map(|p| p.metadata.uid).collect::<Vec<_>>().join(" ")
}

pub(super) fn replica_sets(cp: &ControlPlane) -> usize {
    list::<ReplicaSet>(cp, &["replicasets"]).len()
}

/// The detector Deployment's rollout revision and its `VACCEL_RPC_ADDRESS`.
pub(super) fn rollout(cp: &ControlPlane) -> (String, String) {
    let Some(d) = get::<Deployment>(cp, &["deployment", "detector"]) else { return Default::default() };
    let revision = d.metadata.annotations.and_then(|mut a| a.remove("deployment.kubernetes.io/revision"));
    let container = d.spec.template.spec.and_then(|s| s.containers.into_iter().next());
    let env = container.and_then(|c| c.env).unwrap_or_default();
    let address = env.into_iter().find(|e| e.name == "VACCEL_RPC_ADDRESS").and_then(|e| e.value);
    (revision.unwrap_or_default(), address.unwrap_or_default())
}

pub(super) fn backend_selector(cp: &ControlPlane) -> BTreeMap<String, String> {
    get::<Service>(cp, &["service", "vaccel-backend"]).and_then(|s| s.spec?.selector).unwrap_or_default()
}
