//! The production runtime on real kube-apiservers: leader election (kill -9, SIGTERM, a paused
//! leader), the control-plane / host client split, and the telemetry URL allow-list.

use std::time::Duration;

use continuum_api::EtcdHealth;
use continuum_testenv::kit::{self, Cluster, Operator, wait};
use continuum_testenv::{ControlPlane, Etcd, EtcdOptions, Load};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;

mod common;
use common::{condition, control_plane, crashing_pod, etcd_health};

const LEASE_DURATION: f64 = 3.0;

/// A control plane with one EtcdHealth (on its own etcd, every second) so a leader writes status.
fn testbed() -> kit::Result<(ControlPlane, Cluster)> {
    let (cp, cluster) = control_plane(false)?;
    cluster.ensure_namespace("watch")?;
    cluster.namespaced::<EtcdHealth>("watch").apply(&etcd_health("own", &cp.etcd_metrics_url, None)?, "user")?;
    Ok((cp, cluster))
}

fn elected(cp: &ControlPlane, name: &str) -> kit::Result<Operator> {
    let timing = ["--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "500ms"];
    common::operator(cp).args(["--lease-namespace", "default"]).args(timing).start(&cp.dir, name)
}

fn lease(cluster: &Cluster) -> kit::Result<Option<Lease>> {
    cluster.namespaced::<Lease>("default").get_opt("continuum-operator")
}

fn holder(cluster: &Cluster) -> kit::Result<String> {
    Ok(lease(cluster)?.and_then(|l| l.spec?.holder_identity).unwrap_or_default())
}

/// `a` leads and writes; `b` answers, stands by, is ready and writes nothing.
fn leader_and_standby(cp: &ControlPlane, cluster: &Cluster) -> kit::Result<(Operator, Operator)> {
    let a = elected(cp, "a")?;
    wait::until("a leads", Duration::from_secs(30), || a.is_leader())?;
    wait::until("a writes status", Duration::from_secs(10), || a.writes() > 0.0)?;
    let b = elected(cp, "b")?;
    wait::until("b answers and is ready as a standby", Duration::from_secs(30), || b.ready())?;
    assert_eq!(holder(cluster)?, "a");
    let before = a.writes();
    wait::until("a keeps writing", Duration::from_secs(5), || a.writes() > before)?;
    assert!(!b.is_leader(), "two leaders");
    assert_eq!(b.writes(), 0.0, "the standby wrote");
    Ok((a, b))
}

#[test]
fn after_kill_9_the_standby_takes_over_once_the_lease_expires_and_not_before() -> kit::Result<()> {
    let (cp, cluster) = testbed()?;
    let (a, b) = leader_and_standby(&cp, &cluster)?;
    a.signal("KILL")?; // no release
    let took = wait::until("b leads", Duration::from_secs(10), || b.is_leader())?.as_secs_f64();
    eprintln!("failover after kill -9: {took:.2}s (lease duration {LEASE_DURATION}s)");
    // a renewed at most one retry period (0.5 s) before it died: b must wait for the rest.
    assert!(took >= LEASE_DURATION - 0.5 - 0.2, "b took over after {took:.2}s, before the lease expired");
    assert!(took <= LEASE_DURATION + 1.0, "b took {took:.2}s");
    assert_eq!(holder(&cluster)?, "b");
    let transitions = lease(&cluster)?.and_then(|l| l.spec?.lease_transitions);
    assert_eq!(transitions, Some(1));
    wait::until("b writes status", Duration::from_secs(10), || b.writes() > 0.0)?;
    wait::until("b is ready with synced caches", Duration::from_secs(10), || b.ready())?;
    Ok(())
}

#[test]
fn sigterm_releases_the_lease_and_the_standby_leads_within_two_seconds() -> kit::Result<()> {
    let (cp, cluster) = testbed()?;
    let (a, b) = leader_and_standby(&cp, &cluster)?;
    a.signal("TERM")?;
    let took = wait::until("b leads", Duration::from_secs(10), || b.is_leader())?;
    eprintln!("handover after SIGTERM: {:.2}s", took.as_secs_f64());
    assert!(took < Duration::from_secs(2), "handover took {took:?}");
    let code = a.wait_exit(Duration::from_secs(30))?;
    assert_eq!(code, 0, "a did not exit cleanly\n{}", a.log_text());
    assert!(a.log_text().contains("released the Lease"), "{}", a.log_text());
    assert_eq!(holder(&cluster)?, "b");
    Ok(())
}

/// The split-brain case: the leader is frozen (SIGSTOP, like a long GC pause or a partition),
/// the standby takes over, then the old leader wakes up. It must not send a single write.
#[test]
fn a_paused_leader_that_wakes_up_after_losing_the_lease_never_writes_again() -> kit::Result<()> {
    let (cp, cluster) = testbed()?;
    let (a, b) = leader_and_standby(&cp, &cluster)?;
    // Freeze right after a write, so no legitimate write is in flight.
    let w = a.writes();
    wait::until("a writes again", Duration::from_secs(5), || a.writes() > w)?;
    let frozen_at = a.writes();
    a.signal("STOP")?;
    wait::until("b leads", Duration::from_secs(10), || b.is_leader())?;
    wait::until("b writes status", Duration::from_secs(10), || b.writes() > 0.0)?;
    std::thread::sleep(Duration::from_millis(500)); // part of the scenario: the pause goes on
    a.signal("CONT")?;
    let code = a.wait_exit(Duration::from_secs(10))?;
    let log = a.log_text();
    assert_ne!(code, 0, "a lost leadership but exited 0\n{log}");
    let line = log.lines().find(|l| l.contains("stopping the controllers")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("lost leadership"), "{line}");
    let sent: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("writes=")?.parse().ok())
        .unwrap_or_else(|| panic!("no write count in {line}"));
    assert_eq!(sent, frozen_at, "a wrote after waking up without the Lease\n{log}");
    assert_eq!(holder(&cluster)?, "b");
    assert!(b.is_leader());
    Ok(())
}

