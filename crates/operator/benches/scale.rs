//! 10,000 OffloadPolicies on one operator, on the real control plane (run:
//! `cargo bench -p continuum-operator --bench scale`, or `scripts/bench-scale.sh` for the code
//! before and after side by side). Prints one table:
//! - steady state (healthy telemetry, nothing switching) over a window: the operator's API
//!   requests/s and status writes/s (counted in kube-apiserver's audit log), its CPU and RSS, and
//!   the bytes etcd wrote to its WAL per second beyond what it writes without the operator;
//! - start (operator started with every object present) until every policy has been evaluated;
//! - one policy degrading among them: degradation -> patched Deployment over trials;
//! - `SCALE_FLIP` policies degrading at once: requests/s at the peak and until all switched.
//!
//! Sizes from the environment: `SCALE_POLICIES` (10000), `SCALE_NAMESPACES` (100),
//! `SCALE_QUERIES` (100 distinct), `SCALE_FLIP` (1000), `SCALE_TRIALS` (20), `SCALE_WINDOW`
//! (120 s); `SCALE_OPERATOR` runs another build of the operator, with `SCALE_CRDS` its CRDs.

#[path = "scale/fleet.rs"]
mod fleet;
#[path = "scale/measure.rs"]
mod measure;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_testenv::kit::{Cluster, Launch, Objects, wait};
use continuum_testenv::sim::{Agent, Exporter};
use continuum_testenv::{ControlPlane, Prometheus, audit};
use k8s_openapi::api::apps::v1::Deployment;

use fleet::{Shape, deployment, env_value, or_panic, policy};

const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

/// What the bench runs against.
struct Bench {
    cp: ControlPlane,
    cluster: Cluster,
    shape: Shape,
    exporters: [Exporter; 3],
    pi: Agent,
    jetson: Agent,
    prom: Prometheus,
}

fn main() {
    let shape = Shape::from_env();
    let cp = or_panic(ControlPlane::start_audited());
    let crds = std::env::var_os("SCALE_CRDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"));
    or_panic(cp.apply_crds(&crds));
    let cluster = or_panic(Cluster::connect(&cp));
    // target0 serves most of the fleet, target1 the policies that flip together, target2 the
    // one policy of the time-to-offload trials.
    let exporters = [Exporter::start(25.0, 0.04), Exporter::start(25.0, 0.04), Exporter::start(25.0, 0.04)];
    let targets: Vec<String> = exporters.iter().map(|e| format!("127.0.0.1:{}/metrics", e.port)).collect();
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let prom = or_panic(Prometheus::start(&targets, Duration::from_secs(1)));
    let (pi, jetson) = (Agent::start(), Agent::start());
    let b = Bench { cp, cluster, shape, exporters, pi, jetson, prom };
    fleet::create(&b.cluster.client(), &b.shape, &b.prom.url, &b.pi.endpoint(), &b.jetson.endpoint());
    run(&b);
}

