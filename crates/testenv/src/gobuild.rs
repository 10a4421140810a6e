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
    let bin = bin_dir()?;
    let bins = Binaries {
        etcd: bin.join(format!("etcd-{etcd}")).join("etcd"),
        kube_apiserver: bin.join(format!("kubernetes-{kube}")).join("kube-apiserver"),
        kubectl: bin.join(format!("kubernetes-{kube}")).join("kubectl"),
    };
    cached(".build.lock", &[&bins.etcd], || {
        let ldflags = format!("-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={etcd}");
        build_one("etcd", "go.etcd.io/etcd/server/v3", &etcd, "go.etcd.io/etcd/server/v3", &ldflags, &bins.etcd)
    })?;
    cached(".build.lock", &[&bins.kube_apiserver, &bins.kubectl], || {
        let outputs = [("kube-apiserver", &bins.kube_apiserver), ("kubectl", &bins.kubectl)];
        build_kubernetes(&kube, &format!("kubernetes-{kube}"), &outputs)
    })?;
    Ok(bins)
}

/// Returns the cached `helm` binary (built from `helm.sh/helm/v3/cmd/helm`), building it first
/// if needed. Kept apart from [`ensure`] so that tests that do not need it never build it.
pub fn helm() -> Result<PathBuf> {
    let version = versions::helm();
    let out = bin_dir()?.join(format!("helm-{version}")).join("helm");
    cached(".build-helm.lock", &[&out], || {
        let ldflags = format!("-s -w -X helm.sh/helm/v3/internal/version.version={version}");
        build_one("helm", "helm.sh/helm/v3", &version, "helm.sh/helm/v3/cmd/helm", &ldflags, &out)
    })?;
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
    let bin = bin_dir()?;
    let bins = EdgeBinaries {
        kube_controller_manager: bin.join(format!("kubernetes-{kube}")).join("kube-controller-manager"),
        kube_scheduler: bin.join(format!("kubernetes-{kube}")).join("kube-scheduler"),
        kwok: bin.join(format!("kwok-{kwok}")).join("kwok"),
    };
    cached(".build-edge.lock", &[&bins.kube_controller_manager, &bins.kube_scheduler], || {
        let outputs =
            [("kube-controller-manager", &bins.kube_controller_manager), ("kube-scheduler", &bins.kube_scheduler)];
        build_kubernetes(&kube, &format!("kubernetes-edge-{kube}"), &outputs)
    })?;
    cached(".build-edge.lock", &[&bins.kwok], || {
        build_one("kwok", "sigs.k8s.io/kwok", &kwok, "sigs.k8s.io/kwok/cmd/kwok", "-s -w", &bins.kwok)
    })?;
    Ok(bins)
}

fn bin_dir() -> Result<PathBuf> {
    Ok(paths::cache_dir()?.join("bin"))
}

/// Runs `build` unless every one of `outputs` exists. The build holds the file lock `lock` in the
/// cache's `bin` directory, so parallel test binaries build once: whoever waited on the lock
/// looks again and finds the outputs.
fn cached(lock: &str, outputs: &[&Path], build: impl FnOnce() -> Result<()>) -> Result<()> {
    let present = || outputs.iter().all(|p| p.is_file());
    if present() {
        return Ok(());
    }
    let bin = bin_dir()?;
    std::fs::create_dir_all(&bin).map_err(io(format!("creating {}", bin.display())))?;
    let lock_path = bin.join(lock);
    let lock = File::create(&lock_path).map_err(io(format!("creating {}", lock_path.display())))?;
    lock.lock().map_err(io("locking the build directory"))?;
    if present() { Ok(()) } else { build() }
}

/// Builds `package` of `module@version` through a wrapper module `name` that requires it.
fn build_one(name: &str, module: &str, version: &str, package: &str, ldflags: &str, out: &Path) -> Result<()> {
    let dir = paths::cache_dir()?.join("build").join(format!("{name}-{version}"));
    let go_mod = format!("module continuum.dev/controlplane-build/{name}\n\ngo 1.26.0\n\nrequire {module} {version}\n");
    write_module(&dir, &go_mod, &[package])?;
    go_build(&dir, package, ldflags, out, &format!("{name} {version}"))
}

/// Builds the named commands of k8s.io/kubernetes (`cmd/<name>`) in the wrapper module `wrapper`.
fn build_kubernetes(version: &str, wrapper: &str, outputs: &[(&str, &PathBuf)]) -> Result<()> {
    let dir = paths::cache_dir()?.join("build").join(wrapper);
    let mains: Vec<String> = outputs.iter().map(|(name, _)| format!("k8s.io/kubernetes/cmd/{name}")).collect();
    let mains: Vec<&str> = mains.iter().map(String::as_str).collect();
    let ldflags = kubernetes_module(version, &dir, &mains)?;
    for ((name, out), main) in outputs.iter().zip(&mains) {
        go_build(&dir, main, &ldflags, out, &format!("{name} {version}"))?;
    }
    Ok(())
}

/// Directory of a Go module's source in the module cache (downloaded if needed), e.g. to read the
/// YAML a module ships.
pub fn module_dir(module: &str, version: &str) -> Result<PathBuf> {
    let dir = paths::cache_dir()?.join("build").join("downloads");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let json = go_mod_download(module, version, &dir)?;
    json["Dir"].as_str().map(PathBuf::from).ok_or_else(|| Error::NoGoMod(module.to_owned()))
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
    let json = go_mod_download(module, version, dir)?;
    let path = json["GoMod"].as_str().ok_or_else(|| Error::NoGoMod(module.to_owned()))?;
    std::fs::read_to_string(path).map_err(io(format!("reading {path}")))
}

/// `go mod download -json module@version` in `dir`: where the module and its go.mod are.
fn go_mod_download(module: &str, version: &str, dir: &Path) -> Result<serde_json::Value> {
    let mut cmd = Command::new("go");
    cmd.args(["mod", "download", "-json", &format!("{module}@{version}")]).current_dir(dir);
    let stdout = run_logged(cmd, &dir.join("download.log"), &format!("go mod download {module}@{version}"))?;
    serde_json::from_str(&stdout).map_err(|_| Error::NoGoMod(module.to_owned()))
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
