//! EtcdHealth controller: scrape every member each `interval`, compute the window figures,
//! evaluate, write status, publish Events on changes, export metrics.

mod correlate;
pub mod member;
mod prom_source;
mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use continuum_api::EtcdHealth;
use continuum_policy::etcd::{Evaluation, Thresholds};
use continuum_telemetry::etcd::EtcdSnapshot;
use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio::sync::Mutex;

use crate::metrics::Metrics;
use member::MemberHistory;

/// Scrape timeout for members (the spec has no field for it: etcd answers fast or is in trouble).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// What one EtcdHealth remembers between reconciles (lost on restart; timers live in status).
#[derive(Debug, Default)]
struct Memory {
    /// When the members were last scraped.
    touched: Option<std::time::Instant>,
    members: HashMap<String, MemberHistory>,
    restarts: correlate::RestartHistory,
}

#[allow(missing_debug_implementations)]
pub struct Context {
    client: Client,
    rt: crate::shared::Runtime,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    memory: Mutex<HashMap<String, Memory>>,
    fetchers: crate::shared::Fetchers,
    pacer: crate::shared::Pacer,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status failed: {0}")]
    Status(#[source] kube::Error),
    #[error(transparent)]
    NotLeading(#[from] crate::shared::NotLeading),
}

pub fn thresholds(spec: &continuum_api::EtcdHealthSpec) -> Thresholds {
    let secs = |d: &kube::core::Duration| Duration::from(*d).as_secs_f64();
    let ms = |d: &kube::core::Duration| Duration::from(*d).as_millis() as i64;
    let t = &spec.thresholds;
    Thresholds {
        wal_fsync_p99: secs(&t.wal_fsync_p99),
        backend_commit_p99: secs(&t.backend_commit_p99),
        advisory_wal_fsync_p99: secs(&t.advisory_wal_fsync_p99),
        advisory_backend_commit_p99: secs(&t.advisory_backend_commit_p99),
        critical: secs(&t.critical),
        leader_changes: f64::from(t.leader_changes),
        for_ms: ms(&spec.for_),
        window_ms: ms(&spec.window),
    }
}

pub async fn run(rt: crate::shared::Runtime, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let (client, metrics) = (rt.control.clone(), rt.metrics.clone());
    let reporter = Reporter { controller: "continuum-operator".into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        rt,
        metrics,
        memory: Mutex::default(),
        fetchers: Default::default(),
        pacer: Default::default(),
    });
    let api: Api<EtcdHealth> = Api::all(client);
    let controller = Controller::new(api, watcher::Config::default());
    let store = controller.store();
    crate::shared::report_synced(store, ctx.metrics.clone(), "EtcdHealth");
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(err) = res {
                tracing::debug!(%err, "etcdhealth reconcile");
            }
        })
        .await;
}

/// Scrapes one member; the error is a sentence for status.
async fn scrape(
    ctx: &Context,
    ns: &str,
    ep: &continuum_api::etcd::EtcdEndpoint,
) -> Result<EtcdSnapshot, (String, &'static str)> {
    ctx.rt.allow.check(&ep.metrics_url).map_err(|e| (e, "not_allowed"))?;
    let tls = crate::secrets::material(&ctx.client, ns, ep.tls.as_ref()).await.map_err(|e| (e, "tls_secret"))?;
    let fetcher = ctx.fetchers.get(tls, SCRAPE_TIMEOUT).await.map_err(|e| (e, "tls_config"))?;
    let page = fetcher.get(&ep.metrics_url, &[]).await.map_err(|e| (e.to_string(), e.category()))?;
    EtcdSnapshot::parse(&page, crate::shared::now_ms()).map_err(|e| (format!("not a metrics page: {e}"), "parse"))
}

async fn read_prometheus(
    ctx: &Context,
    ns: &str,
    src: &continuum_api::etcd::EtcdPrometheusSource,
    t: &Thresholds,
) -> Result<Vec<(continuum_policy::etcd::MemberReading, continuum_api::etcd::MemberStatus)>, String> {
    ctx.rt.allow.check(&src.url)?;
    let tls = crate::secrets::material(&ctx.client, ns, src.tls.as_ref()).await?;
    let fetcher = ctx.fetchers.get(tls, prom_source::fetcher_timeout()).await?;
    let headers = prom_source::headers(&ctx.client, ns, src).await?;
    prom_source::read(fetcher, headers, src, t).await
}

