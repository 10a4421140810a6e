//! The runtime against an API server that goes away or throttles: a restart of the real
//! kube-apiserver while the operator leads, and API Priority and Fairness squeezing the
//! operator's user to one seat that rejects (429) whatever does not fit.

use std::time::{Duration, Instant};

use continuum_api::EtcdHealth;
use continuum_testenv::ControlPlane;
use continuum_testenv::kit::{self, Cluster, Launch, Operator, wait};
use k8s_openapi::api::coordination::v1::Lease;

mod common;
use common::{OPERATOR, control_plane, etcd_health};

/// Long enough to ride out an API server restart on a loaded machine (it takes ~5-15 s).
const TIMING: [&str; 6] = ["--lease-duration", "40s", "--renew-deadline", "30s", "--retry-period", "1s"];

fn lease(cluster: &Cluster) -> kit::Result<Lease> {
    let lease = cluster.namespaced::<Lease>("default").get_opt("continuum-operator")?;
    lease.ok_or_else(|| kit::Error::Failed("no Lease".into()))
}

/// The member of the EtcdHealth has been read (its version is in the status).
fn read(h: &EtcdHealth) -> bool {
    h.status.as_ref().is_some_and(|s| s.members.first().is_some_and(|m| m.version.is_some()))
}

fn healthy(op: &Operator) -> bool {
    op.http_get("/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
}

/// The operator is still running, leads, answers `/healthz`, and keeps writing.
fn still_working(op: &Operator) -> kit::Result<()> {
    assert_eq!(op.exit_code(), None, "the operator exited\n{}", op.log_text());
    assert!(op.is_leader(), "the operator does not lead any more\n{}", op.log_text());
    assert!(healthy(op), "/healthz fails: {:?}", op.http_get("/healthz"));
    let before = op.writes();
    wait::until("the operator keeps writing", Duration::from_secs(30), || op.writes() > before)?;
    assert!(!op.log_text().contains("stopping the controllers"), "{}", op.log_text());
    Ok(())
}

#[test]
fn the_leader_keeps_its_lease_and_reconciles_new_work_after_the_api_server_restarts() -> kit::Result<()> {
    let (mut cp, cluster) = control_plane(false)?;
    cluster.ensure_namespace("watch")?;
    let healths = cluster.namespaced::<EtcdHealth>("watch");
    healths.apply(&etcd_health("before", &cp.etcd_metrics_url, None)?, "user")?;
    let op = common::operator(&cp).args(["--lease-namespace", "default"]).args(TIMING).start(&cp.dir, "r")?;
    wait::until("r leads", Duration::from_secs(30), || op.is_leader())?;
    healths.wait_for("before", "the member is read", Duration::from_secs(30), read)?;
    let acquired = lease(&cluster)?.spec.and_then(|s| s.acquire_time);

    let started = Instant::now();
    cp.restart_apiserver(&[])?;
    eprintln!("kube-apiserver was away for {:.1}s", started.elapsed().as_secs_f64());

    // A fresh client: the old one's pooled connections died with the server.
    let cluster = Cluster::connect(&cp)?;
    let healths = cluster.namespaced::<EtcdHealth>("watch");
    healths.apply(&etcd_health("after", &cp.etcd_metrics_url, None)?, "user")?;
    let took = wait::until("an EtcdHealth created after the restart is read", Duration::from_secs(60), || {
        healths.get("after").is_ok_and(|h| read(&h))
    })?;
    eprintln!("reconciled {:.1}s after the API server came back", took.as_secs_f64());
    let now = lease(&cluster)?.spec.unwrap_or_default();
    assert_eq!(now.holder_identity.as_deref(), Some("r"));
    assert_eq!(now.acquire_time, acquired, "the Lease changed hands (or was taken again) over the restart");
    still_working(&op)
}

fn apply_fixture(cp: &ControlPlane, name: &str) -> kit::Result<()> {
    let file = common::repo().join("crates/operator/tests/fixtures").join(name);
    let applied = cp.kubectl_output(&["apply", "-f", &file.to_string_lossy()])?;
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    Ok(())
}

/// Requests of FlowSchema `schema`: (dispatched, rejected), from the API server's own metrics.
fn flow_counts(cp: &ControlPlane, schema: &str) -> kit::Result<(f64, f64)> {
    let label = format!("flow_schema=\"{schema}\"");
    let out = cp.kubectl_output(&["get", "--raw", "/metrics"])?;
    let page = String::from_utf8_lossy(&out.stdout);
    let sum = |family: &str| -> f64 {
        page.lines()
            .filter(|l| l.starts_with(family) && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok((sum("apiserver_flowcontrol_dispatched_requests_total{"), sum("apiserver_flowcontrol_rejected_requests_total{")))
}

#[test]
fn an_operator_throttled_to_one_seat_keeps_leading_and_reconciling_without_spinning() -> kit::Result<()> {
    let (mut cp, cluster) = control_plane(false)?;
    cluster.ensure_namespace("watch")?;
    apply_fixture(&cp, "apf-throttle.yaml")?;
    // 15 seats in all: the operator's level gets one (shares 1 of about 250).
    cp.restart_apiserver(&["--max-requests-inflight=10", "--max-mutating-requests-inflight=5"])?;
    let kubeconfig = cp.user_kubeconfig("continuum-operator", &[])?;
    let cluster = Cluster::connect(&cp)?;
    let healths = cluster.namespaced::<EtcdHealth>("watch");
    healths.apply(&etcd_health("first", &cp.etcd_metrics_url, None)?, "user")?;

    let op = Launch::run(OPERATOR, &kubeconfig).args(["--lease-namespace", "default"]).start(&cp.dir, "throttled")?;
    wait::until("the throttled operator leads", Duration::from_secs(60), || op.is_leader())?;
    healths.wait_for("first", "the member is read", Duration::from_secs(90), read)?;
    let (dispatched, rejected) = flow_counts(&cp, "continuum-operator")?;
    let since = Instant::now();
    healths.apply(&etcd_health("second", &cp.etcd_metrics_url, None)?, "user")?;
    healths.wait_for("second", "a later EtcdHealth is read too", Duration::from_secs(90), read)?;
    std::thread::sleep(Duration::from_secs(20).saturating_sub(since.elapsed()));
    let (dispatched_now, rejected_now) = flow_counts(&cp, "continuum-operator")?;
    let sent = (dispatched_now - dispatched) + (rejected_now - rejected);
    let rate = sent / since.elapsed().as_secs_f64();
    eprintln!(
        "operator flow: {dispatched_now} dispatched, {rejected_now} rejected (429) in all; {rate:.1} requests/s after start"
    );
    assert!(dispatched_now > 0.0, "no request of the operator matched the FlowSchema: the test throttled nothing");
    assert!(rejected_now > 0.0, "the API server never rejected the operator: the test throttled nothing");
    // Two EtcdHealths read every second: a few requests a second. A loop on 429 is hundreds.
    assert!(rate < 20.0, "the operator sent {rate:.1} requests/s while throttled");
    still_working(&op)
}

/// A standby may not list or watch the Lease, so its watch fails every time: it must wait longer
/// and longer between attempts, not retry in a loop.
#[test]
fn a_standby_whose_lease_watch_is_refused_backs_off_instead_of_spinning() -> kit::Result<()> {
    let (cp, _cluster) = control_plane(false)?;
    apply_fixture(&cp, "standby-no-watch.yaml")?;
    let a = common::operator(&cp).args(["--lease-namespace", "default"]).start(&cp.dir, "a")?;
    wait::until("a leads", Duration::from_secs(30), || a.is_leader())?;
    let kubeconfig = cp.user_kubeconfig("continuum-standby", &[])?;
    let b = Launch::run(OPERATOR, &kubeconfig).args(["--lease-namespace", "default"]).start(&cp.dir, "b")?;
    wait::until("b stands by", Duration::from_secs(30), || b.ready())?;
    b.wait_log("standing by", Duration::from_secs(10))?;
    let (before, _) = flow_counts(&cp, "continuum-standby")?;
    let since = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let (after, _) = flow_counts(&cp, "continuum-standby")?;
    let rate = (after - before) / since.elapsed().as_secs_f64();
    eprintln!("standby: {rate:.1} requests/s with its Lease watch refused ({after} in all)");
    assert!(after > 0.0, "no request of the standby matched its FlowSchema");
    // A Lease read every retry period (2 s) and a watch attempt now and then: about one a second.
    assert!(rate < 5.0, "the standby sent {rate:.1} requests/s");
    assert_eq!(b.exit_code(), None, "{}", b.log_text());
    assert!(!b.is_leader() && a.is_leader());
    Ok(())
}
