//! `continuum-testenv build` builds (once) and prints the control-plane binaries;
//! `continuum-testenv up` starts a control plane, applies CRDs and manifests, prints its
//! kubeconfig, then runs a command (with KUBECONFIG set) or waits until Ctrl-C or until stdin
//! closes; `continuum-testenv bench [RUNS]` prints the median start-to-ready time of a control
//! plane with cached binaries. The edge demo is `continuum-demo` (crate `continuum-demo`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "continuum-testenv", about = "A real etcd + kube-apiserver from Go modules, for tests")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build (first run) and print the cached control-plane, helm and edge binaries.
    Build,
    /// Start a control plane and keep it until the command exits, stdin closes or Ctrl-C.
    Up(UpArgs),
    /// Median start-to-ready time of a control plane with cached binaries.
    Bench {
        /// How many control planes to start, one after another.
        #[arg(default_value_t = 5)]
        runs: usize,
    },
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Apply the CRDs in DIR and wait until they are Established.
    #[arg(long, value_name = "DIR")]
    crds: Option<PathBuf>,
    /// Namespace for --apply, --validate and --watch-own-etcd (created if missing).
    #[arg(long, value_name = "NS", default_value = "default")]
    namespace: String,
    /// Apply every manifest in DIR (server-side apply).
    #[arg(long, value_name = "DIR")]
    apply: Option<PathBuf>,
    /// Check every manifest in DIR against the API server's admission (server-side dry run).
    #[arg(long, value_name = "DIR")]
    validate: Option<PathBuf>,
    /// Create an EtcdHealth for the control plane's own etcd.
    #[arg(long)]
    watch_own_etcd: bool,
    /// Run this command (after `--`) with KUBECONFIG set, then stop.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Build => build(),
        Cmd::Up(args) => up(&args),
        Cmd::Bench { runs } => bench(runs),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("continuum-testenv: {err}");
            ExitCode::FAILURE
        }
    }
}

fn build() -> continuum_testenv::Result<()> {
    let bins = continuum_testenv::gobuild::ensure()?;
    let helm = continuum_testenv::gobuild::helm()?;
    let edge = continuum_testenv::gobuild::edge()?;
    println!(
        "etcd={}\nkube-apiserver={}\nkubectl={}\nhelm={}\nkube-controller-manager={}\nkube-scheduler={}\nkwok={}",
        bins.etcd.display(),
        bins.kube_apiserver.display(),
        bins.kubectl.display(),
        helm.display(),
        edge.kube_controller_manager.display(),
        edge.kube_scheduler.display(),
        edge.kwok.display()
    );
    Ok(())
}

fn up(args: &UpArgs) -> continuum_testenv::Result<()> {
    let cp = continuum_testenv::ControlPlane::start()?;
    if let Some(dir) = &args.crds {
        cp.apply_crds(dir)?;
        eprintln!("continuum-testenv: CRDs from {} applied and Established", dir.display());
    }
    let ns = args.namespace.as_str();
    if let Some(dir) = &args.apply {
        apply_dir(&cp, dir, ns, false)?;
    }
    if let Some(dir) = &args.validate {
        apply_dir(&cp, dir, ns, true)?;
        eprintln!(
            "continuum-testenv: every manifest in {} passed the API server's admission (server-side dry run)",
            dir.display()
        );
    }
    if args.watch_own_etcd {
        watch_own_etcd(&cp, ns)?;
    }
    println!("kubeconfig={}", cp.kubeconfig.display());
    println!("server={}", cp.server);
    println!("etcd_metrics={}", cp.etcd_metrics_url);
    println!("kubectl={}", cp.binaries.kubectl.display());
    eprintln!(
        "continuum-testenv: control plane ready in {:.1}s. Try:\n  {} --kubeconfig {} get offloadpolicies,etcdhealths -A",
        cp.start_to_ready.as_secs_f64(),
        cp.binaries.kubectl.display(),
        cp.kubeconfig.display()
    );
    hold(&cp, &args.command)?;
    cp.stop();
    Ok(())
}

/// Runs `command` with KUBECONFIG set until it exits, or (no command) waits until stdin closes.
fn hold(cp: &continuum_testenv::ControlPlane, command: &[String]) -> continuum_testenv::Result<()> {
    let Some((program, rest)) = command.split_first() else {
        eprintln!("continuum-testenv: close stdin (Ctrl-D) or press Ctrl-C to stop");
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        return Ok(());
    };
    eprintln!("continuum-testenv: running {program} until it exits (Ctrl-C stops everything)");
    let status = std::process::Command::new(program)
        .args(rest)
        .env("KUBECONFIG", &cp.kubeconfig)
        .status()
        .map_err(|source| continuum_testenv::Error::Io { what: format!("running {program}"), source })?;
    eprintln!("continuum-testenv: {program} exited ({status}); stopping the control plane");
    Ok(())
}

/// An EtcdHealth for the control plane's own etcd, so the demo shows real figures.
fn watch_own_etcd(cp: &continuum_testenv::ControlPlane, ns: &str) -> continuum_testenv::Result<()> {
    let yaml = format!(
        "apiVersion: continuum.dev/v1alpha1\nkind: EtcdHealth\nmetadata:\n  name: control-plane-etcd\nspec:\n  endpoints:\n  - name: etcd-0\n    metricsUrl: {}\n  interval: 5s\n  window: 1m\n  for: 30s\n",
        cp.etcd_metrics_url
    );
    let path = cp.dir.join("control-plane-etcd.yaml");
    std::fs::write(&path, yaml)
        .map_err(|source| continuum_testenv::Error::Io { what: "writing an EtcdHealth".into(), source })?;
    apply_dir(cp, &path, ns, false)
}

fn apply_dir(
    cp: &continuum_testenv::ControlPlane,
    dir: &Path,
    ns: &str,
    dry_run: bool,
) -> continuum_testenv::Result<()> {
    let dir = dir.display().to_string();
    let out = cp.kubectl_output(&["create", "namespace", ns])?;
    if !out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("AlreadyExists") {
        eprintln!("continuum-testenv: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let mode = if dry_run { "--dry-run=server" } else { "--dry-run=none" };
    let out = cp.kubectl_output(&["apply", "--server-side", mode, "-n", ns, "-f", &dir])?;
    eprint!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(())
    } else {
        Err(continuum_testenv::Error::Command {
            command: format!("kubectl apply -n {ns} -f {dir}"),
            status: out.status.to_string(),
            log: PathBuf::from("(stderr)"),
            tail: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn bench(runs: usize) -> continuum_testenv::Result<()> {
    continuum_testenv::gobuild::ensure()?;
    let mut secs = Vec::with_capacity(runs);
    for run in 1..=runs.max(1) {
        let cp = continuum_testenv::ControlPlane::start()?;
        let s = cp.start_to_ready.as_secs_f64();
        eprintln!("run {run}: start-to-ready {s:.2}s");
        secs.push(s);
        cp.stop();
    }
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!(
        "control plane (etcd {} + kube-apiserver {}) start-to-ready over {} runs: median {median:.2}s, min {:.2}s, max {:.2}s ({cpus} CPUs)",
        continuum_testenv::versions::etcd(),
        continuum_testenv::versions::kubernetes(),
        secs.len(),
        secs[0],
        secs[secs.len() - 1]
    );
    Ok(())
}
