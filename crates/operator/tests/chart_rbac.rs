//! The chart's RBAC on a real kube-apiserver: `helm install`, then the real `kubectl auth can-i`
//! for every right the operator needs (yes) and for dangerous ones (no), then the operator itself
//! run with the ServiceAccount's own token, reconciling both kinds of resource — proof the
//! granted rights are enough and nothing in the code needs more.

use std::process::Command;
use std::time::Duration;

use continuum_api::{EtcdHealth, OffloadPolicy};
use continuum_testenv::ControlPlane;
use continuum_testenv::kit::{self, Cluster, Kubectl, Launch, block_on, wait};
use continuum_testenv::sim::{Agent, Exporter};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use kube::api::PostParams;

mod common;
use common::{condition, crashing_pod, env_of, fixtures};

const RELEASE_NS: &str = "continuum-system";
const SA: &str = "system:serviceaccount:continuum-system:continuum-operator";

/// Installs the chart (single-cluster mode) with Secrets readable in `apps` only.
fn install(cp: &ControlPlane, cluster: &Cluster) -> kit::Result<()> {
    for ns in ["apps", "karmada-system"] {
        cluster.ensure_namespace(ns)?;
    }
    let helm = continuum_testenv::gobuild::helm()?;
    let o = Command::new(helm)
        .args(["install", "continuum"])
        .arg(common::repo().join("charts/continuum-operator"))
        .args(["-n", RELEASE_NS, "--create-namespace", "--kubeconfig"])
        .arg(&cp.kubeconfig)
        .args(["--set", "fullnameOverride=continuum-operator", "--set", "rbac.secretNamespaces={apps}"])
        .env("HELM_CACHE_HOME", cp.dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", cp.dir.join("helm/config"))
        .env("HELM_DATA_HOME", cp.dir.join("helm/data"))
        .output()
        .map_err(|e| kit::Error::Failed(format!("running helm: {e}")))?;
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "helm install failed: {text}");
    Ok(())
}

/// `resource` may be `kind.group`, `kind.group/name` or `kind.group:subresource`.
fn can_i(cp: &ControlPlane, verb: &str, resource: &str, ns: Option<&str>) -> bool {
    let (resource, sub) = resource.split_once(':').map_or((resource, None), |(r, s)| (r, Some(s)));
    let mut args = vec!["auth", "can-i", verb, resource, "--as", SA];
    if let Some(sub) = sub {
        args.extend(["--subresource", sub]);
    }
    match ns {
        Some(ns) => args.extend(["-n", ns]),
        None => args.push("--all-namespaces"),
    }
    Kubectl(cp).run(&args).is_ok_and(|r| r.stdout.trim() == "yes")
}

/// A kubeconfig for the chart's ServiceAccount, with a token from the TokenRequest API.
fn service_account_kubeconfig(cp: &ControlPlane, cluster: &Cluster) -> kit::Result<std::path::PathBuf> {
    let accounts = cluster.namespaced::<ServiceAccount>(RELEASE_NS);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() }),
        ..Default::default()
    };
    let issued: TokenRequest =
        block_on(accounts.api().create_subresource("token", "continuum-operator", &PostParams::default(), &request))
            .map_err(|e| kit::Error::Failed(format!("requesting a token: {e}")))?;
    let token = issued.status.and_then(|s| s.token).unwrap_or_default();
    let path = cp.dir.join("sa.kubeconfig");
    kit::write_token_kubeconfig(&path, &cp.server, &cp.certs.ca_cert, &token)?;
    Ok(path)
}

