//! The Helm chart, checked by the real tools: helm lint / template / install against the real
//! API server (Pod Security admission included), promtool on the alert rules.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use continuum_e2e::{cluster, control_plane, kubectl, namespace, repo_root};
use continuum_testenv::kit::{self, TempNamespace};
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

fn restricted_namespace(prefix: &str) -> kit::Result<TempNamespace> {
    let ns = namespace(prefix);
    let levels =
        [("pod-security.kubernetes.io/enforce", "restricted"), ("pod-security.kubernetes.io/warn", "restricted")];
    ns.label(&levels)?;
    Ok(ns)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
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

#[path = "chart/alerts.rs"]
mod alerts;
#[path = "chart/install.rs"]
mod install;
#[path = "chart/render.rs"]
mod render;
