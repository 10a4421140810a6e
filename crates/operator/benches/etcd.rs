//! EtcdHealth benchmark on the real control plane (run: `cargo bench -p continuum-operator --bench
//! etcd`): one EtcdHealth over 100 members. One real etcd's `/metrics` page is fetched once and
//! served by 95 local listeners whose disk histograms grow with every scrape (fast fsyncs, or
//! 128-256ms ones on the slow members); 5 members are dead ports. Prints, over at least 5 sweeps
//! after a warm-up: the sweep time (first member request to last member answer, median and max),
//! the stored status size, and the status writes per sweep.
//!
//! `ETCD_BENCH_OPERATOR=/path/to/continuum-operator` measures another build (for example the code
//! before a change) against this tree's CRDs; `ETCD_BENCH_DELAY_MS` delays every member's answer
//! (a remote member's round trip). Default: this crate's binary, no delay.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use continuum_api::EtcdHealth;
use continuum_api::etcd::EtcdEndpoint;
use continuum_testenv::kit::manifest::Fixtures;
use continuum_testenv::kit::{Cluster, Launch};
use continuum_testenv::{ControlPlane, Etcd, EtcdOptions, Load};

const MEMBERS: usize = 100;
/// Members 0..SLOW serve 128-256ms fsyncs.
const SLOW: usize = 5;
/// Members MEMBERS-DEAD.. are ports nothing listens on.
const DEAD: usize = 5;
const INTERVAL: Duration = Duration::from_secs(2);
/// Sweeps measured after the warm-up ones.
const SWEEPS: usize = 6;
/// Sweeps left out first (`ETCD_BENCH_WARM_UP`): until the window (10 sweeps) is full and `for`
/// (3s) has passed, the figures and the verdict still change from sweep to sweep.
fn warm_up() -> usize {
    std::env::var("ETCD_BENCH_WARM_UP").ok().and_then(|v| v.parse().ok()).unwrap_or(14)
}
/// Fsyncs (and commits) added to a page per scrape.
const PER_SCRAPE: u64 = 100;

fn or_panic<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// One real etcd page, fetched once (HTTP/1.0: no chunked body).
fn real_page() -> String {
    let etcd = or_panic(Etcd::start(&EtcdOptions::default()));
    let load = Load::start(&etcd.client_url, Duration::from_millis(10));
    std::thread::sleep(Duration::from_secs(2));
    drop(load);
    let hostport = etcd.metrics_url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
    let mut s = or_panic(TcpStream::connect(&hostport));
    or_panic(write!(s, "GET /metrics HTTP/1.0\r\nHost: {hostport}\r\n\r\n"));
    let mut out = String::new();
    or_panic(s.read_to_string(&mut out));
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default()
}

/// The page with its disk histograms grown by `scrapes` × [`PER_SCRAPE`] observations, all in
/// the first bucket at or above `at` seconds.
fn render(page: &str, scrapes: u64, at: f64) -> String {
    let added = scrapes * PER_SCRAPE;
    let mut out = String::with_capacity(page.len() + 1024);
    for line in page.lines() {
        let disk = ["etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"]
            .iter()
            .find(|h| line.starts_with(*h));
        let Some(h) = disk else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let (head, value) = line.rsplit_once(' ').unwrap_or((line, "0"));
        let value: f64 = value.parse().unwrap_or(0.0);
        let rest = &head[h.len()..];
        let grown = if rest.starts_with("_bucket") {
            let le = head.split("le=\"").nth(1).and_then(|v| v.split('"').next()).unwrap_or("+Inf");
            let le: f64 = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(0.0) };
            value + if le >= at { added as f64 } else { 0.0 }
        } else if rest.starts_with("_count") {
            value + added as f64
        } else {
            value + added as f64 * at * 0.75
        };
        out.push_str(&format!("{head} {grown}\n"));
    }
    out
}

/// When a member's request arrived and when its answer was written.
type Served = Arc<Mutex<Vec<(Instant, Instant)>>>;

/// Serves the page on `listener`, growing it with every scrape.
fn serve(listener: TcpListener, page: Arc<String>, at: f64, delay: Duration, served: Served) {
    let mut scrapes = 0;
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        let mut request = Vec::new();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        scrapes += 1;
        std::thread::sleep(delay);
        let body = render(&page, scrapes, at);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes())).is_ok() {
            served.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((start, Instant::now()));
        }
    }
}

/// The members' URLs: live listeners (the first [`SLOW`] slow), then [`DEAD`] closed ports.
fn members(page: &str, delay: Duration, served: &Served) -> Vec<String> {
    let page = Arc::new(page.to_owned());
    (0..MEMBERS)
        .map(|i| {
            let listener = or_panic(TcpListener::bind("127.0.0.1:0"));
            let port = or_panic(listener.local_addr()).port();
            if i >= MEMBERS - DEAD {
                drop(listener); // nothing listens there any more: connection refused
            } else {
                let (page, served) = (page.clone(), served.clone());
                let at = if i < SLOW { 0.256 } else { 0.002 };
                std::thread::spawn(move || serve(listener, page, at, delay, served));
            }
            format!("http://127.0.0.1:{port}/metrics")
        })
        .collect()
}