#[test]
fn the_chart_grants_exactly_what_the_operator_uses_and_it_is_enough() -> kit::Result<()> {
    let cp = ControlPlane::start()?;
    // Karmada's ResourceBinding API, so that `can-i` resolves it as the operator would see it.
    cp.apply_crds(&continuum_testenv::karmada_crds())?;
    let cluster = Cluster::connect(&cp)?;
    install(&cp, &cluster)?;

    // (verb, resource, namespace: None = all namespaces)
    let needed: &[(&str, &str, Option<&str>)] = &[
        ("list", "offloadpolicies.continuum.dev", None),
        ("watch", "offloadpolicies.continuum.dev", None),
        ("patch", "offloadpolicies.continuum.dev:status", None),
        ("list", "etcdhealths.continuum.dev", None),
        ("watch", "etcdhealths.continuum.dev", None),
        ("patch", "etcdhealths.continuum.dev:status", None),
        ("list", "deployments.apps", None),
        ("watch", "deployments.apps", None),
        ("patch", "deployments.apps", None),
        ("create", "events.events.k8s.io", None),
        ("patch", "events.events.k8s.io", None),
        ("get", "customresourcedefinitions.apiextensions.k8s.io/offloadpolicies.continuum.dev", None),
        ("get", "customresourcedefinitions.apiextensions.k8s.io/etcdhealths.continuum.dev", None),
        ("list", "resourcebindings.work.karmada.io", None),
        ("watch", "resourcebindings.work.karmada.io", None),
        ("patch", "offloadpolicies.continuum.dev", None),
        ("patch", "services", None),
        ("patch", "configmaps", None),
        ("watch", "services", None),
        ("watch", "configmaps", None),
        ("watch", "endpointslices.discovery.k8s.io", None),
        ("create", "endpointslices.discovery.k8s.io", None),
        ("patch", "endpointslices.discovery.k8s.io", None),
        ("create", "overridepolicies.policy.karmada.io", None),
        ("delete", "overridepolicies.policy.karmada.io", None),
        ("get", "leases.coordination.k8s.io", Some(RELEASE_NS)),
        ("create", "leases.coordination.k8s.io", Some(RELEASE_NS)),
        ("update", "leases.coordination.k8s.io", Some(RELEASE_NS)),
        ("watch", "leases.coordination.k8s.io", Some(RELEASE_NS)),
        ("list", "pods", Some("karmada-system")),
        ("list", "events", Some("karmada-system")),
        ("get", "secrets", Some("apps")),
    ];
    let dangerous: &[(&str, &str, Option<&str>)] = &[
        ("get", "secrets", None),
        ("list", "secrets", Some("apps")),
        ("get", "secrets", Some("default")),
        ("get", "secrets", Some(RELEASE_NS)),
        ("delete", "deployments.apps", None),
        ("create", "services", None),
        ("delete", "services", None),
        ("create", "configmaps", None),
        ("delete", "configmaps", None),
        ("delete", "endpointslices.discovery.k8s.io", None),
        ("delete", "offloadpolicies.continuum.dev", None),
        ("create", "deployments.apps", None),
        ("update", "offloadpolicies.continuum.dev", None),
        ("delete", "etcdhealths.continuum.dev", None),
        ("escalate", "clusterroles.rbac.authorization.k8s.io", None),
        ("bind", "clusterroles.rbac.authorization.k8s.io", None),
        ("create", "rolebindings.rbac.authorization.k8s.io", Some(RELEASE_NS)),
        ("create", "pods/exec", Some("karmada-system")),
        ("create", "pods", Some("karmada-system")),
        ("list", "pods", None),
        ("impersonate", "users", None),
        ("impersonate", "serviceaccounts", None),
        ("create", "serviceaccounts/token", Some(RELEASE_NS)),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", None),
        ("update", "customresourcedefinitions.apiextensions.k8s.io/offloadpolicies.continuum.dev", None),
        ("list", "customresourcedefinitions.apiextensions.k8s.io", None),
        ("create", "leases.coordination.k8s.io", Some("kube-system")),
        ("delete", "leases.coordination.k8s.io", Some(RELEASE_NS)),
        ("get", "nodes", None),
        ("get", "pods", Some("karmada-system")),
        ("create", "resourcebindings.work.karmada.io", None),
        ("update", "offloadpolicies.continuum.dev:status", None),
        ("delete", "resourcebindings.work.karmada.io", None),
        ("*", "*", None),
    ];
    let wrong_no: Vec<String> = needed
        .iter()
        .filter(|(v, r, ns)| !can_i(&cp, v, r, *ns))
        .map(|(v, r, ns)| format!("{v} {r} in {}", ns.unwrap_or("all namespaces")))
        .collect();
    let wrong_yes: Vec<String> = dangerous
        .iter()
        .filter(|(v, r, ns)| can_i(&cp, v, r, *ns))
        .map(|(v, r, ns)| format!("{v} {r} in {}", ns.unwrap_or("all namespaces")))
        .collect();
    assert!(wrong_no.is_empty(), "the chart does not grant what the operator needs: {wrong_no:?}");
    assert!(wrong_yes.is_empty(), "the chart grants dangerous rights: {wrong_yes:?}");

    // The operator with the ServiceAccount's own token: everything it does must be allowed.
    let sa_config = service_account_kubeconfig(&cp, &cluster)?;
    let (exporter, pi, jetson) = (Exporter::start(25.0, 0.04), Agent::start(), Agent::start());
    let ca = std::fs::read_to_string(&cp.certs.ca_cert).map_err(|e| kit::Error::Failed(e.to_string()))?;
    let mut secret = Secret { string_data: Some([("ca.crt".to_owned(), ca)].into()), ..Default::default() };
    secret.metadata.name = Some("telemetry-ca".into());
    cluster.namespaced::<Secret>("apps").create(&secret)?;
    let deployments = cluster.namespaced::<Deployment>("apps");
    deployments.apply(&common::detector(&pi.endpoint())?, "gitops")?;
    let policy: OffloadPolicy = fixtures().load("offloadpolicy-rbac.yaml")?;
    let mut policy = policy;
    if let Some(scrape) = policy.spec.telemetry.scrape.as_mut() {
        scrape.url = format!("http://127.0.0.1:{}/metrics", exporter.port);
    }
    policy.spec.backends.local.endpoint = pi.endpoint();
    policy.spec.backends.offload[0].endpoint = jetson.endpoint();
    let policies = cluster.namespaced::<OffloadPolicy>("apps");
    policies.apply(&policy, "user")?;
    crashing_pod(&cluster, "karmada-system")?;
    let mut health = common::etcd_health("own", &cp.etcd_metrics_url, None)?;
    health.spec.correlate =
        Some(continuum_api::etcd::Correlate { namespace: "karmada-system".into(), pod_selector: Default::default() });
    let healths = cluster.namespaced::<EtcdHealth>("apps");
    healths.apply(&health, "user")?;

    let op = Launch::run(common::OPERATOR, &sa_config).args(["--lease-namespace", RELEASE_NS]).start(&cp.dir, "sa")?;
    wait::until("the operator leads as the ServiceAccount", Duration::from_secs(30), || op.is_leader())?;
    healths.wait_for("own", "EtcdHealth status written", Duration::from_secs(30), |h| {
        h.status.as_ref().is_some_and(|s| s.members.first().is_some_and(|m| m.version.is_some()))
    })?;
    let fps = |p: &OffloadPolicy| common::signal(p, "fps");
    policies.wait_for("detector", "scraped fps in the OffloadPolicy status", Duration::from_secs(30), |p| {
        fps(p) == Some(25.0)
    })?;
    exporter.set(3.0, 0.5);
    let rpc = |d: &Deployment| env_of(d, "VACCEL_RPC_ADDRESS");
    deployments.wait_for("detector", "offloaded: env patched as the ServiceAccount", Duration::from_secs(30), |d| {
        rpc(d) == Some(jetson.endpoint())
    })?;
    let events = cluster.namespaced::<Event>("apps").list("")?;
    assert!(events.iter().any(|e| e.reason.as_deref() == Some("Offloaded")), "no Event written as the ServiceAccount");
    let log = op.log_text();
    // "403" alone also matches log timestamps (…10.724032Z): look for the API's status code.
    for word in ["forbidden", "Forbidden", "code: 403"] {
        assert!(!log.contains(word), "the operator hit a permission error:\n{log}");
    }
    let telemetry =
        policies.get("detector")?.status.and_then(|s| condition(&s.conditions, "TelemetryAvailable").cloned());
    assert_eq!(telemetry.map(|c| c.status).as_deref(), Some("True"), "the CA Secret was not readable");
    Ok(())
}
