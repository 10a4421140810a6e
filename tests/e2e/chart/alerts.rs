//! The alert rules under promtool, and the metric names of the dashboard and alerts.

use super::*;

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
  - name: degraded fires once an offloaded policy stays degraded
    interval: 1m
    input_series:
      - series: 'continuum_offload_degraded{namespace="edge",policy="detector"}'
        values: '0x5 1x20'
      - series: 'continuum_offload_degraded{namespace="edge",policy="calm"}'
        values: '0x5 1x5 0x15'
    alert_rule_test:
      - eval_time: 12m
        alertname: ContinuumOffloadDegraded
        exp_alerts: []
      - eval_time: 20m
        alertname: ContinuumOffloadDegraded
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
    assert!(stdout(&out).contains("SUCCESS: 6 rules found"), "{}", stdout(&out));

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
        "continuum_offload_signal",
        "continuum_offload_degraded",
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
