//! The generated CRDs on a real kube-apiserver: established, printed, explained, defaulted.

use std::time::Duration;

use continuum_e2e::{cluster, control_plane, fixtures, kubectl, namespace, repo_root};
use continuum_testenv::kit::{self, manifest, wait};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::DynamicObject;
use serde_json::Value;

#[test]
fn kubectl_sees_the_stamped_kubernetes_version() -> kit::Result<()> {
    let out = kubectl().run(&["version", "-o", "json"])?;
    assert!(out.ok, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    let expected = continuum_testenv::versions::kubernetes();
    assert_eq!(v["serverVersion"]["gitVersion"], expected.as_str(), "server version in {v}");
    assert_eq!(v["clientVersion"]["gitVersion"], expected.as_str(), "client version in {v}");
    Ok(())
}

/// Creates every object of the YAML file `path` in `ns` through the typed client.
fn create_all(ns: &str, path: &std::path::Path) -> kit::Result<()> {
    for obj in manifest::load_all::<DynamicObject>(path)? {
        let types = obj.types.clone().unwrap_or_default();
        cluster().dynamic(ns, &types.api_version, &types.kind).create(&obj)?;
    }
    Ok(())
}

#[test]
fn crds_are_established_and_kubectl_get_prints_the_printer_columns() -> kit::Result<()> {
    control_plane();
    for name in ["offloadpolicies.continuum.dev", "etcdhealths.continuum.dev"] {
        let crd = cluster().cluster::<CustomResourceDefinition>().get(name)?;
        let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
        let established = conditions.iter().find(|c| c.type_ == "Established").map(|c| c.status.clone());
        assert_eq!(established.as_deref(), Some("True"), "{name}: {conditions:?}");
    }
    let ns = namespace("columns");
    let examples = repo_root().join("examples");
    for file in ["offloadpolicy-detector.yaml", "etcdhealth-karmada.yaml"] {
        create_all(&ns, &examples.join(file))?;
    }
    // What a user sees: the printer columns, short names and the category, through kubectl.
    let headers = |resource: &str| kubectl().table(resource, &ns).map(|t| t.first().cloned().unwrap_or_default());
    assert_eq!(headers("offloadpolicies")?, ["NAME", "TARGET", "BACKEND", "PHASE", "SIGNALS", "AGE"]);
    assert_eq!(headers("etcdhealths")?, ["NAME", "SLOW-DISK", "WAL-P99", "COMMIT-P99", "LEADER-CHANGES", "AGE"]);
    let out = kubectl().run(&["get", "op,eh", "-n", &ns, "-o", "name"])?;
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.text());
    let out = kubectl().run(&["get", "continuum", "-n", &ns, "-o", "name"])?;
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.text());
    Ok(())
}

