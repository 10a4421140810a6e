//! The edge scene, for the demo (narrated) and the end-to-end test (headless):
//! the Pi falls behind, the operator moves inference to the Jetson, detection snaps back to real
//! time; the load drops and it comes back; then the host plane's etcd gets a slow disk and
//! EtcdHealth names it. Every step waits with a deadline and fails with what it saw.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::detector::{Detector, EndpointSource, ProfileAgent, Ramp};
use crate::edge::{EdgeCluster, JETSON_NODE, PI_NODE};
use crate::{ControlPlane, Load, Prometheus, gobuild};

/// How to run the scene.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `continuum-operator` binary.
    pub operator: PathBuf,
    /// The repository (for `deploy/crds`).
    pub repo: PathBuf,
    /// Print progress, a live status line and the timeline.
    pub narrate: bool,
    /// Where to write the SVG timeline.
    pub svg: Option<PathBuf>,
    /// How the operator switches the backend.
    pub actuation: Actuation,
}

/// The two ways the scene can switch the backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Actuation {
    /// Set `VACCEL_RPC_ADDRESS` in the Deployment: a rollout (new pod) per switch.
    #[default]
    Env,
    /// The detector talks to the Service `vaccel-backend`; the operator switches its selector
    /// between the agents' pods: no new pod.
    Service,
}

/// One sample of the scene, once per second.
#[derive(Clone, Debug)]
pub struct Sample {
    pub t: f64,
    pub fps: f64,
    pub latency: f64,
    pub agent: String,
    pub phase: String,
}

/// What happened, with times in seconds since the workload started.
#[derive(Debug, Default)]
pub struct Report {
    pub continuum_start: f64,
    pub samples: Vec<Sample>,
    pub events: Vec<(f64, String)>,
    pub offloaded_at: Option<f64>,
    pub realtime_at: Option<f64>,
    pub recovered_at: Option<f64>,
    pub slow_disk_after: Option<f64>,
    pub slow_disk_message: String,
    pub replica_sets: usize,
    /// The Deployment's rollout revision (the Deployment controller counts each switch).
    pub revision: String,
    /// The policy's `status.recentTransitions[*].to`, space-separated.
    pub transitions: String,
    /// UIDs of the detector's pods when it first ran and at the end (equal: no pod restarted).
    pub pod_at_start: String,
    pub pod_at_end: String,
    pub member_env: String,
    /// Times the operator exited and was started again (it exits when it cannot renew its Lease).
    pub operator_restarts: u32,
}

/// The running scene (kept alive for `--keep`).
#[derive(Debug)]
pub struct Running {
    pub host: ControlPlane,
    pub edge: EdgeCluster,
    pub prometheus: Prometheus,
    operator: std::sync::Mutex<OperatorProcess>,
    _detector: Detector,
    _agents: (ProfileAgent, ProfileAgent),
    _load: Option<Load>,
}

/// The operator, restarted when it exits as a Deployment's pod would be (it exits by design when
/// it cannot renew its Lease, e.g. while the host plane's etcd restarts).
#[derive(Debug)]
struct OperatorProcess {
    command: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Child,
    restarts: u32,
}

impl OperatorProcess {
    fn spawn(command: Vec<std::ffi::OsString>, env: Vec<(String, String)>, log: PathBuf) -> Result<Self, String> {
        let child = Self::launch(&command, &env, &log)?;
        Ok(Self { command, env, log, child, restarts: 0 })
    }

