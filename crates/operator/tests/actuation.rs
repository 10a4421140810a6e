//! No-redeployment actuation on the real kube-apiserver: the backend switched by repointing a
//! Service (selector or EndpointSlice), by a Karmada OverridePolicy, or through a ConfigMap — the
//! Deployment's pod template never changes — and deleting a policy restores the local backend
//! unless `onDelete: Keep`.

use std::collections::BTreeMap;
use std::time::Duration;

use continuum_api::OffloadPolicy;
use continuum_api::offload::{Actuation, ConfigMapActuation, OnDelete, OverridePolicyActuation, ServiceActuation};
use continuum_testenv::kit::{self, Objects};
use continuum_testenv::sim::Agent;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use kube::api::DynamicObject;

mod common;
use common::{Testbed, fixtures};

const LIMIT: Duration = Duration::from_secs(20);

struct Scenario {
    s: Testbed,
    deployments: Objects<Deployment>,
    policies: Objects<OffloadPolicy>,
}

fn scenario() -> kit::Result<Scenario> {
    let s = Testbed::start(true)?;
    let deployments = s.cluster.namespaced::<Deployment>("default");
    deployments.apply(&common::detector(&s.pi.endpoint())?, "gitops")?;
    let policies = s.cluster.namespaced("default");
    Ok(Scenario { s, deployments, policies })
}

impl Scenario {
    fn policy(&self, actuation: Actuation, on_delete: OnDelete) -> kit::Result<OffloadPolicy> {
        let s = &self.s;
        let mut p = common::scrape_policy(&s.scrape_url(), &s.pi.endpoint(), &s.jetson.endpoint())?;
        p.spec.actuation = actuation;
        p.spec.on_delete = on_delete;
        Ok(p)
    }

    fn degrade(&self) {
        self.s.exporter.set(3.0, 0.5);
    }

    fn recover(&self) {
        self.s.exporter.set(25.0, 0.04);
    }

    /// The Deployment's generation and pod template: must never change in these modes.
    fn template(&self) -> kit::Result<(Option<i64>, String)> {
        let d = self.deployments.get("detector")?;
        Ok((d.metadata.generation, serde_json::to_string(&d.spec.template).unwrap_or_default()))
    }

    fn actuation_object(&self) -> kit::Result<Option<String>> {
        Ok(self.policies.get("detector")?.status.and_then(|s| s.actuation).map(|a| a.object))
    }

    fn delete_policy(&self) -> kit::Result<()> {
        self.policies.delete("detector")?;
        self.policies.wait_gone("detector", LIMIT)
    }
}

fn actuation(f: impl FnOnce(&mut Actuation)) -> Actuation {
    let mut a = Actuation { env: None, service: None, override_policy: None, config_map: None };
    f(&mut a);
    a
}

fn selector(node: &str) -> BTreeMap<String, String> {
    [("app".to_owned(), "vaccel-agent".to_owned()), ("node".to_owned(), node.to_owned())].into()
}

fn annotate(team: &str) -> serde_json::Value {
    serde_json::json!({"metadata": {"annotations": {"team": team}}})
}

fn service_actuation(selectors: bool) -> Actuation {
    actuation(|a| {
        a.service = Some(ServiceActuation {
            name: "vaccel-backend".into(),
            port: None,
            local_selector: selectors.then(|| selector("pi")),
            offload_selector: selectors.then(|| selector("jetson")),
        })
    })
}

/// The finalizer that restores the local backend when a policy is deleted.
const RESTORE: &str = "continuum.dev/restore-backend";

