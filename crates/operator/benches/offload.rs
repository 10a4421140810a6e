//! OffloadPolicy benchmarks on the real control plane (run: `cargo bench -p continuum-operator`):
//! 1. time from the detector's degradation to the patched Deployment on the API server, over 20
//!    trials after one warm-up, the degradation spread over Prometheus' scrape cycle, against the
//!    goal `for` + 1 interval + 250 ms, with where the time goes;
//! 2. 1,000 policies sharing 10 distinct queries: PromQL queries issued per interval and the
//!    operator's CPU time per interval.

use std::path::Path;
use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_testenv::kit::manifest::Fixtures;
use continuum_testenv::kit::{Cluster, Launch, Objects, Operator};
use continuum_testenv::sim::{Agent, Exporter};
use continuum_testenv::{ControlPlane, Prometheus};
use k8s_openapi::api::apps::v1::Deployment;

const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

fn fixtures() -> Fixtures {
    Fixtures::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"))
}

fn or_panic<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The detector's first environment value (its VACCEL_RPC_ADDRESS).
fn env_value(d: &Deployment) -> Option<String> {
    d.spec.template.spec.as_ref()?.containers.first()?.env.as_ref()?.first()?.value.clone()
}

fn deployment(pi: &str) -> Deployment {
    let mut d: Deployment = or_panic(fixtures().load("detector.yaml"));
    let containers = d.spec.template.spec.as_mut().map(|s| &mut s.containers);
    if let Some(var) = containers.and_then(|c| c.first_mut()?.env.as_mut()?.first_mut()) {
        var.value = Some(pi.to_owned());
    }
    d
}

/// The fixture's Prometheus policy on fps only, with the bench's query and interval.
fn policy(name: &str, prom: &str, fps_query: &str, pi: &str, jetson: &str, interval: Duration) -> OffloadPolicy {
    let mut p: OffloadPolicy = or_panic(fixtures().load("offloadpolicy-prometheus.yaml"));
    p.metadata.name = Some(name.to_owned());
    let t = &mut p.spec.telemetry;
    if let Some(source) = t.prometheus.as_mut() {
        source.url = prom.to_owned();
    }
    (t.interval, t.max_sample_age) = (interval.into(), Duration::from_secs(30).into());
    p.spec.signals.retain(|s| s.name == "fps");
    if let Some(fps) = p.spec.signals.first_mut() {
        fps.query = Some(fps_query.to_owned());
    }
    let only_fps = |rules: &mut Option<Vec<continuum_api::offload::Threshold>>| {
        if let Some(rules) = rules.as_mut() {
            rules.retain(|r| r.signal == "fps");
        }
    };
    only_fps(&mut p.spec.offload_when.any);
    if let Some(recover) = p.spec.recover_when.as_mut() {
        only_fps(&mut recover.all);
    }
    p.spec.backends.local.endpoint = pi.to_owned();
    let jetson_backend = &mut p.spec.backends.offload[0];
    jetson_backend.endpoint = jetson.to_owned();
    jetson_backend.health_check = Default::default();
    p
}

fn delete_policy(policies: &Objects<OffloadPolicy>, name: &str) {
    if or_panic(policies.get_opt(name)).is_some() {
        or_panic(policies.delete(name));
        or_panic(policies.wait_gone(name, Duration::from_secs(60)));
    }
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, r)| r.split(' ').collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let cp = or_panic(ControlPlane::start());
    or_panic(cp.apply_crds(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")));
    let cluster = or_panic(Cluster::connect(&cp));
    let (deployments, policies) = (cluster.namespaced::<Deployment>("default"), cluster.namespaced("default"));
    let exporter = Exporter::start(25.0, 0.04);
    let (pi, jetson) = (Agent::start(), Agent::start());
    let target = format!("127.0.0.1:{}/metrics", exporter.port);
    let prom = or_panic(Prometheus::start(&[&target], Duration::from_secs(1)));
    let op = or_panic(Launch::run(OPERATOR, &cp.kubeconfig).start(&cp.dir, "bench"));

    let bench = Bench { deployments, policies, exporter, pi, jetson, prom };
    // `cargo bench -p continuum-operator --bench offload -- switch` runs one part only.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    if wanted("switch") {
        switch_latency(&bench);
    }
    if wanted("many") {
        many_policies(&bench, &op);
    }
}

/// Unix time now, in seconds.
fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The time of the first sample of `detector_fps` below 10 at or after `since` (Unix seconds),
/// as Prometheus stored it.
fn first_low_sample(prom: &Prometheus, since: f64) -> Option<f64> {
    let body = prom.query("detector_fps[20s]", None).ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let values = v["data"]["result"][0]["values"].as_array()?.clone();
    values.iter().find_map(|pair| {
        let t = pair[0].as_f64()?;
        let fps: f64 = pair[1].as_str()?.parse().ok()?;
        (t >= since - 0.001 && fps < 10.0).then_some(t)
    })
}

