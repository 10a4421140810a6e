//! The Helm chart, checked by the real tools: helm lint / template / install against the real
//! API server (Pod Security admission included), promtool on the alert rules.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use continuum_e2e::{control_plane, kubectl, kubectl_stdin, namespace, repo_root, stderr, stdout};
use serde_json::{Value, json};

const RELEASE: &str = "continuum";
const FULLNAME: &str = "continuum-continuum-operator";
const KARMADA: &str = "karmada.kubeconfigSecret=karmada-kubeconfig";
const MONITORING: &str =
    "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,dashboards.enabled=true";
/// prometheus-operator release whose CRDs (ServiceMonitor, PrometheusRule) the install test uses.
const PROMETHEUS_OPERATOR: &str = "v0.85.0";

fn chart() -> String {
    repo_root().join("charts/continuum-operator").to_string_lossy().into_owned()
}

fn helm(args: &[&str]) -> Output {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let bin = HELM.get_or_init(|| continuum_testenv::gobuild::helm().map_err(|e| e.to_string()));
    let bin = bin.as_ref().unwrap_or_else(|e| panic!("building helm failed: {e}"));
    Command::new(bin).args(args).output().unwrap_or_else(|e| panic!("running helm {args:?}: {e}"))
}

/// `--set` arguments for each entry of `sets`.
fn set_args(sets: &[&str]) -> Vec<String> {
    sets.iter().flat_map(|s| ["--set".to_owned(), (*s).to_owned()]).collect()
}

/// `helm template` in namespace `ns`, as JSON objects.
fn template(ns: &str, sets: &[&str]) -> Vec<Value> {
    let kube = continuum_testenv::versions::kubernetes();
    let chart = chart();
    let mut args = vec!["template", RELEASE, chart.as_str(), "-n", ns, "--kube-version", kube.as_str()];
    let sets = set_args(sets);
    args.extend(sets.iter().map(String::as_str));
    let out = helm(&args);
    assert!(out.status.success(), "helm template {sets:?}: {}", stderr(&out));
    let text = stdout(&out);
    let docs = text.split("\n---\n").map(|doc| {
        serde_yaml::from_str::<Value>(doc).unwrap_or_else(|e| panic!("helm template output is not YAML: {e}\n{doc}"))
    });
    docs.filter(|d| d.is_object()).collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name_suffix: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"].as_str().is_some_and(|n| n.ends_with(name_suffix)))
}

fn get<'a>(objects: &'a [Value], kind: &str, name_suffix: &str) -> &'a Value {
    find(objects, kind, name_suffix).unwrap_or_else(|| panic!("no {kind} named *{name_suffix} rendered"))
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects.iter().filter_map(|o| o["kind"].as_str().map(str::to_owned)).collect()
}

/// A scratch directory removed when dropped (also when the test panics).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("continuum-chart-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Self(dir)
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}\n{}", stdout(out), stderr(out));
}

fn restricted_namespace(prefix: &str) -> String {
    let ns = namespace(prefix);
    let label = [
        "label",
        "namespace",
        ns.as_str(),
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    ];
    ok(&kubectl(&label), "labelling the namespace restricted");
    ns
}

#[test]
fn chart_lints_with_default_karmada_and_monitoring_values() {
    let chart = chart();
    for sets in [vec![], vec![KARMADA], vec![KARMADA, MONITORING]] {
        let mut args = vec!["lint", chart.as_str(), "--strict"];
        let sets = set_args(&sets);
        args.extend(sets.iter().map(String::as_str));
        let out = helm(&args);
        ok(&out, &format!("helm lint {sets:?}"));
        assert!(stdout(&out).contains("1 chart(s) linted, 0 chart(s) failed"), "{}", stdout(&out));
    }
}

