//! A simulated object detector and vAccel agents with performance profiles, so that switching the
//! backend visibly closes the loop: the detector asks the agent it points at for its speed, and
//! its frame rate and inference latency follow.
//!
//! - An agent ([`ProfileAgent`]) answers every TCP connection with one line,
//!   `agent=<name> latency=<seconds>`: its inference latency at load 1.
//! - The detector ([`Detector`]) finds its endpoint (fixed, or from the newest Ready pod of a
//!   Deployment, as a rollout would give it), asks that agent every tick, scales the latency by
//!   the current load (a ramp over time) plus noise, and exports `detector_fps` (gauge, capped at
//!   the camera's 30 fps) and `detector_inference_latency_seconds` (histogram) on `/metrics`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Camera frame rate: the detector never runs faster.
pub const CAMERA_FPS: f64 = 30.0;
const BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0];

/// A vAccel agent stand-in with a speed.
#[derive(Debug)]
pub struct ProfileAgent {
    pub port: u16,
    pub name: String,
    stop: Arc<AtomicBool>,
}

impl ProfileAgent {
    /// Listens on `127.0.0.1:port` (0: any free port).
    pub fn start(name: &str, latency_seconds: f64, port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, line) = (stop.clone(), format!("agent={name} latency={latency_seconds}\n"));
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.write_all(line.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self { port, name: name.to_owned(), stop })
    }

    pub fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for ProfileAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Piecewise-linear load over time: `(seconds since start, load)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Ramp(pub Vec<(f64, f64)>);

impl Ramp {
    /// Parses `0:1,20:3,40:3,50:0.5` (seconds:load, increasing times).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut points = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (t, l) = part.split_once(':').ok_or_else(|| format!("{part:?} is not seconds:load"))?;
            let t: f64 = t.trim().trim_end_matches('s').parse().map_err(|_| format!("bad time in {part:?}"))?;
            let l: f64 = l.trim().parse().map_err(|_| format!("bad load in {part:?}"))?;
            if points.last().is_some_and(|(prev, _)| t <= *prev) || l <= 0.0 {
                return Err(format!("{part:?}: times must increase and loads be > 0"));
            }
            points.push((t, l));
        }
        if points.is_empty() {
            return Err("an empty load ramp".into());
        }
        Ok(Self(points))
    }

    pub fn at(&self, t: f64) -> f64 {
        let p = &self.0;
        let Some(after) = p.iter().position(|(x, _)| *x > t) else { return p.last().map_or(1.0, |x| x.1) };
        if after == 0 {
            return p[0].1;
        }
        let ((t0, l0), (t1, l1)) = (p[after - 1], p[after]);
        l0 + (l1 - l0) * (t - t0) / (t1 - t0)
    }
}

/// Where the detector's `VACCEL_RPC_ADDRESS` comes from.
#[derive(Clone, Debug)]
pub enum EndpointSource {
    Fixed(String),
    /// The env var of the newest Ready, not terminating pod labelled `app=<app>` (read with
    /// kubectl): what a rolled-out Deployment runs.
    Pods {
        kubectl: PathBuf,
        kubeconfig: PathBuf,
        namespace: String,
        app: String,
        var: String,
    },
    /// Where a Service routes, as kube-proxy would: the Service's selector value for `label`
    /// (e.g. `node=jetson-agx-orin`) names the agent, `routes` maps it to that agent's address
    /// (the agents' pods are KWOK pods whose IPs do not exist).
    Service {
        kubectl: PathBuf,
        kubeconfig: PathBuf,
        namespace: String,
        service: String,
        label: String,
        routes: Vec<(String, String)>,
    },
}

impl EndpointSource {
    fn resolve(&self) -> Option<String> {
        match self {
            Self::Fixed(e) => Some(e.clone()),
            Self::Pods { kubectl, kubeconfig, namespace, app, var } => {
                let out = Command::new(kubectl)
                    .arg("--kubeconfig")
                    .arg(kubeconfig)
                    .args(["get", "pods", "-n", namespace, "-l", &format!("app={app}"), "-o", "json"])
                    .output()
                    .ok()?;
                let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                newest_ready_env(&list, var)
            }
            Self::Service { kubectl, kubeconfig, namespace, service, label, routes } => {
                let out = Command::new(kubectl)
                    .arg("--kubeconfig")
                    .arg(kubeconfig)
                    .args(["get", "service", service, "-n", namespace, "-o", "json"])
                    .output()
                    .ok()?;
                let svc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                let target = svc["spec"]["selector"][label.as_str()].as_str()?;
                routes.iter().find(|(value, _)| value == target).map(|(_, endpoint)| endpoint.clone())
            }
        }
    }
}

/// The `var` of the newest Ready, not terminating pod in a pod list.
pub fn newest_ready_env(list: &serde_json::Value, var: &str) -> Option<String> {
    let items = list["items"].as_array()?;
    let ready = |p: &&serde_json::Value| {
        p["metadata"]["deletionTimestamp"].is_null()
            && p["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    };
    let newest =
        items.iter().filter(ready).max_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or(""))?;
    newest["spec"]["containers"].as_array()?.iter().find_map(|c| {
        c["env"].as_array()?.iter().find(|e| e["name"] == var).and_then(|e| e["value"].as_str().map(str::to_owned))
    })
}

/// What the detector sees now.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub endpoint: Option<String>,
    pub agent: Option<String>,
    pub fps: f64,
    pub latency: f64,
}

#[derive(Debug, Default)]
struct State {
    figures: Figures,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The simulated detector; stops with its owner.
#[derive(Debug)]
pub struct Detector {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Detector {
    pub fn start(source: EndpointSource, ramp: Ramp, metrics_port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", metrics_port))?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, flag) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            continuum_testenv::sim::serve_metrics(listener, move || page(&s.lock().unwrap_or_else(|p| p.into_inner())))
        });
        let (s, flag2) = (state.clone(), flag.clone());
        std::thread::spawn(move || simulate(source, ramp, s, flag2));
        Ok(Self { port, state, stop })
    }

    pub fn figures(&self) -> Figures {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).figures.clone()
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Asks the agent at `endpoint` for its latency at load 1.
fn ask(endpoint: &str) -> Option<(String, f64)> {
    let addr = endpoint.strip_prefix("tcp://")?;
    let sock = std::net::ToSocketAddrs::to_socket_addrs(addr).ok()?.next()?;
    let stream = TcpStream::connect_timeout(&sock, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    let mut agent = None;
    let mut latency = None;
    for kv in line.split_whitespace() {
        match kv.split_once('=') {
            Some(("agent", v)) => agent = Some(v.to_owned()),
            Some(("latency", v)) => latency = v.parse().ok(),
            _ => {}
        }
    }
    Some((agent?, latency?))
}

/// Deterministic noise in [-1, 1] (xorshift), so runs are comparable.
fn noise(seed: &mut u64) -> f64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed % 2001) as f64 / 1000.0 - 1.0
}

fn simulate(source: EndpointSource, ramp: Ramp, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    let started = Instant::now();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut endpoint: Option<String> = None;
    let mut last_resolve: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if last_resolve.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            endpoint = source.resolve().or(endpoint);
            last_resolve = Some(Instant::now());
        }
        let load = ramp.at(started.elapsed().as_secs_f64());
        let answer = endpoint.as_deref().and_then(ask);
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        match answer {
            Some((agent, base)) => {
                // Only the local agent shares the board with the camera pipeline: load slows it.
                let scaled = if agent.contains("jetson") { base } else { base * load };
                let latency = (scaled * (1.0 + 0.05 * noise(&mut seed))).max(0.001);
                let fps = (1.0 / latency).min(CAMERA_FPS);
                let frames = (fps / 4.0).round().max(1.0) as u64;
                for _ in 0..frames {
                    for (i, le) in BUCKETS.iter().enumerate() {
                        if latency <= *le {
                            st.buckets[i] += 1;
                        }
                    }
                    st.count += 1;
                    st.sum += latency;
                }
                st.figures = Figures { endpoint: endpoint.clone(), agent: Some(agent), fps, latency };
            }
            None => st.figures = Figures { endpoint: endpoint.clone(), agent: None, fps: 0.0, latency: 0.0 },
        }
        drop(st);
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn page(st: &State) -> String {
    let f = &st.figures;
    let mut out = String::from("# TYPE detector_fps gauge\n");
    out.push_str(&format!("detector_fps {}\n", f.fps));
    out.push_str("# TYPE detector_inference_latency_seconds histogram\n");
    for (i, le) in BUCKETS.iter().enumerate() {
        out.push_str(&format!("detector_inference_latency_seconds_bucket{{le=\"{le}\"}} {}\n", st.buckets[i]));
    }
    out.push_str(&format!("detector_inference_latency_seconds_bucket{{le=\"+Inf\"}} {}\n", st.count));
    out.push_str(&format!("detector_inference_latency_seconds_sum {}\n", st.sum));
    out.push_str(&format!("detector_inference_latency_seconds_count {}\n", st.count));
    out.push_str("# TYPE detector_backend_info gauge\n");
    out.push_str(&format!(
        "detector_backend_info{{agent=\"{}\",endpoint=\"{}\"}} 1\n",
        f.agent.as_deref().unwrap_or("none"),
        f.endpoint.as_deref().unwrap_or("none")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_interpolate_and_hold_their_ends() {
        let r = Ramp::parse("0:1,10:3,20:3,30:0.5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.at(0.0), 1.0);
        assert_eq!(r.at(5.0), 2.0);
        assert_eq!(r.at(15.0), 3.0);
        assert_eq!(r.at(25.0), 1.75);
        assert_eq!(r.at(99.0), 0.5);
        assert!(Ramp::parse("10:1,5:2").is_err());
        assert!(Ramp::parse("0:0").is_err());
        assert!(Ramp::parse("x").is_err());
    }

    #[test]
    fn the_detector_follows_its_agent() {
        let (pi, jetson) = (
            ProfileAgent::start("raspberrypi", 0.08, 0).unwrap_or_else(|e| panic!("{e}")),
            ProfileAgent::start("jetson-agx-orin", 0.025, 0).unwrap_or_else(|e| panic!("{e}")),
        );
        let ramp = Ramp::parse("0:4").unwrap_or_else(|e| panic!("{e}"));
        let on_pi =
            Detector::start(EndpointSource::Fixed(pi.endpoint()), ramp.clone(), 0).unwrap_or_else(|e| panic!("{e}"));
        let on_jetson =
            Detector::start(EndpointSource::Fixed(jetson.endpoint()), ramp, 0).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(700));
        let (p, j) = (on_pi.figures(), on_jetson.figures());
        assert_eq!(p.agent.as_deref(), Some("raspberrypi"));
        assert!((0.29..0.35).contains(&p.latency) && p.fps < 4.0, "Pi at load 4: {p:?}");
        assert!(j.latency < 0.03 && j.fps >= 29.0, "Jetson: {j:?}");
    }

    #[test]
    fn the_newest_ready_pod_decides_the_endpoint() {
        let list = serde_json::json!({"items": [
            {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]},
             "spec": {"containers": [{"env": [{"name": "V", "value": "old"}]}]}},
            {"metadata": {"creationTimestamp": "2026-01-01T00:01:00Z"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]},
             "spec": {"containers": [{"env": [{"name": "V", "value": "new"}]}]}},
            {"metadata": {"creationTimestamp": "2026-01-01T00:02:00Z"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]},
             "spec": {"containers": [{"env": [{"name": "V", "value": "starting"}]}]}}
        ]});
        assert_eq!(newest_ready_env(&list, "V").as_deref(), Some("new"));
        assert_eq!(newest_ready_env(&list, "W"), None);
    }
}
