//! Runtime figures on the real control plane (run: `cargo bench -p continuum-operator --bench runtime`):
//! start-to-ready and idle RSS of the operator binary, and leader failover after kill -9 and after
//! SIGTERM, as medians over repeated trials, with the test settings (lease 3s, renew deadline 2s,
//! retry 500ms) and with the defaults (15s, 10s, 2s).

use std::time::{Duration, Instant};

use continuum_testenv::ControlPlane;
use continuum_testenv::kit::{Launch, Operator, wait};

const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

const TRIALS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn replica(cp: &ControlPlane, name: &str, timing: &[&str]) -> Operator {
    let launch = Launch::run(OPERATOR, &cp.kubeconfig).args(["--lease-namespace", "default"]);
    launch.args(timing.iter().copied()).start(&cp.dir, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls until `done`; panics with what was awaited after `limit`.
fn poll(what: &str, limit: Duration, done: impl FnMut() -> bool) -> Duration {
    wait::until(what, limit, done).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends `kill -<sig>` to the operator.
fn signal(r: &Operator, sig: &str) {
    r.signal(sig).unwrap_or_else(|e| panic!("{e}"));
}

/// Seconds from the leader's end (kill -9 or SIGTERM) to the standby reporting leadership.
fn failover(cp: &ControlPlane, timing: &[&str], sigterm: bool, round: usize) -> f64 {
    let a = replica(cp, &format!("a{round}{sigterm}"), timing);
    poll("a leads", Duration::from_secs(60), || a.is_leader());
    let b = replica(cp, &format!("b{round}{sigterm}"), timing);
    poll("b stands by", Duration::from_secs(30), || b.ready());
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    signal(&a, if sigterm { "TERM" } else { "KILL" });
    poll("b leads", Duration::from_secs(60), || b.is_leader());
    let took = started.elapsed().as_secs_f64();
    drop(a);
    signal(&b, "TERM"); // release, so the next round starts without waiting
    let _ = b.wait_exit(Duration::from_secs(30));
    took
}

fn main() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    cp.apply_crds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut starts, mut rss) = (Vec::new(), Vec::new());
    for i in 0..TRIALS {
        let started = Instant::now();
        let r = replica(&cp, &format!("start{i}"), &[]);
        poll("ready", Duration::from_secs(60), || r.ready());
        starts.push(started.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_secs(5));
        rss.push(rss_mib(r.pid().unwrap_or_else(|e| panic!("{e}"))));
        signal(&r, "TERM");
        let _ = r.wait_exit(Duration::from_secs(30));
    }
    println!("machine: {} cores; {TRIALS} trials each", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!("start to ready (process start -> /readyz 200, leading, caches synced): median {:.3}s", median(starts));
    println!("idle RSS 5s after ready (no resources): median {:.1} MiB", median(rss));
    let fast = ["--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period", "500ms"];
    for (label, timing) in
        [("lease 3s / renew 2s / retry 500ms", &fast[..]), ("defaults: lease 15s / renew 10s / retry 2s", &[][..])]
    {
        let kill: Vec<f64> = (0..TRIALS).map(|i| failover(&cp, timing, false, i)).collect();
        let term: Vec<f64> = (0..TRIALS).map(|i| failover(&cp, timing, true, i)).collect();
        println!("{label}: failover after kill -9 median {:.2}s (all {kill:.2?})", median(kill.clone()));
        println!("{label}: handover after SIGTERM median {:.3}s (all {term:.3?})", median(term.clone()));
    }
}