#[test]
fn every_example_is_accepted_by_the_api_server() -> kit::Result<()> {
    let ns = namespace("examples");
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .unwrap_or_else(|e| panic!("examples/: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "expected examples, found {files:?}");
    for file in files {
        create_all(&ns, &file).map_err(|e| kit::Error::Failed(format!("{} rejected: {e}", file.display())))?;
    }
    Ok(())
}

/// `text` with every run of white space as one space: `kubectl explain` wraps and indents docs.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `kubectl explain` reads the OpenAPI v3 document, which the API server republishes a few seconds
/// after a CRD is Established: wait for it (bounded), then check the text.
fn explain(path: &str) -> kit::Result<kit::Ran> {
    let what = format!("kubectl explain {path}");
    wait::until_value(&what, Duration::from_secs(60), || kubectl().run(&["explain", path]), |r| r.ok)
}

#[test]
fn kubectl_explain_shows_the_field_docs() -> kit::Result<()> {
    control_plane();
    let text = words(&explain("offloadpolicy.spec.offloadWhen")?.stdout);
    assert!(text.contains("When to offload: `any` or `all` of its rules"), "{text}");
    assert!(text.contains("Offload when ANY of these holds continuously"), "{text}");
    assert!(text.contains("Default: 30s"), "{text}");
    let text = words(&explain("offloadpolicy.spec.recoverWhen.verify.backoff")?.stdout);
    assert!(text.contains("Default: initial 5m, max 1h"), "{text}");
    let text = explain("etcdhealth.spec.thresholds.walFsyncP99")?.stdout;
    assert!(text.contains("Default: 100ms"), "{text}");
    Ok(())
}

/// An optional enum field says what the field does, not what its type is.
#[test]
fn kubectl_explain_shows_the_own_doc_of_enum_typed_fields() -> kit::Result<()> {
    control_plane();
    let fields = [
        ("offloadpolicy.spec.pin", "Manual override: `Local` keeps the workload on the local backend"),
        ("offloadpolicy.status.activeBackend", "Whether the workload is pointed at the local backend or an offload"),
        ("offloadpolicy.status.phase", "Local, Offloaded, Pinned, Suspended or Degraded."),
        ("offloadpolicy.spec.signals.unit", "Unit of the value, for messages and `kubectl get`"),
    ];
    for (path, doc) in fields {
        let text = words(&explain(path)?.stdout);
        assert!(text.contains(doc), "{path}: {text}");
        assert!(!text.contains("The local backend or the offload backends."), "{path} shows its type's doc: {text}");
    }
    Ok(())
}

#[test]
fn the_api_server_fills_in_the_documented_defaults() -> kit::Result<()> {
    let ns = namespace("defaults");
    // Sent as written (untyped): the defaults must come from the API server, not from serde.
    let policy: DynamicObject = fixtures().load("offloadpolicy-minimal.yaml")?;
    let created = cluster().dynamic(&ns, "continuum.dev/v1alpha1", "OffloadPolicy").create(&policy)?;
    let spec = &created.data["spec"];
    assert_eq!(spec["targetRef"]["apiVersion"], "apps/v1");
    assert_eq!(spec["targetRef"]["kind"], "Deployment");
    assert_eq!(spec["telemetry"]["interval"], "15s");
    assert_eq!(spec["telemetry"]["maxSampleAge"], "60s");
    assert_eq!(spec["telemetry"]["onNoData"], "Hold");
    assert_eq!(spec["telemetry"]["prometheus"]["timeout"], "5s");
    assert_eq!(spec["signals"][0]["unit"], "None");
    assert_eq!(spec["offloadWhen"]["for"], "30s");
    // The recovery rules' default is derived from the offload rules by the operator, not stored.
    assert!(spec.get("recoverWhen").is_none(), "recoverWhen filled in: {spec}");
    assert_eq!(spec["cooldown"], "120s");
    assert_eq!(spec["maxSwitchesPerHour"], 6);
    assert_eq!(spec["mode"], "Enforce");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["onDelete"], "Restore");
    assert_eq!(spec["actuation"]["env"]["name"], "VACCEL_RPC_ADDRESS");
    assert_eq!(spec["backends"]["local"]["name"], "local");
    assert_eq!(spec["backends"]["offload"][0]["healthCheck"]["tcp"], true);
    assert_eq!(spec["backends"]["offload"][0]["healthCheck"]["timeout"], "2s");
    Ok(())
}

#[test]
fn the_api_server_fills_in_the_documented_recovery_defaults() -> kit::Result<()> {
    let ns = namespace("defaults-recover");
    let mut policy: DynamicObject = fixtures().load("offloadpolicy-minimal.yaml")?;
    policy.data["spec"]["recoverWhen"] = serde_json::json!({"all": [{"signal": "fps", "above": 12}]});
    let created = cluster().dynamic(&ns, "continuum.dev/v1alpha1", "OffloadPolicy").create(&policy)?;
    let recover = &created.data["spec"]["recoverWhen"];
    assert_eq!(recover["for"], "60s", "{recover}");
    assert_eq!(recover["verify"]["for"], "60s", "{recover}");
    assert_eq!(recover["verify"]["backoff"]["initial"], "300s", "{recover}");
    assert_eq!(recover["verify"]["backoff"]["max"], "3600s", "{recover}");
    Ok(())
}
