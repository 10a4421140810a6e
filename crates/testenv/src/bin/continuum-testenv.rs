//! `continuum-testenv build` builds (once) and prints the control-plane binaries;
//! `continuum-testenv up [--crds DIR] [--namespace NS] [--apply DIR] [--validate DIR] [--watch-own-etcd]
//! [-- CMD ARGS..]` starts a
//! control plane, applies CRDs and manifests, prints its kubeconfig, then runs CMD (with
//! KUBECONFIG set) or waits until Ctrl-C or until stdin closes; `continuum-testenv bench [RUNS]` prints the
//! median start-to-ready time of a control plane with cached binaries; `continuum-testenv demo
//! --operator PATH [--repo DIR] [--keep]` plays the edge scene (see `continuum_testenv::scene`).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(),
        Some("up") => up(&args[1..]),
        Some("bench") => bench(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5)),
        Some("demo") => return demo(&args[1..]),
        _ => {
            eprintln!(
                "usage: continuum-testenv build | up [--crds DIR] [--namespace NS] [--apply DIR] [--validate DIR] [--watch-own-etcd] [-- CMD ARGS..] | bench [RUNS] | demo --operator PATH [--repo DIR] [--mode env|service] [--keep]"
            );
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

fn up(args: &[String]) -> continuum_testenv::Result<()> {
    let (own, command) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &args[args.len()..]),
    };
    let flag = |name: &str| own.iter().position(|a| a == name).and_then(|i| own.get(i + 1));
    let cp = continuum_testenv::ControlPlane::start()?;
    if let Some(dir) = flag("--crds") {
        cp.apply_crds(&PathBuf::from(dir))?;
        eprintln!("continuum-testenv: CRDs from {dir} applied and Established");
    }
    let ns = flag("--namespace").map_or("default", String::as_str);
    if let Some(dir) = flag("--apply") {
        apply_dir(&cp, dir, ns, false)?;
    }
    if let Some(dir) = flag("--validate") {
        apply_dir(&cp, dir, ns, true)?;
        eprintln!("continuum-testenv: every manifest in {dir} passed the API server's admission (server-side dry run)");
    }
    if own.iter().any(|a| a == "--watch-own-etcd") {
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
    if let Some((program, rest)) = command.split_first() {
        eprintln!("continuum-testenv: running {program} until it exits (Ctrl-C stops everything)");
        let status = std::process::Command::new(program)
            .args(rest)
            .env("KUBECONFIG", &cp.kubeconfig)
            .status()
            .map_err(|source| continuum_testenv::Error::Io { what: format!("running {program}"), source })?;
        eprintln!("continuum-testenv: {program} exited ({status}); stopping the control plane");
    } else {
        eprintln!("continuum-testenv: close stdin (Ctrl-D) or press Ctrl-C to stop");
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    }
    cp.stop();
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
    apply_dir(cp, &path.to_string_lossy(), ns, false)
}

fn apply_dir(
    cp: &continuum_testenv::ControlPlane,
    dir: &str,
    ns: &str,
    dry_run: bool,
) -> continuum_testenv::Result<()> {
    let out = cp.kubectl_output(&["create", "namespace", ns])?;
    if !out.status.success() && !String::from_utf8_lossy(&out.stderr).contains("AlreadyExists") {
        eprintln!("continuum-testenv: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let mode = if dry_run { "--dry-run=server" } else { "--dry-run=none" };
    let out = cp.kubectl_output(&["apply", "--server-side", mode, "-n", ns, "-f", dir])?;
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

/// The edge scene, narrated; `--keep` leaves it running until Ctrl-C.
fn demo(args: &[String]) -> ExitCode {
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let Some(operator) = value("--operator") else {
        eprintln!("usage: continuum-testenv demo --operator PATH [--repo DIR] [--mode env|service] [--keep]");
        return ExitCode::from(2);
    };
    let repo = PathBuf::from(value("--repo").unwrap_or_else(|| ".".into()));
    let opts = continuum_testenv::scene::Options {
        operator: operator.into(),
        svg: Some(continuum_testenv::scene::default_svg(&repo)),
        repo,
        narrate: true,
        actuation: match value("--mode").as_deref() {
            Some("service") => continuum_testenv::scene::Actuation::Service,
            _ => continuum_testenv::scene::Actuation::Env,
        },
    };
    match continuum_testenv::scene::run(&opts) {
        Ok((report, running)) => {
            eprintln!(
                "\ncontinuum start {:.1}s; offload {:.1}s after the workload started; real time again at {:.1}s; recovered at {:.1}s; SlowDisk flagged {:.1}s after the slow restart",
                report.continuum_start,
                report.offloaded_at.unwrap_or(f64::NAN),
                report.realtime_at.unwrap_or(f64::NAN),
                report.recovered_at.unwrap_or(f64::NAN),
                report.slow_disk_after.unwrap_or(f64::NAN),
            );
            if args.iter().any(|a| a == "--keep") {
                eprintln!(
                    "kept running (Ctrl-C stops everything):\n  edge cluster: kubectl --kubeconfig {}\n  host plane:   kubectl --kubeconfig {}\n  Prometheus:   {}",
                    running.edge.cp.kubeconfig.display(),
                    running.host.kubeconfig.display(),
                    running.prometheus.url
                );
                loop {
                    std::thread::park();
                }
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("\ncontinuum-testenv demo: {err}");
            ExitCode::FAILURE
        }
    }
}
