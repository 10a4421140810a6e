//! `continuum-sim`: the simulated edge workload as processes.
//!
//! ```text
//! continuum-sim agent --name raspberrypi --latency 0.075 [--port N]
//! continuum-sim detector [--metrics-port N] [--ramp 0:1,20:4,60:4,70:1]
//!     (--endpoint tcp://HOST:PORT | --follow-pods KUBECONFIG [--namespace NS] [--app NAME] [--var VAR])
//! ```
//! Each prints the port it listens on and runs until killed.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use continuum_demo::detector::{Detector, EndpointSource, ProfileAgent, Ramp};

#[derive(Debug, Parser)]
#[command(name = "continuum-sim", about = "The simulated detector and vAccel agents, as processes")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// A vAccel agent stand-in that tells every connection its inference latency.
    Agent {
        /// Its name (the detector reports it, e.g. raspberrypi).
        #[arg(long)]
        name: String,
        /// Inference latency at load 1, seconds.
        #[arg(long)]
        latency: f64,
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// The object detector on the Pi, exporting detector_fps, detector_inference_latency_seconds
    /// and the Pi-side load pi_load on /metrics.
    Detector(DetectorArgs),
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["endpoint", "follow_pods"]))]
struct DetectorArgs {
    /// Port of /metrics on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    metrics_port: u16,
    /// Load on the Pi over time, seconds:load points; the last point holds for good
    /// (0:1,8:1,16:4 keeps the Pi overloaded).
    #[arg(long, default_value = "0:1")]
    ramp: String,
    /// A fixed agent address.
    #[arg(long, value_name = "tcp://HOST:PORT")]
    endpoint: Option<String>,
    /// Follow the newest Ready pod of a Deployment in the cluster of this kubeconfig.
    #[arg(long, value_name = "KUBECONFIG")]
    follow_pods: Option<PathBuf>,
    #[arg(long, default_value = "kubectl")]
    kubectl: PathBuf,
    #[arg(long, default_value = "default")]
    namespace: String,
    /// The pods' `app` label.
    #[arg(long, default_value = "detector")]
    app: String,
    /// The pods' env var holding the agent address.
    #[arg(long, default_value = "VACCEL_RPC_ADDRESS")]
    var: String,
}

fn run(command: Cmd) -> Result<Infallible, String> {
    match command {
        Cmd::Agent { name, latency, port } => {
            let agent = ProfileAgent::start(&name, latency, port).map_err(|e| e.to_string())?;
            serve(agent.port, agent)
        }
        Cmd::Detector(args) => {
            let ramp = Ramp::parse(&args.ramp)?;
            let source = match (args.endpoint, args.follow_pods) {
                (Some(endpoint), _) => EndpointSource::Fixed(endpoint),
                (None, Some(kubeconfig)) => EndpointSource::Pods {
                    kubectl: args.kubectl,
                    kubeconfig,
                    namespace: args.namespace,
                    app: args.app,
                    var: args.var,
                },
                (None, None) => return Err("give --endpoint or --follow-pods".into()),
            };
            let detector = Detector::start(source, ramp, args.metrics_port).map_err(|e| e.to_string())?;
            serve(detector.port, detector)
        }
    }
}

/// Prints the port and keeps `running` alive until the process is killed.
fn serve<T>(port: u16, running: T) -> ! {
    println!("{port}");
    let _running = running;
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    let Err(e) = run(Cli::parse().command);
    eprintln!("continuum-sim: {e}");
    ExitCode::FAILURE
}