async fn reconcile(obj: Arc<EtcdHealth>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = format!("{ns}/{name}");
    let spec = &obj.spec;
    let t = thresholds(spec);
    let interval = Duration::from(spec.interval);
    // Our own status writes wake the controller too: scrape at most once per interval unless the
    // spec changed.
    if let Some(wait) = ctx.pacer.wait(&key, obj.metadata.generation, interval).await {
        return Ok(Action::requeue(wait));
    }
    let from_prometheus = match &spec.prometheus {
        Some(src) => Some(read_prometheus(&ctx, &ns, src, &t).await),
        None => None,
    };
    let mut scraped = Vec::new();
    for ep in &spec.endpoints {
        scraped.push((ep, scrape(&ctx, &ns, ep).await));
    }
    let now = crate::shared::now_ms();
    let mut memory = ctx.memory.lock().await;
    // Deleted EtcdHealths are never reconciled again: forget what has not run for an hour.
    memory.retain(|_, m| m.touched.is_none_or(|at| at.elapsed() < Duration::from_secs(3600)));
    let mem = memory.entry(key).or_default();
    mem.touched = Some(std::time::Instant::now());
    mem.members.retain(|m, _| spec.endpoints.iter().any(|e| &e.name == m));
    let (mut readings, mut members) = (Vec::new(), Vec::new());
    for (ep, result) in scraped {
        let history = mem.members.entry(ep.name.clone()).or_default();
        match result {
            Ok(snap) => history.push(snap, t.window_ms),
            Err((err, category)) => {
                ctx.metrics.etcd_scrape_errors(&ns, &name, &ep.name, category);
                history.last_error = Some(err);
            }
        }
        let figures = history.figures(t.wal_fsync_p99);
        readings.push(member::reading(&ep.name, history, figures.as_ref()));
        members.push(member::status(&ep.name, &ep.metrics_url, history, figures.as_ref()));
    }
    if let Some(result) = from_prometheus {
        match result {
            Ok(found) => {
                for (reading, status) in found {
                    readings.push(reading);
                    members.push(status);
                }
            }
            Err(err) => {
                ctx.metrics.etcd_scrape_errors(&ns, &name, "prometheus", "prometheus_query");
                readings.push(continuum_policy::etcd::MemberReading {
                    name: "prometheus".into(),
                    error: Some(err.clone()),
                    ..Default::default()
                });
                members.push(continuum_api::etcd::MemberStatus {
                    name: "prometheus".into(),
                    error: Some(err),
                    ..Default::default()
                });
            }
        }
    }
    let pods = match &spec.correlate {
        Some(c) => {
            correlate::troubles(&ctx.rt.host, c, &mut mem.restarts, now, t.window_ms).await.unwrap_or_else(|err| {
                tracing::warn!(etcdhealth = %name, %err, "cannot read the pods to correlate");
                Vec::new()
            })
        }
        None => Vec::new(),
    };
    drop(memory);
    let prev = status::state_of(obj.status.as_ref());
    let eval: Evaluation = continuum_policy::etcd::evaluate(&t, &prev, &readings, &pods, now);
    ctx.metrics.etcd_observe(&ns, &name, &members, eval.state.slow);
    let new_status = status::build(&obj, &eval, members, now);
    let api: Api<EtcdHealth> = Api::namespaced(ctx.client.clone(), &ns);
    ctx.rt.may_write("etcdhealths/status")?;
    status::apply(&api, &name, &new_status).await.map_err(Error::Status)?;
    status::publish_changes(&ctx.rt, &ctx.recorder, &obj, &eval).await;
    Ok(Action::requeue(interval))
}

fn error_policy(obj: Arc<EtcdHealth>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(etcdhealth = %obj.name_any(), %err, "reconcile failed; retrying in 10s");
    Action::requeue(Duration::from_secs(10))
}
