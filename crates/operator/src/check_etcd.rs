//! `check-etcd`: scrape etcd members twice, print their p99s and the verdict with the fix.
//! Needs no cluster. Exit status: 0 healthy, 2 slow disk, 1 could not judge.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use continuum_policy::etcd::{Evaluation, Level, MemberReading, State, Thresholds, Tri, evaluate};
use continuum_policy::format;
use continuum_telemetry::etcd::EtcdSnapshot;
use continuum_telemetry::exposition::ParseError;
use continuum_telemetry::fetch::{FetchError, Fetcher, TlsMaterial};

use crate::cli::CheckEtcdArgs;
use crate::etcd::member::{self, MemberHistory};

/// Why a check could not be made (exit status 1), or why one member could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("not a metrics page: {0}")]
    NotMetrics(#[source] ParseError),
}

fn read(path: &Option<PathBuf>) -> Result<Option<Vec<u8>>, Error> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| Error::Read { path: p.to_owned(), source });
    path.as_deref().map(read).transpose()
}

fn member_name(url: &str) -> String {
    url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or(url).to_owned()
}

async fn scrape(fetcher: &Fetcher, url: &str) -> Result<EtcdSnapshot, Error> {
    let page = fetcher.get(url, &[]).await?;
    let now = k8s_openapi::jiff::Timestamp::now().as_millisecond();
    EtcdSnapshot::parse(&page, now).map_err(Error::NotMetrics)
}

pub async fn main(args: CheckEtcdArgs) -> ExitCode {
    match check(args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("check-etcd: {err}");
            ExitCode::from(1)
        }
    }
}

async fn check(args: CheckEtcdArgs) -> Result<ExitCode, Error> {
    let tls = TlsMaterial {
        ca_pem: read(&args.cacert)?,
        client_cert_pem: read(&args.cert)?,
        client_key_pem: read(&args.key)?,
        insecure_skip_verify: args.insecure_skip_verify,
    };
    let fetcher = Fetcher::new(&tls, Duration::from_secs(10))?;
    let span = Duration::from(args.duration);
    let histories = scrape_twice(&fetcher, &args.urls, span).await;
    let t = thresholds(&args, span);
    let readings = print_members(&t, &histories);
    let now = k8s_openapi::jiff::Timestamp::now().as_millisecond();
    let e = evaluate(&t, &State::default(), &readings, &[], now);
    print_verdict(&e);
    Ok(match (e.slow_disk.status, e.level) {
        (Tri::True, _) | (_, Level::Slow | Level::Critical) => ExitCode::from(2),
        (Tri::Unknown, _) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// Each member scraped now and again after `span`: quantiles need two scrapes.
async fn scrape_twice(fetcher: &Fetcher, urls: &[String], span: Duration) -> Vec<(String, MemberHistory)> {
    let mut histories: Vec<(String, MemberHistory)> =
        urls.iter().map(|u| (member_name(u), MemberHistory::default())).collect();
    let window_ms = span.as_millis() as i64 + 60_000;
    for round in 0..2 {
        if round == 1 {
            eprintln!("check-etcd: waiting {} between the two scrapes…", format::span(span.as_secs()));
            tokio::time::sleep(span).await;
        }
        for ((_, history), url) in histories.iter_mut().zip(urls) {
            match scrape(fetcher, url).await {
                Ok(snap) => history.push(snap, window_ms),
                Err(err) => history.last_error = Some(err.to_string()),
            }
        }
    }
    histories
}

/// The command line's thresholds; the rest as the EtcdHealth defaults, judged at once (no `for`).
fn thresholds(args: &CheckEtcdArgs, span: Duration) -> Thresholds {
    let secs = |d: &kube::core::Duration| Duration::from(*d).as_secs_f64();
    Thresholds {
        wal_fsync_p99: secs(&args.wal_fsync_threshold),
        backend_commit_p99: secs(&args.backend_commit_threshold),
        advisory_wal_fsync_p99: 0.01,
        advisory_backend_commit_p99: 0.025,
        critical: 1.0,
        leader_changes: 3.0,
        for_ms: 0,
        window_ms: span.as_millis() as i64,
    }
}

/// Prints one row per member (and its error, if any); returns the members' readings.
fn print_members(t: &Thresholds, histories: &[(String, MemberHistory)]) -> Vec<MemberReading> {
    let mut readings = Vec::new();
    println!(
        "{:<24} {:<8} {:>10} {:>16} {:>11} {:>16} {:>8} {:>7}",
        "MEMBER", "VERSION", "WAL-P99", "WAL-BUCKET", "COMMIT-P99", "COMMIT-BUCKET", "FSYNCS", "LEADER"
    );
    for (name, history) in histories {
        let figures = history.figures(t.wal_fsync_p99);
        let status = member::status(name, name, history, figures.as_ref());
        let show = |v: Option<f64>| v.map_or("-".to_owned(), format::seconds);
        println!(
            "{:<24} {:<8} {:>10} {:>16} {:>11} {:>16} {:>8} {:>7}",
            name,
            status.version.as_deref().unwrap_or("-"),
            show(status.wal_fsync_p99_seconds),
            status.wal_fsync_p99_bucket.as_deref().unwrap_or("-"),
            show(status.backend_commit_p99_seconds),
            status.backend_commit_p99_bucket.as_deref().unwrap_or("-"),
            status.wal_fsyncs.map_or("-".to_owned(), |n| n.to_string()),
            status.has_leader.map_or("-", |b| if b { "yes" } else { "NO" }),
        );
        if let Some(err) = &history.last_error {
            println!("  error: {err}");
        }
        readings.push(member::reading(name, history, figures.as_ref()));
    }
    readings
}

fn print_verdict(e: &Evaluation) {
    println!("\nSlowDisk={} ({}): {}", e.slow_disk.status.as_str(), e.slow_disk.reason, e.slow_disk.message);
    println!(
        "LeaderUnstable={} ({}): {}",
        e.leader_unstable.status.as_str(),
        e.leader_unstable.reason,
        e.leader_unstable.message
    );
}
