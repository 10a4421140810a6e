//! A real etcd + kube-apiserver on loopback, started the way controller-runtime's envtest does.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::certs::{self, Certs};
use crate::error::{Error, Result, io, tail};
use crate::gobuild::{self, Binaries};
use crate::guard::Guarded;

const READY_LIMIT: Duration = Duration::from_secs(120);

/// A running control plane. Dropping it stops both servers and deletes its directory.
#[derive(Debug)]
pub struct ControlPlane {
    /// Directory holding certificates, etcd data, logs and the kubeconfig.
    pub dir: PathBuf,
    /// Kubeconfig with cluster-admin (system:masters) credentials, for kubectl and the operator.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// etcd client URL (plain HTTP on loopback).
    pub etcd_url: String,
    /// etcd metrics URL (`.../metrics`).
    pub etcd_metrics_url: String,
    /// Certificates, for tests that need more identities.
    pub certs: Certs,
    /// The binaries in use.
    pub binaries: Binaries,
    /// Time from starting etcd to kube-apiserver answering `/readyz`.
    pub start_to_ready: Duration,
    /// The audit log, when started with [`ControlPlane::start_audited`].
    pub audit_log: Option<PathBuf>,
    apiserver: Guarded,
    apiserver_args: Vec<String>,
    etcd: Guarded,
    etcd_args: Vec<String>,
    etcd_metrics_port: u16,
    janitor: Option<Guarded>,
}

impl ControlPlane {
    /// Builds the binaries if needed, then starts etcd and kube-apiserver and waits for `/readyz`.
    /// Free ports are found by binding and releasing them; another process may grab one before
    /// the server binds it, so a server that dies on "address already in use" is started again
    /// on fresh ports (three attempts).
    pub fn start() -> Result<Self> {
        Self::start_with(false)
    }

    /// Like [`ControlPlane::start`], with kube-apiserver writing an audit log of
    /// [`crate::audit::AUDITED_USER`]'s requests (see [`crate::audit`]).
    pub fn start_audited() -> Result<Self> {
        Self::start_with(true)
    }

