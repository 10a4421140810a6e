//! The fleet: namespaces, Deployments and OffloadPolicies created concurrently, and reads of what
//! the operator made of them.

use std::path::Path;
use std::time::Duration;

use continuum_api::OffloadPolicy;
use continuum_testenv::kit::manifest::Fixtures;
use continuum_testenv::kit::{as_written, block_on};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The fleet's size.
#[derive(Debug, Clone)]
pub struct Shape {
    pub policies: usize,
    pub namespaces: usize,
    pub queries: usize,
    pub flip: usize,
    pub trials: usize,
    pub window: Duration,
}

impl Shape {
    pub fn from_env() -> Self {
        let policies = env_or("SCALE_POLICIES", 10_000);
        Self {
            policies,
            namespaces: env_or("SCALE_NAMESPACES", 100).clamp(1, policies.max(1)),
            queries: env_or("SCALE_QUERIES", 100).max(2),
            flip: env_or("SCALE_FLIP", 1_000).min(policies),
            trials: env_or("SCALE_TRIALS", 20),
            window: Duration::from_secs(env_or("SCALE_WINDOW", 120) as u64),
        }
    }

    pub fn per_namespace(&self) -> usize {
        self.policies.div_ceil(self.namespaces)
    }

    /// The query of the `i`th policy: the first `flip` share a tenth of the distinct queries on
    /// the exporter that degrades them together; the others share the rest. The added term is
    /// below 0.1, so it tells the queries apart without moving them across a threshold.
    pub fn query_of(&self, i: usize) -> String {
        let flip_queries = (self.queries / 10).max(1);
        let (job, k) =
            if i < self.flip { ("target1", i % flip_queries) } else { ("target0", i % (self.queries - flip_queries)) };
        format!("max(detector_fps{{job=\"{job}\"}}) + 0.0001 * {k}")
    }
}

fn fixtures() -> Fixtures {
    Fixtures::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

pub fn or_panic<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The detector's first environment value (its VACCEL_RPC_ADDRESS).
pub fn env_value(d: &Deployment) -> Option<String> {
    d.spec.template.spec.as_ref()?.containers.first()?.env.as_ref()?.first()?.value.clone()
}

pub fn deployment(name: &str, pi: &str) -> Deployment {
    let mut d: Deployment = or_panic(fixtures().load("detector.yaml"));
    d.metadata.name = Some(name.to_owned());
    let containers = d.spec.template.spec.as_mut().map(|s| &mut s.containers);
    if let Some(var) = containers.and_then(|c| c.first_mut()?.env.as_mut()?.first_mut()) {
        var.value = Some(pi.to_owned());
    }
    d
}

/// The fixture's Prometheus policy on fps only (offload below 10 for 3 s), for Deployment `name`.
pub fn policy(name: &str, prom: &str, query: &str, pi: &str, jetson: &str, interval: Duration) -> OffloadPolicy {
    let mut p: OffloadPolicy = or_panic(fixtures().load("offloadpolicy-prometheus.yaml"));
    p.metadata.name = Some(name.to_owned());
    p.metadata.labels = Some([("bench".to_owned(), "fleet".to_owned())].into());
    p.spec.target_ref.name = name.to_owned();
    let t = &mut p.spec.telemetry;
    if let Some(source) = t.prometheus.as_mut() {
        source.url = prom.to_owned();
    }
    (t.interval, t.max_sample_age) = (interval.into(), Duration::from_secs(30).into());
    p.spec.signals.retain(|s| s.name == "fps");
    if let Some(fps) = p.spec.signals.first_mut() {
        fps.query = Some(query.to_owned());
    }
    let only_fps = |rules: &mut Option<Vec<continuum_api::offload::Threshold>>| {
        if let Some(rules) = rules.as_mut() {
            rules.retain(|r| r.signal == "fps");
        }
    };
    only_fps(&mut p.spec.offload_when.any);
    if let Some(recover) = p.spec.recover_when.as_mut() {
        only_fps(&mut recover.all);
    }
    p.spec.backends.local.endpoint = pi.to_owned();
    let jetson_backend = &mut p.spec.backends.offload[0];
    jetson_backend.endpoint = jetson.to_owned();
    jetson_backend.health_check = Default::default();
    p
}

/// Requests the bench client keeps in flight while creating the fleet.
const IN_FLIGHT: usize = 32;

/// Namespace of the `i`th policy (and its Deployment): `per_namespace` policies a namespace.
pub fn namespace_of(shape: &Shape, i: usize) -> String {
    format!("fleet-{:03}", i / shape.per_namespace())
}

/// Server-side applies every namespace, Deployment and policy of the fleet.
pub fn create(client: &Client, shape: &Shape, prom: &str, pi: &str, jetson: &str) {
    let pp = PatchParams::apply("bench").force();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let names: Vec<String> = (0..shape.namespaces).map(|n| format!("fleet-{n:03}")).collect();
    block_on(futures::stream::iter(names).map(Ok).try_for_each_concurrent(IN_FLIGHT, |name| {
        let (namespaces, pp) = (namespaces.clone(), pp.clone());
        async move {
            let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            namespaces.patch(&name, &pp, &Patch::Apply(ns)).await.map(drop)
        }
    }))
    .unwrap_or_else(|e| panic!("creating the namespaces: {e}"));
    let started = std::time::Instant::now();
    block_on(futures::stream::iter(0..shape.policies).map(Ok).try_for_each_concurrent(IN_FLIGHT, |i| {
        let (client, pp, ns) = (client.clone(), pp.clone(), namespace_of(shape, i));
        let name = format!("detector-{i:05}");
        let d = deployment(&name, pi);
        let p = policy(&name, prom, &shape.query_of(i), pi, jetson, Duration::from_secs(10));
        let p = as_written(&p).unwrap_or_else(|e| panic!("{e}"));
        async move {
            let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
            deployments.patch(&name, &pp, &Patch::Apply(&d)).await?;
            let policies: Api<OffloadPolicy> = Api::namespaced(client, &ns);
            policies.patch(&name, &pp, &Patch::Apply(&p)).await.map(drop)
        }
    }))
    .unwrap_or_else(|e| panic!("creating the fleet: {e}"));
    eprintln!("bench: {} Deployments and policies created in {:.0?}", shape.policies, started.elapsed());
}

/// How many of the fleet's policies have a status for their current generation (have been
/// evaluated at least once).
pub fn evaluated(client: &Client) -> usize {
    let policies: Api<OffloadPolicy> = Api::all(client.clone());
    let list = block_on(policies.list(&ListParams::default().labels("bench=fleet")));
    list.map(|l| {
        l.items
            .iter()
            .filter(|p| {
                let observed = p.status.as_ref().and_then(|s| s.observed_generation);
                observed.is_some() && observed == p.metadata.generation
            })
            .count()
    })
    .unwrap_or(0)
}

/// How many Deployments among the first `n` of the fleet point at `endpoint`.
pub fn pointing_at(client: &Client, shape: &Shape, n: usize, endpoint: &str) -> usize {
    let namespaces: Vec<String> =
        (0..n).map(|i| namespace_of(shape, i)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut count = 0;
    for ns in namespaces {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        let Ok(list) = block_on(deployments.list(&ListParams::default())) else { continue };
        count += list
            .items
            .iter()
            .filter(|d| index_of(&d.name_any()).is_some_and(|i| i < n))
            .filter(|d| env_value(d).as_deref() == Some(endpoint))
            .count();
    }
    count
}

fn index_of(name: &str) -> Option<usize> {
    name.strip_prefix("detector-")?.parse().ok()
}
