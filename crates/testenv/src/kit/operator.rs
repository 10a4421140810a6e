//! The operator process for tests and benchmarks: one launcher on testenv's process guard, so an
//! operator never outlives its test, with its identity, log file, metrics, signals and exit code.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::error::{Error, Result, io_err};
use super::kubectl::Ran;
use super::wait;
use crate::guard::Guarded;

/// Runs the command, records its pid (for signals) and its exit code (the guard only stops it).
const WRAPPER: &str = r#"
pidfile=$1; exitfile=$2; shift 2
"$@" &
pid=$!
echo "$pid" > "$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"
wait "$pid"
echo "$?" > "$exitfile.tmp" && mv "$exitfile.tmp" "$exitfile"
"#;

/// How an operator command is run: program, arguments and environment (`RUST_LOG=info`).
#[derive(Debug, Clone)]
pub struct Launch {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Launch {
    /// `program sub..`, e.g. `Launch::new(bin, ["check-etcd"])`.
    pub fn new<S: Into<String>>(program: impl Into<PathBuf>, sub: impl IntoIterator<Item = S>) -> Self {
        let args = sub.into_iter().map(Into::into).collect();
        Self { program: program.into(), args, env: vec![("RUST_LOG".into(), "info".into())] }
    }

    /// `program run --kubeconfig <kubeconfig>`.
    pub fn run(program: impl Into<PathBuf>, kubeconfig: &Path) -> Self {
        Self::new(program, ["run"]).arg("--kubeconfig").arg(kubeconfig.to_string_lossy())
    }

    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    #[must_use]
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs a one-shot command (`check-etcd`, `install-crds`, `version`) to its end.
    pub fn output(&self) -> Result<Ran> {
        let what = format!("running {} {}", self.program.display(), self.args.join(" "));
        let out = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(io_err(what))?;
        Ok(Ran::from_output(&out))
    }

    /// Starts the long-running command as `--identity <name>`, serving metrics on a port the
    /// kernel picks (no race for a free port), logging to `<dir>/<name>.log`. Killed on drop.
    pub fn start(&self, dir: &Path, name: &str) -> Result<Operator> {
        let log = dir.join(format!("{name}.log"));
        let (pidfile, exitfile) = (log.with_extension("opid"), log.with_extension("exit"));
        for stale in [&pidfile, &exitfile] {
            let _ = std::fs::remove_file(stale);
        }
        let mut argv: Vec<String> = vec!["-c".into(), WRAPPER.into(), "operator".into()];
        argv.extend([pidfile.to_string_lossy().into_owned(), exitfile.to_string_lossy().into_owned()]);
        argv.push("env".into());
        argv.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        argv.push(self.program.to_string_lossy().into_owned());
        argv.extend(self.args.iter().cloned());
        argv.extend(["--identity".into(), name.to_owned(), "--metrics-addr".into(), "127.0.0.1:0".into()]);
        let guard = Guarded::spawn("continuum-operator", Path::new("sh"), &argv, &log)?;
        Ok(Operator { name: name.to_owned(), guard, log, pidfile, exitfile, port: OnceLock::new() })
    }
}

/// A running operator (see [`Launch::start`]).
#[derive(Debug)]
pub struct Operator {
    name: String,
    guard: Guarded,
    log: PathBuf,
    pidfile: PathBuf,
    exitfile: PathBuf,
    port: OnceLock<u16>,
}

impl Operator {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the process printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Process id of the operator itself (waits briefly for it to be started).
    pub fn pid(&self) -> Result<u32> {
        let read = || std::fs::read_to_string(&self.pidfile).ok()?.trim().parse().ok();
        wait::until_some(&format!("pid of {}", self.name), Duration::from_secs(10), read)
    }

    /// Exit code once the process has ended (128 + n when killed by signal n).
    pub fn exit_code(&self) -> Option<i32> {
        std::fs::read_to_string(&self.exitfile).ok()?.trim().parse().ok()
    }

    /// Waits for the process to end; returns its exit code.
    pub fn wait_exit(&self, limit: Duration) -> Result<i32> {
        wait::until_some(&format!("{} to exit", self.name), limit, || self.exit_code())
    }

    /// Sends `kill -<sig>` (TERM, KILL, STOP, CONT) to the operator.
    pub fn signal(&self, sig: &str) -> Result<()> {
        let pid = self.pid()?.to_string();
        let ok = Command::new("kill").args([&format!("-{sig}"), &pid]).status();
        match ok {
            Ok(s) if s.success() => Ok(()),
            other => Err(Error::Failed(format!("kill -{sig} {} (pid {pid}): {other:?}", self.name))),
        }
    }

    /// Waits until a line of the log contains `needle`; returns that line.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> Result<String> {
        let what = format!("{needle:?} in the log of {}", self.name);
        let find = || self.log_text().lines().find(|l| l.contains(needle)).map(str::to_owned);
        wait::until_ok(&what, limit, || find().ok_or_else(|| tail(&self.log_text()))).map(|(line, _)| line)
    }

    /// The metrics port the operator listens on, once it listens.
    pub fn port(&self) -> Option<u16> {
        if let Some(port) = self.port.get() {
            return Some(*port);
        }
        let port = listening_port(self.pid().ok()?)?;
        Some(*self.port.get_or_init(|| port))
    }

    /// The whole HTTP response to `GET path` on the metrics port; `None` while nothing answers.
    pub fn http_get(&self, path: &str) -> Option<String> {
        http_get(self.port()?, path)
    }

    /// The value of an unlabelled sample, or the sum over a family's samples, if it answers.
    pub fn metric(&self, name: &str) -> Option<f64> {
        let page = self.http_get("/metrics")?;
        let values: Vec<f64> = page
            .lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    pub fn is_leader(&self) -> bool {
        self.metric("continuum_leader_is_leader") == Some(1.0)
    }

    /// API writes sent so far.
    pub fn writes(&self) -> f64 {
        self.metric("continuum_api_writes_total").unwrap_or(0.0)
    }

    /// `/readyz` answers 200.
    pub fn ready(&self) -> bool {
        self.http_get("/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if self.exit_code().is_none() {
            let _ = self.signal("KILL");
        }
        self.guard.stop();
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    format!("last log lines:\n{}", lines[lines.len().saturating_sub(10)..].join("\n"))
}

/// The TCP port `pid` listens on: its socket inodes matched against the kernel's LISTEN table.
fn listening_port(pid: u32) -> Option<u16> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let inodes: Vec<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| Some(link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned()))
        .collect();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else { continue };
            if *state == "0A" && inodes.iter().any(|i| i == inode) {
                return u16::from_str_radix(local.rsplit(':').next()?, 16).ok();
            }
        }
    }
    None
}

/// GET over plain HTTP/1.1 on loopback; the whole response, `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
