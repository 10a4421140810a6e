//! `helm install` into the real API server, and restricted Pod Security admission.

use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use super::*;

/// Server-side applies prometheus-operator's ServiceMonitor and PrometheusRule CRDs, taken from its
/// Go module, once per test binary, and waits until they are Established.
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
        let crds = cluster().cluster::<CustomResourceDefinition>();
        for plural in ["servicemonitors", "prometheusrules"] {
            let file =
                Path::new(dir).join(format!("example/prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml"));
            let crd: CustomResourceDefinition = kit::manifest::load(&file).map_err(|e| e.to_string())?;
            crds.apply(&crd, "continuum-e2e").map_err(|e| e.to_string())?;
            let name = format!("{plural}.monitoring.coreos.com");
            crds.wait_for(&name, &format!("{name} Established"), Duration::from_secs(60), established)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    if let Err(e) = applied {
        panic!("prometheus-operator CRDs: {e}");
    }
}

fn established(crd: &CustomResourceDefinition) -> bool {
    let conditions = crd.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"))
}

fn cluster_role_exists(name: &str) -> kit::Result<bool> {
    Ok(cluster().cluster::<ClusterRole>().get_opt(name)?.is_some())
}

/// `kind/name` of every namespaced object of `release` in `ns`.
fn installed(ns: &str, release: &str) -> BTreeSet<String> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let kinds = "deployments,services,serviceaccounts,poddisruptionbudgets,roles,rolebindings,jobs,configmaps,servicemonitors,prometheusrules";
    let out = kubectl().run(&["get", kinds, "-n", ns, "-l", &selector, "-o", "name"]);
    let out = out.unwrap_or_else(|e| panic!("{e}"));
    assert!(out.ok, "listing the release's objects: {}", out.stderr);
    out.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn chart_installs_on_the_real_api_server_in_both_modes() -> kit::Result<()> {
    let kubeconfig = control_plane().kubeconfig.to_string_lossy().into_owned();
    cluster().ensure_namespace("karmada-system")?;
    monitoring_crds();
    let chart = chart();

    let ns = restricted_namespace("chart-default")?;
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
    assert!(cluster_role_exists("plain-continuum-operator-control-plane")?, "no control-plane ClusterRole");
    let host_role = cluster().namespaced::<Role>("karmada-system").get_opt("plain-continuum-operator-host")?;
    assert!(host_role.is_some(), "no host Role");

    let ns2 = restricted_namespace("chart-karmada")?;
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
    let cluster_role = cluster_role_exists(&format!("{FULLNAME}-control-plane"))?;
    assert!(!cluster_role, "Karmada mode rendered the control-plane ClusterRole");

    let rendered = template(&ns2, &[KARMADA]);
    let job = get(&rendered, "Job", "-install-crds");
    let out = kubectl().run_stdin(&["apply", "--dry-run=server", "-n", &ns2, "-f", "-"], &job.to_string())?;
    assert!(out.ok, "server-side dry run of the hook Job: {}", out.text());
    ok(&helm(&["uninstall", "plain", "-n", &ns, "--kubeconfig", &kubeconfig]), "helm uninstall");
    assert!(!cluster_role_exists("plain-continuum-operator-control-plane")?, "uninstall left the ClusterRole");
    Ok(())
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
fn operator_and_hook_pods_are_admitted_under_restricted_pod_security() -> kit::Result<()> {
    let ns = restricted_namespace("chart-pss")?;
    let accounts = cluster().namespaced::<ServiceAccount>(&ns);
    for sa in [FULLNAME, "default"] {
        let mut account = ServiceAccount::default();
        account.metadata.name = Some(sa.to_owned());
        // `default` may exist already (kube-controller-manager makes it where one runs).
        if accounts.get_opt(sa)?.is_none() {
            accounts.create(&account)?;
        }
    }
    let objects = template(&ns, &[KARMADA]);
    let templates = [
        ("operator", &get(&objects, "Deployment", FULLNAME)["spec"]["template"]),
        ("install-crds", &get(&objects, "Job", "-install-crds")["spec"]["template"]),
    ];
    for (name, template) in templates {
        let labels = template["metadata"]["labels"].clone();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}, "spec": template["spec"]});
        let create = ["create", "--dry-run=server", "-n", ns.name(), "-f", "-"];
        // Pod Security admission as a user meets it: kubectl's text of the API server's answer.
        let out = kubectl().run_stdin(&create, &pod.to_string())?;
        assert!(out.ok, "creating the {name} pod: {}", out.text());
        let mutations: [(&str, &[&str]); 2] = [
            (
                "runAsNonRoot",
                &["/spec/securityContext/runAsNonRoot", "/spec/containers/0/securityContext/runAsNonRoot"],
            ),
            ("allowPrivilegeEscalation", &["/spec/containers/0/securityContext/allowPrivilegeEscalation"]),
        ];
        for (field, pointers) in mutations {
            let out = kubectl().run_stdin(&create, &without(pod.clone(), pointers).to_string())?;
            let err = out.stderr;
            assert!(!out.ok, "{name} pod without {field} was admitted");
            assert!(err.contains("violates PodSecurity \"restricted:") && err.contains(field), "{name}: {err}");
        }
    }
    Ok(())
}