#[test]
fn values_schema_rejects_wrong_values_naming_the_field() {
    let chart = chart();
    let kube = continuum_testenv::versions::kubernetes();
    let cases = [
        ("replicaCount=two", "/replicaCount", "want integer"),
        ("replicaCount=0", "/replicaCount", "minimum"),
        ("logFormat=xml", "/logFormat", "must be one of"),
        ("bogus=1", "additional properties 'bogus' not allowed", ""),
        ("leaderElection.leaseDuration=soon", "/leaderElection/leaseDuration", "pattern"),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy", "must be one of"),
        ("metrics.prometheusRule.etcdSlowDisk.severity=page", "/metrics/prometheusRule/etcdSlowDisk/severity", ""),
        ("rbac.hostNamespaces[0]=Bad_Name", "/rbac/hostNamespaces/0", "pattern"),
    ];
    for (set, field, detail) in cases {
        for verb in ["template", "lint"] {
            let out = match verb {
                "lint" => helm(&["lint", &chart, "--kube-version", &kube, "--set", set]),
                _ => helm(&["template", RELEASE, &chart, "--kube-version", &kube, "--set", set]),
            };
            let text = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!out.status.success(), "helm {verb} accepted {set}:\n{text}");
            assert!(text.contains(field) && text.contains(detail), "helm {verb} --set {set}: {text}");
        }
    }
    // A rule across keys, checked by the templates (helm lint only reports `fail` as INFO).
    let out = helm(&["template", RELEASE, &chart, "--kube-version", &kube, "--set", "leaderElection.enabled=false"]);
    assert!(!out.status.success(), "two replicas without leader election rendered");
    assert!(stderr(&out).contains("leaderElection.enabled=false needs replicaCount=1"), "{}", stderr(&out));
    // The same keys with good values render: the failures above come from the values alone.
    let good =
        ["replicaCount=3", "logFormat=text", "leaderElection.leaseDuration=20s", "rbac.hostNamespaces[0]=kube-system"];
    let objects = template("continuum-system", &good);
    assert_eq!(get(&objects, "Deployment", FULLNAME)["spec"]["replicas"], 3);
    let single = template("continuum-system", &["leaderElection.enabled=false", "replicaCount=1"]);
    assert!(find(&single, "Role", "-leader-election").is_none(), "no Lease rights without leader election");
}

fn containers(pod_spec: &Value) -> Vec<&Value> {
    pod_spec["containers"].as_array().map(|c| c.iter().collect()).unwrap_or_default()
}

fn assert_restricted(pod_spec: &Value, what: &str) {
    let pod = &pod_spec["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true, "{what}: {pod}");
    assert_eq!(pod["runAsUser"], 65532, "{what}: {pod}");
    assert_eq!(pod["runAsGroup"], 65532, "{what}: {pod}");
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault", "{what}: {pod}");
    let all = containers(pod_spec).into_iter().chain(pod_spec["initContainers"].as_array().into_iter().flatten());
    for c in all {
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{what} {}: {sc}", c["name"]);
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{what} {}: {sc}", c["name"]);
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what} {}: {sc}", c["name"]);
    }
}

