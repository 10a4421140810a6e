//! `run`: connect, make sure the CRDs are established, then run until told to stop.
//!
//! The controllers plug in here; for now the command proves the wiring against a real API server.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::cli::RunArgs;
use crate::error::{Error, Result};

pub async fn main(args: RunArgs) -> Result<()> {
    let client = connect(&args).await?;
    let version = client.apiserver_version().await?;
    tracing::info!(server = %version.git_version, "connected to the control-plane API server");
    for crd in continuum_api::crds() {
        let name = crd.metadata.name.unwrap_or_default();
        wait_established(&client, &name, Duration::from_secs(args.crd_wait_seconds)).await?;
        tracing::info!(crd = %name, "CRD is established");
    }
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
    let listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|e| Error::Setup(format!("cannot listen on {}: {e}", args.metrics_addr)))?;
    let bound = listener.local_addr().unwrap_or(args.metrics_addr);
    tracing::info!(addr = %bound, "serving /metrics and /healthz");
    tokio::spawn(crate::metrics::serve(listener, metrics.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |rx: tokio::sync::watch::Receiver<bool>| async move {
        let mut rx = rx;
        let _ = rx.wait_for(|s| *s).await;
    };
    let etcd = tokio::spawn(crate::etcd::run(client.clone(), metrics.clone(), stopped(stop_rx.clone())));
    let offload = tokio::spawn(crate::offload::run(client.clone(), metrics, stopped(stop_rx)));
    tracing::info!("ready; controllers running: EtcdHealth, OffloadPolicy");
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async { (etcd.await, offload.await) }).await;
    Ok(())
}

async fn connect(args: &RunArgs) -> Result<Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig(e.to_string()))?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kubeconfig(e.to_string()))?
        }
        None => Config::infer().await.map_err(|e| Error::Kubeconfig(e.to_string()))?,
    };
    Ok(Client::try_from(config)?)
}

/// Polls the CRD until its Established condition is True, or fails with the last condition seen.
pub async fn wait_established(client: &Client, name: &str, limit: Duration) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let started = Instant::now();
    loop {
        let detail = match api.get_opt(name).await? {
            None => "not found: apply deploy/crds first".to_owned(),
            Some(crd) => match established(&crd) {
                Ok(()) => return Ok(()),
                Err(detail) => detail,
            },
        };
        if started.elapsed() >= limit {
            return Err(Error::CrdNotEstablished { name: name.to_owned(), seconds: limit.as_secs(), detail });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn established(crd: &CustomResourceDefinition) -> Result<(), String> {
    let conditions = crd.status.as_ref().and_then(|s| s.conditions.as_ref());
    match conditions.and_then(|c| c.iter().find(|c| c.type_ == "Established")) {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!("Established={}: {}", c.status, c.message.clone().unwrap_or_default())),
        None => Err("no Established condition yet".to_owned()),
    }
}

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
