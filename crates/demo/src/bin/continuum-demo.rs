//! `continuum-demo`: the edge scene, narrated (see `continuum_demo::scene`).
//!
//! ```text
//! continuum-demo [--operator PATH] [--repo DIR] [--mode env|service] [--svg PATH] [--keep]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use continuum_demo::scene::{self, Actuation, EdgeScene, Options, Report};

#[derive(Debug, Parser)]
#[command(
    name = "continuum-demo",
    about = "The edge scene: the Pi falls behind, the Jetson takes over, a slow disk is named"
)]
struct Cli {
    /// The continuum-operator binary [default: continuum-operator next to this program].
    #[arg(long, value_name = "PATH")]
    operator: Option<PathBuf>,
    /// The repository (its deploy/crds and Helm chart are used).
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
    /// How the operator switches the backend.
    #[arg(long, value_enum, default_value_t = Mode::Env)]
    mode: Mode,
    /// Where to write the SVG timeline [default: REPO/target/demo-timeline.svg].
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// Leave everything running until Ctrl-C and print the kubeconfigs.
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Set VACCEL_RPC_ADDRESS in the Deployment: a rollout per switch.
    Env,
    /// Switch the selector of the Service the detector talks to: no new pod.
    Service,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(operator) = cli.operator.clone().or_else(sibling_operator) else {
        eprintln!("continuum-demo: no continuum-operator next to this program; build it or pass --operator PATH");
        return ExitCode::from(2);
    };
    let opts = Options {
        operator,
        svg: Some(cli.svg.clone().unwrap_or_else(|| scene::default_svg(&cli.repo))),
        repo: cli.repo.clone(),
        narrate: true,
        actuation: match cli.mode {
            Mode::Env => Actuation::Env,
            Mode::Service => Actuation::Service,
        },
    };
    match scene::run(&opts) {
        Ok((report, running)) => {
            summary(&report);
            if cli.keep {
                keep(&running);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("\ncontinuum-demo: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `continuum-operator` in this program's directory (both are built into the same target dir).
fn sibling_operator() -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join("continuum-operator");
    path.is_file().then_some(path)
}

fn summary(report: &Report) {
    eprintln!(
        "\ncontinuum start {:.1}s; offload {:.1}s after the workload started; real time again at {:.1}s; recovered at {:.1}s; SlowDisk flagged {:.1}s after the slow restart",
        report.continuum_start,
        report.offloaded_at.unwrap_or(f64::NAN),
        report.realtime_at.unwrap_or(f64::NAN),
        report.recovered_at.unwrap_or(f64::NAN),
        report.slow_disk_after.unwrap_or(f64::NAN),
    );
}

/// Parks until Ctrl-C; everything stops with the process.
fn keep(running: &EdgeScene) -> ! {
    eprintln!(
        "kept running (Ctrl-C stops everything):\n  edge cluster: kubectl --kubeconfig {}\n  host plane:   kubectl --kubeconfig {}\n  Prometheus:   {}\n  detector:     http://127.0.0.1:{}/metrics\n  vAccel agents: Pi {}, Jetson {}",
        running.edge.cp.kubeconfig.display(),
        running.host.kubeconfig.display(),
        running.prometheus.url,
        running.detector.port,
        running.pi.endpoint(),
        running.jetson.endpoint(),
    );
    loop {
        std::thread::park();
    }
}
