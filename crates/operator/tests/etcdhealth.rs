//! EtcdHealth end to end: the operator on a real kube-apiserver watching real etcd members, one of
//! them on a real slow disk; verdicts read back with the real kubectl.

use std::process::Output;
use std::time::Duration;

use continuum_testenv::{ControlPlane, Etcd, EtcdOptions, Load};

mod common;
use common::{Operator, apply, crashing_pod, free_port, health_yaml, http_get, start_operator as start, wait_until};

fn start_operator(cp: &ControlPlane, metrics_port: u16) -> Operator {
    start(cp, &format!("127.0.0.1:{metrics_port}"))
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> Output {
    cp.kubectl_output(args).unwrap_or_else(|e| panic!("{e}"))
}

fn jsonpath(cp: &ControlPlane, ns: &str, name: &str, path: &str) -> String {
    let out = kubectl(cp, &["get", "etcdhealth", name, "-n", ns, "-o", &format!("jsonpath={path}")]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What kubelet records when a liveness probe times out: one Event, counted 12 times, seen just now.
fn liveness_failures(cp: &ControlPlane, ns: &str) {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let event = format!(
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: karmada-apiserver-0.liveness\ninvolvedObject:\n  kind: Pod\n  name: karmada-apiserver-0\n  namespace: {ns}\nreason: Unhealthy\nmessage: 'Liveness probe failed: Get \"https://10.0.0.7:5443/livez\": context deadline exceeded'\ntype: Warning\ncount: 12\nfirstTimestamp: \"{now}\"\nlastTimestamp: \"{now}\"\nsource:\n  component: kubelet\n"
    );
    apply(cp, ns, &event);
}

#[test]
fn slow_disk_is_detected_explained_correlated_and_cleared_on_the_real_control_plane() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    cp.apply_crds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"))
        .unwrap_or_else(|e| panic!("{e}"));
    let metrics_port = free_port();
    let mut operator = start_operator(&cp, metrics_port);
    for ns in ["watch", "karmada-system"] {
        assert!(kubectl(&cp, &["create", "namespace", ns]).status.success());
    }
    crashing_pod(&cp, "karmada-system");

    // The control plane's own etcd is healthy.
    apply(&cp, "watch", &health_yaml("control-plane", &cp.etcd_metrics_url, None));
    let slow = EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() };
    let mut etcd = Etcd::start(&slow).unwrap_or_else(|e| panic!("{e}"));
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    apply(&cp, "watch", &health_yaml("karmada-etcd", &etcd.metrics_url, Some("karmada-system")));
    liveness_failures(&cp, "karmada-system");

    wait_until("SlowDisk True", Duration::from_secs(90), || {
        (jsonpath(&cp, "watch", "karmada-etcd", "{.status.slowDisk}") == "True").then_some(String::new())
    });
    let table = String::from_utf8_lossy(&kubectl(&cp, &["get", "etcdhealths", "-n", "watch"]).stdout).into_owned();
    eprintln!("{table}");
    let row = table.lines().find(|l| l.starts_with("karmada-etcd")).unwrap_or_default().to_owned();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols.get(1), Some(&"True"), "{table}");
    assert!(
        cols.get(2)
            .is_some_and(|c| c.ends_with("ms")
                && c.trim_end_matches("ms").parse::<u32>().is_ok_and(|v| (128..=256).contains(&v))),
        "WAL-P99 column: {table}"
    );
    let healthy_row = table.lines().find(|l| l.starts_with("control-plane")).unwrap_or_default();
    assert_eq!(healthy_row.split_whitespace().nth(1), Some("False"), "{table}");
    assert_eq!(
        jsonpath(&cp, "watch", "control-plane", "{.status.members[0].version}"),
        continuum_testenv::versions::etcd().trim_start_matches('v')
    );

    let message = jsonpath(&cp, "watch", "karmada-etcd", r#"{.status.conditions[?(@.type=="SlowDisk")].message}"#);
    for needle in [
        "etcd member etcd-0 has a slow disk",
        "bucket 128ms-256ms",
        "over the 100ms threshold",
        "karmada-apiserver-0 restarted 7x and failed 12 liveness probes",
        "fio --rw=write",
    ] {
        assert!(message.contains(needle), "missing {needle:?} in {message}");
    }
    let describe =
        String::from_utf8_lossy(&kubectl(&cp, &["describe", "etcdhealth", "karmada-etcd", "-n", "watch"]).stdout)
            .into_owned();
    assert!(describe.contains("WalFsyncSlow"), "{describe}");
    let events =
        kubectl(&cp, &["get", "events", "-n", "watch", "--field-selector", "reason=WalFsyncSlow", "-o", "name"]);
    assert_eq!(String::from_utf8_lossy(&events.stdout).lines().count(), 1, "exactly one WalFsyncSlow Event");
    let metrics = http_get(metrics_port, "/metrics");
    assert!(
        metrics.contains(r#"continuum_etcd_slow_disk{namespace="watch",etcdhealth="karmada-etcd"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("continuum_etcd_wal_fsync_p99_seconds{"), "{metrics}");

    // Remove the delay: the verdict clears after `for` once the window holds fast fsyncs only.
    drop(load);
    etcd.restart(&EtcdOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    wait_until("SlowDisk False after the restart without delay", Duration::from_secs(90), || {
        (jsonpath(&cp, "watch", "karmada-etcd", "{.status.slowDisk}") == "False").then_some(String::new())
    });
    drop(load);

    // A dead member: Reachable False with the reason, and the operator keeps running.
    etcd.stop();
    let reachable = wait_until("Reachable False", Duration::from_secs(30), || {
        let m = jsonpath(
            &cp,
            "watch",
            "karmada-etcd",
            r#"{.status.conditions[?(@.type=="Reachable")].status} {.status.conditions[?(@.type=="Reachable")].message}"#,
        );
        m.starts_with("False").then_some(m)
    });
    assert!(reachable.to_lowercase().contains("connection refused"), "{reachable}");
    assert!(operator.0.try_wait().ok().flatten().is_none(), "the operator exited");
}

#[test]
fn an_https_member_is_read_with_the_ca_and_client_certificate_from_secrets() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    cp.apply_crds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"))
        .unwrap_or_else(|e| panic!("{e}"));
    let _operator = start_operator(&cp, free_port());
    let etcd = Etcd::start(&EtcdOptions { tls_metrics: true, ..Default::default() }).unwrap_or_else(|e| panic!("{e}"));
    let _load = Load::start(&etcd.client_url, Duration::from_millis(50));
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let ca = format!("--from-file=ca.crt={}", path(&etcd.certs.ca_cert));
    let out = kubectl(&cp, &["create", "secret", "generic", "etcd-ca", "-n", "default", &ca]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (cert, key) = (format!("--cert={}", path(&etcd.client_cert)), format!("--key={}", path(&etcd.client_key)));
    let out = kubectl(&cp, &["create", "secret", "tls", "etcd-client", "-n", "default", &cert, &key]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tls = "    tls:\n      caSecretRef:\n        name: etcd-ca\n        key: ca.crt\n      certSecretRef:\n        name: etcd-client\n";
    let yaml = health_yaml("mtls", &etcd.metrics_url, None).replace(
        &format!("    metricsUrl: {}\n", etcd.metrics_url),
        &format!("    metricsUrl: {}\n{tls}", etcd.metrics_url),
    );
    apply(&cp, "default", &yaml);
    let ready = wait_until("Ready True over mTLS", Duration::from_secs(60), || {
        let s = jsonpath(&cp, "default", "mtls", r#"{.status.conditions[?(@.type=="Ready")].status}"#);
        (s == "True").then(|| jsonpath(&cp, "default", "mtls", "{.status.members[0].version}"))
    });
    assert_eq!(ready, continuum_testenv::versions::etcd().trim_start_matches('v'));
    assert_eq!(jsonpath(&cp, "default", "mtls", "{.status.slowDisk}"), "False");

    // Without the client certificate the member refuses us, and the condition says so.
    let yaml = health_yaml("no-client-cert", &etcd.metrics_url, None).replace(
        &format!("    metricsUrl: {}\n", etcd.metrics_url),
        &format!(
            "    metricsUrl: {}\n    tls:\n      caSecretRef:\n        name: etcd-ca\n        key: ca.crt\n",
            etcd.metrics_url
        ),
    );
    apply(&cp, "default", &yaml);
    let message = wait_until("Reachable False without a client certificate", Duration::from_secs(60), || {
        let s = jsonpath(&cp, "default", "no-client-cert", r#"{.status.conditions[?(@.type=="Reachable")].status}"#);
        (s == "False").then(|| {
            jsonpath(&cp, "default", "no-client-cert", r#"{.status.conditions[?(@.type=="Reachable")].message}"#)
        })
    });
    assert!(message.contains("etcd-0:"), "{message}");
}
