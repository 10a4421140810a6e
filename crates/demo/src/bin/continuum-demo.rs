//! `continuum-demo`: the edge scene, narrated (see `continuum_demo::scene`).
//!
//! ```text
//! continuum-demo [--operator PATH] [--repo DIR] [--mode env|service] [--scenario recover|sustained]
//!                [--svg PATH] [--keep]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use continuum_demo::scene::{self, Actuation, EdgeScene, Options, Report, Scenario};

#[derive(Debug, Parser)]
#[command(
    name = "continuum-demo",
    about = "The edge scene: the Pi falls behind, the Jetson takes over; the Pi comes back when its own load drops (or, --scenario sustained, the returns fail and back off); a slow disk is named"
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
    /// What happens on the Pi after the offload.
    #[arg(long, value_enum, default_value_t = Story::Recover)]
    scenario: Story,
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

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Story {
    /// The Pi's load drops; the return is judged on the Pi's own load (pi_load), the trial
    /// holds; then a slow disk under the host plane's etcd.
    Recover,
    /// The Pi stays overloaded; the policy judges the return on the Jetson's fps and latency,
    /// so each return is a trial that fails, the hold doubles, the workload stays on the Jetson.
    Sustained,
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
        scenario: match cli.scenario {
            Story::Recover => Scenario::Recover,
            Story::Sustained => Scenario::Sustained,
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
    let at = |t: Option<f64>| t.map_or("-".to_owned(), |t| format!("{t:.1}s"));
    let end = match report.scenario {
        Scenario::Recover => format!(
            "returned at {} (trial held at {}); SlowDisk flagged {} after the slow restart",
            at(report.recovered_at),
            at(report.trial_held_at),
            at(report.slow_disk_after)
        ),
        Scenario::Sustained => format!(
            "first return at {}; trials failed at {}",
            at(report.recovered_at),
            report.failed_trials_at.iter().map(|t| format!("{t:.1}s")).collect::<Vec<_>>().join(", ")
        ),
    };
    eprintln!(
        "\ncontinuum start {:.1}s; offload at {} after the workload started; real time again at {}; {end}",
        report.continuum_start,
        at(report.offloaded_at),
        at(report.realtime_at),
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