struct Bench {
    deployments: Objects<Deployment>,
    policies: Objects<OffloadPolicy>,
    exporter: Exporter,
    pi: Agent,
    jetson: Agent,
    prom: Prometheus,
}

/// 1. Degradation -> patched Deployment.
fn switch_latency(b: &Bench) {
    let Bench { deployments, policies, exporter, pi, jetson, prom } = b;
    let (mut took, mut scrape, mut after) = (Vec::new(), Vec::new(), Vec::new());
    let second = Duration::from_secs(1);
    for trial in 0..21 {
        exporter.set(25.0, 0.04);
        or_panic(deployments.apply(&deployment(&pi.endpoint()), "gitops"));
        delete_policy(policies, "detector");
        let p = policy("detector", &prom.url, "max(detector_fps)", &pi.endpoint(), &jetson.endpoint(), second);
        or_panic(policies.apply(&p, "user"));
        // The steps of a trial follow the operator, whose evaluations follow Prometheus' scrapes:
        // without a spread the degradation would fall at the same point of the scrape cycle in
        // every trial. The golden-ratio sequence spreads it evenly over one cycle.
        std::thread::sleep(Duration::from_secs(3) + Duration::from_secs_f64((trial as f64 * 0.618_034) % 1.0));
        let (degraded, degraded_at) = (Instant::now(), unix_now());
        exporter.set(4.0, 0.3);
        let limit = Duration::from_secs(30);
        let switched = |d: &Deployment| env_value(d).as_deref() == Some(jetson.endpoint().as_str());
        or_panic(deployments.wait_for("detector", &format!("trial {trial}: the switch"), limit, switched));
        let total = degraded.elapsed().as_secs_f64();
        if trial == 0 {
            continue; // a warm-up: Prometheus' and the operator's first round trips
        }
        took.push(total);
        if let Some(first) = first_low_sample(prom, degraded_at) {
            scrape.push(first - degraded_at);
            after.push(total - (first - degraded_at) - 3.0);
        }
    }
    for v in [&mut took, &mut scrape, &mut after] {
        v.sort_by(f64::total_cmp);
    }
    if !scrape.is_empty() {
        println!(
            "  where it goes (medians): Prometheus scrape phase {:.2}s (degradation -> first low sample), `for` 3.00s, then {:.2}s to the patched Deployment seen by a watch (evaluation phase, decision, write); p99 {:.2}s / {:.2}s",
            percentile(&scrape, 0.5),
            percentile(&after, 0.5),
            percentile(&scrape, 0.99),
            percentile(&after, 0.99)
        );
    }
    println!(
        "degradation -> patched Deployment over {} trials (for 3s, interval 1s, Prometheus scrape 1s): median {:.2}s, p99 {:.2}s, min {:.2}s, max {:.2}s; goal for + 1 interval + 250ms = 4.25s",
        took.len(),
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        took[0],
        took[took.len() - 1]
    );
}

/// 2. 1,000 policies, 10 distinct queries, interval 10s.
fn many_policies(b: &Bench, op: &Operator) {
    let Bench { policies, exporter, pi, jetson, prom, .. } = b;
    let second = Duration::from_secs(1);
    delete_policy(policies, "detector");
    exporter.set(25.0, 0.04);
    for i in 0..1000 {
        let q = format!("max(detector_fps) + {}", i % 10);
        let p = policy(&format!("p{i:04}"), &prom.url, &q, &pi.endpoint(), &jetson.endpoint(), 10 * second);
        or_panic(policies.apply(&p, "user"));
    }
    std::thread::sleep(Duration::from_secs(25));
    let pid = or_panic(op.pid());
    let metric = |name: &str| op.metric(name).unwrap_or(0.0);
    let queries = "continuum_offload_telemetry_queries_total";
    let evals = "continuum_offload_evaluation_duration_seconds_count";
    let (q0, c0, e0) = (metric(queries), cpu_seconds(pid), metric(evals));
    let window = 60.0;
    std::thread::sleep(Duration::from_secs_f64(window));
    let (q1, c1, e1) = (metric(queries), cpu_seconds(pid), metric(evals));
    let intervals = window / 10.0;
    println!(
        "1000 policies, 10 distinct queries, interval 10s, over {window}s: {:.1} PromQL queries per interval, {:.0} evaluations per interval, operator CPU {:.2}s per interval ({} CPUs)",
        (q1 - q0) / intervals,
        (e1 - e0) / intervals,
        (c1 - c0) / intervals,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
}
