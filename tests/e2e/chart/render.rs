//! What `helm template` renders in each mode: kinds, least-privilege RBAC, restricted pods.

use super::*;

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
        {"apiGroups": ["continuum.dev"], "resources": ["offloadpolicies"], "verbs": ["patch"]},
        {"apiGroups": ["continuum.dev"], "resources": ["offloadpolicies/status", "etcdhealths/status"], "verbs": ["patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list", "watch", "patch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
         "resourceNames": ["offloadpolicies.continuum.dev", "etcdhealths.continuum.dev"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["work.karmada.io"], "resources": ["resourcebindings"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["services", "configmaps"], "verbs": ["list", "watch", "patch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch", "create", "patch"]},
        {"apiGroups": ["policy.karmada.io"], "resources": ["overridepolicies"], "verbs": ["list", "watch", "create", "patch", "delete"]}
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
    assert!(args.contains(&"--max-concurrent-reconciles=16"), "bounded reconciles missing from {args:?}");
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