#[test]
fn service_selector_mode_repoints_the_service_and_leaves_the_pods_alone() -> kit::Result<()> {
    let sc = scenario()?;
    let services = sc.s.cluster.namespaced::<Service>("default");
    services.apply(&fixtures().load("service.yaml")?, "gitops")?;
    let before = sc.template()?;
    let _op = sc.s.operator("test-operator")?;
    sc.policies.apply(&sc.policy(service_actuation(true), OnDelete::Restore)?, "user")?;
    sc.policies.wait_for("detector", "actuation status", LIMIT, |p| {
        let a = p.status.as_ref().and_then(|s| s.actuation.as_ref());
        a.is_some_and(|a| {
            (a.mode.as_str(), a.object.as_str(), a.observed_value.as_deref())
                == ("service", "Service vaccel-backend", Some("app=vaccel-agent,node=pi"))
        })
    })?;
    services.merge("vaccel-backend", &annotate("edge"))?;
    let on = |node: &'static str| {
        move |s: &Service| {
            s.spec.as_ref().and_then(|s| s.selector.as_ref()?.get("node").cloned()).as_deref() == Some(node)
        }
    };
    for round in 0..2 {
        sc.degrade();
        services.wait_for(
            "vaccel-backend",
            &format!("round {round}: selector on the Jetson agents"),
            LIMIT,
            on("jetson"),
        )?;
        sc.recover();
        services.wait_for(
            "vaccel-backend",
            &format!("round {round}: selector back on the Pi agents"),
            LIMIT,
            on("pi"),
        )?;
    }
    let svc = services.get("vaccel-backend")?;
    let annotations = svc.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(annotations.get("team").map(String::as_str), Some("edge"), "user edit lost");
    assert_eq!(annotations.get("owner").map(String::as_str), Some("gitops"));
    let port = svc.spec.and_then(|s| s.ports?.first().map(|p| p.port));
    assert_eq!(port, Some(8192));
    assert_eq!(sc.template()?, before, "the Deployment's pod template changed: pods would restart");
    let to: Vec<String> = sc
        .policies
        .get("detector")?
        .status
        .map(|s| s.recent_transitions)
        .unwrap_or_default()
        .iter()
        .map(|t| t.to.clone())
        .collect();
    assert_eq!(to, ["jetson", "local", "jetson", "local"]);
    Ok(())
}

#[test]
fn service_without_selector_gets_an_endpointslice_for_the_active_agent() -> kit::Result<()> {
    // The API server refuses loopback addresses in EndpointSlices: the agents listen on the
    // machine's own address.
    let host = continuum_testenv::sim::primary_address()
        .unwrap_or_else(|| panic!("this test needs a non-loopback address on the default route"));
    let mut sc = scenario()?;
    sc.s.pi = Agent::start_on(host);
    sc.s.jetson = Agent::start_on(host);
    sc.deployments.apply(&common::detector(&sc.s.pi.endpoint())?, "gitops")?;
    let mut service: Service = fixtures().load("service.yaml")?;
    if let Some(spec) = service.spec.as_mut() {
        spec.selector = None;
    }
    sc.s.cluster.namespaced::<Service>("default").apply(&service, "gitops")?;
    let before = sc.template()?;
    let _op = sc.s.operator("test-operator")?;
    sc.policies.apply(&sc.policy(service_actuation(false), OnDelete::Restore)?, "user")?;
    let slices = sc.s.cluster.namespaced::<EndpointSlice>("default");
    let on = |a: &Agent| {
        let port = i32::from(a.port);
        move |s: &EndpointSlice| s.ports.as_ref().and_then(|p| p.first()?.port) == Some(port)
    };
    let slice = slices.wait_for("vaccel-backend-vaccel", "EndpointSlice on the Pi agent", LIMIT, on(&sc.s.pi))?;
    let family = if host.is_ipv4() { "IPv4" } else { "IPv6" };
    assert_eq!(slice.address_type, family);
    assert_eq!(slice.endpoints.as_ref().and_then(|e| e.first()?.addresses.first().cloned()), Some(host.to_string()));
    assert_eq!(slice.ports.as_ref().and_then(|p| p.first()?.name.clone()).as_deref(), Some("vaccel"));
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/service-name").map(String::as_str), Some("vaccel-backend"));
    let owner =
        slice.metadata.owner_references.clone().unwrap_or_default().first().map(|o| (o.kind.clone(), o.name.clone()));
    assert_eq!(owner, Some(("Service".into(), "vaccel-backend".into())));
    slices.merge("vaccel-backend-vaccel", &annotate("edge"))?;
    for round in 0..2 {
        sc.degrade();
        slices.wait_for(
            "vaccel-backend-vaccel",
            &format!("round {round}: slice on the Jetson"),
            LIMIT,
            on(&sc.s.jetson),
        )?;
        sc.recover();
        slices.wait_for("vaccel-backend-vaccel", &format!("round {round}: slice on the Pi"), LIMIT, on(&sc.s.pi))?;
    }
    let annotations = slices.get("vaccel-backend-vaccel")?.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("team").map(String::as_str), Some("edge"), "user edit lost");
    assert_eq!(sc.template()?, before);
    Ok(())
}

