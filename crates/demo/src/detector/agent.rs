//! vAccel agent stand-ins with a speed, and the detector's question to them.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A vAccel agent stand-in with a speed: answers every TCP connection with one line,
/// `agent=<name> latency=<seconds>`, its inference latency at load 1.
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

/// Asks the agent at `endpoint` for its name and latency at load 1.
pub(super) fn ask(endpoint: &str) -> Option<(String, f64)> {
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
