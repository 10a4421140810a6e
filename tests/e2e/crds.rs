//! The generated CRDs on a real kube-apiserver: established, printed, explained, defaulted.

use continuum_e2e::{control_plane, kubectl, namespace, repo_root, stderr, stdout};

#[test]
fn kubectl_sees_the_stamped_kubernetes_version() {
    let out = kubectl(&["version", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let expected = continuum_testenv::versions::kubernetes();
    assert_eq!(v["serverVersion"]["gitVersion"], expected.as_str(), "server version in {v}");
    assert_eq!(v["clientVersion"]["gitVersion"], expected.as_str(), "client version in {v}");
}

#[test]
fn crds_are_established_and_kubectl_get_prints_the_printer_columns() {
    let cp = control_plane();
    for crd in ["offloadpolicies.continuum.dev", "etcdhealths.continuum.dev"] {
        let out = cp
            .kubectl_output(&[
                "get",
                "crd",
                crd,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stdout(&out), "True", "{crd}: {}", stderr(&out));
    }
    let ns = namespace("columns");
    let examples = repo_root().join("examples");
    for file in ["offloadpolicy-detector.yaml", "etcdhealth-karmada.yaml"] {
        let out = kubectl(&["apply", "-n", &ns, "-f", &examples.join(file).to_string_lossy()]);
        assert!(out.status.success(), "{file}: {}", stderr(&out));
    }
    let headers = |resource: &str| {
        let out = kubectl(&["get", resource, "-n", &ns]);
        assert!(out.status.success(), "{resource}: {}", stderr(&out));
        stdout(&out).lines().next().unwrap_or_default().split_whitespace().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(headers("offloadpolicies"), ["NAME", "TARGET", "BACKEND", "PHASE", "FPS", "LATENCY", "AGE"]);
    assert_eq!(headers("etcdhealths"), ["NAME", "SLOW-DISK", "WAL-P99", "COMMIT-P99", "LEADER-CHANGES", "AGE"]);
    // Short names and the category resolve too.
    let out = kubectl(&["get", "op,eh", "-n", &ns, "-o", "name"]);
    assert_eq!(stdout(&out).lines().count(), 2, "{}{}", stdout(&out), stderr(&out));
    let out = kubectl(&["get", "continuum", "-n", &ns, "-o", "name"]);
    assert_eq!(stdout(&out).lines().count(), 2, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn every_example_is_accepted_by_the_api_server() {
    let ns = namespace("examples");
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap_or_else(|e| panic!("examples/: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "expected examples, found {files:?}");
    for file in files {
        let out = kubectl(&["create", "-n", &ns, "-f", &file.to_string_lossy()]);
        assert!(out.status.success(), "{} rejected: {}", file.display(), stderr(&out));
    }
}

/// `kubectl explain` reads the OpenAPI v3 document, which the API server republishes a few seconds
/// after a CRD is Established: wait for it (bounded), then check the text.
fn explain(path: &str) -> std::process::Output {
    let started = std::time::Instant::now();
    loop {
        let out = kubectl(&["explain", path]);
        if out.status.success() || started.elapsed() > std::time::Duration::from_secs(60) {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn kubectl_explain_shows_the_field_docs() {
    control_plane();
    let out = explain("offloadpolicy.spec.offloadWhen");
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("Offload when ANY of these rules is violated continuously"), "{text}");
    assert!(text.contains("fpsBelow"), "{text}");
    assert!(text.contains("Default: 30s"), "{text}");
    let out = explain("etcdhealth.spec.thresholds.walFsyncP99");
    assert!(stdout(&out).contains("Default: 100ms"), "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn the_api_server_fills_in_the_documented_defaults() {
    let ns = namespace("defaults");
    let policy = r#"{"apiVersion":"continuum.dev/v1alpha1","kind":"OffloadPolicy","metadata":{"name":"d"},
      "spec":{"targetRef":{"name":"detector"},
        "telemetry":{"prometheus":{"url":"http://prom:9090"},"fps":{"query":"fps"}},
        "offloadWhen":{"fpsBelow":10},
        "backends":{"local":{"endpoint":"tcp://pi:8192"},"offload":{"endpoint":"tcp://jetson:8192"}},
        "actuation":{"env":{"container":"detector"}}}}"#;
    let out = continuum_e2e::kubectl_stdin(&["create", "-n", &ns, "-o", "json", "-f", "-"], policy);
    assert!(out.status.success(), "{}", stderr(&out));
    let obj: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let spec = &obj["spec"];
    assert_eq!(spec["targetRef"]["apiVersion"], "apps/v1");
    assert_eq!(spec["targetRef"]["kind"], "Deployment");
    assert_eq!(spec["telemetry"]["interval"], "15s");
    assert_eq!(spec["telemetry"]["maxSampleAge"], "60s");
    assert_eq!(spec["telemetry"]["onNoData"], "Hold");
    assert_eq!(spec["telemetry"]["prometheus"]["timeout"], "5s");
    assert_eq!(spec["offloadWhen"]["for"], "30s");
    assert_eq!(spec["cooldown"], "120s");
    assert_eq!(spec["maxSwitchesPerHour"], 6);
    assert_eq!(spec["mode"], "Enforce");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["actuation"]["env"]["name"], "VACCEL_RPC_ADDRESS");
    assert_eq!(spec["backends"]["offload"]["healthCheck"]["tcp"], true);
    assert_eq!(spec["backends"]["offload"]["healthCheck"]["timeout"], "2s");
}
