//! A real Prometheus server (Debian's `prometheus` package, or `$CONTINUUM_PROMETHEUS`) scraping
//! given targets, for cross-checks and telemetry tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{Error, Result, io};
use crate::guard::Guarded;

/// Everything but RFC 3986's unreserved characters is encoded in a query parameter's value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[derive(Debug)]
pub struct Prometheus {
    pub dir: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    _proc: Guarded,
    _janitor: Guarded,
}

impl Prometheus {
    /// Starts Prometheus scraping each `host:port/path` target every `interval`.
    pub fn start(targets: &[&str], interval: Duration) -> Result<Self> {
        let binary = std::env::var("CONTINUUM_PROMETHEUS").unwrap_or_else(|_| "prometheus".to_owned());
        let dir = crate::controlplane::make_temp_dir("continuum-prometheus")?;
        let [port] = crate::controlplane::free_ports::<1>()?;
        let secs = interval.as_secs().max(1);
        let mut config = format!("global:\n  scrape_interval: {secs}s\n  scrape_timeout: {secs}s\nscrape_configs:\n");
        for (i, target) in targets.iter().enumerate() {
            let (hostport, path) = target.split_once('/').map_or((*target, "metrics"), |(h, p)| (h, p));
            config.push_str(&format!(
                "- job_name: target{i}\n  metrics_path: /{path}\n  static_configs:\n  - targets: ['{hostport}']\n"
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), config).map_err(io("writing prometheus.yml"))?;
        let janitor = Guarded::janitor(&dir, &[])?;
        let args = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn".to_owned(),
        ];
        let proc = Guarded::spawn("prometheus", Path::new(&binary), &args, &dir.join("prometheus.log"))?;
        let prom = Self { url: format!("http://127.0.0.1:{port}"), port, dir, _proc: proc, _janitor: janitor };
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if prom.get("/-/ready").is_ok_and(|b| b.contains("Ready")) {
                return Ok(prom);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = prom.dir.join("prometheus.log");
        Err(Error::NotReady { component: "prometheus", seconds: 60, tail: crate::error::tail(&log, 30), log })
    }

    /// Instant query at `time` (unix seconds, or now); returns the raw JSON answer.
    pub fn query(&self, promql: &str, time: Option<f64>) -> Result<String> {
        let mut path = format!("/api/v1/query?query={}", utf8_percent_encode(promql, QUERY_VALUE));
        if let Some(t) = time {
            path.push_str(&format!("&time={t:.3}"));
        }
        self.get(&path)
    }

    fn get(&self, path: &str) -> Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(io("connecting to prometheus"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(io("setting a timeout"))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(io("querying prometheus"))?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(io("reading from prometheus"))?;
        Ok(response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
    }
}
