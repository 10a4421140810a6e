//! Project fixtures of the operator's integration tests (the generic kit is
//! `continuum_testenv::kit`): the binary, the manifests under `tests/fixtures/`, and a testbed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use continuum_api::{EtcdHealth, OffloadPolicy};
use continuum_testenv::ControlPlane;
use continuum_testenv::kit::manifest::Fixtures;
use continuum_testenv::kit::{self, Cluster, Launch};
use continuum_testenv::sim::{Agent, Exporter};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

pub const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixtures() -> Fixtures {
    Fixtures::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

/// A fresh control plane with the generated CRDs (and, if asked, the minimal Karmada CRDs).
pub fn control_plane(karmada: bool) -> kit::Result<(ControlPlane, Cluster)> {
    let cp = ControlPlane::start()?;
    cp.apply_crds(&repo().join("deploy/crds"))?;
    if karmada {
        cp.apply_crds(&continuum_testenv::karmada_crds())?;
    }
    let cluster = Cluster::connect(&cp)?;
    Ok((cp, cluster))
}

/// `continuum-operator run` on `cp` (identity, port and log are given at start).
pub fn operator(cp: &ControlPlane) -> Launch {
    Launch::run(OPERATOR, &cp.kubeconfig)
}

/// A control plane with the CRDs, a detector metrics endpoint whose figures the test sets, and
/// the two vAccel agent stand-ins.
pub struct Testbed {
    pub cp: ControlPlane,
    pub cluster: Cluster,
    pub exporter: Exporter,
    pub pi: Agent,
    pub jetson: Agent,
}

impl Testbed {
    pub fn start(karmada: bool) -> kit::Result<Self> {
        let (cp, cluster) = control_plane(karmada)?;
        let exporter = Exporter::start(25.0, 0.04);
        let (pi, jetson) = (Agent::start(), Agent::start());
        Ok(Self { cp, cluster, exporter, pi, jetson })
    }

    /// The operator on this testbed's control plane, as identity `name`.
    pub fn operator(&self, name: &str) -> kit::Result<kit::Operator> {
        operator(&self.cp).start(&self.cp.dir, name)
    }

    pub fn scrape_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.exporter.port)
    }
}

/// The detector Deployment calling the vAccel agent at `endpoint`.
pub fn detector(endpoint: &str) -> kit::Result<Deployment> {
    let mut d: Deployment = fixtures().load("detector.yaml")?;
    set_env(&mut d, "VACCEL_RPC_ADDRESS", endpoint);
    Ok(d)
}

/// Sets (or adds) `name` in the first container's environment.
pub fn set_env(d: &mut Deployment, name: &str, value: &str) {
    let container = d.spec.template.spec.as_mut().and_then(|s| s.containers.first_mut());
    let Some(container) = container else { return };
    let env = container.env.get_or_insert_with(Vec::new);
    match env.iter_mut().find(|e| e.name == name) {
        Some(e) => e.value = Some(value.to_owned()),
        None => env.push(k8s_openapi::api::core::v1::EnvVar {
            name: name.to_owned(),
            value: Some(value.to_owned()),
            ..Default::default()
        }),
    }
}

/// The value of `name` in the first container's environment.
pub fn env_of(d: &Deployment, name: &str) -> Option<String> {
    let spec = d.spec.template.spec.as_ref()?;
    spec.containers.first()?.env.as_ref()?.iter().find(|e| e.name == name)?.value.clone()
}

/// The policy on the detector's own /metrics at `url`, switching between `pi` and `jetson`.
pub fn scrape_policy(url: &str, pi: &str, jetson: &str) -> kit::Result<OffloadPolicy> {
    let mut p: OffloadPolicy = fixtures().load("offloadpolicy-scrape.yaml")?;
    if let Some(scrape) = p.spec.telemetry.scrape.as_mut() {
        scrape.url = url.to_owned();
    }
    p.spec.backends.local.endpoint = pi.to_owned();
    p.spec.backends.offload[0].endpoint = jetson.to_owned();
    Ok(p)
}

/// An EtcdHealth on one member, correlated with the karmada-apiserver pods of `correlate_ns`.
pub fn etcd_health(name: &str, metrics_url: &str, correlate_ns: Option<&str>) -> kit::Result<EtcdHealth> {
    let mut h: EtcdHealth = fixtures().load("etcdhealth.yaml")?;
    h.metadata.name = Some(name.to_owned());
    h.spec.endpoints[0].metrics_url = metrics_url.to_owned();
    if let Some(ns) = correlate_ns {
        h.spec.correlate = Some(continuum_api::etcd::Correlate {
            namespace: ns.to_owned(),
            pod_selector: [("app".to_owned(), "karmada-apiserver".to_owned())].into(),
        });
    }
    Ok(h)
}

/// A pod that "restarted 7 times" a moment ago (status written through the status subresource).
pub fn crashing_pod(cluster: &Cluster, ns: &str) -> kit::Result<()> {
    let pod: Pod = fixtures().load("karmada-apiserver-pod.yaml")?;
    let pods = cluster.namespaced::<Pod>(ns);
    pods.create(&pod)?;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = serde_json::json!({"status": {"phase": "Running", "containerStatuses": [{
        "name": "karmada-apiserver", "image": "karmada/karmada-apiserver:v1.15.0", "imageID": "",
        "ready": false, "restartCount": 7, "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now}},
    }]}});
    pods.merge_status("karmada-apiserver-0", &status).map(drop)
}

/// The latest value of signal `name` in the policy's status.
pub fn signal(p: &OffloadPolicy, name: &str) -> Option<f64> {
    let observed = p.status.as_ref()?.observed.as_ref()?;
    observed.signals.iter().find(|s| s.name == name)?.value
}

/// The condition of type `type_`, if present.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}
