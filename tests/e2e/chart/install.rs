//! `helm install` into the real API server, and restricted Pod Security admission.

use super::*;

/// Server-side applies prometheus-operator's ServiceMonitor and PrometheusRule CRDs, taken from its
/// Go module, once per test binary.
fn monitoring_crds() {
    static APPLIED: OnceLock<Result<(), String>> = OnceLock::new();
    let applied = APPLIED.get_or_init(|| {
        let module = format!("github.com/prometheus-operator/prometheus-operator@{PROMETHEUS_OPERATOR}");
        let out = Command::new("go")
            .args(["mod", "download", "-json", &module])
            .current_dir(std::env::temp_dir())
            .output()
            .map_err(|e| format!("running go: {e}"))?;
        let info: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let dir = info["Dir"].as_str().filter(|_| out.status.success());
        let dir = dir.ok_or_else(|| format!("go mod download {module}: {}{}", stdout(&out), stderr(&out)))?;
        for plural in ["servicemonitors", "prometheusrules"] {
            let file = format!("{dir}/example/prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml");
            let crd = format!("crd/{plural}.monitoring.coreos.com");
            for args in [
                vec!["apply", "--server-side", "--field-manager=continuum-e2e", "-f", &file],
                vec!["wait", "--for=condition=Established", "--timeout=60s", &crd],
            ] {
                let out = kubectl(&args);
                if !out.status.success() {
                    return Err(format!("kubectl {}: {}", args.join(" "), stderr(&out)));
                }
            }
        }
        Ok(())
    });
    if let Err(e) = applied {
        panic!("prometheus-operator CRDs: {e}");
    }
}

fn ensure_namespace(name: &str) {
    let out = kubectl(&["create", "namespace", name]);
    assert!(out.status.success() || stderr(&out).contains("AlreadyExists"), "namespace {name}: {}", stderr(&out));
}

/// `kind/name` of every namespaced object of `release` in `ns`.
fn installed(ns: &str, release: &str) -> BTreeSet<String> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let kinds = "deployments,services,serviceaccounts,poddisruptionbudgets,roles,rolebindings,jobs,configmaps,servicemonitors,prometheusrules";
    let out = kubectl(&["get", kinds, "-n", ns, "-l", &selector, "-o", "name"]);
    ok(&out, "listing the release's objects");
    stdout(&out).lines().map(str::to_owned).collect()
}

#[test]
fn chart_installs_on_the_real_api_server_in_both_modes() {
    let kubeconfig = control_plane().kubeconfig.to_string_lossy().into_owned();
    ensure_namespace("karmada-system");
    monitoring_crds();
    let chart = chart();

    let ns = restricted_namespace("chart-default");
    let out = helm(&["install", "plain", &chart, "-n", &ns, "--kubeconfig", &kubeconfig]);
    ok(&out, "helm install with default values");
    assert!(!stderr(&out).contains("PodSecurity"), "Pod Security warnings: {}", stderr(&out));
    let expected: BTreeSet<String> = [
        "deployment.apps/plain-continuum-operator",
        "service/plain-continuum-operator",
        "serviceaccount/plain-continuum-operator",
        "poddisruptionbudget.policy/plain-continuum-operator",
        "role.rbac.authorization.k8s.io/plain-continuum-operator-leader-election",
        "rolebinding.rbac.authorization.k8s.io/plain-continuum-operator-leader-election",
    ]
    .map(String::from)
    .into();
    assert_eq!(installed(&ns, "plain"), expected);
    ok(&kubectl(&["get", "clusterrole", "plain-continuum-operator-control-plane"]), "control-plane ClusterRole");
    ok(&kubectl(&["get", "role", "plain-continuum-operator-host", "-n", "karmada-system"]), "host Role");

    let ns2 = restricted_namespace("chart-karmada");
    let mut args =
        vec!["install", RELEASE, &chart, "-n", &ns2, "--kubeconfig", &kubeconfig, "--no-hooks", "--skip-crds"];
    let sets = set_args(&[KARMADA, MONITORING]);
    args.extend(sets.iter().map(String::as_str));
    let out = helm(&args);
    ok(&out, "helm install in Karmada mode with monitoring");
    assert!(!stderr(&out).contains("PodSecurity"), "Pod Security warnings: {}", stderr(&out));
    let objects = installed(&ns2, RELEASE);
    for object in [
        format!("deployment.apps/{FULLNAME}"),
        format!("servicemonitor.monitoring.coreos.com/{FULLNAME}"),
        format!("prometheusrule.monitoring.coreos.com/{FULLNAME}"),
        format!("configmap/{FULLNAME}-dashboard"),
    ] {
        assert!(objects.contains(&object), "{object} not installed: {objects:?}");
    }
    assert!(!objects.iter().any(|o| o.starts_with("job")), "--no-hooks installed the hook: {objects:?}");
    let cluster_role = kubectl(&["get", "clusterrole", &format!("{FULLNAME}-control-plane")]);
    assert!(stderr(&cluster_role).contains("NotFound"), "Karmada mode rendered the control-plane ClusterRole");

    let rendered = template(&ns2, &[KARMADA]);
    let job = get(&rendered, "Job", "-install-crds");
    let out = kubectl_stdin(&["apply", "--dry-run=server", "-n", &ns2, "-f", "-"], &job.to_string());
    ok(&out, "server-side dry run of the hook Job");
    ok(&helm(&["uninstall", "plain", "-n", &ns, "--kubeconfig", &kubeconfig]), "helm uninstall");
    let gone = kubectl(&["get", "clusterrole", "plain-continuum-operator-control-plane"]);
    assert!(stderr(&gone).contains("NotFound"), "uninstall left the ClusterRole");
}

fn without(mut pod: Value, pointers: &[&str]) -> Value {
    for pointer in pointers {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        if let Some(Value::Object(map)) = pod.pointer_mut(parent) {
            map.remove(key);
        }
    }
    pod
}

#[test]
fn operator_and_hook_pods_are_admitted_under_restricted_pod_security() {
    let ns = restricted_namespace("chart-pss");
    for sa in [FULLNAME, "default"] {
        ok(&kubectl(&["create", "serviceaccount", sa, "-n", &ns]), "creating the ServiceAccount");
    }
    let objects = template(&ns, &[KARMADA]);
    let templates = [
        ("operator", &get(&objects, "Deployment", FULLNAME)["spec"]["template"]),
        ("install-crds", &get(&objects, "Job", "-install-crds")["spec"]["template"]),
    ];
    for (name, template) in templates {
        let labels = template["metadata"]["labels"].clone();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": template["spec"]});
        let create = ["create", "--dry-run=server", "-n", ns.as_str(), "-f", "-"];
        ok(&kubectl_stdin(&create, &pod.to_string()), &format!("creating the {name} pod"));
        let mutations: [(&str, &[&str]); 2] = [
            (
                "runAsNonRoot",
                &["/spec/securityContext/runAsNonRoot", "/spec/containers/0/securityContext/runAsNonRoot"],
            ),
            ("allowPrivilegeEscalation", &["/spec/containers/0/securityContext/allowPrivilegeEscalation"]),
        ];
        for (field, pointers) in mutations {
            let out = kubectl_stdin(&create, &without(pod.clone(), pointers).to_string());
            let err = stderr(&out);
            assert!(!out.status.success(), "{name} pod without {field} was admitted");
            assert!(err.contains("violates PodSecurity \"restricted:") && err.contains(field), "{name}: {err}");
        }
    }
}
