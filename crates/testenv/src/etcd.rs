//! A standalone etcd for disk-health tests: optionally on a real slow disk (every fsync and
//! fdatasync delayed by strace's fault injection), optionally serving metrics over mutual TLS.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::prelude::{BASE64_STANDARD, Engine as _};

use crate::certs::{self, Certs};
use crate::error::{Error, Result, io};
use crate::gobuild;
use crate::guard::Guarded;

/// How to start the member.
#[derive(Clone, Debug, Default)]
pub struct EtcdOptions {
    /// Delay injected before every fsync/fdatasync (a real slow disk, not a mock).
    pub fsync_delay: Option<Duration>,
    /// Serve `/metrics` over HTTPS and require a client certificate signed by the test CA.
    pub tls_metrics: bool,
}

/// A running etcd member. Dropping it stops etcd and deletes its data directory.
#[derive(Debug)]
pub struct Etcd {
    pub dir: PathBuf,
    pub client_url: String,
    /// `http(s)://127.0.0.1:<port>/metrics`.
    pub metrics_url: String,
    /// CA, server and client certificates (for `tls_metrics`).
    pub certs: Certs,
    /// Client certificate and key for the metrics endpoint.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    ports: [u16; 3],
    proc: Option<Guarded>,
    _janitor: Guarded,
}

impl Etcd {
    pub fn start(opts: &EtcdOptions) -> Result<Self> {
        let bins = gobuild::ensure()?;
        let dir = crate::controlplane::make_temp_dir("continuum-etcd")?;
        let certs = certs::generate(&dir.join("pki"))?;
        let (client_cert, client_key) = (dir.join("pki/client.crt"), dir.join("pki/client.key"));
        certs::sign(&certs, "/CN=etcd-metrics-reader", "extendedKeyUsage=clientAuth", &client_key, &client_cert)?;
        let ports = crate::controlplane::free_ports::<3>()?;
        let janitor = Guarded::janitor(&dir, &[])?;
        let scheme = if opts.tls_metrics { "https" } else { "http" };
        let mut etcd = Self {
            client_url: format!("http://127.0.0.1:{}", ports[0]),
            metrics_url: format!("{scheme}://127.0.0.1:{}/metrics", ports[2]),
            dir,
            certs,
            client_cert,
            client_key,
            ports,
            proc: None,
            _janitor: janitor,
        };
        etcd.launch(&bins.etcd, opts)?;
        Ok(etcd)
    }

    /// Stops the member (data kept) and starts it again with `opts` (e.g. without the delay).
    pub fn restart(&mut self, opts: &EtcdOptions) -> Result<()> {
        self.stop();
        let bins = gobuild::ensure()?;
        self.launch(&bins.etcd, opts)
    }

    /// Stops the member; its data directory stays until drop.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
    }

    fn launch(&mut self, etcd: &Path, opts: &EtcdOptions) -> Result<()> {
        let [client, peer, metrics] = self.ports;
        let peer_url = format!("http://127.0.0.1:{peer}");
        let scheme = if opts.tls_metrics { "https" } else { "http" };
        let mut args = vec![
            "--name=member".to_owned(),
            format!("--data-dir={}", self.dir.join("data").display()),
            format!("--listen-client-urls={}", self.client_url),
            format!("--advertise-client-urls={}", self.client_url),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=member={peer_url}"),
            format!("--listen-metrics-urls={scheme}://127.0.0.1:{metrics}"),
            "--log-level=warn".to_owned(),
        ];
        if opts.tls_metrics {
            let (cert, key) = (self.dir.join("pki/etcd-server.crt"), self.dir.join("pki/etcd-server.key"));
            if !cert.exists() {
                certs::sign(
                    &self.certs,
                    "/CN=etcd",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
                    &key,
                    &cert,
                )?;
            }
            // The metrics listener uses etcd's client TLS settings.
            args.push(format!("--cert-file={}", cert.display()));
            args.push(format!("--key-file={}", key.display()));
            args.push(format!("--trusted-ca-file={}", self.certs.ca_cert.display()));
            args.push("--client-cert-auth=true".to_owned());
            // Keep the client port plain for the load generator: a separate listener would need TLS.
            args.retain(|a| !a.starts_with("--listen-client-urls") && !a.starts_with("--advertise-client-urls"));
            args.push(format!("--listen-client-urls=http://127.0.0.1:{client}"));
            args.push(format!("--advertise-client-urls=http://127.0.0.1:{client}"));
        }
        let log = self.dir.join("etcd.log");
        let (program, args) = command(etcd, args, opts.fsync_delay);
        self.proc = Some(Guarded::spawn("etcd", &program, &args, &log)?);
        self.wait_ready(Duration::from_secs(60))
    }

    fn wait_ready(&self, limit: Duration) -> Result<()> {
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            if self.put("continuum/ready", "1").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = self.dir.join("etcd.log");
        Err(Error::NotReady { component: "etcd", seconds: limit.as_secs(), tail: crate::error::tail(&log, 30), log })
    }

    /// One write through etcd's JSON gateway (`/v3/kv/put`); it fsyncs the WAL.
    pub fn put(&self, key: &str, value: &str) -> Result<()> {
        put_at(self.ports[0], key, value)
    }

    /// Process id of etcd (or of strace wrapping it).
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Guarded::pid)
    }
}

fn put_at(port: u16, key: &str, value: &str) -> Result<()> {
    {
        let body =
            format!("{{\"key\":\"{}\",\"value\":\"{}\"}}", BASE64_STANDARD.encode(key), BASE64_STANDARD.encode(value));
        let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(io("connecting to etcd"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(io("setting a timeout"))?;
        write!(stream, "POST /v3/kv/put HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .map_err(io("writing to etcd"))?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(io("reading from etcd"))?;
        if response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(Error::Io {
                what: format!("etcd put answered {}", response.lines().next().unwrap_or("nothing")),
                source: std::io::Error::other("put failed"),
            })
        }
    }
}

/// Writes in the background (one put every `every`) until dropped.
#[derive(Debug)]
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Load {
    pub fn start(client_url: &str, every: Duration) -> Self {
        let port: u16 = client_url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if put_at(port, &format!("load/{}", n % 100), "x").is_ok() {
                    n += 1;
                }
                std::thread::sleep(every);
            }
            n
        });
        Self { stop, thread: Some(thread) }
    }

    /// Stops and returns the number of successful writes.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or(0)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The command that runs etcd with `args`, under strace delaying every fsync/fdatasync by `delay`
/// when given: a real slow disk, as the kernel sees it from etcd's side.
pub(crate) fn command(etcd: &Path, args: Vec<String>, delay: Option<Duration>) -> (std::path::PathBuf, Vec<String>) {
    match delay {
        None => (etcd.to_owned(), args),
        Some(delay) => {
            let mut strace = vec![
                "-f".to_owned(),
                "-qq".to_owned(),
                "-o".to_owned(),
                "/dev/null".to_owned(),
                "-e".to_owned(),
                "trace=fdatasync,fsync".to_owned(),
                "-e".to_owned(),
                format!("inject=fdatasync,fsync:delay_enter={}", delay.as_micros()),
                etcd.display().to_string(),
            ];
            strace.extend(args);
            ("strace".into(), strace)
        }
    }
}
