//! `continuum-testenv build` builds (once) and prints the control-plane binaries;
//! `continuum-testenv up [--crds DIR]` starts a control plane, prints its kubeconfig and keeps it
//! running until Ctrl-C or until stdin closes.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(),
        Some("up") => up(&args[1..]),
        _ => {
            eprintln!("usage: continuum-testenv build | up [--crds DIR]");
            return ExitCode::from(2);
        }
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
    println!("etcd={}\nkube-apiserver={}\nkubectl={}", bins.etcd.display(), bins.kube_apiserver.display(), bins.kubectl.display());
    Ok(())
}

fn up(args: &[String]) -> continuum_testenv::Result<()> {
    let cp = continuum_testenv::ControlPlane::start()?;
    if let Some(i) = args.iter().position(|a| a == "--crds") {
        if let Some(dir) = args.get(i + 1) {
            cp.apply_crds(&PathBuf::from(dir))?;
        }
    }
    println!("kubeconfig={}", cp.kubeconfig.display());
    println!("server={}", cp.server);
    println!("kubectl={}", cp.binaries.kubectl.display());
    eprintln!("continuum-testenv: control plane ready in {:.1}s; close stdin or press Ctrl-C to stop", cp.start_to_ready.as_secs_f64());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    cp.stop();
    Ok(())
}