#[test]
fn configmap_mode_switches_one_key_and_deletion_restores_unless_keep() -> kit::Result<()> {
    let sc = scenario()?;
    let (pi, jetson) = (sc.s.pi.endpoint(), sc.s.jetson.endpoint());
    let maps = sc.s.cluster.namespaced::<ConfigMap>("default");
    let mut map: ConfigMap = fixtures().load("configmap.yaml")?;
    map.data.get_or_insert_with(BTreeMap::new).insert("VACCEL_RPC_ADDRESS".into(), pi.clone());
    maps.apply(&map, "gitops")?;
    let before = sc.template()?;
    let _op = sc.s.operator("test-operator")?;
    let mode = || {
        actuation(|a| {
            a.config_map = Some(ConfigMapActuation { name: "vaccel-config".into(), key: "VACCEL_RPC_ADDRESS".into() })
        })
    };
    sc.policies.apply(&sc.policy(mode(), OnDelete::Restore)?, "user")?;
    let value = |m: &ConfigMap| m.data.as_ref().and_then(|d| d.get("VACCEL_RPC_ADDRESS").cloned());
    let key_is = |endpoint: &str| {
        let endpoint = endpoint.to_owned();
        move |m: &ConfigMap| value(m).as_deref() == Some(endpoint.as_str())
    };
    let holds_finalizer =
        |p: &OffloadPolicy| p.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == RESTORE));
    // A policy that has not offloaded has nothing to restore: it costs no finalizer write.
    let evaluated = sc.policies.wait_for("detector", "evaluated", LIMIT, |p| p.status.is_some())?;
    assert!(!holds_finalizer(&evaluated), "finalizer before any switch");
    maps.merge("vaccel-config", &serde_json::json!({"data": {"log-level": "3"}}))?;
    for round in 0..2 {
        sc.degrade();
        maps.wait_for("vaccel-config", &format!("round {round}: key on the Jetson"), LIMIT, key_is(&jetson))?;
        assert!(holds_finalizer(&sc.policies.get("detector")?), "offloaded without the restoring finalizer");
        sc.recover();
        maps.wait_for("vaccel-config", &format!("round {round}: key on the Pi"), LIMIT, key_is(&pi))?;
    }
    let data = maps.get("vaccel-config")?.data.unwrap_or_default();
    assert_eq!(data.get("log-level").map(String::as_str), Some("3"), "user edit lost");
    assert_eq!(sc.actuation_object()?.as_deref(), Some("ConfigMap vaccel-config"));

    // Deleted while offloaded: back to the Pi first, then the policy goes.
    sc.degrade();
    maps.wait_for("vaccel-config", "offloaded", LIMIT, key_is(&jetson))?;
    sc.delete_policy()?;
    assert_eq!(value(&maps.get("vaccel-config")?), Some(pi.clone()), "deletion did not restore the local backend");
    let restored = sc.s.cluster.namespaced::<Event>("default").list("reason=Restored")?;
    assert!(!restored.is_empty(), "no Restored Event");

    // onDelete: Keep leaves it on the Jetson.
    sc.policies.apply(&sc.policy(mode(), OnDelete::Keep)?, "user")?;
    maps.wait_for("vaccel-config", "offloaded again", LIMIT, key_is(&jetson))?;
    sc.delete_policy()?;
    assert_eq!(value(&maps.get("vaccel-config")?), Some(jetson.clone()), "onDelete: Keep switched back");
    assert_eq!(sc.template()?, before);
    Ok(())
}

