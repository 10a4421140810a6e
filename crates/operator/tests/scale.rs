//! A regression check of the operator's steady-state requests (the scale bench's small version,
//! `benches/scale.rs`): 500 OffloadPolicies on the real control plane, healthy telemetry from a
//! real Prometheus, nothing switching. Once every policy has been evaluated, a steady window must
//! hold no status write and no GET other than the Lease's, and few requests of any kind, as
//! counted in kube-apiserver's audit log. Counts, not times: it holds on a loaded machine.

use std::time::Duration;

use continuum_testenv::audit::{self, AUDITED_USER};
use continuum_testenv::kit::{Cluster, Launch, wait};
use continuum_testenv::sim::{Agent, Exporter};
use continuum_testenv::{ControlPlane, Prometheus};
use k8s_openapi::jiff::Timestamp;

#[allow(dead_code)]
#[path = "../benches/scale/fleet.rs"]
mod fleet;

mod common;

const POLICIES: usize = 500;

/// Requests of the audited user in the last `seconds`, once the audit log has them.
fn recent(log: &std::path::Path, seconds: i64) -> audit::Counts {
    let now = Timestamp::now();
    std::thread::sleep(Duration::from_secs(2));
    let from = now.checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(seconds)).unwrap_or(now);
    audit::count(log, from, now).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn steady_state_sends_no_gets_and_writes_no_status() -> continuum_testenv::kit::Result<()> {
    let cp = ControlPlane::start_audited()?;
    // SCALE_OPERATOR and SCALE_CRDS run the check against another build (to see it fail on one
    // that GETs or writes status every evaluation).
    let crds = std::env::var_os("SCALE_CRDS").map_or_else(|| common::repo().join("deploy/crds"), Into::into);
    cp.apply_crds(&crds)?;
    let cluster = Cluster::connect(&cp)?;
    let (exporter, pi, jetson) = (Exporter::start(25.0, 0.04), Agent::start(), Agent::start());
    let prom = Prometheus::start(&[&format!("127.0.0.1:{}/metrics", exporter.port)], Duration::from_secs(1))?;
    let shape =
        fleet::Shape { policies: POLICIES, namespaces: 5, queries: 10, flip: 0, trials: 0, window: Duration::ZERO };
    fleet::create(&cluster.client(), &shape, &prom.url, &pi.endpoint(), &jetson.endpoint());
    let kubeconfig = cp.kubeconfig_for(AUDITED_USER)?;
    let program = std::env::var("SCALE_OPERATOR").unwrap_or_else(|_| common::OPERATOR.to_owned());
    let op = Launch::run(&program, &kubeconfig).start(&cp.dir, "scale")?;
    let client = cluster.client();
    wait::until("every policy evaluated once", Duration::from_secs(300), || {
        std::thread::sleep(Duration::from_secs(1));
        fleet::evaluated(&client) >= POLICIES
    })?;
    let log = cp.audit_log.clone().unwrap_or_default();
    // Settled: ten seconds (one interval) without a status write.
    wait::until("a status-write-free interval", Duration::from_secs(180), || recent(&log, 10).status_writes == 0)?;
    let window = 30;
    std::thread::sleep(Duration::from_secs(window));
    let counts = recent(&log, window as i64);
    eprintln!("steady {window}s window: {counts:?}");
    let lease = |kind: &str| kind.ends_with(" leases");
    let gets: Vec<_> = counts.by_kind.iter().filter(|(k, _)| k.starts_with("get ") && !lease(k)).collect();
    let others: u64 = counts.by_kind.iter().filter(|(k, _)| !lease(k)).map(|(_, n)| n).sum();
    let breakdown = format!(
        "{:?}; operator log:\n{}",
        counts.by_kind,
        op.log_text().lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(counts.status_writes, 0, "status writes in a steady {window}s window: {breakdown}");
    assert!(gets.is_empty(), "GETs in a steady {window}s window: {gets:?}; {breakdown}");
    // Watches re-established on their server-side timeout are all that may come besides the Lease.
    assert!(others <= 10, "{others} requests besides the Lease's in {window}s: {breakdown}");
    Ok(())
}
