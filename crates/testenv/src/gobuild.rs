//! Builds the control-plane binaries from Go modules and caches them per version.
//!
//! kube-apiserver cannot be `go install`ed: the k8s.io/kubernetes go.mod replaces every staging
//! module (k8s.io/api, k8s.io/apimachinery, ...) with a local path. A wrapper module requires
//! k8s.io/kubernetes and maps each of those staging modules to its published `v0.X.Y`; the list
//! is read from the proxy's copy of k8s.io/kubernetes's own go.mod, so new staging modules in a
//! later release need no change here.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, io, tail};
use crate::paths;
use crate::versions;

/// Paths of the built binaries.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kubectl: PathBuf,
}

/// Returns the cached binaries, building the missing ones first (once per machine and version).
/// Concurrent callers (parallel test binaries) wait on a file lock instead of building twice.
pub fn ensure() -> Result<Binaries> {
    let (kube, etcd) = (versions::kubernetes(), versions::etcd());
    let bin = paths::cache_dir()?.join("bin");
    let bins = Binaries {
        etcd: bin.join(format!("etcd-{etcd}")).join("etcd"),
        kube_apiserver: bin.join(format!("kubernetes-{kube}")).join("kube-apiserver"),
        kubectl: bin.join(format!("kubernetes-{kube}")).join("kubectl"),
    };
    if [&bins.etcd, &bins.kube_apiserver, &bins.kubectl].iter().all(|p| p.is_file()) {
        return Ok(bins);
    }
    std::fs::create_dir_all(&bin).map_err(io(format!("creating {}", bin.display())))?;
    let lock_path = bin.join(".build.lock");
    let lock = File::create(&lock_path).map_err(io(format!("creating {}", lock_path.display())))?;
    lock.lock().map_err(io("locking the build directory"))?;
    if !bins.etcd.is_file() {
        build_etcd(&etcd, &bins.etcd)?;
    }
    if !bins.kube_apiserver.is_file() || !bins.kubectl.is_file() {
        build_kubernetes(&kube, &bins)?;
    }
    Ok(bins)
}

/// Returns the cached `helm` binary (built from `helm.sh/helm/v3/cmd/helm`), building it first
/// if needed. Kept apart from [`ensure`] so that tests that do not need it never build it.
pub fn helm() -> Result<PathBuf> {
    let version = versions::helm();
    let bin = paths::cache_dir()?.join("bin");
    let out = bin.join(format!("helm-{version}")).join("helm");
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(&bin).map_err(io(format!("creating {}", bin.display())))?;
    let lock_path = bin.join(".build-helm.lock");
    let lock = File::create(&lock_path).map_err(io(format!("creating {}", lock_path.display())))?;
    lock.lock().map_err(io("locking the build directory"))?;
    if !out.is_file() {
        let dir = paths::cache_dir()?.join("build").join(format!("helm-{version}"));
        let go_mod =
            format!("module continuum.dev/controlplane-build/helm\n\ngo 1.26.0\n\nrequire helm.sh/helm/v3 {version}\n");
        write_module(&dir, &go_mod, &["helm.sh/helm/v3/cmd/helm"])?;
        let ldflags = format!("-s -w -X helm.sh/helm/v3/internal/version.version={version}");
        go_build(&dir, "helm.sh/helm/v3/cmd/helm", &ldflags, &out, &format!("helm {version}"))?;
    }
    Ok(out)
}

/// Binaries of an edge member cluster, beyond the control plane's.
#[derive(Clone, Debug)]
pub struct EdgeBinaries {
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kwok: PathBuf,
}