fn mentions_slow_disk(e: &Event) -> bool {
    [&e.reason, &e.action, &e.note].into_iter().flatten().any(|t| t.contains("SlowDisk"))
}

/// CRs, Deployments and Events on the control-plane API server (the karmada-apiserver); the
/// Lease and the correlated pods on the host cluster.
#[test]
fn dual_clients_keep_crs_on_the_control_plane_and_the_lease_and_pods_on_the_host() -> kit::Result<()> {
    let (karmada, on_karmada) = control_plane(false)?;
    let host = ControlPlane::start()?;
    let on_host = Cluster::connect(&host)?;
    for ns in ["watch", "karmada-system"] {
        on_host.ensure_namespace(ns)?;
    }
    on_karmada.ensure_namespace("watch")?;
    crashing_pod(&on_host, "karmada-system")?;
    let h = host.kubeconfig.to_string_lossy().into_owned();
    let op = common::operator(&karmada).args(["--host-kubeconfig", &h]).start(&karmada.dir, "dual")?;
    wait::until("the operator leads", Duration::from_secs(30), || op.is_leader())?;
    assert_eq!(holder(&on_host)?, "dual", "the Lease belongs in the host cluster");
    assert!(lease(&on_karmada)?.is_none(), "a Lease on the control plane");

    let slow = EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() };
    let etcd = Etcd::start(&slow)?;
    let _load = Load::start(&etcd.client_url, Duration::from_millis(20));
    let healths = on_karmada.namespaced::<EtcdHealth>("watch");
    healths.apply(&etcd_health("karmada-etcd", &etcd.metrics_url, Some("karmada-system"))?, "user")?;
    let slow_disk = |h: &EtcdHealth| h.status.as_ref().and_then(|s| condition(&s.conditions, "SlowDisk").cloned());
    let verdict = healths.wait_for(
        "karmada-etcd",
        "SlowDisk True, correlated with the host's pods",
        Duration::from_secs(90),
        |h| slow_disk(h).is_some_and(|c| c.status == "True"),
    )?;
    let message = slow_disk(&verdict).map(|c| c.message).unwrap_or_default();
    assert!(message.contains("karmada-apiserver-0 restarted 7x"), "pods not read from the host: {message}");
    let events = on_karmada.namespaced::<Event>("watch").list("")?;
    assert!(events.iter().any(mentions_slow_disk), "no Event on the control plane: {events:?}");
    let host_events = on_host.namespaced::<Event>("watch").list("")?;
    assert!(!host_events.iter().any(mentions_slow_disk), "Events went to the host: {host_events:?}");
    Ok(())
}

#[test]
fn a_url_outside_the_allow_list_becomes_a_condition_and_is_never_contacted() -> kit::Result<()> {
    let (cp, cluster) = control_plane(false)?;
    cluster.ensure_namespace("watch")?;
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    trap.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
    let port = trap.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"));
    let allowed = cp.etcd_metrics_url.clone();
    let op = common::operator(&cp).args(["--allowed-url", &allowed]).start(&cp.dir, "allow")?;
    wait::until("the operator leads", Duration::from_secs(30), || op.is_leader())?;
    let healths = cluster.namespaced::<EtcdHealth>("watch");
    let trap_url = format!("http://127.0.0.1:{port}/metrics");
    healths.apply(&etcd_health("internal", &trap_url, None)?, "user")?;
    healths.apply(&etcd_health("own", &allowed, None)?, "user")?;
    let reachable = |h: &EtcdHealth| h.status.as_ref().and_then(|s| condition(&s.conditions, "Reachable").cloned());
    let refused =
        healths.wait_for("internal", "Reachable False naming the allow-list", Duration::from_secs(30), |h| {
            reachable(h).is_some_and(|c| c.message.contains("allow-list"))
        })?;
    let c = reachable(&refused).unwrap_or_else(|| panic!("no Reachable condition"));
    assert_eq!(c.status, "False", "{c:?}");
    assert!(c.message.contains(&trap_url), "{c:?}");
    healths.wait_for("own", "the allowed member is read", Duration::from_secs(30), |h| {
        h.status.as_ref().is_some_and(|s| s.members.first().is_some_and(|m| m.version.is_some()))
    })?;
    assert!(
        matches!(trap.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the operator connected to a URL outside its allow-list"
    );
    let errors = op.metric("continuum_etcd_scrape_errors_total").unwrap_or(0.0);
    assert!(errors > 0.0, "the refusal is not counted");
    Ok(())
}