    fn launch(command: &[std::ffi::OsString], env: &[(String, String)], log: &Path) -> Result<Child, String> {
        let (program, args) = command.split_first().ok_or("empty command")?;
        let log = std::fs::File::options().create(true).append(true).open(log).map_err(|x| x.to_string())?;
        Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|x| format!("starting {}: {x}", program.to_string_lossy()))
    }

    /// Restarts the operator if it exited; returns why.
    fn keep_running(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok().flatten()?;
        self.restarts += 1;
        match Self::launch(&self.command, &self.env, &self.log) {
            Ok(child) => self.child = child,
            Err(e) => return Some(format!("the operator exited ({status}) and could not be restarted: {e}")),
        }
        Some(format!("the operator exited ({status}; see its log) and was restarted, as its pod would be"))
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const NS: &str = "vision";
/// Load on the Pi over time (seconds since the detector started : load factor).
pub const RAMP: &str = "0:1,8:1,16:4,38:4,42:1";

struct Narrator {
    on: bool,
    started: Instant,
}

impl Narrator {
    fn say(&self, text: &str) {
        if self.on {
            eprintln!("\r\x1b[K[{:6.1}s] {text}", self.started.elapsed().as_secs_f64());
        }
    }

    fn status(&self, s: &Sample) {
        if self.on {
            let backend = if s.agent.contains("jetson") { "Jetson" } else { "Pi" };
            eprint!(
                "\r\x1b[K  t={:5.1}s  backend={backend:<6} fps={:5.1}  latency={:4.0}ms  phase={}",
                s.t,
                s.fps,
                s.latency * 1000.0,
                s.phase
            );
        }
    }
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> String {
    cp.kubectl_output(args).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

/// The agents' pods and the Service the detector uses in service mode.
fn service_objects() -> String {
    let agent = |node: &str| {
        format!(
            "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: vaccel-agent-{node}, namespace: {NS}}}
spec:
  selector: {{matchLabels: {{app: vaccel-agent, node: {node}}}}}
  template:
    metadata: {{labels: {{app: vaccel-agent, node: {node}}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers:
      - {{name: vaccel-rpc-agent, image: registry.example/vaccel-rpc-agent:0.6, ports: [{{containerPort: 8192}}]}}
"
        )
    };
    format!(
        "{}{}---
apiVersion: v1
kind: Service
metadata: {{name: vaccel-backend, namespace: {NS}}}
spec:
  selector: {{app: vaccel-agent, node: {PI_NODE}}}
  ports: [{{name: vaccel, port: 8192, targetPort: 8192}}]
",
        agent(PI_NODE),
        agent(JETSON_NODE)
    )
}

fn manifests(pi: &str, jetson: &str, prom: &str, etcd_metrics: &str, actuation: Actuation) -> String {
    let (address, how, extra) = match actuation {
        Actuation::Env => (pi.to_owned(), "env: {container: detector}".to_owned(), String::new()),
        Actuation::Service => (
            format!("tcp://vaccel-backend.{NS}:8192"),
            format!(
                "service: {{name: vaccel-backend, localSelector: {{app: vaccel-agent, node: {PI_NODE}}}, offloadSelector: {{app: vaccel-agent, node: {JETSON_NODE}}}}}"
            ),
            service_objects(),
        ),
    };
    let body = format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: detector, namespace: {NS}}}
spec:
  selector: {{matchLabels: {{app: detector}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: detector}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {PI_NODE}}}
      containers:
      - name: detector
        image: registry.example/object-detector:1.0
        env:
        - {{name: VACCEL_RPC_ADDRESS, value: \"{address}\"}}
---
apiVersion: continuum.dev/v1alpha1
kind: OffloadPolicy
metadata: {{name: detector, namespace: {NS}}}
spec:
  targetRef: {{name: detector}}
  telemetry:
    prometheus: {{url: \"{prom}\"}}
    fps: {{query: \"max(detector_fps)\"}}
    latency: {{query: \"histogram_quantile(0.9, sum by (le) (rate(detector_inference_latency_seconds_bucket[5s])))\"}}
    interval: 1s
    maxSampleAge: 10s
  offloadWhen: {{fpsBelow: 8, latencyAbove: 150ms, for: 4s}}
  recoverWhen: {{fpsAbove: 10, latencyBelow: 100ms, for: 30s}}
  backends:
    local: {{endpoint: \"{pi}\"}}
    offload: {{endpoint: \"{jetson}\", healthCheck: {{timeout: 500ms}}}}
  actuation:
    {how}
  cooldown: 10s
  maxSwitchesPerHour: 6
---
apiVersion: continuum.dev/v1alpha1
kind: EtcdHealth
metadata: {{name: karmada-etcd, namespace: {NS}}}
spec:
  endpoints:
  - {{name: etcd-0, metricsUrl: \"{etcd_metrics}\"}}
  interval: 2s
  window: 20s
  for: 6s
"
    );
    format!("{body}{extra}")
}

/// Starts everything and plays the scene; the servers keep running in the returned value.
pub fn run(opts: &Options) -> Result<(Report, Running), String> {
    let n = Narrator { on: opts.narrate, started: Instant::now() };
    let e = |e: crate::Error| e.to_string();
    n.say("building or reusing etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (first run: ~10 min on 2 cores)");
    gobuild::ensure().map_err(e)?;
    gobuild::edge().map_err(e)?;
    let started = Instant::now();
    n.say("starting the host plane (etcd + kube-apiserver standing in for Karmada's) and the edge cluster");
    let host = ControlPlane::start().map_err(e)?;
    let edge = EdgeCluster::start().map_err(e)?;
    let continuum_start = started.elapsed().as_secs_f64();
    n.say(&format!("continuum up in {continuum_start:.1}s: nodes {PI_NODE} and {JETSON_NODE} Ready (KWOK)"));
    edge.cp.apply_crds(&opts.repo.join("deploy/crds")).map_err(e)?;
    kubectl(&host, &["create", "namespace", "continuum-system"]);

    let pi = ProfileAgent::start(PI_NODE, 0.075, 0).map_err(|x| x.to_string())?;
    let jetson = ProfileAgent::start(JETSON_NODE, 0.025, 0).map_err(|x| x.to_string())?;
    let (kubectl_bin, kubeconfig) = (edge.cp.binaries.kubectl.clone(), edge.cp.kubeconfig.clone());
    let source = match opts.actuation {
        Actuation::Env => EndpointSource::Pods {
            kubectl: kubectl_bin,
            kubeconfig,
            namespace: NS.into(),
            app: "detector".into(),
            var: "VACCEL_RPC_ADDRESS".into(),
        },
        Actuation::Service => EndpointSource::Service {
            kubectl: kubectl_bin,
            kubeconfig,
            namespace: NS.into(),
            service: "vaccel-backend".into(),
            label: "node".into(),
            routes: vec![(PI_NODE.into(), pi.endpoint()), (JETSON_NODE.into(), jetson.endpoint())],
        },
    };
    let detector = Detector::start(source, Ramp::parse(RAMP)?, 0).map_err(|x| x.to_string())?;
    let prometheus =
        Prometheus::start(&[&format!("127.0.0.1:{}/metrics", detector.port)], Duration::from_secs(1)).map_err(e)?;
    let allowed = [format!("{}/*", prometheus.url), host.etcd_metrics_url.clone()];
    let (chart_args, env) = chart_command(&opts.repo, &edge, &allowed)?;
    n.say(&format!("the operator runs with the arguments the Helm chart renders: {}", chart_args.join(" ")));
    let mut command: Vec<std::ffi::OsString> = vec![opts.operator.clone().into()];
    command.extend(chart_args.iter().map(Into::into));
    // What the pod gets from its environment and mounts, given here as flags.
    for (flag, value) in [
        ("--identity", "continuum-operator-0".as_ref()),
        ("--kubeconfig", edge.cp.kubeconfig.as_os_str()),
        ("--host-kubeconfig", host.kubeconfig.as_os_str()),
    ] {
        command.push(flag.into());
        command.push(value.to_os_string());
    }
    let operator = OperatorProcess::spawn(command, env, edge.cp.dir.join("operator.log"))?;
    let objects =
        manifests(&pi.endpoint(), &jetson.endpoint(), &prometheus.url, &host.etcd_metrics_url, opts.actuation);
    edge.apply(&objects).map_err(e)?;
    n.say("applied the detector Deployment (on the Pi node), an OffloadPolicy and an EtcdHealth");
    let mut running = Running {
        host,
        edge,
        prometheus,
        operator: std::sync::Mutex::new(operator),
        _detector: detector,
        _agents: (pi, jetson),
        _load: None,
    };
    let report = play(&n, &mut running, continuum_start, opts.actuation)?;
    if let Some(path) = &opts.svg {
        std::fs::write(path, svg(&report)).map_err(|x| x.to_string())?;
        n.say(&format!("timeline written to {}", path.display()));
    }
    Ok((report, running))
}

/// Arguments and plain environment variables of the operator's container.
type ChartCommand = (Vec<String>, Vec<(String, String)>);

/// The operator's arguments and plain environment as the chart renders them for the release
/// `continuum` in `continuum-system` (single-cluster values plus the allow-list), with the
/// metrics address moved to a free loopback port.
fn chart_command(repo: &Path, edge: &EdgeCluster, allowed: &[String]) -> Result<ChartCommand, String> {
    let helm = gobuild::helm().map_err(|e| e.to_string())?;
    let out = Command::new(helm)
        .args(["template", "continuum"])
        .arg(repo.join("charts/continuum-operator"))
        .args(["-n", "continuum-system", "--kube-version", &crate::versions::kubernetes()])
        .args(["--show-only", "templates/deployment.yaml", "--set", "logFormat=text"])
        .arg("--set")
        .arg(format!("telemetry.allowedUrls={{{}}}", allowed.join(",")))
        .env("HELM_CACHE_HOME", edge.cp.dir.join("helm/cache"))
        .env("HELM_CONFIG_HOME", edge.cp.dir.join("helm/config"))
        .env("HELM_DATA_HOME", edge.cp.dir.join("helm/data"))
        .output()
        .map_err(|e| format!("running helm: {e}"))?;
    if !out.status.success() {
        return Err(format!("helm template: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let path = edge.cp.dir.join("operator-deployment.yaml");
    std::fs::write(&path, &out.stdout).map_err(|e| e.to_string())?;
    let json = kubectl(
        &edge.cp,
        &["create", "--dry-run=client", "--validate=false", "-o", "json", "-f", &path.display().to_string()],
    );
    let deployment: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("the rendered Deployment: {e}"))?;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .ok_or("the chart's container has no args")?
        .iter()
        .filter_map(|a| a.as_str())
        .map(|a| if a.starts_with("--metrics-addr=") { "--metrics-addr=127.0.0.1:0".to_owned() } else { a.to_owned() })
        .collect();
    let env = container["env"]
        .as_array()
        .map(|e| {
            e.iter().filter_map(|v| Some((v["name"].as_str()?.to_owned(), v["value"].as_str()?.to_owned()))).collect()
        })
        .unwrap_or_default();
    Ok((args, env))
}

/// `kubectl get <kind> <name> -n vision -o jsonpath=<path>` on the edge cluster.
fn field(r: &Running, kind: &str, name: &str, path: &str) -> String {
    kubectl(&r.edge.cp, &["get", kind, name, "-n", NS, "-o", &format!("jsonpath={path}")])
}

fn last_transition(r: &Running) -> String {
    field(r, "offloadpolicy", "detector", "{.status.lastTransition.message}")
}

fn sample(r: &Running, t: f64) -> Sample {
    let restarted = r.operator.lock().unwrap_or_else(|p| p.into_inner()).keep_running();
    if let Some(why) = restarted {
        eprintln!("\r\x1b[K[{t:6.1}s] {why}");
    }
    let f = r._detector.figures();
    let phase = kubectl(&r.edge.cp, &["get", "offloadpolicy", "detector", "-n", NS, "-o", "jsonpath={.status.phase}"]);
    Sample { t, fps: f.fps, latency: f.latency, agent: f.agent.unwrap_or_default(), phase }
}

/// Samples once per second until `done` holds for the latest sample, or fails after `limit`.
fn until(
    n: &Narrator,
    r: &Running,
    report: &mut Report,
    t0: Instant,
    what: &str,
    limit: Duration,
    done: impl Fn(&Sample) -> bool,
) -> Result<f64, String> {
    let started = Instant::now();
    loop {
        let s = sample(r, t0.elapsed().as_secs_f64());
        n.status(&s);
        let hit = done(&s);
        report.samples.push(s.clone());
        if hit {
            return Ok(s.t);
        }
        if started.elapsed() > limit {
            let cp = &r.edge.cp;
            let objects = kubectl(cp, &["get", "deployments,replicasets,pods", "-n", NS, "-o", "wide"]);
            let policy =
                kubectl(cp, &["get", "offloadpolicy", "detector", "-n", NS, "-o", "jsonpath={.status.conditions}"]);
            let health = kubectl(cp, &["get", "etcdhealth", "karmada-etcd", "-n", NS, "-o", "jsonpath={.status}"]);
            let log = std::fs::read_to_string(cp.dir.join("operator.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            return Err(format!(
                "{what}: not seen within {limit:?}; last sample {s:?}\n{objects}\npolicy conditions: {policy}\netcdhealth status: {health}\noperator log (newest first):\n{}",
                tail.join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
}

fn detector_pod(r: &Running) -> String {
    kubectl(&r.edge.cp, &["get", "pods", "-n", NS, "-l", "app=detector", "-o", "jsonpath={.items[*].metadata.uid}"])
}

fn play(n: &Narrator, r: &mut Running, continuum_start: f64, actuation: Actuation) -> Result<Report, String> {
    let mut report = Report { continuum_start, ..Report::default() };
    let t0 = Instant::now();
    let note = |report: &mut Report, t: f64, text: String| {
        n.say(&text);
        report.events.push((t, text));
    };
    let t = until(n, r, &mut report, t0, "the detector running on the Pi", Duration::from_secs(60), |s| {
        s.agent == PI_NODE && s.phase == "Local"
    })?;
    note(&mut report, t, format!("the detector runs on the Pi's vAccel agent (load {RAMP})"));
    report.pod_at_start = detector_pod(r);
    let t =
        until(n, r, &mut report, t0, "the Pi falling behind", Duration::from_secs(60), |s| s.fps < 8.0 && s.fps > 0.0)?;
    note(&mut report, t, "the Pi falls behind: fps under 8".into());
    let t = until(n, r, &mut report, t0, "offload", Duration::from_secs(60), |s| s.phase == "Offloaded")?;
    report.offloaded_at = Some(t);
    let why = last_transition(r);
    note(&mut report, t, format!("OFFLOADED: {why}"));
    let t = until(n, r, &mut report, t0, "real time on the Jetson", Duration::from_secs(60), |s| {
        s.agent == JETSON_NODE && s.fps >= 25.0
    })?;
    report.realtime_at = Some(t);
    let how = match actuation {
        Actuation::Env => "the rolled-out pod talks to the Jetson",
        Actuation::Service => "the same pod now reaches the Jetson through the Service",
    };
    note(&mut report, t, format!("{how}: real time again (30 fps)"));
    let t = until(n, r, &mut report, t0, "recovery to the Pi", Duration::from_secs(90), |s| s.phase == "Local")?;
    report.recovered_at = Some(t);
    let why = last_transition(r);
    note(&mut report, t, format!("RECOVERED: {why}"));
    let t = until(n, r, &mut report, t0, "the Pi coping", Duration::from_secs(60), |s| {
        s.agent == PI_NODE && s.fps >= 10.0
    })?;
    note(&mut report, t, "the Pi copes at the lower load".into());
    report.pod_at_end = detector_pod(r);
    report.replica_sets = kubectl(&r.edge.cp, &["get", "replicasets", "-n", NS, "-o", "name"]).lines().count();
    report.transitions = kubectl(
        &r.edge.cp,
        &["get", "offloadpolicy", "detector", "-n", NS, "-o", "jsonpath={.status.recentTransitions[*].to}"],
    );
    report.revision =
        field(r, "deployment", "detector", r"{.metadata.annotations.deployment\.kubernetes\.io/revision}");
    report.member_env = field(
        r,
        "deployment",
        "detector",
        r#"{.spec.template.spec.containers[0].env[?(@.name=="VACCEL_RPC_ADDRESS")].value}"#,
    );

    note(
        &mut report,
        t0.elapsed().as_secs_f64(),
        "restarting the host plane's etcd on a slow disk (every fsync +150ms)".into(),
    );
    r.host.restart_etcd(Some(Duration::from_millis(150))).map_err(|x| x.to_string())?;
    r._load = Some(Load::start(&r.host.etcd_url, Duration::from_millis(20)));
    let slow_from = Instant::now();
    let t = until(n, r, &mut report, t0, "SlowDisk", Duration::from_secs(120), |_| {
        kubectl(&r.edge.cp, &["get", "etcdhealth", "karmada-etcd", "-n", NS, "-o", "jsonpath={.status.slowDisk}"])
            == "True"
    })?;
    report.slow_disk_after = Some(slow_from.elapsed().as_secs_f64());
    report.slow_disk_message = kubectl(
        &r.edge.cp,
        &[
            "get",
            "etcdhealth",
            "karmada-etcd",
            "-n",
            NS,
            "-o",
            r#"jsonpath={.status.conditions[?(@.type=="SlowDisk")].message}"#,
        ],
    );
    report.operator_restarts = r.operator.lock().unwrap_or_else(|p| p.into_inner()).restarts;
    let text = format!("SLOW DISK: {}", report.slow_disk_message);
    note(&mut report, t, text);
    if n.on {
        eprintln!("\r\x1b[K\n{}", kubectl(&r.edge.cp, &["get", "offloadpolicies,etcdhealths", "-n", NS]));
        eprintln!("timeline:");
        for (t, text) in &report.events {
            eprintln!("  {t:6.1}s  {text}");
        }
    }
    Ok(report)
}

/// The timeline as an SVG line chart: fps (and latency) over time, offloaded spans shaded, events
/// marked.
pub fn svg(r: &Report) -> String {
    let (w, h, left, top) = (900.0, 320.0, 50.0, 20.0);
    let end = r.samples.last().map_or(1.0, |s| s.t).max(1.0);
    let x = |t: f64| left + (w - left - 20.0) * t / end;
    let y = |fps: f64| top + (h - top - 40.0) * (1.0 - fps.min(32.0) / 32.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for s in r.samples.windows(2) {
        if s[0].agent.contains("jetson") {
            out.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#dbeafe\"/>\n",
                x(s[0].t),
                x(s[1].t) - x(s[0].t),
                h - top - 40.0
            ));
        }
    }
    for fps in [0.0, 8.0, 10.0, 30.0] {
        out.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ccc\"/><text x=\"8\" y=\"{:.1}\">{fps} fps</text>\n",
            w - 20.0,
            y(fps),
            y(fps),
            y(fps) + 4.0
        ));
    }
    let points: Vec<String> = r.samples.iter().map(|s| format!("{:.1},{:.1}", x(s.t), y(s.fps))).collect();
    out.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#16a34a\" stroke-width=\"2\" points=\"{}\"/>\n",
        points.join(" ")
    ));
    for (i, (t, text)) in r.events.iter().enumerate() {
        let label: String = text.chars().take(48).collect::<String>().replace('&', "&amp;").replace('<', "&lt;");
        // Labels right of the middle end at their line, so they stay inside the picture.
        let (anchor, dx) = if x(*t) > w / 2.0 { ("end", -3.0) } else { ("start", 3.0) };
        out.push_str(&format!(
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{top}\" y2=\"{:.1}\" stroke=\"#dc2626\" stroke-dasharray=\"3,3\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#dc2626\" text-anchor=\"{anchor}\">{label}</text>\n",
            x(*t),
            x(*t),
            h - 40.0,
            x(*t) + dx,
            top + 12.0 + 13.0 * (i % 8) as f64
        ));
    }
    out.push_str(&format!(
        "<text x=\"{left}\" y=\"{:.1}\">seconds 0-{end:.0}; green: detector fps; blue: running on the Jetson</text>\n</svg>\n",
        h - 12.0
    ));
    out
}

/// Default SVG path next to the repository's target directory.
pub fn default_svg(repo: &Path) -> PathBuf {
    repo.join("target").join("demo-timeline.svg")
}
