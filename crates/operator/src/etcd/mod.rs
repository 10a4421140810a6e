//! EtcdHealth controller: scrape every member each `interval`, compute the window figures,
//! evaluate, write status, publish Events on changes, export metrics.

mod correlate;
pub mod member;
mod prom_source;
mod scrape;
mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::EtcdHealth;
use continuum_api::etcd::{EtcdEndpoint, MemberStatus};
use continuum_policy::etcd::{MemberReading, PodTrouble, Thresholds};
use continuum_telemetry::etcd::EtcdSnapshot;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use tokio::sync::Mutex;

use crate::clock::{millis, seconds};
use crate::kit::{self, Context, Runtime};
use member::MemberHistory;

/// What one EtcdHealth remembers between reconciles (lost on restart; timers live in status).
#[derive(Debug, Default)]
struct Memory {
    members: HashMap<String, MemberHistory>,
    restarts: correlate::RestartHistory,
}

/// One EtcdHealth's memory and when it was last used.
type Entry = (Instant, Arc<Mutex<Memory>>);

/// Each EtcdHealth's memory behind its own lock: one slow EtcdHealth never holds up another.
#[derive(Debug, Default)]
pub struct Memories(Mutex<HashMap<String, Entry>>);

impl Memories {
    async fn of(&self, key: &str) -> Arc<Mutex<Memory>> {
        let mut all = self.0.lock().await;
        // Deleted EtcdHealths are never reconciled again: forget what has not run for an hour.
        all.retain(|_, (touched, _)| touched.elapsed() < Duration::from_secs(3600));
        let entry = all.entry(key.to_owned()).or_insert_with(|| (Instant::now(), Arc::default()));
        entry.0 = Instant::now();
        entry.1.clone()
    }
}

type Ctx = Context<Memories>;

pub fn thresholds(spec: &continuum_api::EtcdHealthSpec) -> Thresholds {
    let t = &spec.thresholds;
    Thresholds {
        wal_fsync_p99: seconds(&t.wal_fsync_p99),
        backend_commit_p99: seconds(&t.backend_commit_p99),
        advisory_wal_fsync_p99: seconds(&t.advisory_wal_fsync_p99),
        advisory_backend_commit_p99: seconds(&t.advisory_backend_commit_p99),
        critical: seconds(&t.critical),
        leader_changes: f64::from(t.leader_changes),
        for_ms: millis(&spec.for_),
        window_ms: millis(&spec.window),
    }
}

pub async fn run(rt: Runtime, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let ctx = Arc::new(Context::new(rt, Memories::default()));
    kit::run::<EtcdHealth, _, _, _, _>(ctx, shutdown, |c, _| c, reconcile).await;
}

/// What one reconcile read: per member its reading and status, in spec order.
#[derive(Debug, Default)]
struct Read {
    readings: Vec<MemberReading>,
    members: Vec<MemberStatus>,
}

impl Read {
    fn push(&mut self, reading: MemberReading, status: MemberStatus) {
        self.readings.push(reading);
        self.members.push(status);
    }
}

async fn reconcile(obj: Arc<EtcdHealth>, ctx: Arc<Ctx>) -> Result<Action, kit::Error> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let spec = &obj.spec;
    let (t, interval) = (thresholds(spec), Duration::from(spec.interval));
    // Our own status writes wake the controller too: scrape at most once per interval unless the
    // spec changed.
    if let Some(wait) = ctx.pacer.wait(&format!("{ns}/{name}"), obj.metadata.generation, interval).await {
        return Ok(Action::requeue(wait));
    }
    let from_prometheus = match &spec.prometheus {
        Some(src) => Some(scrape::prometheus(&ctx, &ns, src, &t).await),
        None => None,
    };
    let mut scraped = Vec::new();
    for ep in &spec.endpoints {
        scraped.push((ep, scrape::member(&ctx, &ns, ep).await));
    }
    let memory = ctx.state.of(&format!("{ns}/{name}")).await;
    let mut mem = memory.lock().await;
    mem.members.retain(|m, _| spec.endpoints.iter().any(|e| &e.name == m));
    let mut read = remember(&ctx, &obj, &mut mem, scraped, &t);
    if let Some(result) = from_prometheus {
        add_prometheus(&ctx, &obj, &mut read, result);
    }
    let now = crate::clock::now_ms();
    let pods = correlated(&ctx, &obj, &mut mem, now, t.window_ms).await;
    drop(mem);
    let prev = status::state_of(obj.status.as_ref());
    let eval = continuum_policy::etcd::evaluate(&t, &prev, &read.readings, &pods, now);
    ctx.rt.metrics.etcd.observe(&ns, &name, &read.members, eval.state.slow);
    let new_status = status::build(&obj, &eval, read.members, now);
    kit::status::apply(&ctx, &*obj, &new_status).await?;
    kit::events::publish(&ctx, &*obj, status::events(&obj, &eval)).await;
    Ok(Action::requeue(interval))
}

/// Adds each scrape to its member's history and reads the window figures from it.
fn remember(
    ctx: &Ctx,
    obj: &EtcdHealth,
    mem: &mut Memory,
    scraped: Vec<(&EtcdEndpoint, Result<EtcdSnapshot, scrape::ReadError>)>,
    t: &Thresholds,
) -> Read {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let mut read = Read::default();
    for (ep, result) in scraped {
        let history = mem.members.entry(ep.name.clone()).or_default();
        match result {
            Ok(snap) => history.push(snap, t.window_ms),
            Err(err) => {
                ctx.rt.metrics.etcd.scrape_error(&ns, &name, &ep.name, err.category());
                history.last_error = Some(err.to_string());
            }
        }
        let figures = history.figures(t.wal_fsync_p99);
        read.push(
            member::reading(&ep.name, history, figures.as_ref()),
            member::status(&ep.name, &ep.metrics_url, history, figures.as_ref()),
        );
    }
    read
}

/// The members Prometheus knows, or one `prometheus` entry saying why it could not be queried.
fn add_prometheus(
    ctx: &Ctx,
    obj: &EtcdHealth,
    read: &mut Read,
    result: Result<Vec<(MemberReading, MemberStatus)>, scrape::ReadError>,
) {
    match result {
        Ok(found) => found.into_iter().for_each(|(reading, status)| read.push(reading, status)),
        Err(err) => {
            let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
            ctx.rt.metrics.etcd.scrape_error(&ns, &name, "prometheus", "prometheus_query");
            let error = Some(err.to_string());
            read.push(
                MemberReading { name: "prometheus".into(), error: error.clone(), ..Default::default() },
                MemberStatus { name: "prometheus".into(), error, ..Default::default() },
            );
        }
    }
}

/// Restarts and liveness failures of the pods named by `spec.correlate`, within the window.
async fn correlated(ctx: &Ctx, obj: &EtcdHealth, mem: &mut Memory, now: i64, window_ms: i64) -> Vec<PodTrouble> {
    let Some(c) = &obj.spec.correlate else { return Vec::new() };
    correlate::troubles(&ctx.rt.host, c, &mut mem.restarts, now, window_ms).await.unwrap_or_else(|err| {
        tracing::warn!(etcdhealth = %obj.name_any(), %err, "cannot read the pods to correlate");
        Vec::new()
    })
}
