//! The chart's RBAC on a real kube-apiserver: `helm install`, then the real `kubectl auth can-i`
//! for every right the operator needs (yes) and for dangerous ones (no), then the operator itself
//! run with the ServiceAccount's own token, reconciling both kinds of resource — proof the
//! granted rights are enough and nothing in the code needs more.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use continuum_testenv::ControlPlane;
use continuum_testenv::sim::{Agent, Exporter};

mod common;
use common::{DETECTOR, Replica, apply, crashing_pod, poll, wait_until};

const RELEASE_NS: &str = "continuum-system";
const SA: &str = "system:serviceaccount:continuum-system:continuum-operator";

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> std::process::Output {
    cp.kubectl_output(args).unwrap_or_else(|e| panic!("{e}"))
}

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Installs the chart (single-cluster mode) with Secrets readable in `apps` only.
fn install(cp: &ControlPlane) {
    for ns in ["apps", "karmada-system"] {
        assert!(kubectl(cp, &["create", "namespace", ns]).status.success());
    }
    let helm = continuum_testenv::gobuild::helm().unwrap_or_else(|e| panic!("{e}"));
    let o = Command::new(helm)
        .args(["install", "continuum"])
        .arg(repo().join("charts/continuum-operator"))
        .args(["-n", RELEASE_NS, "--create-namespace", "--kubeconfig"])
        .arg(&cp.kubeconfig)
        .args(["--set", "fullnameOverride=continuum-operator", "--set", "rbac.secretNamespaces={apps}"])
        .env("HELM_CACHE_HOME", cp.dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", cp.dir.join("helm/config"))
        .env("HELM_DATA_HOME", cp.dir.join("helm/data"))
        .output()
        .unwrap_or_else(|e| panic!("running helm: {e}"));
    assert!(o.status.success(), "helm install failed: {}", out(&o));
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
    let o = kubectl(cp, &args);
    String::from_utf8_lossy(&o.stdout).trim() == "yes"
}

#[test]
fn the_chart_grants_exactly_what_the_operator_uses_and_it_is_enough() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    // Karmada's ResourceBinding API, so that `can-i` resolves it as the operator would see it.
    cp.apply_crds(&continuum_testenv::karmada_crds()).unwrap_or_else(|e| panic!("{e}"));
    install(&cp);

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
        ("get", "resourcebindings.work.karmada.io", None),
        ("patch", "offloadpolicies.continuum.dev", None),
        ("patch", "services", None),
        ("patch", "configmaps", None),
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
        ("list", "resourcebindings.work.karmada.io", None),
        ("update", "offloadpolicies.continuum.dev:status", None),
        ("create", "resourcebindings.work.karmada.io", None),
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
    let token = kubectl(&cp, &["create", "token", "continuum-operator", "-n", RELEASE_NS, "--duration", "1h"]);
    assert!(token.status.success(), "{}", out(&token));
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    let sa_config = cp.dir.join("sa.kubeconfig");
    let server = String::from_utf8_lossy(
        &kubectl(&cp, &["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"]).stdout,
    )
    .into_owned();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: cp\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: sa\n  user:\n    token: {token}\ncontexts:\n- name: sa\n  context: {{cluster: cp, user: sa}}\ncurrent-context: sa\n",
        ca = cp.certs.ca_cert.display()
    );
    std::fs::write(&sa_config, kubeconfig).unwrap_or_else(|e| panic!("{e}"));

    let (exporter, pi, jetson) = (Exporter::start(25.0, 0.04), Agent::start(), Agent::start());
    let ca = std::fs::read_to_string(&cp.certs.ca_cert).unwrap_or_else(|e| panic!("{e}"));
    let indented: String = ca.lines().map(|l| format!("    {l}\n")).collect();
    apply(
        &cp,
        "apps",
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: telemetry-ca\nstringData:\n  ca.crt: |\n{indented}"),
    );
    apply(&cp, "apps", &DETECTOR.replace("PI", &pi.endpoint()));
    apply(
        &cp,
        "apps",
        &POLICY
            .replace("EXPORTER", &exporter.port.to_string())
            .replace("PI", &pi.endpoint())
            .replace("JETSON", &jetson.endpoint()),
    );
    crashing_pod(&cp, "karmada-system");
    apply(
        &cp,
        "apps",
        &format!(
            "apiVersion: continuum.dev/v1alpha1\nkind: EtcdHealth\nmetadata:\n  name: own\nspec:\n  endpoints:\n  - name: etcd-0\n    metricsUrl: {}\n  interval: 1s\n  correlate:\n    namespace: karmada-system\n",
            cp.etcd_metrics_url
        ),
    );

    let path = sa_config.to_string_lossy().into_owned();
    let op = Replica::start(&cp.dir, "sa", &["--kubeconfig", &path, "--lease-namespace", RELEASE_NS]);
    poll("the operator leads as the ServiceAccount", Duration::from_secs(30), || op.is_leader());
    let jsonpath = |kind: &str, name: &str, p: &str| {
        String::from_utf8_lossy(
            &kubectl(&cp, &["get", kind, name, "-n", "apps", "-o", &format!("jsonpath={p}")]).stdout,
        )
        .into_owned()
    };
    wait_until("EtcdHealth status written", Duration::from_secs(30), || {
        let v = jsonpath("etcdhealth", "own", "{.status.members[0].version}");
        (!v.is_empty()).then_some(v)
    });
    wait_until("scraped fps in the OffloadPolicy status", Duration::from_secs(30), || {
        (jsonpath("offloadpolicy", "detector", "{.status.observed.fps}") == "25").then_some(String::new())
    });
    exporter.set(3.0, 0.5);
    wait_until("offloaded: env patched as the ServiceAccount", Duration::from_secs(30), || {
        let env = jsonpath(
            "deployment",
            "detector",
            r#"{.spec.template.spec.containers[0].env[?(@.name=="VACCEL_RPC_ADDRESS")].value}"#,
        );
        (env == jetson.endpoint()).then_some(env)
    });
    let events = out(&kubectl(&cp, &["get", "events.events.k8s.io", "-n", "apps"]));
    assert!(events.contains("Offloaded"), "no Event written as the ServiceAccount: {events}");
    let log = op.log_text();
    for word in ["forbidden", "Forbidden", "403"] {
        assert!(!log.contains(word), "the operator hit a permission error:\n{log}");
    }
    let ready =
        jsonpath("offloadpolicy", "detector", r#"{.status.conditions[?(@.type=="TelemetryAvailable")].status}"#);
    assert_eq!(ready, "True", "the CA Secret was not readable");
}

const POLICY: &str = "apiVersion: continuum.dev/v1alpha1
kind: OffloadPolicy
metadata:
  name: detector
spec:
  targetRef: {name: detector}
  telemetry:
    scrape:
      url: http://127.0.0.1:EXPORTER/metrics
      tls: {caSecretRef: {name: telemetry-ca, key: ca.crt}}
    fps: {metric: detector_fps}
    latency: {metric: detector_inference_latency_seconds}
    interval: 1s
  offloadWhen: {fpsBelow: 10, for: 2s}
  backends:
    local: {endpoint: \"PI\"}
    offload: {endpoint: \"JETSON\"}
  actuation:
    env: {container: detector}
  cooldown: 0s
";