/// Every RBAC rule rendered, as (kind, namespace, rule).
fn rbac_rules(objects: &[Value]) -> Vec<(String, String, Value)> {
    let roles = objects.iter().filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole");
    roles
        .flat_map(|r| {
            let kind = r["kind"].as_str().unwrap_or_default().to_owned();
            let ns = r["metadata"]["namespace"].as_str().unwrap_or_default().to_owned();
            let rules = r["rules"].as_array().cloned().unwrap_or_default();
            rules.into_iter().map(move |rule| (kind.clone(), ns.clone(), rule))
        })
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

#[test]
fn rendered_objects_differ_between_modes_and_grant_least_privilege() {
    let extra = ["rbac.secretNamespaces={apps}", "telemetry.allowedUrls={http://*.karmada-system.svc:2381/metrics}"];
    let single = template("continuum-system", &extra);
    let karmada = template("continuum-system", &[&extra[..], &[KARMADA]].concat());
    let base: BTreeSet<String> =
        ["ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", "Role", "RoleBinding"]
            .map(String::from)
            .into();
    assert_eq!(kinds(&single), &base | &["ClusterRole", "ClusterRoleBinding"].map(String::from).into());
    assert_eq!(kinds(&karmada), &base | &["Job".to_owned()].into());

    for objects in [&single, &karmada] {
        for (kind, ns, rule) in rbac_rules(objects) {
            for field in ["verbs", "resources", "apiGroups"] {
                assert!(!strings(&rule[field]).contains(&"*"), "wildcard {field} in {kind} {ns}: {rule}");
            }
            if strings(&rule["resources"]).contains(&"secrets") {
                assert_eq!(kind, "Role", "Secrets only through namespaced Roles: {rule}");
                assert_eq!(strings(&rule["verbs"]), ["get"], "{rule}");
            }
        }
    }
    let expected_control_plane = json!([
        {"apiGroups": ["continuum.dev"], "resources": ["offloadpolicies", "etcdhealths"], "verbs": ["list", "watch"]},
        {"apiGroups": ["continuum.dev"], "resources": ["offloadpolicies/status", "etcdhealths/status"], "verbs": ["patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "resourceNames": ["offloadpolicies.continuum.dev", "etcdhealths.continuum.dev"], "verbs": ["get"]},
        {"apiGroups": ["work.karmada.io"], "resources": ["resourcebindings"], "verbs": ["get"]}
    ]);
    assert_eq!(get(&single, "ClusterRole", "-control-plane")["rules"], expected_control_plane);
    assert_eq!(get(&single, "Role", "-secrets")["metadata"]["namespace"], "apps");
    assert!(find(&karmada, "Role", "-secrets").is_none(), "Karmada mode reads Secrets from the karmada-apiserver");
    for objects in [&single, &karmada] {
        let host = get(objects, "Role", "-host");
        assert_eq!(host["metadata"]["namespace"], "karmada-system");
        assert_eq!(host["rules"][0]["verbs"], json!(["list"]));
        assert_eq!(host["rules"][1]["verbs"], json!(["list"]));
        let lease = get(objects, "Role", "-leader-election");
        assert_eq!(lease["rules"][0]["verbs"], json!(["get", "list", "watch", "create", "update"]));
    }
    check_deployment(get(&single, "Deployment", FULLNAME), false);
    check_deployment(get(&karmada, "Deployment", FULLNAME), true);
    check_hook_job(get(&karmada, "Job", "-install-crds"));
    let one = template("continuum-system", &["replicaCount=1"]);
    assert!(find(&one, "PodDisruptionBudget", FULLNAME).is_none(), "no PDB for a single replica");
}

fn check_deployment(deploy: &Value, karmada: bool) {
    let spec = &deploy["spec"]["template"]["spec"];
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_restricted(spec, "Deployment");
    assert_eq!(spec["automountServiceAccountToken"], true, "the host client needs the token");
    assert_eq!(spec["serviceAccountName"], FULLNAME);
    let c = containers(spec)[0];
    let args = strings(&c["args"]);
    let kubeconfig = args.iter().find(|a| a.starts_with("--kubeconfig"));
    let volumes = spec["volumes"].as_array().map(Vec::len).unwrap_or(0);
    if karmada {
        assert_eq!(kubeconfig, Some(&"--kubeconfig=/etc/continuum/karmada/kubeconfig"), "{args:?}");
        assert_eq!(spec["volumes"][0]["secret"]["secretName"], "karmada-kubeconfig");
        assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    } else {
        assert_eq!((kubeconfig, volumes), (None, 0), "single-cluster mode has no kubeconfig: {spec}");
    }
    assert!(!args.iter().any(|a| a.starts_with("--host-kubeconfig")), "the host client stays in-cluster");
    for arg in ["run", "--leader-elect=true", "--lease-duration=15s", "--renew-deadline=10s", "--retry-period=2s"] {
        assert!(args.contains(&arg), "{arg} missing from {args:?}");
    }
    for arg in ["--log-format=json", "--metrics-addr=0.0.0.0:8080", "--lease-namespace=continuum-system"] {
        assert!(args.contains(&arg), "{arg} missing from {args:?}");
    }
    let env = |name: &str| c["env"].as_array().and_then(|e| e.iter().find(|v| v["name"] == name)).cloned();
    assert_eq!(env("POD_NAME").map(|v| v["valueFrom"]["fieldRef"]["fieldPath"].clone()), Some(json!("metadata.name")));
    assert_eq!(
        env("POD_NAMESPACE").map(|v| v["valueFrom"]["fieldRef"]["fieldPath"].clone()),
        Some(json!("metadata.namespace"))
    );
    assert_eq!(env("RUST_LOG").map(|v| v["value"].clone()), Some(json!("info")));
    let urls = env("CONTINUUM_ALLOWED_URLS").map(|v| v["value"].clone());
    assert_eq!(urls, Some(json!("http://*.karmada-system.svc:2381/metrics")));
    assert_eq!(c["livenessProbe"]["httpGet"], json!({"path": "/healthz", "port": "metrics"}));
    assert_eq!(c["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": "metrics"}));
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(c["resources"]["limits"], json!({"cpu": "500m", "memory": "256Mi"}));
    let anti = &spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname");
}

fn check_hook_job(job: &Value) {
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(annotations["helm.sh/hook"], "pre-install,pre-upgrade");
    assert_eq!(annotations["helm.sh/hook-delete-policy"], "before-hook-creation,hook-succeeded");
    assert!(job["spec"]["backoffLimit"].is_u64() && job["spec"]["activeDeadlineSeconds"].is_u64(), "{job}");
    let spec = &job["spec"]["template"]["spec"];
    assert_restricted(spec, "hook Job");
    assert_eq!(spec["automountServiceAccountToken"], false, "the hook needs no host rights");
    let args = strings(&containers(spec)[0]["args"]);
    assert!(
        args.contains(&"install-crds") && args.contains(&"--kubeconfig=/etc/continuum/karmada/kubeconfig"),
        "{args:?}"
    );
    assert_eq!(spec["volumes"][0]["secret"]["secretName"], "karmada-kubeconfig");
}

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

/// promtool unit tests of the rendered alerts (release `continuum` in `continuum-system`).
const RULE_TESTS: &str = r#"
rule_files: [rules-test.yaml]
evaluation_interval: 1m
tests:
  - name: etcd slow disk names the worst member, only while SlowDisk holds
    interval: 1m
    input_series:
      - series: 'continuum_etcd_slow_disk{namespace="karmada-system",etcdhealth="karmada-etcd"}'
        values: '0x9 1x19 0x10'
      - series: 'continuum_etcd_wal_fsync_p99_seconds{namespace="karmada-system",etcdhealth="karmada-etcd",member="etcd-0"}'
        values: '0.002x40'
      - series: 'continuum_etcd_wal_fsync_p99_seconds{namespace="karmada-system",etcdhealth="karmada-etcd",member="etcd-1"}'
        values: '0.002x9 0.25x19 0.002x10'
      - series: 'continuum_etcd_backend_commit_p99_seconds{namespace="karmada-system",etcdhealth="karmada-etcd",member="etcd-0"}'
        values: '0.004x40'
      - series: 'continuum_etcd_backend_commit_p99_seconds{namespace="karmada-system",etcdhealth="karmada-etcd",member="etcd-1"}'
        values: '0.003x9 0.12x19 0.003x10'
      - series: 'continuum_etcd_slow_disk{namespace="edge",etcdhealth="commit"}'
        values: '1x40'
      - series: 'continuum_etcd_wal_fsync_p99_seconds{namespace="edge",etcdhealth="commit",member="b-0"}'
        values: '0.001x40'
      - series: 'continuum_etcd_backend_commit_p99_seconds{namespace="edge",etcdhealth="commit",member="b-0"}'
        values: '0.4x40'
      - series: 'continuum_etcd_wal_fsync_p99_seconds{namespace="edge",etcdhealth="commit",member="b-1"}'
        values: '0.05x40'
      - series: 'continuum_etcd_slow_disk{namespace="edge",etcdhealth="remote"}'
        values: '1x40'
      - series: 'continuum_etcd_slow_disk{namespace="edge",etcdhealth="fast"}'
        values: '0x40'
      - series: 'continuum_etcd_wal_fsync_p99_seconds{namespace="edge",etcdhealth="fast",member="c-0"}'
        values: '0.5x40'
    alert_rule_test:
      - eval_time: 12m
        alertname: ContinuumEtcdSlowDisk
        exp_alerts: &others
          - exp_labels: {severity: critical, namespace: edge, etcdhealth: commit, member: b-0}
            exp_annotations: {summary: 'etcd member b-0 of EtcdHealth edge/commit has a slow disk.'}
          - exp_labels: {severity: critical, namespace: edge, etcdhealth: remote}
            exp_annotations: {summary: 'etcd of EtcdHealth edge/remote has a slow disk.'}
      - eval_time: 20m
        alertname: ContinuumEtcdSlowDisk
        exp_alerts:
          - exp_labels: {severity: critical, namespace: karmada-system, etcdhealth: karmada-etcd, member: etcd-1}
            exp_annotations: {summary: 'etcd member etcd-1 of EtcdHealth karmada-system/karmada-etcd has a slow disk.'}
          - exp_labels: {severity: critical, namespace: edge, etcdhealth: commit, member: b-0}
            exp_annotations: {summary: 'etcd member b-0 of EtcdHealth edge/commit has a slow disk.'}
          - exp_labels: {severity: critical, namespace: edge, etcdhealth: remote}
            exp_annotations: {summary: 'etcd of EtcdHealth edge/remote has a slow disk.'}
      - eval_time: 35m
        alertname: ContinuumEtcdSlowDisk
        exp_alerts: *others
  - name: offload flapping fires above the hourly switch count, not below
    interval: 10m
    input_series:
      - series: 'continuum_offload_switches_total{namespace="edge",policy="detector",to="offload"}'
        values: '0+1x20'
      - series: 'continuum_offload_switches_total{namespace="edge",policy="detector",to="local"}'
        values: '0+1x20'
      - series: 'continuum_offload_switches_total{namespace="edge",policy="calm",to="offload"}'
        values: '0x2 1x5 2x5 3x5'
      - series: 'continuum_offload_switches_total{namespace="edge",policy="calm",to="local"}'
        values: '0x5 1x5 2x5 3x2'
    alert_rule_test:
      - eval_time: 25m
        alertname: ContinuumOffloadFlapping
        exp_alerts: []
      - eval_time: 90m
        alertname: ContinuumOffloadFlapping
        exp_alerts:
          - exp_labels: {severity: warning, namespace: edge, policy: detector}
  - name: no leader, then no operator
    interval: 1m
    input_series:
      - series: 'continuum_leader_is_leader{job="continuum-continuum-operator",namespace="continuum-system",pod="a"}'
        values: '1x10 0x30'
      - series: 'continuum_leader_is_leader{job="continuum-continuum-operator",namespace="continuum-system",pod="b"}'
        values: '0x40'
      - series: 'up{job="continuum-continuum-operator",namespace="continuum-system",pod="a"}'
        values: '1x20 _x20'
    alert_rule_test:
      - eval_time: 12m
        alertname: ContinuumNoLeader
        exp_alerts: []
      - eval_time: 20m
        alertname: ContinuumNoLeader
        exp_alerts:
          - exp_labels: {severity: critical}
      - eval_time: 22m
        alertname: ContinuumOperatorDown
        exp_alerts: []
      - eval_time: 35m
        alertname: ContinuumOperatorDown
        exp_alerts:
          - exp_labels: {severity: critical}
"#;

fn promtool(args: &[&str], dir: &Path) -> Output {
    Command::new("promtool").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("cannot run promtool ({e}): install Debian's `prometheus` package (scripts/test.sh does)")
    })
}

