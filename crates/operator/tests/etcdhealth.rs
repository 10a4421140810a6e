//! EtcdHealth end to end: the operator on a real kube-apiserver watching real etcd members, one of
//! them on a real slow disk; verdicts read back through the typed client (and the printer
//! columns through kubectl, as a user sees them).

use std::time::Duration;

use continuum_api::EtcdHealth;
use continuum_api::common::SecretKeyRef;
use continuum_testenv::kit::{self, Cluster, Kubectl};
use continuum_testenv::{Etcd, EtcdOptions, Load};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Event, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

mod common;
use common::{condition, control_plane, crashing_pod, etcd_health, fixtures};

/// What kubelet records when a liveness probe times out: one Event, counted 12 times, seen just now.
fn liveness_failures(cluster: &Cluster, ns: &str) -> kit::Result<()> {
    let mut event: Event = fixtures().load("liveness-event.yaml")?;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    event.involved_object.namespace = Some(ns.to_owned());
    (event.first_timestamp, event.last_timestamp) = (Some(now.clone()), Some(now));
    cluster.namespaced::<Event>(ns).create(&event).map(drop)
}

fn status_of(h: &EtcdHealth) -> continuum_api::EtcdHealthStatus {
    h.status.clone().unwrap_or_default()
}

fn slow_disk(h: &EtcdHealth) -> Option<String> {
    h.status.as_ref()?.slow_disk.clone()
}

fn condition_of(h: &EtcdHealth, type_: &str) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    condition(&h.status.as_ref()?.conditions, type_).cloned()
}