fn health(urls: &[String]) -> EtcdHealth {
    let fixtures = Fixtures::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    let mut h: EtcdHealth = or_panic(fixtures.load("etcdhealth.yaml"));
    h.metadata.name = Some("hundred".into());
    h.spec.interval = INTERVAL.into();
    h.spec.window = Duration::from_secs(20).into();
    h.spec.endpoints = urls
        .iter()
        .enumerate()
        .map(|(i, url)| EtcdEndpoint { name: format!("etcd-{i:03}"), metrics_url: url.clone(), tls: None })
        .collect();
    h
}

/// The sweeps seen so far: requests split where none started for half an interval; per sweep
/// (requests answered, first request to last answer).
fn sweeps(served: &Served) -> Vec<(usize, Duration)> {
    let mut all = served.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    all.sort();
    let mut out: Vec<(usize, Instant, Instant)> = Vec::new();
    let mut previous: Option<Instant> = None;
    for (start, end) in all {
        let gap = previous.map(|p| start.saturating_duration_since(p));
        previous = Some(start);
        match out.last_mut() {
            Some((n, _, last)) if gap.is_some_and(|g| g < INTERVAL / 2) => {
                *n += 1;
                *last = (*last).max(end);
            }
            _ => out.push((1, start, end)),
        }
    }
    out.into_iter().map(|(n, first, last)| (n, last - first)).collect()
}

/// What one run measured.
struct Figures {
    sweeps: Vec<Duration>,
    status_bytes: Option<usize>,
    writes: usize,
    refused: bool,
}

/// Waits for the warm-up and measured sweeps, counting status writes (resourceVersion changes)
/// during the measured ones.
fn measure(cluster: &Cluster, served: &Served, op: &continuum_testenv::kit::Operator) -> Figures {
    let healths = cluster.namespaced::<EtcdHealth>("default");
    let limit = Instant::now() + Duration::from_secs(300);
    let warm = warm_up();
    let (mut writes, mut version) = (0, None);
    loop {
        let done = sweeps(served);
        let measuring = done.len() > warm;
        let h = or_panic(healths.get("hundred"));
        let rv = h.metadata.resource_version.clone();
        if measuring && version.is_some() && rv != version {
            writes += 1;
        }
        version = rv;
        // A sweep is complete once the next one started.
        if done.len() > warm + SWEEPS || Instant::now() > limit {
            let measured = done.iter().skip(warm).take(SWEEPS);
            let incomplete = measured.clone().filter(|(n, _)| *n < MEMBERS - DEAD).count();
            if incomplete > 0 {
                println!("  note: {incomplete} measured sweeps answered fewer than {} members", MEMBERS - DEAD);
            }
            let sweeps = measured.map(|(_, d)| *d).collect();
            let status_bytes = h.status.as_ref().map(|s| serde_json::to_vec(s).map_or(0, |v| v.len()));
            let refused = op.log_text().contains("etcdhealths/status failed");
            return Figures { sweeps, status_bytes, writes, refused };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn main() {
    let binary =
        std::env::var("ETCD_BENCH_OPERATOR").unwrap_or_else(|_| env!("CARGO_BIN_EXE_continuum-operator").into());
    let delay =
        Duration::from_millis(std::env::var("ETCD_BENCH_DELAY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(0));
    let page = real_page();
    assert!(page.contains("etcd_disk_wal_fsync_duration_seconds_bucket"), "not an etcd page:\n{page}");
    let cp = or_panic(ControlPlane::start());
    or_panic(cp.apply_crds(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")));
    let cluster = or_panic(Cluster::connect(&cp));
    let served: Served = Arc::default();
    let urls = members(&page, delay, &served);
    let op = or_panic(Launch::run(&binary, &cp.kubeconfig).start(&cp.dir, "bench"));
    or_panic(cluster.namespaced::<EtcdHealth>("default").apply(&health(&urls), "bench"));
    let f = measure(&cluster, &served, &op);
    let mut sorted = f.sweeps.clone();
    sorted.sort();
    let ms = |d: Option<&Duration>| d.map_or("-".to_owned(), |d| format!("{:.0}ms", d.as_secs_f64() * 1000.0));
    let status = match (f.refused, f.status_bytes) {
        (true, _) => "refused (422)".to_owned(),
        (false, Some(b)) => format!("{b} B"),
        (false, None) => "none".to_owned(),
    };
    println!(
        "EtcdHealth over {MEMBERS} members ({SLOW} slow, {DEAD} dead), interval {}s, member delay {delay:?}, operator {binary}",
        INTERVAL.as_secs()
    );
    println!("| sweeps | sweep median | sweep max | status | status writes |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {status} | {} over {} sweeps |",
        sorted.len(),
        ms(sorted.get(sorted.len() / 2)),
        ms(sorted.last()),
        f.writes,
        sorted.len()
    );
}
