//! Command line: every setting is a flag with an environment variable beside it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "continuum-operator",
    version,
    about = "vAccel offload policies and etcd disk health for Kubernetes and Karmada"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "CONTINUUM_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write them into directories.
    Crd(CrdArgs),
    /// Connect to the cluster, check that the CRDs are established, and run the controllers.
    Run(RunArgs),
    /// One-shot etcd disk diagnosis without a cluster: scrape a member twice and judge.
    CheckEtcd(CheckEtcdArgs),
}

#[derive(Debug, Args)]
pub struct CrdArgs {
    /// Write one file per CRD into each of these directories instead of printing them.
    #[arg(long = "write", value_name = "DIR")]
    pub write: Vec<PathBuf>,
    /// Compare the files in each --write directory with the generated CRDs; fail if they differ.
    #[arg(long, requires = "write")]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Kubeconfig of the control-plane API server (the karmada-apiserver on Karmada).
    /// Default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account.
    #[arg(long, env = "CONTINUUM_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Wait at most this many seconds for the CRDs to be established before failing.
    #[arg(long, env = "CONTINUUM_CRD_WAIT_SECONDS", default_value_t = 60)]
    pub crd_wait_seconds: u64,
    /// Address of the /metrics and /healthz endpoint.
    #[arg(long, env = "CONTINUUM_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CheckEtcdArgs {
    /// Metrics URL of an etcd member, e.g. http://127.0.0.1:2381/metrics (repeat for each member).
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// Time between the two scrapes; the quantiles cover this span.
    #[arg(long, default_value = "30s")]
    pub duration: kube::core::Duration,
    /// PEM CA bundle for https URLs.
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM key of the client certificate.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Do not verify the server certificate (tests only).
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// p99 WAL fsync latency above which the disk is slow.
    #[arg(long, default_value = "100ms")]
    pub wal_fsync_threshold: kube::core::Duration,
    /// p99 backend commit latency above which the disk is slow.
    #[arg(long, default_value = "100ms")]
    pub backend_commit_threshold: kube::core::Duration,
}

/// Logs go to stderr; `RUST_LOG` filters them (default `info`).
pub fn init_tracing(format: &LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