#[test]
fn slow_disk_is_detected_explained_correlated_and_cleared_on_the_real_control_plane() -> kit::Result<()> {
    let (cp, cluster) = control_plane(false)?;
    let operator = common::operator(&cp).start(&cp.dir, "test-operator")?;
    for ns in ["watch", "karmada-system"] {
        cluster.ensure_namespace(ns)?;
    }
    crashing_pod(&cluster, "karmada-system")?;
    let healths = cluster.namespaced::<EtcdHealth>("watch");

    // The control plane's own etcd is healthy.
    healths.apply(&etcd_health("control-plane", &cp.etcd_metrics_url, None)?, "user")?;
    let slow = EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() };
    let mut etcd = Etcd::start(&slow)?;
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    healths.apply(&etcd_health("karmada-etcd", &etcd.metrics_url, Some("karmada-system"))?, "user")?;
    liveness_failures(&cluster, "karmada-system")?;

    let slow_one = healths.wait_for("karmada-etcd", "SlowDisk True", Duration::from_secs(90), |h| {
        slow_disk(h).as_deref() == Some("True")
    })?;
    let table = Kubectl(&cp).table("etcdhealths", "watch")?;
    let row = |name: &str| table.iter().find(|r| r.first().is_some_and(|c| c == name)).cloned().unwrap_or_default();
    let cols = row("karmada-etcd");
    assert_eq!(cols.get(1).map(String::as_str), Some("True"), "{table:?}");
    let wal_ms = cols.get(2).and_then(|c| c.strip_suffix("ms")?.parse::<u32>().ok());
    assert!(wal_ms.is_some_and(|v| (128..=256).contains(&v)), "WAL-P99 column: {table:?}");
    assert_eq!(row("control-plane").get(1).map(String::as_str), Some("False"), "{table:?}");
    let healthy = healths.get("control-plane")?;
    let version = status_of(&healthy).members.first().and_then(|m| m.version.clone());
    assert_eq!(version.as_deref(), Some(continuum_testenv::versions::etcd().trim_start_matches('v')));

    let message = condition_of(&slow_one, "SlowDisk").map(|c| c.message).unwrap_or_default();
    for needle in [
        "etcd member etcd-0 has a slow disk",
        "bucket 128ms-256ms",
        "over the 100ms threshold",
        "karmada-apiserver-0 restarted 7x and failed 12 liveness probes",
        "fio --rw=write",
    ] {
        assert!(message.contains(needle), "missing {needle:?} in {message}");
    }
    let events = cluster.namespaced::<Event>("watch").list("reason=WalFsyncSlow")?;
    assert_eq!(events.len(), 1, "exactly one WalFsyncSlow Event: {events:?}");
    assert_eq!(events[0].involved_object.name.as_deref(), Some("karmada-etcd"), "the Event is about the EtcdHealth");
    let metrics = operator.http_get("/metrics").unwrap_or_default();
    assert!(
        metrics.contains(r#"continuum_etcd_slow_disk{namespace="watch",etcdhealth="karmada-etcd"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("continuum_etcd_wal_fsync_p99_seconds{"), "{metrics}");

    // Remove the delay: the verdict clears after `for` once the window holds fast fsyncs only.
    drop(load);
    etcd.restart(&EtcdOptions::default())?;
    let load = Load::start(&etcd.client_url, Duration::from_millis(20));
    healths.wait_for(
        "karmada-etcd",
        "SlowDisk False after the restart without delay",
        Duration::from_secs(90),
        |h| slow_disk(h).as_deref() == Some("False"),
    )?;
    drop(load);

    // A dead member: Reachable False with the reason, and the operator keeps running.
    etcd.stop();
    let dead = healths.wait_for("karmada-etcd", "Reachable False", Duration::from_secs(30), |h| {
        condition_of(h, "Reachable").is_some_and(|c| c.status == "False")
    })?;
    let reachable = condition_of(&dead, "Reachable").map(|c| c.message).unwrap_or_default();
    assert!(reachable.to_lowercase().contains("connection refused"), "{reachable}");
    assert_eq!(operator.exit_code(), None, "the operator exited:\n{}", operator.log_text());
    Ok(())
}

fn secret(name: &str, type_: Option<&str>, files: &[(&str, &std::path::Path)]) -> kit::Result<Secret> {
    let mut data = std::collections::BTreeMap::new();
    for (key, path) in files {
        let bytes = std::fs::read(path).map_err(|e| kit::Error::Failed(format!("{}: {e}", path.display())))?;
        data.insert((*key).to_owned(), ByteString(bytes));
    }
    let mut s = Secret { data: Some(data), type_: type_.map(str::to_owned), ..Default::default() };
    s.metadata.name = Some(name.to_owned());
    Ok(s)
}

#[test]
fn an_https_member_is_read_with_the_ca_and_client_certificate_from_secrets() -> kit::Result<()> {
    let (cp, cluster) = control_plane(false)?;
    let _operator = common::operator(&cp).start(&cp.dir, "test-operator")?;
    let etcd = Etcd::start(&EtcdOptions { tls_metrics: true, ..Default::default() })?;
    let _load = Load::start(&etcd.client_url, Duration::from_millis(50));
    let secrets = cluster.namespaced::<Secret>("default");
    secrets.create(&secret("etcd-ca", None, &[("ca.crt", &etcd.certs.ca_cert)])?)?;
    let tls = [("tls.crt", etcd.client_cert.as_path()), ("tls.key", etcd.client_key.as_path())];
    secrets.create(&secret("etcd-client", Some("kubernetes.io/tls"), &tls)?)?;
    let healths = cluster.namespaced::<EtcdHealth>("default");

    let mut mtls = etcd_health("mtls", &etcd.metrics_url, None)?;
    let ca = SecretKeyRef { name: "etcd-ca".into(), key: "ca.crt".into() };
    let client = continuum_api::common::SecretRef { name: "etcd-client".into() };
    mtls.spec.endpoints[0].tls = Some(continuum_api::common::TlsConfig {
        ca_secret_ref: Some(ca.clone()),
        cert_secret_ref: Some(client),
        ..Default::default()
    });
    healths.apply(&mtls, "user")?;
    let ready = healths.wait_for("mtls", "Ready True over mTLS", Duration::from_secs(60), |h| {
        condition_of(h, "Ready").is_some_and(|c| c.status == "True")
    })?;
    let version = status_of(&ready).members.first().and_then(|m| m.version.clone());
    assert_eq!(version.as_deref(), Some(continuum_testenv::versions::etcd().trim_start_matches('v')));
    assert_eq!(slow_disk(&ready).as_deref(), Some("False"));

    // Without the client certificate the member refuses us, and the condition says so.
    let mut no_cert = etcd_health("no-client-cert", &etcd.metrics_url, None)?;
    no_cert.spec.endpoints[0].tls =
        Some(continuum_api::common::TlsConfig { ca_secret_ref: Some(ca), ..Default::default() });
    healths.apply(&no_cert, "user")?;
    let refused = healths.wait_for(
        "no-client-cert",
        "Reachable False without a client certificate",
        Duration::from_secs(60),
        |h| condition_of(h, "Reachable").is_some_and(|c| c.status == "False"),
    )?;
    let message = condition_of(&refused, "Reachable").map(|c| c.message).unwrap_or_default();
    assert!(message.contains("etcd-0:"), "{message}");
    Ok(())
}

/// One EtcdHealth over 100 members: 90 names for one real etcd's page, 10 dead ports.
fn hundred_members(metrics_url: &str) -> kit::Result<EtcdHealth> {
    let mut h = etcd_health("hundred", metrics_url, None)?;
    h.spec.interval = Duration::from_secs(2).into();
    h.spec.endpoints = (0..100)
        .map(|i| continuum_api::etcd::EtcdEndpoint {
            name: format!("etcd-{i:03}"),
            metrics_url: if i % 10 == 9 { "http://127.0.0.1:1/metrics".into() } else { format!("{metrics_url}?m={i}") },
            tls: None,
        })
        .collect();
    Ok(h)
}

#[test]
fn a_hundred_members_write_a_bounded_status_and_a_deleted_healths_series_are_removed() -> kit::Result<()> {
    let (cp, cluster) = control_plane(false)?;
    let operator = common::operator(&cp).start(&cp.dir, "test-operator")?;
    let etcd = Etcd::start(&EtcdOptions::default())?;
    let _load = Load::start(&etcd.client_url, Duration::from_millis(50));
    let healths = cluster.namespaced::<EtcdHealth>("default");
    healths.apply(&hundred_members(&etcd.metrics_url)?, "user")?;

    let read = healths.wait_for("hundred", "status over 100 members with figures", Duration::from_secs(90), |h| {
        let s = status_of(h);
        s.members_total == Some(100) && s.wal_fsync_p99.is_some()
    })?;
    let s = status_of(&read);
    assert_eq!((s.members.len(), s.members_omitted), (16, Some(84)), "{s:?}");
    let dead: Vec<&str> = s.members.iter().take(10).map(|m| m.name.as_str()).collect();
    assert_eq!(dead, (0..10).map(|i| format!("etcd-{:03}", i * 10 + 9)).collect::<Vec<_>>(), "unreachable first");
    assert!(s.members.iter().take(10).all(|m| m.error.is_some()), "{s:?}");
    let summary = s.members_summary.unwrap_or_default();
    assert!(summary.starts_with("100 members: 10 unreachable, ") && summary.contains("; 84 not listed ("), "{summary}");
    let reachable = condition_of(&read, "Reachable").map(|c| c.message).unwrap_or_default();
    assert!(reachable.starts_with("10 of 100 members could not be read: etcd-009: "), "{reachable}");
    assert!(reachable.ends_with("; and 5 more."), "{reachable}");

    let metrics = operator.http_get("/metrics").unwrap_or_default();
    let live = r#"continuum_etcd_wal_fsync_p99_seconds{namespace="default",etcdhealth="hundred",member="etcd-000"}"#;
    assert!(metrics.contains(live), "{metrics}");
    assert!(!metrics.contains(r#"wal_fsync_p99_seconds{namespace="default",etcdhealth="hundred",member="etcd-009"}"#));
    healths.delete("hundred")?;
    healths.wait_gone("hundred", Duration::from_secs(30))?;
    continuum_testenv::kit::wait::until("the deleted EtcdHealth's series to go", Duration::from_secs(40), || {
        operator.http_get("/metrics").is_some_and(|m| !m.contains(r#"etcdhealth="hundred""#))
    })?;
    assert_eq!(operator.exit_code(), None, "the operator exited:\n{}", operator.log_text());
    Ok(())
}
