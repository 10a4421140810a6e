//! OffloadPolicy end to end: the operator on a real kube-apiserver, telemetry from a real
//! Prometheus scraping a simulated detector whose fps/latency the test sets, simulated vAccel
//! agents as TCP listeners, and the switch observed on the real Deployment.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use continuum_testenv::{ControlPlane, Prometheus};

mod common;

/// A detector's /metrics: `detector_fps` and `detector_inference_latency_seconds` gauges.
struct Exporter {
    port: u16,
    values: Arc<Mutex<(f64, f64)>>,
}

impl Exporter {
    fn start(fps: f64, latency: f64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let values = Arc::new(Mutex::new((fps, latency)));
        let shared = values.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut stream = stream;
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf);
                let (f, l) = *shared.lock().unwrap_or_else(|e| e.into_inner());
                let body = format!(
                    "# TYPE detector_fps gauge\ndetector_fps {f}\n# TYPE detector_inference_latency_seconds gauge\ndetector_inference_latency_seconds {l}\n"
                );
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, values }
    }

    fn set(&self, fps: f64, latency: f64) {
        *self.values.lock().unwrap_or_else(|e| e.into_inner()) = (fps, latency);
    }
}

/// A stand-in for `vaccel-rpc-agent`: accepts TCP connections while open.
struct Agent {
    port: u16,
    open: Arc<AtomicBool>,
}

