//! Shared by the operator's integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use continuum_testenv::ControlPlane;

pub const OPERATOR: &str = env!("CARGO_BIN_EXE_continuum-operator");

/// The operator process; killed when the test ends, also on panic.
pub struct Operator(pub Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `continuum-operator run` against `cp`, logging to `<cp.dir>/operator.log`. The identity
/// is fixed, like a pod whose container restarts: a restarted operator takes its Lease back at
/// once instead of waiting for it to expire.
pub fn start_operator(cp: &ControlPlane, metrics_addr: &str) -> Operator {
    let log = std::fs::File::create(cp.dir.join("operator.log")).unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(OPERATOR)
        .args(["run", "--identity", "test-operator", "--metrics-addr", metrics_addr, "--kubeconfig"])
        .arg(&cp.kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting the operator: {e}"));
    Operator(child)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18080)
}

pub fn apply(cp: &ControlPlane, ns: &str, yaml: &str) {
    let mut child = cp
        .kubectl()
        .args(["apply", "-n", ns, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(yaml.as_bytes());
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "apply failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> Option<String>) -> String {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            eprintln!("{what}: after {:.1}s", started.elapsed().as_secs_f64());
            return v;
        }
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn health_yaml(name: &str, metrics_url: &str, correlate_ns: Option<&str>) -> String {
    let correlate = correlate_ns
        .map(|ns| format!("  correlate:\n    namespace: {ns}\n    podSelector:\n      app: karmada-apiserver\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: continuum.dev/v1alpha1\nkind: EtcdHealth\nmetadata:\n  name: {name}\nspec:\n  endpoints:\n  - name: etcd-0\n    metricsUrl: {metrics_url}\n  interval: 1s\n  window: 10s\n  for: 3s\n{correlate}"
    )
}

/// A pod that "restarted 7 times" a moment ago (status written through the status subresource).
pub fn crashing_pod(cp: &ControlPlane, ns: &str) {
    apply(
        cp,
        ns,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: karmada-apiserver-0\n  labels:\n    app: karmada-apiserver\nspec:\n  containers:\n  - name: karmada-apiserver\n    image: karmada/karmada-apiserver:v1.15.0\n",
    );
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = format!(
        r#"{{"status":{{"phase":"Running","containerStatuses":[{{"name":"karmada-apiserver","image":"karmada/karmada-apiserver:v1.15.0","imageID":"","ready":false,"restartCount":7,"lastState":{{"terminated":{{"exitCode":137,"reason":"Error","finishedAt":"{now}"}}}},"state":{{"running":{{}}}}}}]}}}}"#
    );
    let out = cp
        .kubectl_output(&[
            "patch",
            "pod",
            "karmada-apiserver-0",
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

pub fn http_get(port: u16, path: &str) -> String {
    try_http_get(port, path).unwrap_or_else(|| panic!("nothing answers on port {port}"))
}

/// An operator process with its own metrics port and log file, for tests that run several.
pub struct Replica {
    pub child: Child,
    pub port: u16,
    pub name: String,
    pub log: std::path::PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// `continuum-operator run --identity <name> <args>`, logging to `<dir>/<name>.log`.
    pub fn start(dir: &std::path::Path, name: &str, args: &[&str]) -> Self {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(OPERATOR)
            .args(["run", "--metrics-addr", &format!("127.0.0.1:{port}"), "--identity", name])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the operator: {e}"));
        Self { child, port, name: name.to_owned(), log }
    }

    /// The value of an unlabelled sample (or the sum over a family's samples), if it answers.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let page = try_http_get(self.port, "/metrics")?;
        let values: Vec<f64> = page
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    pub fn is_leader(&self) -> bool {
        self.metric("continuum_leader_is_leader") == Some(1.0)
    }

    pub fn writes(&self) -> f64 {
        self.metric("continuum_api_writes_total").unwrap_or(0.0)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([&format!("-{sig}"), &self.child.id().to_string()]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{sig} {}", self.name);
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// GET over plain HTTP/1.1; None when nothing answers.
pub fn try_http_get(port: u16, path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Polls every 20 ms until `done`; returns how long it took, or panics after `limit`.
pub fn poll(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// A control plane with the CRDs (and, if asked, the minimal Karmada CRDs), a detector metrics
/// endpoint whose figures the test sets, and the two vAccel agent stand-ins.
pub struct Scene {
    pub cp: ControlPlane,
    pub exporter: continuum_testenv::sim::Exporter,
    pub pi: continuum_testenv::sim::Agent,
    pub jetson: continuum_testenv::sim::Agent,
}

impl Scene {
    pub fn start(karmada: bool) -> Self {
        let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
        cp.apply_crds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"))
            .unwrap_or_else(|e| panic!("{e}"));
        if karmada {
            cp.apply_crds(&continuum_testenv::karmada_crds()).unwrap_or_else(|e| panic!("{e}"));
        }
        let exporter = continuum_testenv::sim::Exporter::start(25.0, 0.04);
        let (pi, jetson) = (continuum_testenv::sim::Agent::start(), continuum_testenv::sim::Agent::start());
        Self { cp, exporter, pi, jetson }
    }
}

/// The detector Deployment with one container `detector` whose VACCEL_RPC_ADDRESS is `PI`
/// (replace it with the local agent's endpoint).
pub const DETECTOR: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: detector
spec:
  selector:
    matchLabels: {app: detector}
  template:
    metadata:
      labels: {app: detector}
    spec:
      containers:
      - name: detector
        image: registry.example/detector:1.0
        env:
        - {name: VACCEL_RPC_ADDRESS, value: PI}
";
