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
    /// Server-side-apply the CRDs into an API server (the karmada-apiserver) and wait until they
    /// are established.
    InstallCrds(InstallCrdsArgs),
    /// Print the version of the operator and of the API it serves.
    Version,
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
    /// Kubeconfig of the control-plane API server: where the CRs, Deployment templates and
    /// ResourceBindings live (the karmada-apiserver on Karmada).
    /// Default: in-cluster service account, else $KUBECONFIG / ~/.kube/config.
    #[arg(long, env = "CONTINUUM_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig of the host cluster the operator runs in: its Lease, and the pods and Events
    /// that EtcdHealth correlates (karmada-system). Default: in-cluster when running in a pod,
    /// else the control-plane API server.
    #[arg(long, env = "CONTINUUM_HOST_KUBECONFIG")]
    pub host_kubeconfig: Option<PathBuf>,
    /// Wait at most this many seconds for the CRDs to be established before failing.
    #[arg(long, env = "CONTINUUM_CRD_WAIT_SECONDS", default_value_t = 60)]
    pub crd_wait_seconds: u64,
    /// Address of the /metrics, /healthz and /readyz endpoint.
    #[arg(long, env = "CONTINUUM_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: std::net::SocketAddr,
    /// Telemetry and etcd URLs the operator may contact, as patterns such as
    /// `https://prometheus.monitoring.svc:9090/*` or `http://*.karmada-system.svc:2381/metrics`
    /// (`*` in the host matches within the host name, in the path any characters; no port
    /// means the scheme's default). Repeat the flag, or separate with commas in the env var.
    /// None given: every URL is allowed.
    #[arg(long = "allowed-url", env = "CONTINUUM_ALLOWED_URLS", value_delimiter = ',', value_name = "PATTERN")]
    pub allowed_urls: Vec<String>,
    /// Reconciles each controller (OffloadPolicy, EtcdHealth) runs at once; 0 means no bound.
    #[arg(long, env = "CONTINUUM_MAX_CONCURRENT_RECONCILES", default_value_t = 16)]
    pub max_concurrent_reconciles: u16,
    #[command(flatten)]
    pub leader: LeaderArgs,
}

#[derive(Debug, Clone, Args)]
pub struct LeaderArgs {
    /// Elect a leader through a Lease in the host cluster; only the leader runs the controllers.
    #[arg(long, env = "CONTINUUM_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, env = "CONTINUUM_LEASE_NAME", default_value = "continuum-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (in a pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// How long a leader's Lease stays valid without renewal; a standby takes over after it.
    #[arg(long, env = "CONTINUUM_LEASE_DURATION", default_value = "15s")]
    pub lease_duration: kube::core::Duration,
    /// A leader that has not renewed for this long stops its controllers and exits (shorter than
    /// the lease duration, so it stops before anyone else can start).
    #[arg(long, env = "CONTINUUM_RENEW_DEADLINE", default_value = "10s")]
    pub renew_deadline: kube::core::Duration,
    /// Time between renewals, and between attempts of a standby.
    #[arg(long, env = "CONTINUUM_RETRY_PERIOD", default_value = "2s")]
    pub retry_period: kube::core::Duration,
    /// Identity in the Lease. Default: the pod name, else the host name and process id.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

#[derive(Debug, Args)]
pub struct InstallCrdsArgs {
    /// Kubeconfig of the API server to register the CRDs in (default: in-cluster, else
    /// $KUBECONFIG / ~/.kube/config).
    #[arg(long, env = "CONTINUUM_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Wait at most this many seconds for the CRDs to be established.
    #[arg(long, default_value_t = 60)]
    pub wait_seconds: u64,
}

#[derive(Debug, Args)]
pub struct CheckEtcdArgs {
    /// Metrics URL of an etcd member, e.g. http://127.0.0.1:2381/metrics (repeat for each member).
    #[arg(long = "url", required = true, env = "CONTINUUM_ETCD_URLS", value_delimiter = ',')]
    pub urls: Vec<String>,
    /// Time between the two scrapes; the quantiles cover this span.
    #[arg(long, env = "CONTINUUM_CHECK_DURATION", default_value = "30s")]
    pub duration: kube::core::Duration,
    /// PEM CA bundle for https URLs.
    #[arg(long, env = "CONTINUUM_ETCD_CACERT")]
    pub cacert: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    #[arg(long, requires = "key", env = "CONTINUUM_ETCD_CERT")]
    pub cert: Option<PathBuf>,
    /// PEM key of the client certificate.
    #[arg(long, requires = "cert", env = "CONTINUUM_ETCD_KEY")]
    pub key: Option<PathBuf>,
    /// Do not verify the server certificate (tests only).
    #[arg(long, env = "CONTINUUM_ETCD_INSECURE_SKIP_VERIFY")]
    pub insecure_skip_verify: bool,
    /// p99 WAL fsync latency above which the disk is slow.
    #[arg(long, env = "CONTINUUM_WAL_FSYNC_THRESHOLD", default_value = "100ms")]
    pub wal_fsync_threshold: kube::core::Duration,
    /// p99 backend commit latency above which the disk is slow.
    #[arg(long, env = "CONTINUUM_BACKEND_COMMIT_THRESHOLD", default_value = "100ms")]
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
