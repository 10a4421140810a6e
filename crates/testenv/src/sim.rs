//! Stand-ins for the edge: a detector's metrics endpoint whose figures the caller sets, and
//! vAccel RPC agents (TCP listeners; the real agent has no ping RPC, so accepting a connection is
//! all a health probe sees).
//!
//! The detector's page shows `detector_fps` and `detector_inference_latency_seconds` (a gauge,
//! or a histogram the caller fills), and `pi_load` once it is set. An exporter may stamp its
//! samples with the time they were taken, as a detector stamping each frame's figures does; a
//! frozen one keeps serving one set of figures stamped with the moment it froze, as such an
//! exporter behind a hung detector does.

mod histogram;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use histogram::{Quantile, ServedPage, quantile_between};

/// What the page shows.
#[derive(Debug)]
struct Figures {
    fps: f64,
    latency: f64,
    pi_load: Option<f64>,
    /// Whether live samples carry the time they were served as their exposition timestamp.
    stamped: bool,
    /// Exposition timestamp (ms since the epoch) of every sample while frozen.
    frozen_at_ms: Option<i64>,
    /// The latency as a histogram (instead of the gauge), and every page that showed it.
    histogram: Option<(histogram::Buckets, Vec<ServedPage>)>,
}

impl Figures {
    fn new(fps: f64, latency: f64) -> Self {
        Self { fps, latency, pi_load: None, stamped: false, frozen_at_ms: None, histogram: None }
    }

    /// The page for one request (recorded when the latency is a histogram).
    fn page(&mut self) -> String {
        let live = self.stamped.then(now_ms);
        let stamp = self.frozen_at_ms.or(live).map(|t| format!(" {t}")).unwrap_or_default();
        let mut page = format!("# TYPE detector_fps gauge\ndetector_fps {}{stamp}\n", self.fps);
        if let Some(load) = self.pi_load {
            let _ = writeln!(page, "# TYPE pi_load gauge\npi_load {load}{stamp}");
        }
        const LATENCY: &str = "detector_inference_latency_seconds";
        let Some((buckets, served)) = self.histogram.as_mut() else {
            let _ = writeln!(page, "# TYPE {LATENCY} gauge\n{LATENCY} {}{stamp}", self.latency);
            return page;
        };
        let seq = served.len() as u64 + 1;
        served.push(ServedPage { seq, at: Instant::now(), cumulative: buckets.cumulative() });
        let _ = writeln!(page, "# TYPE detector_scrapes_total counter\ndetector_scrapes_total {seq}");
        buckets.render(LATENCY, &mut page);
        page
    }
}

/// A detector's /metrics (see the module documentation).
#[derive(Debug)]
pub struct Exporter {
    pub port: u16,
    figures: Arc<Mutex<Figures>>,
}

impl Exporter {
    /// Live gauges `detector_fps` and `detector_inference_latency_seconds`.
    pub fn start(fps: f64, latency: f64) -> Self {
        Self::serve(Figures::new(fps, latency))
    }

    /// `detector_fps`, and `detector_inference_latency_seconds` as a histogram with these finite
    /// bucket bounds (filled by [`observe`](Self::observe)); every page also shows its own number
    /// as `detector_scrapes_total`, so a reader's status tells which page it read.
    pub fn with_histogram(fps: f64, bounds: &[f64]) -> Self {
        let mut figures = Figures::new(fps, f64::NAN);
        figures.histogram = Some((histogram::Buckets::new(bounds), Vec::new()));
        Self::serve(figures)
    }

    fn serve(figures: Figures) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let figures = Arc::new(Mutex::new(figures));
        let shared = figures.clone();
        std::thread::spawn(move || serve_metrics(listener, move || lock(&shared).page()));
        Self { port, figures }
    }

    /// Live figures (a frozen exporter is live again).
    pub fn set(&self, fps: f64, latency: f64) {
        let mut f = lock(&self.figures);
        (f.fps, f.latency, f.frozen_at_ms) = (fps, latency, None);
    }

    /// The local device's load, shown as the gauge `pi_load` from now on.
    pub fn set_pi_load(&self, load: f64) {
        lock(&self.figures).pi_load = Some(load);
    }

    /// From now on every live sample carries the time it was served as its exposition
    /// timestamp. Call it before anything scrapes: Prometheus ends a series with a staleness
    /// marker when it changes from unstamped to stamped.
    pub fn stamp_samples(&self) {
        lock(&self.figures).stamped = true;
    }

    /// From now on every page shows these figures stamped with this moment, as an exporter
    /// whose detector hung does, until [`set`](Self::set). Prometheus keeps such a series (no
    /// staleness marker) only if its samples were stamped before: see
    /// [`stamp_samples`](Self::stamp_samples).
    pub fn freeze(&self, fps: f64, latency: f64) {
        let mut f = lock(&self.figures);
        (f.fps, f.latency, f.frozen_at_ms) = (fps, latency, Some(now_ms()));
    }

    /// Adds `n` observations of `seconds` to the latency histogram (see
    /// [`with_histogram`](Self::with_histogram)); without one, nothing.
    pub fn observe(&self, seconds: f64, n: u64) {
        if let Some((buckets, _)) = lock(&self.figures).histogram.as_mut() {
            buckets.observe(seconds, n);
        }
    }

    /// Every page served so far with the latency histogram, oldest first.
    pub fn pages(&self) -> Vec<ServedPage> {
        lock(&self.figures).histogram.as_ref().map(|(_, served)| served.clone()).unwrap_or_default()
    }
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.as_millis() as i64
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stand-in for `vaccel-rpc-agent`: accepts TCP connections while open.
#[derive(Debug)]
pub struct Agent {
    pub port: u16,
    host: std::net::IpAddr,
    open: Arc<AtomicBool>,
}

impl Agent {
    /// An agent on loopback.
    pub fn start() -> Self {
        Self::start_on(std::net::Ipv4Addr::LOCALHOST.into())
    }

    /// An agent on one of this machine's addresses (EndpointSlices refuse loopback addresses).
    pub fn start_on(host: std::net::IpAddr) -> Self {
        let port = TcpListener::bind((host, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
        let agent = Self { port, host, open: Arc::new(AtomicBool::new(false)) };
        agent.open();
        agent
    }

    /// Listens until `close()`; the port is reused.
    pub fn open(&self) {
        let listener =
            TcpListener::bind((self.host, self.port)).unwrap_or_else(|e| panic!("agent port {}: {e}", self.port));
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

    pub fn close(&self) {
        self.open.store(false, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
    }

    pub fn endpoint(&self) -> String {
        format!("tcp://{}", std::net::SocketAddr::new(self.host, self.port))
    }
}

/// This machine's address on its default route (no packet is sent), if it has one.
pub fn primary_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Answers every request on `listener` with a Prometheus text page from `page` (HTTP/1.0, then
/// close), until the process ends. The demo's simulated detector serves its page with it too.
pub fn serve_metrics(listener: TcpListener, page: impl Fn() -> String) {
    for stream in listener.incoming().map_while(Result::ok) {
        let mut stream = stream;
        let mut buf = [0u8; 2048];
        let _ = stream.read(&mut buf);
        let body = page();
        let _ = write!(
            stream,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
}
