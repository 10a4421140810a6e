//! EtcdHealth controller: scrape every member each `interval`, compute the window figures,
//! evaluate, write status, publish Events on changes, export metrics.

mod correlate;
mod listing;
pub mod member;
mod prom_source;
mod prune;
mod scrape;
mod status;
mod steady;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use continuum_api::EtcdHealth;
use continuum_api::etcd::{EtcdEndpoint, MemberStatus};
use continuum_policy::etcd::{MemberReading, PodTrouble, Thresholds};
use continuum_telemetry::etcd::EtcdSnapshot;
use kube::ResourceExt;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;

use crate::clock::{millis, seconds};
use crate::kit::{self, Aging, Context, Runtime};
use member::MemberHistory;

/// What one EtcdHealth remembers between reconciles (lost on restart; timers live in status).
#[derive(Debug, Default)]
struct Memory {
    members: HashMap<String, MemberHistory>,
    restarts: correlate::RestartHistory,
    /// What status showed of each member last (see [`steady`]).
    shown: HashMap<String, MemberStatus>,
}

/// Each EtcdHealth's memory. The locks guard memory only: they are taken after the members were
/// read and released before anything is written, never held across a network call (std locks:
/// holding one across an `.await` would not compile into the controller's tasks).
#[derive(Debug, Default)]
pub struct Memories(Mutex<Aging<String, Arc<Mutex<Memory>>>>);

impl Memories {
    fn of(&self, key: &str) -> Arc<Mutex<Memory>> {
        let mut all = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.entry(key.to_owned(), Instant::now(), Arc::default).clone()
    }

    /// Forgets `key` (the EtcdHealth was deleted).
    fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key.to_owned());
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
    let woken = ctx.clone();
    let wire = move |c: Controller<EtcdHealth>, store: Store<EtcdHealth>| {
        tokio::spawn(prune::run(woken, store));
        c
    };
    kit::run::<EtcdHealth, _, _, _, _>(ctx, shutdown, wire, reconcile).await;
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

/// What the members answered, before it meets the memory.
struct Answers<'a> {
    scraped: Vec<(&'a EtcdEndpoint, Result<EtcdSnapshot, scrape::ReadError>)>,
    from_prometheus: Option<Result<Vec<(MemberReading, MemberStatus)>, scrape::ReadError>>,
    pods: Option<correlate::Seen>,
}

/// Reads every member (concurrently, bounded) and the correlated pods; holds no memory.
async fn ask<'a>(ctx: &Ctx, obj: &'a EtcdHealth, t: &Thresholds) -> Answers<'a> {
    let (ns, spec) = (obj.namespace().unwrap_or_default(), &obj.spec);
    let from_prometheus = match &spec.prometheus {
        Some(src) => Some(scrape::prometheus(ctx, &ns, src, t).await),
        None => None,
    };
    let scraped = scrape::members(ctx, &ns, &spec.endpoints).await;
    let pods = match &spec.correlate {
        None => None,
        Some(c) => correlate::read(&ctx.rt.host, c)
            .await
            .map_err(|err| {
                tracing::warn!(etcdhealth = %obj.name_any(), %err, "cannot read the pods to correlate");
            })
            .ok(),
    };
    Answers { scraped, from_prometheus, pods }
}

async fn reconcile(obj: Arc<EtcdHealth>, ctx: Arc<Ctx>) -> Result<Action, kit::Error> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let spec = &obj.spec;
    let (t, interval) = (thresholds(spec), Duration::from(spec.interval));
    let key = format!("{ns}/{name}");
    // Our own status writes wake the controller too: scrape at most once per interval unless the
    // spec changed.
    if let Some(wait) = ctx.pacer.wait(&key, obj.metadata.generation, interval).await {
        return Ok(Action::requeue(wait));
    }
    let answers = ask(&ctx, &obj, &t).await;
    let now = crate::clock::now_ms();
    let (read, pods) = remember(&ctx, &obj, &ctx.state.of(&key), answers, &t, now);
    let prev = status::state_of(obj.status.as_ref());
    let eval = continuum_policy::etcd::evaluate(&t, &prev, &read.readings, &pods, now);
    ctx.rt.metrics.etcd.observe(&ns, &name, &read.members, eval.state.slow);
    let new_status = status::build(&obj, &eval, read.members, &t, now);
    // An unchanged verdict over unmoved figures writes nothing.
    if kit::status::differs(obj.status.as_ref(), &new_status) {
        kit::status::apply(&ctx, &*obj, &new_status).await?;
    }
    kit::events::publish(&ctx, &*obj, status::events(&obj, &eval)).await;
    Ok(Action::requeue(interval))
}

/// Adds the answers to the memory (under its lock, with nothing but memory work inside): each
/// scrape to its member's history, the window figures read from it, steadied against what status
/// showed; and the pods' trouble in the window.
fn remember(
    ctx: &Ctx,
    obj: &EtcdHealth,
    memory: &Mutex<Memory>,
    answers: Answers<'_>,
    t: &Thresholds,
    now: i64,
) -> (Read, Vec<PodTrouble>) {
    let mut mem = memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mem = &mut *mem;
    mem.members.retain(|m, _| obj.spec.endpoints.iter().any(|e| &e.name == m));
    let mut read = histories(ctx, obj, mem, answers.scraped, t, now);
    if let Some(result) = answers.from_prometheus {
        add_prometheus(ctx, obj, &mut read, result);
    }
    let stored = obj.status.as_ref().map(|s| s.members.as_slice()).unwrap_or_default();
    steady::all(&mut mem.shown, stored, &mut read.readings, &mut read.members);
    let pods = match &answers.pods {
        Some(seen) => correlate::troubles(seen, &mut mem.restarts, now, t.window_ms),
        None => Vec::new(),
    };
    (read, pods)
}

/// Adds each scrape to its member's history and reads the window figures from it.
fn histories(
    ctx: &Ctx,
    obj: &EtcdHealth,
    mem: &mut Memory,
    scraped: Vec<(&EtcdEndpoint, Result<EtcdSnapshot, scrape::ReadError>)>,
    t: &Thresholds,
    now: i64,
) -> Read {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let mut read = Read::default();
    for (ep, result) in scraped {
        let history = mem.members.entry(ep.name.clone()).or_default();
        match result {
            Ok(snap) => history.push(snap, t.window_ms),
            Err(err) => {
                ctx.rt.metrics.etcd.scrape_error(&ns, &name, &ep.name, err.category());
                history.failed(err.to_string(), now, t.window_ms);
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
