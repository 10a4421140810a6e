//! OffloadPolicy controller: every `interval` read the signals, probe the offload agents, decide
//! (pure, `continuum_policy::offload`), actuate, and write status, Events and metrics. Also woken
//! when the target Deployment changes.

mod actuate;
pub mod conditions;
mod events;
mod karmada;
mod observe;
mod pace;
mod prune;
mod report;
mod rules;
mod status;
mod stores;

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_api::offload::{Mode, OnDelete, Propagation};
use continuum_policy::offload::{Backend, Decision, Rules, State, decide};
use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;

use crate::kit::events::Note;
use crate::kit::{self, Context, Runtime, finalizer};
use crate::secrets::SecretCache;
pub use rules::rules;

/// Finalizer that lets a deleted policy restore the local backend first (`onDelete: Restore`).
pub const FINALIZER: &str = "continuum.dev/restore-backend";

/// How long a failed restore waits before it is tried again.
const RESTORE_RETRY: Duration = Duration::from_secs(10);

/// What every evaluation shares: the watched objects, and the telemetry, Secrets and probe
/// results policies asking the same thing share.
#[derive(Debug)]
pub struct Shared {
    pub queries: observe::QueryCache,
    pub secrets: SecretCache,
    pub probes: observe::Probes,
    pub stores: stores::Stores,
}

type Ctx = Context<Shared>;

pub async fn run(rt: Runtime, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let queries = observe::QueryCache::new(rt.metrics.offload.queries.clone());
    let (stores, changed) = stores::Stores::start(&rt.control).await;
    let shared = Shared { queries, secrets: SecretCache::default(), probes: observe::Probes::default(), stores };
    let ctx = Arc::new(Context::new(rt, shared));
    tracing::info!("waiting for the watched Deployments, Services, EndpointSlices, ConfigMaps and Karmada objects");
    if !ctx.state.stores.synced().await {
        tracing::error!("a watch of the objects policies read ended before its first list");
        return;
    }
    let woken = ctx.clone();
    let wire = move |c: Controller<OffloadPolicy>, store: Store<OffloadPolicy>| {
        tokio::spawn(prune::run(woken.clone(), store));
        let index = woken.clone();
        c.watches_stream(changed.map(Ok), move |d| {
            index.state.stores.targets().of(&d.namespace().unwrap_or_default(), &d.name_any())
        })
    };
    kit::run(ctx, shutdown, wire, reconcile).await;
}

async fn reconcile(obj: Arc<OffloadPolicy>, ctx: Arc<Ctx>) -> Result<Action, kit::Error> {
    if obj.metadata.deletion_timestamp.is_some() {
        if !finalizer::holds(&*obj, FINALIZER) {
            return Ok(Action::await_change());
        }
        return finalize(&obj, &ctx).await;
    }
    evaluate(obj, ctx).await
}

fn cluster_names(p: &Propagation) -> Vec<String> {
    p.clusters.iter().map(|c| c.name.clone()).collect()
}

/// The policy is being deleted: restore the local backend unless `onDelete: Keep`, then let it go.
/// A failed restore keeps the finalizer (and the policy), says why in an Event, and retries.
async fn finalize(obj: &OffloadPolicy, ctx: &Ctx) -> Result<Action, kit::Error> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let r = rules(&obj.spec);
    let clusters = obj.status.as_ref().and_then(|s| s.propagation.as_ref()).map(cluster_names).unwrap_or_default();
    let stores = &ctx.state.stores;
    let t = actuate::Target { rt: &ctx.rt, ns: &ns, policy: &name, spec: &obj.spec, rules: &r, stores, clusters };
    let note = match obj.spec.on_delete {
        _ if obj.spec.mode == Mode::DryRun => {
            Note::new(false, "Kept", "Deleted in DryRun mode: the workload was never changed.", "Delete")
        }
        OnDelete::Keep => Note::new(
            false,
            "Kept",
            "Deleted with onDelete: Keep: the workload stays on its current backend.",
            "Delete",
        ),
        OnDelete::Restore => match actuate::restore(&t).await {
            Ok(done) => Note::new(false, "Restored", format!("Deleted: {done}."), "Delete"),
            Err(err) => {
                let msg = format!("Deleted, but restoring the local backend failed (retrying in 10s): {err}.");
                kit::events::publish(ctx, obj, vec![Note::new(true, "RestoreFailed", msg, "Delete")]).await;
                return Ok(Action::requeue(RESTORE_RETRY));
            }
        },
    };
    kit::events::publish(ctx, obj, vec![note]).await;
    finalizer::remove(ctx, obj, FINALIZER).await?;
    prune::forget(ctx, &ns, &name);
    Ok(Action::await_change())
}

/// The newest sample time among the signals whose freshness is known.
fn newest_sample(seen: &observe::Observed) -> Option<i64> {
    let checked = |i: &usize| matches!(seen.freshness.get(*i), Some(observe::Freshness::Checked));
    let signals = &seen.observation.signals;
    (0..signals.len()).filter(checked).filter_map(|i| signals[i].sample_time_ms).max()
}

