//! `run`: connect to the control plane and the host, make sure the CRDs are established, serve
//! metrics and probes, win the leader election, then run the controllers until told to stop or
//! until leadership is lost.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config};

use crate::allow::AllowList;
use crate::apiclient;
use crate::cli::RunArgs;
use crate::error::{Error, Result, Stop};
use crate::kit::Runtime;
use crate::leader::{Elector, Settings, WriteGate};
use crate::metrics::Metrics;

/// Number of controllers whose caches `/readyz` waits for while leading.
const CONTROLLERS: usize = 2;

pub async fn main(args: RunArgs) -> Result<()> {
    let allow = AllowList::new(&args.allowed_urls)?;
    if allow.is_empty() {
        tracing::warn!("no --allowed-url given: any telemetry or etcd URL named by a resource will be contacted");
    }
    let settings = leader_settings(&args.leader)?;
    let metrics = Arc::new(Metrics::default());
    serve_admin(args.metrics_addr, metrics.clone()).await?;
    let (control, host) = configs(&args).await?;
    let lease_cluster = host.as_ref().unwrap_or(&control);
    let mut elector = match args.leader.leader_elect {
        true => Some(elector(lease_cluster, &settings, &metrics)?),
        false => None,
    };
    let gate = elector.as_ref().map_or_else(WriteGate::always_open, Elector::gate);
    let budget = apiclient::write_budget(args.leader.leader_elect.then_some(&settings));
    let (control, host) = clients(control, host, apiclient::controllers(gate.clone(), budget)).await?;
    for crd in continuum_api::crds() {
        let name = crd.metadata.name.unwrap_or_default();
        wait_established(&control, &name, Duration::from_secs(args.crd_wait_seconds)).await?;
        tracing::info!(crd = %name, "CRD is established");
    }
    metrics.readiness.crds_established();
    let (allow, concurrency) = (Arc::new(allow), args.max_concurrent_reconciles);
    let rt = Runtime { control, host, metrics: metrics.clone(), gate, allow, concurrency };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    match elector.as_mut() {
        Some(e) => {
            tracing::info!(identity = %e.identity(), "waiting to acquire the leader Lease");
            tokio::select! {
                _ = e.acquire() => {}
                _ = &mut shutdown => {
                    tracing::info!("stopped while standing by");
                    return Ok(());
                }
            }
        }
        None => {
            tracing::info!("leader election disabled: this process runs the controllers");
            metrics.leader.leading_unelected();
        }
    }
    lead(rt, elector, shutdown).await
}

/// The elector, on a client of the Lease's own in the host cluster (`lease_cluster`).
fn elector(lease_cluster: &Config, settings: &Settings, metrics: &Arc<Metrics>) -> Result<Elector> {
    let client = apiclient::client(lease_cluster.clone(), &apiclient::lease(settings.retry_period))?;
    Ok(Elector::new(client, settings.clone(), metrics.clone()))
}

fn leader_settings(args: &crate::cli::LeaderArgs) -> Result<Settings> {
    let settings = Settings {
        name: args.lease_name.clone(),
        namespace: args.lease_namespace.clone(),
        identity: args.identity.clone().unwrap_or_else(crate::leader::default_identity),
        lease_duration: args.lease_duration.into(),
        renew_deadline: args.renew_deadline.into(),
        retry_period: args.retry_period.into(),
    };
    if args.leader_elect {
        settings.validate()?;
    }
    Ok(settings)
}

