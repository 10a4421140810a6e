//! The production runtime on real kube-apiservers: leader election (kill -9, SIGTERM, a paused
//! leader), the control-plane / host client split, and the telemetry URL allow-list.

use std::path::Path;
use std::time::Duration;

use continuum_testenv::{ControlPlane, Etcd, EtcdOptions, Load};

mod common;
use common::{Replica, apply, crashing_pod, health_yaml, poll, try_http_get, wait_until};

const LEASE_DURATION: f64 = 3.0;

fn control_plane() -> ControlPlane {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    cp.apply_crds(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")).unwrap_or_else(|e| panic!("{e}"));
    cp
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> std::process::Output {
    cp.kubectl_output(args).unwrap_or_else(|e| panic!("{e}"))
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A control plane with one EtcdHealth (on its own etcd, every second) so a leader writes status.
fn scene() -> ControlPlane {
    let cp = control_plane();
    assert!(kubectl(&cp, &["create", "namespace", "watch"]).status.success());
    apply(&cp, "watch", &health_yaml("own", &cp.etcd_metrics_url, None));
    cp
}

fn elected(cp: &ControlPlane, name: &str) -> Replica {
    let kubeconfig = cp.kubeconfig.to_string_lossy().into_owned();
    Replica::start(
        &cp.dir,
        name,
        &[
            "--kubeconfig",
            &kubeconfig,
            "--lease-namespace",
            "default",
            "--lease-duration",
            "3s",
            "--renew-deadline",
            "2s",
            "--retry-period",
            "500ms",
        ],
    )
}

fn holder(cp: &ControlPlane) -> String {
    let out =
        kubectl(cp, &["get", "lease", "continuum-operator", "-n", "default", "-o", "jsonpath={.spec.holderIdentity}"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ready(r: &Replica) -> bool {
    try_http_get(r.port, "/readyz").is_some_and(|a| a.starts_with("HTTP/1.1 200"))
}

/// `a` leads and writes; `b` answers, stands by, is ready and writes nothing.
fn leader_and_standby(cp: &ControlPlane) -> (Replica, Replica) {
    let a = elected(cp, "a");
    poll("a leads", Duration::from_secs(30), || a.is_leader());
    poll("a writes status", Duration::from_secs(10), || a.writes() > 0.0);
    let b = elected(cp, "b");
    poll("b answers and is ready as a standby", Duration::from_secs(30), || ready(&b));
    assert_eq!(holder(cp), "a");
    let before = a.writes();
    poll("a keeps writing", Duration::from_secs(5), || a.writes() > before);
    assert!(!b.is_leader(), "two leaders");
    assert_eq!(b.writes(), 0.0, "the standby wrote");
    (a, b)
}

#[test]
fn after_kill_9_the_standby_takes_over_once_the_lease_expires_and_not_before() {
    let cp = scene();
    let (mut a, b) = leader_and_standby(&cp);
    let _ = a.child.kill(); // SIGKILL: no release
    let took = poll("b leads", Duration::from_secs(10), || b.is_leader()).as_secs_f64();
    eprintln!("failover after kill -9: {took:.2}s (lease duration {LEASE_DURATION}s)");
    // a renewed at most one retry period (0.5 s) before it died: b must wait for the rest.
    assert!(took >= LEASE_DURATION - 0.5 - 0.2, "b took over after {took:.2}s, before the lease expired");
    assert!(took <= LEASE_DURATION + 1.0, "b took {took:.2}s");
    assert_eq!(holder(&cp), "b");
    let transitions = kubectl(
        &cp,
        &["get", "lease", "continuum-operator", "-n", "default", "-o", "jsonpath={.spec.leaseTransitions}"],
    );
    assert_eq!(String::from_utf8_lossy(&transitions.stdout), "1");
    poll("b writes status", Duration::from_secs(10), || b.writes() > 0.0);
    poll("b is ready with synced caches", Duration::from_secs(10), || ready(&b));
}

#[test]
fn sigterm_releases_the_lease_and_the_standby_leads_within_two_seconds() {
    let cp = scene();
    let (mut a, b) = leader_and_standby(&cp);
    a.signal("TERM");
    let took = poll("b leads", Duration::from_secs(10), || b.is_leader());
    eprintln!("handover after SIGTERM: {:.2}s", took.as_secs_f64());
    assert!(took < Duration::from_secs(2), "handover took {took:?}");
    let status = a.child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "a did not exit cleanly: {status}\n{}", a.log_text());
    assert!(a.log_text().contains("released the Lease"), "{}", a.log_text());
    assert_eq!(holder(&cp), "b");
}

/// The split-brain case: the leader is frozen (SIGSTOP, like a long GC pause or a partition),
/// the standby takes over, then the old leader wakes up. It must not send a single write.
#[test]
fn a_paused_leader_that_wakes_up_after_losing_the_lease_never_writes_again() {
    let cp = scene();
    let (mut a, b) = leader_and_standby(&cp);
    // Freeze right after a write, so no legitimate write is in flight.
    let w = a.writes();
    poll("a writes again", Duration::from_secs(5), || a.writes() > w);
    let frozen_at = a.writes();
    a.signal("STOP");
    poll("b leads", Duration::from_secs(10), || b.is_leader());
    poll("b writes status", Duration::from_secs(10), || b.writes() > 0.0);
    std::thread::sleep(Duration::from_millis(500));
    a.signal("CONT");
    poll("a exits", Duration::from_secs(10), || a.child.try_wait().ok().flatten().is_some());
    let log = a.log_text();
    let status = a.child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(!status.success(), "a lost leadership but exited 0\n{log}");
    let line = log.lines().find(|l| l.contains("stopping the controllers")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("lost leadership"), "{line}");
    let sent: f64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("writes=")?.parse().ok())
        .unwrap_or_else(|| panic!("no write count in {line}"));
    assert_eq!(sent, frozen_at, "a wrote after waking up without the Lease\n{log}");
    assert_eq!(holder(&cp), "b");
    assert!(b.is_leader());
}

/// CRs, Deployments and Events on the control-plane API server (the karmada-apiserver); the
/// Lease and the correlated pods on the host cluster.
#[test]
fn dual_clients_keep_crs_on_the_control_plane_and_the_lease_and_pods_on_the_host() {
    let karmada = control_plane();
    let host = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    for ns in ["watch", "karmada-system"] {
        assert!(kubectl(&host, &["create", "namespace", ns]).status.success());
    }
    assert!(kubectl(&karmada, &["create", "namespace", "watch"]).status.success());
    crashing_pod(&host, "karmada-system");
    let (k, h) = (karmada.kubeconfig.to_string_lossy(), host.kubeconfig.to_string_lossy());
    let op = Replica::start(&karmada.dir, "dual", &["--kubeconfig", &k, "--host-kubeconfig", &h]);
    poll("the operator leads", Duration::from_secs(30), || op.is_leader());
    assert_eq!(holder(&host), "dual", "the Lease belongs in the host cluster");
    let on_karmada = kubectl(&karmada, &["get", "lease", "continuum-operator", "-n", "default"]);
    assert!(!on_karmada.status.success(), "a Lease on the control plane: {}", text(&on_karmada));

    let slow = EtcdOptions { fsync_delay: Some(Duration::from_millis(150)), ..Default::default() };
    let etcd = Etcd::start(&slow).unwrap_or_else(|e| panic!("{e}"));
    let _load = Load::start(&etcd.client_url, Duration::from_millis(20));
    apply(&karmada, "watch", &health_yaml("karmada-etcd", &etcd.metrics_url, Some("karmada-system")));
    let message = wait_until("SlowDisk True, correlated with the host's pods", Duration::from_secs(90), || {
        let out = kubectl(
            &karmada,
            &[
                "get",
                "etcdhealth",
                "karmada-etcd",
                "-n",
                "watch",
                "-o",
                r#"jsonpath={.status.conditions[?(@.type=="SlowDisk")]}"#,
            ],
        );
        let c = String::from_utf8_lossy(&out.stdout).into_owned();
        (c.contains(r#""status":"True""#)).then_some(c)
    });
    assert!(message.contains("karmada-apiserver-0 restarted 7x"), "pods not read from the host: {message}");
    let events = text(&kubectl(&karmada, &["get", "events.events.k8s.io", "-n", "watch"]));
    assert!(events.contains("SlowDisk"), "no Event on the control plane: {events}");
    let host_events = text(&kubectl(&host, &["get", "events.events.k8s.io", "-n", "watch"]));
    assert!(!host_events.contains("SlowDisk"), "Events went to the host: {host_events}");
}

#[test]
fn a_url_outside_the_allow_list_becomes_a_condition_and_is_never_contacted() {
    let cp = control_plane();
    assert!(kubectl(&cp, &["create", "namespace", "watch"]).status.success());
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    trap.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
    let port = trap.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"));
    let allowed = cp.etcd_metrics_url.clone();
    let kubeconfig = cp.kubeconfig.to_string_lossy().into_owned();
    let op = Replica::start(&cp.dir, "allow", &["--kubeconfig", &kubeconfig, "--allowed-url", &allowed]);
    poll("the operator leads", Duration::from_secs(30), || op.is_leader());
    apply(&cp, "watch", &health_yaml("internal", &format!("http://127.0.0.1:{port}/metrics"), None));
    apply(&cp, "watch", &health_yaml("own", &allowed, None));
    let reachable = wait_until("Reachable False naming the allow-list", Duration::from_secs(30), || {
        let out = kubectl(
            &cp,
            &[
                "get",
                "etcdhealth",
                "internal",
                "-n",
                "watch",
                "-o",
                r#"jsonpath={.status.conditions[?(@.type=="Reachable")]}"#,
            ],
        );
        let c = String::from_utf8_lossy(&out.stdout).into_owned();
        c.contains("allow-list").then_some(c)
    });
    assert!(reachable.contains(r#""status":"False""#), "{reachable}");
    assert!(reachable.contains(&format!("http://127.0.0.1:{port}/metrics")), "{reachable}");
    wait_until("the allowed member is read", Duration::from_secs(30), || {
        let out =
            kubectl(&cp, &["get", "etcdhealth", "own", "-n", "watch", "-o", "jsonpath={.status.members[0].version}"]);
        (!out.stdout.is_empty()).then_some(String::new())
    });
    assert!(
        matches!(trap.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the operator connected to a URL outside its allow-list"
    );
    let errors = op.metric("continuum_etcd_scrape_errors_total").unwrap_or(0.0);
    assert!(errors > 0.0, "the refusal is not counted");
}