/// Returns kube-controller-manager and kube-scheduler (same Kubernetes release as the control
/// plane) and kwok (`sigs.k8s.io/kwok/cmd/kwok`), building the missing ones first.
pub fn edge() -> Result<EdgeBinaries> {
    let (kube, kwok) = (versions::kubernetes(), versions::kwok());
    let bin = paths::cache_dir()?.join("bin");
    let bins = EdgeBinaries {
        kube_controller_manager: bin.join(format!("kubernetes-{kube}")).join("kube-controller-manager"),
        kube_scheduler: bin.join(format!("kubernetes-{kube}")).join("kube-scheduler"),
        kwok: bin.join(format!("kwok-{kwok}")).join("kwok"),
    };
    if [&bins.kube_controller_manager, &bins.kube_scheduler, &bins.kwok].iter().all(|p| p.is_file()) {
        return Ok(bins);
    }
    std::fs::create_dir_all(&bin).map_err(io(format!("creating {}", bin.display())))?;
    let lock_path = bin.join(".build-edge.lock");
    let lock = File::create(&lock_path).map_err(io(format!("creating {}", lock_path.display())))?;
    lock.lock().map_err(io("locking the build directory"))?;
    if !bins.kube_controller_manager.is_file() || !bins.kube_scheduler.is_file() {
        let dir = paths::cache_dir()?.join("build").join(format!("kubernetes-edge-{kube}"));
        let mains = ["k8s.io/kubernetes/cmd/kube-controller-manager", "k8s.io/kubernetes/cmd/kube-scheduler"];
        let ldflags = kubernetes_module(&kube, &dir, &mains)?;
        go_build(&dir, mains[0], &ldflags, &bins.kube_controller_manager, &format!("kube-controller-manager {kube}"))?;
        go_build(&dir, mains[1], &ldflags, &bins.kube_scheduler, &format!("kube-scheduler {kube}"))?;
    }
    if !bins.kwok.is_file() {
        let dir = paths::cache_dir()?.join("build").join(format!("kwok-{kwok}"));
        let go_mod =
            format!("module continuum.dev/controlplane-build/kwok\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kwok {kwok}\n");
        write_module(&dir, &go_mod, &["sigs.k8s.io/kwok/cmd/kwok"])?;
        go_build(&dir, "sigs.k8s.io/kwok/cmd/kwok", "-s -w", &bins.kwok, &format!("kwok {kwok}"))?;
    }
    Ok(bins)
}

/// Directory of a Go module's source in the module cache (downloaded if needed), e.g. to read the
/// YAML a module ships.
pub fn module_dir(module: &str, version: &str) -> Result<PathBuf> {
    let dir = paths::cache_dir()?.join("build").join("downloads");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let mut cmd = Command::new("go");
    cmd.args(["mod", "download", "-json", &format!("{module}@{version}")]).current_dir(&dir);
    let stdout = run_logged(cmd, &dir.join("download.log"), &format!("go mod download {module}@{version}"))?;
    let json: serde_json::Value = serde_json::from_str(&stdout).map_err(|_| Error::NoGoMod(module.to_owned()))?;
    json["Dir"].as_str().map(PathBuf::from).ok_or_else(|| Error::NoGoMod(module.to_owned()))
}

fn build_etcd(version: &str, out: &Path) -> Result<()> {
    let dir = paths::cache_dir()?.join("build").join(format!("etcd-{version}"));
    let go_mod = format!(
        "module continuum.dev/controlplane-build/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 {version}\n"
    );
    write_module(&dir, &go_mod, &["go.etcd.io/etcd/server/v3"])?;
    let ldflags = format!("-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={version}");
    go_build(&dir, "go.etcd.io/etcd/server/v3", &ldflags, out, &format!("etcd {version}"))
}

fn build_kubernetes(version: &str, bins: &Binaries) -> Result<()> {
    let dir = paths::cache_dir()?.join("build").join(format!("kubernetes-{version}"));
    let mains = ["k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kubectl"];
    let ldflags = kubernetes_module(version, &dir, &mains)?;
    let label = format!("kube-apiserver {version}");
    go_build(&dir, mains[0], &ldflags, &bins.kube_apiserver, &label)?;
    go_build(&dir, mains[1], &ldflags, &bins.kubectl, &format!("kubectl {version}"))
}

/// Writes the wrapper module for `mains` of k8s.io/kubernetes into `dir`; returns the ldflags
/// that stamp the version.
fn kubernetes_module(version: &str, dir: &Path, mains: &[&str]) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let upstream_mod = download_go_mod("k8s.io/kubernetes", version, dir)?;
    let (major, minor, staging_version) = versions::kube_parts(version);
    let replaces: String =
        staging_modules(&upstream_mod).iter().map(|m| format!("\t{m} => {m} {staging_version}\n")).collect();
    let go_mod = format!(
        "module continuum.dev/controlplane-build/kubernetes\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes {version}\n\nreplace (\n{replaces})\n"
    );
    write_module(dir, &go_mod, mains)?;
    let mut ldflags = String::from("-s -w");
    for pkg in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
        for (key, value) in [
            ("gitVersion", version),
            ("gitMajor", major.as_str()),
            ("gitMinor", minor.as_str()),
            ("gitCommit", "0000000000000000000000000000000000000000"),
            ("gitTreeState", "clean"),
            ("buildDate", "1970-01-01T00:00:00Z"),
        ] {
            ldflags.push_str(&format!(" -X {pkg}.{key}={value}"));
        }
    }
    Ok(ldflags)
}