/// One row of the table.
struct Row(String, String, &'static str);

fn run(b: &Bench) {
    let (url, audit_log) = (&b.cp.etcd_metrics_url, b.cp.audit_log.clone().unwrap_or_default());
    let quiet = measure::start(std::process::id(), url);
    std::thread::sleep(Duration::from_secs(20));
    let quiet = quiet.end(&audit_log, url);
    let program = std::env::var("SCALE_OPERATOR").unwrap_or_else(|_| OPERATOR.to_owned());
    let kubeconfig = or_panic(b.cp.kubeconfig_for(audit::AUDITED_USER));
    let launched = Instant::now();
    let op = or_panic(Launch::run(&program, &kubeconfig).start(&b.cp.dir, "bench"));
    let pid = or_panic(op.pid());
    let all = b.shape.policies;
    let client = b.cluster.client();
    let start = wait::until("every policy evaluated once", Duration::from_secs(900), || {
        std::thread::sleep(Duration::from_secs(1));
        fleet::evaluated(&client) >= all
    })
    .map(|_| launched.elapsed());
    std::thread::sleep(Duration::from_secs(20));
    let steady = measure::start(pid, url).wait(b.shape.window).end(&audit_log, url);
    let mut rows = steady_rows(b, &steady, &quiet, start.ok());
    rows.extend(trials(b));
    rows.extend(flip(b, pid, &audit_log));
    rows.push(Row(
        "operator RSS at the end (peak)".into(),
        format!("{:.0} MiB ({:.0} MiB)", measure::memory_mib(pid, "VmRSS"), measure::memory_mib(pid, "VmHWM")),
        "< 64 MiB",
    ));
    print_table(b, &program, &rows, &steady);
    drop(op);
}

fn steady_rows(b: &Bench, w: &measure::Window, quiet: &measure::Window, start: Option<Duration>) -> Vec<Row> {
    let c = &w.counts;
    let etcd = (w.wal_bytes / w.seconds - quiet.wal_bytes / quiet.seconds).max(0.0);
    vec![
        Row(
            format!("start until all {} policies evaluated once", b.shape.policies),
            start.map_or("> 900 s".into(), |d| format!("{:.0} s", d.as_secs_f64())),
            "< 30 s",
        ),
        Row("steady: API requests/s".into(), format!("{:.2}", w.per_second(c.requests)), "< 5"),
        Row(
            "steady: of which GETs / lists+watches / other writes per s".into(),
            format!(
                "{:.2} / {:.2} / {:.2}",
                w.per_second(c.gets),
                w.per_second(c.lists_and_watches),
                w.per_second(c.other_writes)
            ),
            "",
        ),
        Row("steady: status writes/s".into(), format!("{:.2}", w.per_second(c.status_writes)), "< 1"),
        Row("steady: operator CPU (cores)".into(), format!("{:.3}", w.cpu / w.seconds), "< 0.1"),
        Row("steady: operator RSS".into(), format!("{:.0} MiB", w.rss_mib), "< 64 MiB"),
        Row("steady: etcd WAL bytes/s beyond the quiet baseline".into(), format!("{:.0}", etcd), ""),
    ]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Degradation -> patched Deployment of one policy (interval 1 s, `for` 3 s) among the fleet.
fn trials(b: &Bench) -> Vec<Row> {
    if b.shape.trials == 0 {
        return Vec::new();
    }
    or_panic(b.cluster.ensure_namespace("bench-trial"));
    let deployments: Objects<Deployment> = b.cluster.namespaced("bench-trial");
    let policies: Objects<OffloadPolicy> = b.cluster.namespaced("bench-trial");
    let (exporter, jetson) = (&b.exporters[2], b.jetson.endpoint());
    let query = "max(detector_fps{job=\"target2\"})";
    let mut took = Vec::new();
    for trial in 0..=b.shape.trials {
        exporter.set(25.0, 0.04);
        or_panic(deployments.apply(&deployment("trial", &b.pi.endpoint()), "gitops"));
        if or_panic(policies.get_opt("trial")).is_some() {
            or_panic(policies.delete("trial"));
            or_panic(policies.wait_gone("trial", Duration::from_secs(60)));
        }
        let p = policy("trial", &b.prom.url, query, &b.pi.endpoint(), &jetson, Duration::from_secs(1));
        or_panic(policies.apply(&p, "user"));
        // Spread the degradation evenly over Prometheus' 1 s scrape cycle (golden-ratio steps).
        std::thread::sleep(Duration::from_secs(3) + Duration::from_secs_f64((trial as f64 * 0.618_034) % 1.0));
        let degraded = Instant::now();
        exporter.set(4.0, 0.3);
        let switched = |d: &Deployment| env_value(d).as_deref() == Some(jetson.as_str());
        let limit = Duration::from_secs(30);
        let done = deployments.wait_for("trial", "the switch", limit, switched).is_ok();
        if trial > 0 {
            took.push(if done { degraded.elapsed().as_secs_f64() } else { f64::INFINITY });
        }
    }
    took.sort_by(f64::total_cmp);
    vec![Row(
        format!(
            "one policy degrading: degradation -> patched Deployment, {} trials (for 3s, interval 1s, scrape 1s)",
            took.len()
        ),
        format!("median {:.2} s, p99 {:.2} s", percentile(&took, 0.5), percentile(&took, 0.99)),
        "p99 <= as without load (for + interval + 250 ms + scrape)",
    )]
}

/// The first `flip` policies degrading at once.
fn flip(b: &Bench, pid: u32, audit_log: &Path) -> Vec<Row> {
    let n = b.shape.flip;
    if n == 0 {
        return Vec::new();
    }
    let (client, jetson, url) = (b.cluster.client(), b.jetson.endpoint(), &b.cp.etcd_metrics_url);
    let window = measure::start(pid, url);
    let started = Instant::now();
    b.exporters[1].set(4.0, 0.3);
    let all = wait::until(&format!("{n} policies switched"), Duration::from_secs(300), || {
        std::thread::sleep(Duration::from_millis(500));
        fleet::pointing_at(&client, &b.shape, n, &jetson) >= n
    })
    .map(|_| started.elapsed());
    let w = window.end(audit_log, url);
    vec![
        Row(
            format!("{n} policies degrading at once: until all switched"),
            all.map_or("> 300 s".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            "",
        ),
        Row(
            format!("{n} policies degrading at once: peak / mean API requests/s"),
            format!("{} / {:.0}", w.counts.peak_per_second, w.per_second(w.counts.requests)),
            "",
        ),
    ]
}

fn print_table(b: &Bench, program: &str, rows: &[Row], steady: &measure::Window) {
    let s = &b.shape;
    println!(
        "\n{} OffloadPolicies over {} Deployments in {} namespaces, {} distinct queries, interval 10s; operator {program}; {} CPUs",
        s.policies,
        s.policies,
        s.namespaces,
        s.queries,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("| measure | value | goal |\n|---|---|---|");
    for Row(what, value, goal) in rows {
        println!("| {what} | {value} | {goal} |");
    }
    println!("\nsteady-state requests by kind over {:.0} s:", steady.seconds);
    for (kind, n) in &steady.counts.by_kind {
        println!("  {kind}: {n} ({:.2}/s)", steady.per_second(*n));
    }
}