fn plaintext(o: &DynamicObject, field: &str) -> Option<String> {
    o.data.pointer(&format!("/spec/overrideRules/0/overriders/plaintext/0/{field}"))?.as_str().map(str::to_owned)
}

#[test]
fn override_policy_mode_overrides_member_clusters_and_leaves_the_template_alone() -> kit::Result<()> {
    let sc = scenario()?;
    let (pi, jetson) = (sc.s.pi.endpoint(), sc.s.jetson.endpoint());
    let label = serde_json::json!({"metadata": {"labels": {"propagationpolicy.karmada.io/permanent-id": "2c5e1a"}}});
    sc.deployments.merge("detector", &label)?;
    let bindings = sc.s.cluster.dynamic("default", "work.karmada.io/v1alpha2", "ResourceBinding");
    bindings.apply(&fixtures().load::<DynamicObject>("resourcebinding.yaml")?, "karmada")?;
    let aggregated = serde_json::json!({"status": {"aggregatedStatus": [
        {"clusterName": "edge-pi", "applied": true, "health": "Healthy"},
        {"clusterName": "edge-jetson", "applied": true, "health": "Healthy"},
    ]}});
    bindings.merge_status("detector-deployment", &aggregated)?;
    let before = sc.template()?;
    let _op = sc.s.operator("test-operator")?;
    let mode = actuation(|a| {
        a.override_policy = Some(OverridePolicyActuation {
            container: "detector".into(),
            name: "VACCEL_RPC_ADDRESS".into(),
            clusters: vec![],
        })
    });
    sc.policies.apply(&sc.policy(mode, OnDelete::Restore)?, "user")?;
    sc.policies.wait_for("detector", "template value reported while local", LIMIT, |p| {
        p.status
            .as_ref()
            .and_then(|s| s.actuation.as_ref())
            .is_some_and(|a| a.object == "OverridePolicy detector-vaccel (absent; template value)")
    })?;
    let overrides = sc.s.cluster.dynamic("default", "policy.karmada.io/v1alpha1", "OverridePolicy");
    let value_is = |endpoint: &str| {
        let endpoint = endpoint.to_owned();
        move |o: &DynamicObject| plaintext(o, "value").as_deref() == Some(endpoint.as_str())
    };
    sc.degrade();
    let o = overrides.wait_for("detector-vaccel", "override to the Jetson", LIMIT, value_is(&jetson))?;
    let selector = &o.data["spec"]["resourceSelectors"][0];
    assert_eq!((selector["kind"].as_str(), selector["name"].as_str()), (Some("Deployment"), Some("detector")));
    assert_eq!(
        o.data["spec"]["overrideRules"][0]["targetCluster"]["clusterNames"],
        serde_json::json!(["edge-pi", "edge-jetson"])
    );
    assert_eq!(plaintext(&o, "path").as_deref(), Some("/spec/template/spec/containers/0/env/0/value"));
    assert_eq!(plaintext(&o, "operator").as_deref(), Some("replace"));
    overrides.merge("detector-vaccel", &annotate("edge"))?;
    sc.recover();
    overrides.wait_for("detector-vaccel", "override back to the Pi", LIMIT, value_is(&pi))?;
    sc.degrade();
    overrides.wait_for("detector-vaccel", "override to the Jetson again", LIMIT, value_is(&jetson))?;
    let annotations = overrides.get("detector-vaccel")?.metadata.annotations.unwrap_or_default();
    assert_eq!(annotations.get("team").map(String::as_str), Some("edge"), "user edit lost");
    assert_eq!(sc.template()?, before, "the resource template changed");
    sc.delete_policy()?;
    assert!(overrides.get_opt("detector-vaccel")?.is_none(), "the OverridePolicy outlived its OffloadPolicy");
    Ok(())
}