/// Staging modules are the `k8s.io/<name> => ./staging/...` replace lines of k8s.io/kubernetes.
pub fn staging_modules(go_mod: &str) -> Vec<String> {
    go_mod
        .lines()
        .filter_map(|line| {
            let (module, target) = line.trim().split_once("=>")?;
            let module = module.trim();
            let local = target.trim().starts_with("./staging/");
            (local && module.starts_with("k8s.io/")).then(|| module.to_owned())
        })
        .collect()
}

fn download_go_mod(module: &str, version: &str, dir: &Path) -> Result<String> {
    let log = dir.join("download.log");
    let mut cmd = Command::new("go");
    cmd.args(["mod", "download", "-json", &format!("{module}@{version}")]).current_dir(dir);
    let stdout = run_logged(cmd, &log, &format!("go mod download {module}@{version}"))?;
    let json: serde_json::Value = serde_json::from_str(&stdout).map_err(|_| Error::NoGoMod(module.to_owned()))?;
    let path = json["GoMod"].as_str().ok_or_else(|| Error::NoGoMod(module.to_owned()))?;
    std::fs::read_to_string(path).map_err(io(format!("reading {path}")))
}

fn write_module(dir: &Path, go_mod: &str, mains: &[&str]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let imports: String = mains.iter().map(|m| format!("\t_ \"{m}\"\n")).collect();
    let tools = format!("//go:build tools\n\npackage tools\n\nimport (\n{imports})\n");
    std::fs::write(dir.join("go.mod"), go_mod).map_err(io("writing go.mod"))?;
    std::fs::write(dir.join("tools.go"), tools).map_err(io("writing tools.go"))?;
    let _ = std::fs::remove_file(dir.join("go.sum"));
    let mut cmd = Command::new("go");
    cmd.args(["mod", "tidy"]).current_dir(dir);
    run_logged(cmd, &dir.join("tidy.log"), &format!("go mod tidy in {}", dir.display())).map(drop)
}

fn go_build(dir: &Path, package: &str, ldflags: &str, out: &Path, label: &str) -> Result<()> {
    let parent = out.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    let partial = out.with_extension("partial");
    let mut cmd = Command::new("go");
    cmd.args(["build", "-trimpath", "-ldflags", ldflags, "-o"])
        .arg(&partial)
        .arg(package)
        .env("CGO_ENABLED", "0")
        .current_dir(dir);
    let log = dir.join(format!("build-{}.log", label.split(' ').next().unwrap_or("go")));
    eprintln!(
        "continuum-testenv: building {label} from Go modules into {} (first run on this machine; several minutes on 2 cores)",
        parent.display()
    );
    let started = Instant::now();
    let mut next_report = Duration::from_secs(30);
    let mut child = cmd
        .stdout(log_file(&log)?)
        .stderr(log_file(&log)?)
        .spawn()
        .map_err(io("starting `go build` (is Go installed and on PATH?)"))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io("waiting for go build"))? {
            break status;
        }
        if started.elapsed() >= next_report {
            eprintln!("continuum-testenv: still building {label}: {}s elapsed", started.elapsed().as_secs());
            next_report += Duration::from_secs(30);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if !status.success() {
        return Err(Error::Command {
            command: format!("go build {package}"),
            status: status.to_string(),
            tail: tail(&log, 30),
            log,
        });
    }
    std::fs::rename(&partial, out).map_err(io(format!("moving {} into place", out.display())))?;
    eprintln!("continuum-testenv: built {label} in {}s", started.elapsed().as_secs());
    Ok(())
}

fn log_file(path: &Path) -> Result<File> {
    File::options().create(true).append(true).open(path).map_err(io(format!("opening {}", path.display())))
}

/// Runs a command, keeps its stderr in `log`, returns its stdout; fails with the log's tail.
fn run_logged(mut cmd: Command, log: &Path, what: &str) -> Result<String> {
    let output = cmd.stderr(log_file(log)?).output().map_err(io(format!("running {what}")))?;
    if !output.status.success() {
        return Err(Error::Command {
            command: what.to_owned(),
            status: output.status.to_string(),
            log: log.to_owned(),
            tail: tail(log, 30),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_modules_are_read_from_replace_lines() {
        let go_mod = "module k8s.io/kubernetes\n\nrequire (\n\tk8s.io/api v0.0.0\n)\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/kms => ./staging/src/k8s.io/kms\n\tgithub.com/x/y => github.com/x/y v1.0.0\n)\n";
        assert_eq!(staging_modules(go_mod), vec!["k8s.io/api", "k8s.io/kms"]);
    }
}