impl Agent {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
        let agent = Self { port, open: Arc::new(AtomicBool::new(false)) };
        agent.open();
        agent
    }

    /// Listens until `close()`; the port is reused.
    fn open(&self) {
        let listener =
            TcpListener::bind(("127.0.0.1", self.port)).unwrap_or_else(|e| panic!("agent port {}: {e}", self.port));
        let _ = listener.set_nonblocking(true);
        self.open.store(true, Ordering::SeqCst);
        let open = self.open.clone();
        std::thread::spawn(move || {
            while open.load(Ordering::SeqCst) {
                let _ = listener.accept();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }

    fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
    }

    fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> String {
    let out = cp.kubectl_output(args).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn apply(cp: &ControlPlane, yaml: &str, manager: &str) {
    let path = cp.dir.join(format!("{manager}.yaml"));
    std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
    let out = cp
        .kubectl_output(&["apply", "--field-manager", manager, "-f", &path.to_string_lossy()])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn env_of(cp: &ControlPlane, var: &str) -> String {
    kubectl(
        cp,
        &[
            "get",
            "deployment",
            "detector",
            "-o",
            &format!("jsonpath={{.spec.template.spec.containers[0].env[?(@.name==\"{var}\")].value}}"),
        ],
    )
}

fn policy(cp: &ControlPlane, path: &str) -> String {
    kubectl(cp, &["get", "offloadpolicy", "detector", "-o", &format!("jsonpath={path}")])
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("{what}: {:.1}s", started.elapsed().as_secs_f64());
    started.elapsed()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: detector
spec:
  replicas: 1
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
        - name: VACCEL_RPC_ADDRESS
          value: PI
        - name: VACCEL_LOG_LEVEL
          value: \"2\"
";

fn policy_yaml(prom: &str, pi: &str, jetson: &str) -> String {
    format!(
        "apiVersion: continuum.dev/v1alpha1
kind: OffloadPolicy
metadata:
  name: detector
spec:
  targetRef: {{name: detector}}
  telemetry:
    prometheus: {{url: \"{prom}\"}}
    fps: {{query: \"max(detector_fps)\"}}
    latency: {{query: \"max(detector_inference_latency_seconds)\"}}
    interval: 1s
    maxSampleAge: 10s
  offloadWhen: {{fpsBelow: 10, latencyAbove: 150ms, for: 3s}}
  recoverWhen: {{fpsAbove: 12, latencyBelow: 120ms, for: 3s}}
  backends:
    local: {{endpoint: \"{pi}\"}}
    offload: {{endpoint: \"{jetson}\", healthCheck: {{timeout: 500ms}}}}
  actuation:
    env: {{container: detector}}
  cooldown: 0s
  maxSwitchesPerHour: 20
"
    )
}

#[test]
fn degraded_fps_offloads_to_the_healthy_agent_and_recovery_switches_back() {
    let cp = ControlPlane::start().unwrap_or_else(|e| panic!("{e}"));
    cp.apply_crds(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds"))
        .unwrap_or_else(|e| panic!("{e}"));
    let exporter = Exporter::start(25.0, 0.04);
    let (pi, jetson) = (Agent::start(), Agent::start());
    let prom = Prometheus::start(&[&format!("127.0.0.1:{}/metrics", exporter.port)], Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}"));
    apply(&cp, &DEPLOYMENT.replace("PI", &pi.endpoint()), "gitops");
    let _operator = common::start_operator(&cp, "127.0.0.1:0");
    apply(&cp, &policy_yaml(&prom.url, &pi.endpoint(), &jetson.endpoint()), "user");

    wait_for("healthy policy reports Local with the observed fps", Duration::from_secs(30), || {
        policy(&cp, "{.status.phase} {.status.observed.fps}") == "Local 25"
    });
    assert_eq!(env_of(&cp, "VACCEL_RPC_ADDRESS"), pi.endpoint());

    // Degrade: offload within `for` (3s) + one interval + Prometheus' scrape interval + slack.
    exporter.set(4.0, 0.3);
    let took = wait_for("switch to the Jetson agent", Duration::from_secs(20), || {
        env_of(&cp, "VACCEL_RPC_ADDRESS") == jetson.endpoint()
    });
    assert!(took < Duration::from_secs(9), "offload took {took:?}");
    assert_eq!(env_of(&cp, "VACCEL_LOG_LEVEL"), "2", "another manager's env entry survives the switch");
    wait_for("status Offloaded", Duration::from_secs(10), || policy(&cp, "{.status.phase}") == "Offloaded");
    let table = kubectl(&cp, &["get", "offloadpolicies"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(row.get(1..6), Some(&["detector", "Offload", "Offloaded", "4", "300ms"][..]), "{table}");
    let last = policy(&cp, "{.status.lastTransition.message}");
    assert!(
        last.starts_with("fps 4.0 < 10 for ") && last.ends_with(&format!(": offload to {}", jetson.endpoint())),
        "{last}"
    );
    let managed = kubectl(&cp, &["get", "deployment", "detector", "-o", "json", "--show-managed-fields"]);
    assert!(managed.contains("\"manager\": \"continuum-operator\""), "{managed}");

    // Recover: back to the Pi's agent.
    exporter.set(25.0, 0.04);
    wait_for("switch back to the Pi agent", Duration::from_secs(20), || {
        env_of(&cp, "VACCEL_RPC_ADDRESS") == pi.endpoint()
    });
    let events = kubectl(
        &cp,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=OffloadPolicy",
            "-o",
            "jsonpath={.items[*].reason}",
        ],
    );
    assert!(events.contains("Offloaded") && events.contains("Recovered"), "{events}");

    // A dead offload agent is never switched to, and the condition says why.
    jetson.close();
    exporter.set(4.0, 0.3);
    wait_for("OffloadTargetHealthy False", Duration::from_secs(20), || {
        policy(&cp, r#"{.status.conditions[?(@.type=="OffloadTargetHealthy")].status}"#) == "False"
    });
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(env_of(&cp, "VACCEL_RPC_ADDRESS"), pi.endpoint(), "switched to a dead agent");
    let ready = policy(&cp, r#"{.status.conditions[?(@.type=="Ready")].message}"#);
    assert!(ready.contains("unreachable") && ready.contains("not switching"), "{ready}");
    jetson.open();
    wait_for("switch once the agent is back", Duration::from_secs(20), || {
        env_of(&cp, "VACCEL_RPC_ADDRESS") == jetson.endpoint()
    });
}