fn alerts(spec: &Value) -> Vec<Value> {
    spec["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The rules with the annotations promtool's unit tests compare reduced to SlowDisk's summary.
fn for_unit_tests(spec: &Value) -> Value {
    let mut spec = spec.clone();
    for rule in spec["groups"][0]["rules"].as_array_mut().into_iter().flatten() {
        let keep =
            if rule["alert"] == "ContinuumEtcdSlowDisk" { rule["annotations"]["summary"].clone() } else { Value::Null };
        rule["annotations"] = if keep.is_null() { json!({}) } else { json!({"summary": keep}) };
    }
    spec
}

#[test]
fn alert_rules_pass_promtool_and_fire_only_when_they_should() {
    let objects = template("continuum-system", &["metrics.prometheusRule.enabled=true"]);
    let spec = &get(&objects, "PrometheusRule", FULLNAME)["spec"];
    for rule in alerts(spec) {
        assert!(rule["labels"]["severity"].is_string(), "{rule}");
        for key in ["summary", "description", "runbook"] {
            assert!(rule["annotations"][key].as_str().is_some_and(|s| s.len() > 20), "{key} of {rule}");
        }
    }
    let slow = alerts(spec).into_iter().find(|r| r["alert"] == "ContinuumEtcdSlowDisk").unwrap_or_default();
    let description = slow["annotations"]["description"].as_str().unwrap_or_default();
    assert!(description.contains("$labels.member") && description.contains("Fix:"), "{description}");

    let scratch = Scratch::new("rules");
    let yaml = |v: &Value| serde_yaml::to_string(v).unwrap_or_else(|e| panic!("{e}"));
    scratch.write("rules.yaml", &yaml(spec));
    let out = promtool(&["check", "rules", "rules.yaml"], &scratch.0);
    ok(&out, "promtool check rules");
    assert!(stdout(&out).contains("SUCCESS: 5 rules found"), "{}", stdout(&out));

    scratch.write("rules-test.yaml", &yaml(&for_unit_tests(spec)));
    scratch.write("tests.yaml", RULE_TESTS);
    ok(&promtool(&["test", "rules", "tests.yaml"], &scratch.0), "promtool test rules");

    // The values move the thresholds: with 40 switches an hour allowed, the flapping test fails.
    let sets = ["metrics.prometheusRule.enabled=true", "metrics.prometheusRule.offloadFlapping.switchesPerHour=40"];
    let objects = template("continuum-system", &sets);
    let lenient = &get(&objects, "PrometheusRule", FULLNAME)["spec"];
    scratch.write("rules-test.yaml", &yaml(&for_unit_tests(lenient)));
    let out = promtool(&["test", "rules", "tests.yaml"], &scratch.0);
    assert!(!out.status.success(), "flapping fired with 40 switches an hour allowed");
    let report = format!("{}{}", stdout(&out), stderr(&out));
    assert!(report.contains("alertname: ContinuumOffloadFlapping, time: 1h30m"), "{report}");
    let sets = ["metrics.prometheusRule.enabled=true", "metrics.prometheusRule.etcdSlowDisk.for=2m"];
    let objects = template("continuum-system", &sets);
    let rules = alerts(&get(&objects, "PrometheusRule", FULLNAME)["spec"]);
    assert!(rules.iter().any(|r| r["alert"] == "ContinuumEtcdSlowDisk" && r["for"] == "2m"), "{rules:?}");
}

/// Every `continuum_*` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    text.match_indices("continuum_")
        .filter(|(i, _)| !text[..*i].ends_with(|c: char| word(c) || c.is_ascii_uppercase()))
        .map(|(i, _)| text[i..].chars().take_while(|c| word(*c)).collect())
        .collect()
}

/// The metric list of the chart README's "Metrics" section.
fn readme_metrics() -> BTreeSet<String> {
    let path = repo_root().join("charts/continuum-operator/README.md");
    let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let section = readme.split("\n## Metrics\n").nth(1).unwrap_or_else(|| panic!("no Metrics section"));
    let section = section.split("\n## ").next().unwrap_or_default();
    section.lines().filter_map(|l| l.strip_prefix("- `")?.strip_suffix('`')).map(str::to_owned).collect()
}

#[test]
fn dashboard_and_alerts_use_only_the_metrics_listed_in_the_readme() {
    let objects = template("continuum-system", &[MONITORING]);
    let config_map = get(&objects, "ConfigMap", "-dashboard");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    let text = config_map["data"]["continuum-operator.json"].as_str().unwrap_or_default();
    let dashboard: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("dashboard JSON: {e}"));
    let panels: Vec<&Value> =
        dashboard["panels"].as_array().into_iter().flatten().filter(|p| p["type"] != "row").collect();
    let mut exprs = String::new();
    for panel in &panels {
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        assert!(!targets.is_empty(), "panel {} has no query", panel["title"]);
        for t in targets {
            exprs
                .push_str(t["expr"].as_str().unwrap_or_else(|| panic!("panel {} target without expr", panel["title"])));
            exprs.push('\n');
        }
    }
    let in_dashboard = metric_names(&exprs);
    for wanted in [
        "continuum_leader_is_leader",
        "continuum_offload_offloaded",
        "continuum_offload_fps",
        "continuum_offload_latency_seconds",
        "continuum_offload_switches_total",
        "continuum_offload_telemetry_errors_total",
        "continuum_etcd_wal_fsync_p99_seconds",
        "continuum_etcd_backend_commit_p99_seconds",
        "continuum_etcd_slow_disk",
        "continuum_etcd_leader_changes",
        "continuum_etcd_db_size_bytes",
        "continuum_offload_evaluation_duration_seconds_bucket",
    ] {
        assert!(in_dashboard.contains(wanted), "no dashboard panel shows {wanted}");
    }
    let rules = get(&objects, "PrometheusRule", FULLNAME)["spec"].to_string();
    let used: BTreeSet<String> = &in_dashboard | &metric_names(&rules);
    let listed = readme_metrics();
    let unlisted: Vec<&String> = used.difference(&listed).collect();
    assert!(unlisted.is_empty(), "used but not in the README's metric list: {unlisted:?}");
    let unused: Vec<&String> = listed.difference(&used).collect();
    assert!(unused.is_empty(), "in the README's metric list but used nowhere: {unused:?}");
}