    fn start_with(audit: bool) -> Result<Self> {
        let binaries = gobuild::ensure()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = make_temp_dir("continuum-testenv")?;
            match Self::start_in(binaries.clone(), &dir, audit) {
                Ok(cp) => return Ok(cp),
                Err(err) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    let port_taken =
                        matches!(&err, Error::NotReady { tail, .. } if tail.contains("address already in use"));
                    if !port_taken || attempt >= 3 {
                        return Err(err);
                    }
                    eprintln!("continuum-testenv: a port was taken meanwhile; starting again on fresh ports");
                }
            }
        }
    }

    fn start_in(binaries: Binaries, dir: &Path, audit: bool) -> Result<Self> {
        let started = Instant::now();
        let certs = certs::generate(&dir.join("pki"))?;
        let [client, peer, metrics, secure] = free_ports()?;
        let etcd_url = format!("http://127.0.0.1:{client}");
        let metrics_url = format!("http://127.0.0.1:{metrics}");
        let etcd_args = etcd_args(dir, &etcd_url, peer, &metrics_url);
        let etcd = Guarded::spawn("etcd", &binaries.etcd, &etcd_args, &dir.join("etcd.log"))?;
        wait_for("etcd", &etcd, READY_LIMIT, || {
            http_get(metrics, "/health").is_ok_and(|b| b.contains("\"health\":\"true\""))
        })?;
        let server = format!("https://127.0.0.1:{secure}");
        let mut args = apiserver_args(&certs, &etcd_url, secure);
        let audit_log = if audit {
            let (flags, log) = crate::audit::flags(dir)?;
            args.extend(flags);
            Some(log)
        } else {
            None
        };
        let apiserver =
            Guarded::spawn("kube-apiserver", &binaries.kube_apiserver, &args, &dir.join("kube-apiserver.log"))?;
        let kubeconfig = dir.join("kubeconfig");
        write_kubeconfig(&kubeconfig, &server, &certs.ca_cert, (&certs.admin_cert, &certs.admin_key))?;
        let probe = |path: &str| kubectl_cmd(&binaries.kubectl, &kubeconfig).args(["get", "--raw", path]).output();
        wait_for("kube-apiserver", &apiserver, READY_LIMIT, || {
            probe("/readyz").is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok")
        })?;
        let start_to_ready = started.elapsed();
        let pids: Vec<u32> = [etcd.pid(), apiserver.pid()].into_iter().flatten().collect();
        let janitor = Guarded::janitor(dir, &pids)?;
        Ok(Self {
            dir: dir.to_owned(),
            kubeconfig,
            server,
            etcd_url,
            etcd_metrics_url: format!("{metrics_url}/metrics"),
            certs,
            binaries,
            start_to_ready,
            audit_log,
            apiserver,
            apiserver_args: args,
            etcd,
            etcd_args,
            etcd_metrics_port: metrics,
            janitor: Some(janitor),
        })
    }

    /// Restarts the control plane's etcd on the same data and ports, with every fsync delayed by
    /// `fsync_delay` (a real slow disk) or without delay. kube-apiserver reconnects by itself.
    pub fn restart_etcd(&mut self, fsync_delay: Option<Duration>) -> Result<()> {
        self.etcd.stop();
        let (program, args) = crate::etcd::command(&self.binaries.etcd, self.etcd_args.clone(), fsync_delay);
        self.etcd = Guarded::spawn("etcd", &program, &args, &self.dir.join("etcd.log"))?;
        let port = self.etcd_metrics_port;
        wait_for("etcd", &self.etcd, READY_LIMIT, || {
            http_get(port, "/health").is_ok_and(|b| b.contains("\"health\":\"true\""))
        })
    }

    /// A kubeconfig at `dir/<user>.kubeconfig` for a client certificate of `user` in the
    /// `system:masters` group: a cluster-admin whose requests can be told apart (for instance in
    /// the audit log) from the admin's.
    pub fn kubeconfig_for(&self, user: &str) -> Result<PathBuf> {
        self.user_kubeconfig(user, &["system:masters"])
    }

    /// Stops kube-apiserver (SIGTERM, as a rolling update of the API server does); etcd and the
    /// data stay.
    pub fn stop_apiserver(&mut self) {
        self.apiserver.stop();
    }

    /// Starts kube-apiserver again on the same port, data and certificates, with `extra`
    /// flags after the usual ones (a later flag wins), and waits for `/readyz`.
    pub fn start_apiserver(&mut self, extra: &[&str]) -> Result<()> {
        let mut args = self.apiserver_args.clone();
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let log = self.dir.join("kube-apiserver.log");
        self.apiserver = Guarded::spawn("kube-apiserver", &self.binaries.kube_apiserver, &args, &log)?;
        let probe = || self.kubectl().args(["get", "--raw", "/readyz"]).output();
        wait_for("kube-apiserver", &self.apiserver, READY_LIMIT, || {
            probe().is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "ok")
        })
    }

    /// [`stop_apiserver`](Self::stop_apiserver), then [`start_apiserver`](Self::start_apiserver).
    pub fn restart_apiserver(&mut self, extra: &[&str]) -> Result<()> {
        self.stop_apiserver();
        self.start_apiserver(extra)
    }

    /// A kubeconfig for user `name` in `groups`, authenticated by a client certificate of the
    /// control plane's CA (not system:masters unless asked: RBAC and API Priority and Fairness
    /// apply to it). Written to `<dir>/<name>.kubeconfig`.
    pub fn user_kubeconfig(&self, name: &str, groups: &[&str]) -> Result<PathBuf> {
        let pki = self.dir.join("pki");
        let (key, cert) = (pki.join(format!("user-{name}.key")), pki.join(format!("user-{name}.crt")));
        let subject: String = groups.iter().map(|g| format!("/O={g}")).chain([format!("/CN={name}")]).collect();
        certs::sign(&self.certs, &subject, "extendedKeyUsage=clientAuth", &key, &cert)?;
        let path = self.dir.join(format!("{name}.kubeconfig"));
        write_kubeconfig(&path, &self.server, &self.certs.ca_cert, (&cert, &key))?;
        Ok(path)
    }

    /// A `kubectl` command (the version built with the API server) using this control plane.
    pub fn kubectl(&self) -> Command {
        kubectl_cmd(&self.binaries.kubectl, &self.kubeconfig)
    }

    /// Runs kubectl with `args` and returns its output whatever the exit status.
    pub fn kubectl_output(&self, args: &[&str]) -> Result<Output> {
        self.kubectl().args(args).output().map_err(io(format!("running kubectl {}", args.join(" "))))
    }

    /// Server-side applies every CRD YAML file in `dir` and waits until each is Established.
    pub fn apply_crds(&self, dir: &Path) -> Result<()> {
        let dir_arg = dir.to_string_lossy().into_owned();
        let apply = ["apply", "--server-side", "--field-manager=continuum-testenv", "-f", &dir_arg];
        let wait = ["wait", "--for=condition=Established", "--timeout=60s", "-f", &dir_arg];
        for args in [&apply[..], &wait[..]] {
            let out = self.kubectl_output(args)?;
            if !out.status.success() {
                return Err(Error::Command {
                    command: format!("kubectl {}", args.join(" ")),
                    status: out.status.to_string(),
                    log: PathBuf::from("(stderr)"),
                    tail: String::from_utf8_lossy(&out.stderr).into_owned(),
                });
            }
        }
        Ok(())
    }

    /// Log file of `etcd` or `kube-apiserver`.
    pub fn log(&self, component: &str) -> PathBuf {
        if component == "etcd" { self.etcd.log.clone() } else { self.apiserver.log.clone() }
    }

    /// Process ids of etcd and kube-apiserver.
    pub fn pids(&self) -> Vec<u32> {
        [self.etcd.pid(), self.apiserver.pid()].into_iter().flatten().collect()
    }

    /// Stops both servers and deletes the directory, waiting until that is done.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.apiserver.stop();
        self.etcd.stop();
        if let Some(mut janitor) = self.janitor.take() {
            janitor.stop();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn etcd_args(dir: &Path, client_url: &str, peer: u16, metrics_url: &str) -> Vec<String> {
    let peer_url = format!("http://127.0.0.1:{peer}");
    vec![
        "--name=testenv".into(),
        format!("--data-dir={}", dir.join("etcd").display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=testenv={peer_url}"),
        format!("--listen-metrics-urls={metrics_url}"),
        "--log-level=warn".into(),
    ]
}

fn apiserver_args(certs: &Certs, etcd_url: &str, secure_port: u16) -> Vec<String> {
    let p = |path: &PathBuf| path.display().to_string();
    vec![
        format!("--etcd-servers={etcd_url}"),
        format!("--secure-port={secure_port}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        // No kube-controller-manager or nodes: nothing needs the `kubernetes` Service endpoints.
        "--endpoint-reconciler-type=none".into(),
        format!("--tls-cert-file={}", p(&certs.serving_cert)),
        format!("--tls-private-key-file={}", p(&certs.serving_key)),
        format!("--client-ca-file={}", p(&certs.ca_cert)),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--allow-privileged=true".into(),
        "--authorization-mode=RBAC".into(),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-key-file={}", p(&certs.sa_pub)),
        format!("--service-account-signing-key-file={}", p(&certs.sa_key)),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--v=1".into(),
    ]
}

fn write_kubeconfig(path: &Path, server: &str, ca: &Path, (cert, key): (&Path, &Path)) -> Result<()> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: continuum-testenv\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate: {cert}\n    client-key: {key}\ncontexts:\n- name: continuum-testenv\n  context:\n    cluster: continuum-testenv\n    user: admin\n    namespace: default\ncurrent-context: continuum-testenv\n",
        ca = ca.display(),
        cert = cert.display(),
        key = key.display(),
    );
    std::fs::write(path, text).map_err(io("writing the kubeconfig"))
}

fn kubectl_cmd(kubectl: &Path, kubeconfig: &Path) -> Command {
    let mut cmd = Command::new(kubectl);
    cmd.arg("--kubeconfig").arg(kubeconfig).env_remove("KUBECONFIG");
    cmd
}

/// Polls `ready` until it holds; fails early with the log's tail if the process died.
fn wait_for(component: &'static str, proc: &Guarded, limit: Duration, mut ready: impl FnMut() -> bool) -> Result<()> {
    let started = Instant::now();
    loop {
        if ready() {
            return Ok(());
        }
        if !proc.is_running() || started.elapsed() > limit {
            return Err(Error::NotReady {
                component,
                seconds: started.elapsed().as_secs(),
                log: proc.log.clone(),
                tail: tail(&proc.log, 30),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain HTTP/1.0 GET on loopback; returns the body.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// Distinct free loopback ports (held open together so they differ, then released).
pub(crate) fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()
        .map_err(io("finding free ports"))?;
    let mut ports = [0u16; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr().map_err(io("reading a port"))?.port();
    }
    Ok(ports)
}

pub(crate) fn make_temp_dir(prefix: &str) -> Result<PathBuf> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}
