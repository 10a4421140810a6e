//! `continuum-sim`: the simulated edge workload as processes.
//!
//! ```text
//! continuum-sim agent --name raspberrypi --latency 0.075 [--port N]
//! continuum-sim detector [--metrics-port N] [--ramp 0:1,20:4,60:4,70:1]
//!     (--endpoint tcp://HOST:PORT | --follow-pods KUBECONFIG --namespace NS --app NAME [--var VAR])
//! ```
//! Each prints the port it listens on and runs until killed.

use std::collections::HashMap;
use std::process::ExitCode;

use continuum_testenv::detector::{Detector, EndpointSource, ProfileAgent, Ramp};

fn flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag.strip_prefix("--").ok_or_else(|| format!("unexpected argument {flag}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        map.insert(name.to_owned(), value.clone());
    }
    Ok(map)
}

fn port(f: &HashMap<String, String>, name: &str) -> Result<u16, String> {
    f.get(name).map_or(Ok(0), |p| p.parse().map_err(|_| format!("--{name}: not a port: {p}")))
}

fn run(args: &[String]) -> Result<(), String> {
    let (cmd, rest) = args.split_first().ok_or("usage: continuum-sim agent|detector [flags]")?;
    let f = flags(rest)?;
    match cmd.as_str() {
        "agent" => {
            let name = f.get("name").ok_or("--name is required")?;
            let latency: f64 =
                f.get("latency").ok_or("--latency is required")?.parse().map_err(|_| "--latency: seconds")?;
            let agent = ProfileAgent::start(name, latency, port(&f, "port")?).map_err(|e| e.to_string())?;
            println!("{}", agent.port);
            loop {
                std::thread::park();
            }
        }
        "detector" => {
            let ramp = Ramp::parse(f.get("ramp").map_or("0:1", String::as_str))?;
            let source = match (f.get("endpoint"), f.get("follow-pods")) {
                (Some(e), None) => EndpointSource::Fixed(e.clone()),
                (None, Some(kubeconfig)) => EndpointSource::Pods {
                    kubectl: f.get("kubectl").map_or_else(|| "kubectl".into(), Into::into),
                    kubeconfig: kubeconfig.into(),
                    namespace: f.get("namespace").cloned().unwrap_or_else(|| "default".into()),
                    app: f.get("app").cloned().unwrap_or_else(|| "detector".into()),
                    var: f.get("var").cloned().unwrap_or_else(|| "VACCEL_RPC_ADDRESS".into()),
                },
                _ => return Err("give exactly one of --endpoint and --follow-pods".into()),
            };
            let detector = Detector::start(source, ramp, port(&f, "metrics-port")?).map_err(|e| e.to_string())?;
            println!("{}", detector.port);
            loop {
                std::thread::park();
            }
        }
        other => Err(format!("unknown command {other}: agent or detector")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("continuum-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
