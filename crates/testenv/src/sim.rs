//! Stand-ins for the edge: a detector's metrics endpoint whose fps and latency the caller sets, and
//! vAccel RPC agents (TCP listeners; the real agent has no ping RPC, so accepting a connection is
//! all a health probe sees).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A detector's /metrics: `detector_fps` and `detector_inference_latency_seconds` gauges.
#[derive(Debug)]
pub struct Exporter {
    pub port: u16,
    values: Arc<Mutex<(f64, f64)>>,
}

impl Exporter {
    pub fn start(fps: f64, latency: f64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let values = Arc::new(Mutex::new((fps, latency)));
        let shared = values.clone();
        std::thread::spawn(move || {
            serve_metrics(listener, move || {
                let (f, l) = *shared.lock().unwrap_or_else(|e| e.into_inner());
                format!(
                    "# TYPE detector_fps gauge\ndetector_fps {f}\n# TYPE detector_inference_latency_seconds gauge\ndetector_inference_latency_seconds {l}\n"
                )
            })
        });
        Self { port, values }
    }

    pub fn set(&self, fps: f64, latency: f64) {
        *self.values.lock().unwrap_or_else(|e| e.into_inner()) = (fps, latency);
    }
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