/// Serves `/metrics`, `/healthz` and `/readyz` from now on (before anything can fail slowly).
async fn serve_admin(addr: std::net::SocketAddr, metrics: Arc<Metrics>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Listen { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    tokio::spawn(crate::admin::serve(listener, metrics));
    Ok(())
}

/// The control-plane config and, when the host cluster is another one, the host's (see
/// `--kubeconfig` and `--host-kubeconfig`).
async fn configs(args: &RunArgs) -> Result<(Config, Option<Config>)> {
    let control = config(args.kubeconfig.as_deref()).await?;
    let host = match (&args.host_kubeconfig, &args.kubeconfig) {
        (Some(path), _) => Some(config(Some(path)).await?),
        (None, Some(_)) if in_cluster() => Some(Config::incluster().map_err(|e| Error::Kubeconfig(e.to_string()))?),
        (None, _) => None,
    };
    Ok((control, host))
}

/// The controllers' clients of the control plane and of the host (one client when they are the
/// same cluster), each on its own connection pool, with `resilience` under them.
async fn clients(control: Config, host: Option<Config>, resilience: apiclient::Resilience) -> Result<(Client, Client)> {
    let control = apiclient::client(control, &resilience)?;
    let version = control.apiserver_version().await?;
    tracing::info!(server = %version.git_version, "connected to the control-plane API server");
    let Some(host) = host else { return Ok((control.clone(), control)) };
    let host = apiclient::client(host, &resilience)?;
    let version = host.apiserver_version().await?;
    tracing::info!(server = %version.git_version, "connected to the host cluster's API server");
    Ok((control, host))
}

/// Runs both controllers while leading, until a shutdown signal (then releases the Lease) or
/// until leadership is lost or a controller ends (then fails: a fresh start rejoins).
async fn lead(
    rt: Runtime,
    mut elector: Option<Elector>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let metrics = rt.metrics.clone();
    metrics.readiness.leading(CONTROLLERS);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut etcd = tokio::spawn(crate::etcd::run(rt.clone(), stopped(stop_rx.clone())));
    let mut offload = tokio::spawn(crate::offload::run(rt, stopped(stop_rx)));
    tracing::info!("leading; controllers running: EtcdHealth, OffloadPolicy");
    let hold = async {
        match elector.as_mut() {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        _ = shutdown => None,
        lost = hold => Some(Stop::LostLease(lost)),
        _ = &mut etcd => Some(Stop::ControllerEnded("EtcdHealth")),
        _ = &mut offload => Some(Stop::ControllerEnded("OffloadPolicy")),
    };
    if let Some(why) = ended {
        // Stop at once: not one more write (the gate is closed already when leadership is lost).
        etcd.abort();
        offload.abort();
        metrics.readiness.standing_by();
        metrics.liveness.standing_by();
        tracing::error!(writes = metrics.writes(), "stopping the controllers: {why}");
        return Err(Error::Stopped(why));
    }
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async { (etcd.await, offload.await) }).await;
    if let Some(e) = elector.as_mut() {
        e.release().await;
    }
    tracing::info!(writes = metrics.writes(), "stopped");
    Ok(())
}

fn in_cluster() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// The config of an explicit kubeconfig, or inferred (in-cluster, else $KUBECONFIG / ~/.kube/config).
pub async fn config(kubeconfig: Option<&Path>) -> Result<Config> {
    match kubeconfig {
        Some(path) => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kubeconfig(e.to_string()))
        }
        None => Config::infer().await.map_err(|e| Error::Kubeconfig(e.to_string())),
    }
}

/// A client of `kubeconfig` (see [`config`]) with the operator's timeouts and retries (writes
/// not gated: for commands other than `run`).
pub async fn connect(kubeconfig: Option<&Path>) -> Result<Client> {
    let resilience = apiclient::controllers(WriteGate::always_open(), apiclient::UNELECTED_WRITE_BUDGET);
    Ok(apiclient::client(config(kubeconfig).await?, &resilience)?)
}

/// `install-crds`: server-side-applies the CRDs (field manager `continuum-operator`) and waits
/// until each is established.
pub async fn install_crds(args: crate::cli::InstallCrdsArgs) -> Result<()> {
    let client = connect(args.kubeconfig.as_deref()).await?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = kube::api::PatchParams::apply("continuum-operator").force();
    for crd in continuum_api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &kube::api::Patch::Apply(&crd)).await?;
        tracing::info!(crd = %name, "applied");
    }
    for crd in continuum_api::crds() {
        let name = crd.metadata.name.unwrap_or_default();
        wait_established(&client, &name, Duration::from_secs(args.wait_seconds)).await?;
        println!("{name} established");
    }
    Ok(())
}

/// Waits (on a watch) until the CRD is Established, or fails with the last condition seen.
pub async fn wait_established(client: &Client, name: &str, limit: Duration) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let established = await_condition(api.clone(), name, conditions::is_crd_established());
    match tokio::time::timeout(limit, established).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => tracing::warn!(crd = %name, error = %e, "watching the CRD failed"),
        Err(_) => {}
    }
    let detail = match api.get_opt(name).await? {
        None => "not found: apply deploy/crds first".to_owned(),
        Some(crd) => not_established(&crd),
    };
    Err(Error::CrdNotEstablished { name: name.to_owned(), seconds: limit.as_secs(), detail })
}

/// The CRD's Established condition, said for an error message.
fn not_established(crd: &CustomResourceDefinition) -> String {
    let conditions = crd.status.as_ref().and_then(|s| s.conditions.as_ref());
    match conditions.and_then(|c| c.iter().find(|c| c.type_ == "Established")) {
        Some(c) => format!("Established={}: {}", c.status, c.message.clone().unwrap_or_default()),
        None => "no Established condition yet".to_owned(),
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