/// Whether the policy must hold its finalizer before this evaluation's actuation: only a policy
/// that puts (or keeps) the workload on an offload backend has something to restore on deletion,
/// so the many policies that never switch cost no finalizer write.
fn needs_finalizer(spec: &continuum_api::OffloadPolicySpec, r: &Rules, d: &Decision) -> bool {
    !(r.dry_run || r.suspend) && spec.on_delete == OnDelete::Restore && d.state.active.is_offload()
}

/// One evaluation: dereference (target, current backend, persisted state), observe, decide,
/// actuate, report. Everything but the telemetry comes from watches; status is written only when
/// it changed.
async fn evaluate(obj: Arc<OffloadPolicy>, ctx: Arc<Ctx>) -> Result<Action, kit::Error> {
    let started = Instant::now();
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let spec = &obj.spec;
    let interval = Duration::from(spec.telemetry.interval);
    if let Some(wait) = ctx.pacer.wait(&format!("{ns}/{name}"), obj.metadata.generation, interval).await {
        return Ok(Action::requeue(wait));
    }
    let (r, now, stores) = (rules(spec), crate::clock::now_ms(), &ctx.state.stores);
    let target = &spec.target_ref.name;
    stores.targets().set(&ns, &name, target);
    let deployment = stores.deployment(&ns, target);
    let (propagation, propagated) = karmada::propagation(stores, &ns, deployment.as_deref());
    let seen = observed(&ctx, &obj, now).await;
    let clusters = propagation.as_ref().map(cluster_names).unwrap_or_default();
    let t = actuate::Target { rt: &ctx.rt, ns: &ns, policy: &name, spec, rules: &r, stores, clusters };
    let current = actuate::read(&t);
    let prev = status::state_of(obj.status.as_ref(), &r).unwrap_or_else(|| State {
        active: current.as_ref().ok().and_then(|c| c.backend).unwrap_or(Backend::Local),
        ..State::default()
    });
    let d = decide(&r, &prev, &seen.observation, now);
    if needs_finalizer(spec, &r, &d) {
        // Added before the first switch, so a deletion can always be undone.
        finalizer::ensure(&ctx, &*obj, FINALIZER).await?;
    }
    let act = actuate::carry_out(&t, &prev, &d, now, current.ok()).await;
    let facts = conditions::Facts {
        target,
        ns: &ns,
        target_found: deployment.is_some(),
        decision: &d,
        observation: &seen.observation,
        rules: &r,
    };
    let conds = conditions::conditions(&facts, act.condition.clone(), propagated);
    let previous = obj.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let notes = events::select(&d, act.switched.as_ref(), &conds, &previous);
    let out = status::Outcome {
        rules: &r,
        decision: &d,
        state: &act.state,
        seen: &seen,
        switched: act.switched.clone(),
        conditions: conds,
        propagation,
        actuation: act.actuation.clone(),
    };
    let new_status = status::build(&obj, &out, now);
    if kit::status::differs(obj.status.as_ref(), &new_status) {
        kit::status::apply(&ctx, &*obj, &new_status).await?;
    }
    kit::events::publish(&ctx, &*obj, notes).await;
    report::record(&ctx.rt.metrics, &ns, &name, &out, now);
    ctx.rt.metrics.offload.evaluated(started.elapsed());
    Ok(Action::requeue(plan_next(&ctx, &obj, &seen).await))
}

/// The telemetry and the offload agents' health, read at the same time (neither waits for the
/// other).
async fn observed(ctx: &Ctx, obj: &OffloadPolicy, now: i64) -> observe::Observed {
    let (ns, spec) = (obj.namespace().unwrap_or_default(), &obj.spec);
    let key = format!("{ns}/{}/{}", obj.name_any(), obj.metadata.uid.as_deref().unwrap_or_default());
    let fresh_for = observe::fresh_for(&spec.telemetry);
    let (mut seen, targets) = tokio::join!(
        observe::observe(ctx, &key, &ns, &spec.telemetry, &spec.signals, now),
        observe::probe_all(&ctx.state.probes, &spec.backends.offload, fresh_for)
    );
    seen.observation.targets = targets;
    seen
}

/// When to evaluate next (aligned on the source's samples, see `pace`, and spread per policy so
/// policies created together do not stay in lock-step), recorded in the pacer.
async fn plan_next(ctx: &Ctx, obj: &OffloadPolicy, seen: &observe::Observed) -> Duration {
    let t = &obj.spec.telemetry;
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let newest = t.prometheus.as_ref().and(newest_sample(seen));
    let next = pace::next_delay(Duration::from(t.interval), newest, crate::clock::now_ms());
    let next = next + pace::spread(&key, Duration::from(t.interval), newest.is_some());
    ctx.pacer.plan(&key, next).await;
    next
}
