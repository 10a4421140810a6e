//! A simulated object detector and vAccel agents with performance profiles, so that switching the
//! backend visibly closes the loop: the detector asks the agent it points at for its speed, and
//! its frame rate and inference latency follow.
//!
//! - An agent ([`ProfileAgent`]) answers every TCP connection with one line,
//!   `agent=<name> latency=<seconds>`: its inference latency at load 1.
//! - The detector ([`Detector`]) runs on the Pi. It finds its endpoint (fixed, or from the newest
//!   Ready pod of a Deployment, as a rollout would give it), asks that agent every tick and
//!   exports on `/metrics`:
//!   - `detector_fps` (gauge, capped at the camera's 30 fps) and
//!     `detector_inference_latency_seconds` (histogram): the agent's latency, scaled by the
//!     current load when the agent is the Pi's own (it shares the board with the camera
//!     pipeline), plus noise. While offloaded they describe the offload agent, not the Pi.
//!   - `pi_load` (gauge, 1 = nominal): the camera pipeline's load on the Pi board, from the
//!     [`Ramp`], whichever agent runs inference and even when none answers. It stands in for a
//!     node-exporter signal of the Pi (CPU busy ratio, `node_load1`) with the Pi's own agent
//!     idle: the signal that tells, while offloaded, whether the Pi would cope again.

mod agent;
mod ramp;
mod source;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use agent::ProfileAgent;
pub use ramp::Ramp;
pub use source::{EndpointSource, newest_ready_env};

/// Camera frame rate: the detector never runs faster.
pub const CAMERA_FPS: f64 = 30.0;
/// Name of the Pi-side load gauge on the detector's `/metrics`.
pub const PI_LOAD_METRIC: &str = "pi_load";
const BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0];

/// What the detector sees now.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub endpoint: Option<String>,
    pub agent: Option<String>,
    pub fps: f64,
    pub latency: f64,
    /// The Pi-side load exported as `pi_load` (unset before the first tick).
    pub pi_load: Option<f64>,
}

#[derive(Debug, Default)]
struct State {
    figures: Figures,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl State {
    /// Counts the frames one tick (a quarter second) processed at `latency`.
    fn record(&mut self, latency: f64, fps: f64) {
        let frames = (fps / 4.0).round().max(1.0) as u64;
        for _ in 0..frames {
            for (i, le) in BUCKETS.iter().enumerate() {
                if latency <= *le {
                    self.buckets[i] += 1;
                }
            }
            self.count += 1;
            self.sum += latency;
        }
    }
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

/// Whether `agent` runs on the Pi board with the camera pipeline (every agent but the Jetson's),
/// so that the pipeline's load slows it.
fn shares_the_board(agent: &str) -> bool {
    !agent.contains("jetson")
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
    // A seed of its own: the Pi's load must not depend on how often the latency drew noise.
    let mut load_seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut endpoint: Option<String> = None;
    let mut last_resolve: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if last_resolve.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            endpoint = source.resolve().or(endpoint);
            last_resolve = Some(Instant::now());
        }
        let load = ramp.at(started.elapsed().as_secs_f64());
        let pi_load = Some(load * (1.0 + 0.03 * noise(&mut load_seed)));
        let answer = endpoint.as_deref().and_then(agent::ask);
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.figures = match answer {
            Some((agent, base)) => {
                let scaled = if shares_the_board(&agent) { base * load } else { base };
                let latency = (scaled * (1.0 + 0.05 * noise(&mut seed))).max(0.001);
                let fps = (1.0 / latency).min(CAMERA_FPS);
                st.record(latency, fps);
                Figures { endpoint: endpoint.clone(), agent: Some(agent), fps, latency, pi_load }
            }
            None => Figures { endpoint: endpoint.clone(), agent: None, fps: 0.0, latency: 0.0, pi_load },
        };
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
    if let Some(load) = f.pi_load {
        out.push_str(&format!(
            "# HELP {PI_LOAD_METRIC} Load of the camera pipeline on the Raspberry Pi board (1 = nominal), wherever inference runs.\n# TYPE {PI_LOAD_METRIC} gauge\n{PI_LOAD_METRIC} {load}\n"
        ));
    }
    out.push_str("# TYPE detector_backend_info gauge\n");
    out.push_str(&format!(
        "detector_backend_info{{agent=\"{}\",endpoint=\"{}\"}} 1\n",
        f.agent.as_deref().unwrap_or("none"),
        f.endpoint.as_deref().unwrap_or("none")
    ));
    out
}

#[cfg(test)]
mod tests;
