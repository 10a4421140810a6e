//! OffloadPolicy controller: every `interval` read the signals, probe the offload agents, decide
//! (pure, `continuum_policy::offload`), actuate, and write status, Events and metrics. Also woken
//! when the target Deployment changes.

mod actuate;
pub mod conditions;
mod events;
mod karmada;
mod observe;
mod pace;
mod report;
mod rules;
mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_api::offload::{Mode, OnDelete, Propagation};
use continuum_policy::offload::{Backend, State, decide};
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Api, ResourceExt};

use crate::kit::events::Note;
use crate::kit::{self, Context, Runtime, finalizer};
pub use rules::rules;

/// Finalizer that lets a deleted policy restore the local backend first (`onDelete: Restore`).
pub const FINALIZER: &str = "continuum.dev/restore-backend";

/// How long a failed restore waits before it is tried again.
const RESTORE_RETRY: Duration = Duration::from_secs(10);

type Ctx = Context<observe::QueryCache>;

pub async fn run(rt: Runtime, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let cache = observe::QueryCache::new(rt.metrics.offload.queries.clone());
    let ctx = Arc::new(Context::new(rt, cache));
    let deployments = Api::<Deployment>::all(ctx.client());
    let wire = move |c: Controller<OffloadPolicy>, store: Store<OffloadPolicy>| {
        c.watches(deployments, watcher::Config::default(), move |d: Deployment| policies_of(&store, &d))
    };
    kit::run(ctx, shutdown, wire, reconcile).await;
}

/// The policies that target `d`.
fn policies_of(store: &Store<OffloadPolicy>, d: &Deployment) -> Vec<ObjectRef<OffloadPolicy>> {
    let (ns, name) = (d.namespace(), d.name_any());
    store
        .state()
        .iter()
        .filter(|p| p.namespace() == ns && p.spec.target_ref.name == name)
        .map(|p| ObjectRef::from_obj(&**p))
        .collect()
}

async fn reconcile(obj: Arc<OffloadPolicy>, ctx: Arc<Ctx>) -> Result<Action, kit::Error> {
    if obj.metadata.deletion_timestamp.is_some() {
        if !finalizer::holds(&*obj, FINALIZER) {
            return Ok(Action::await_change());
        }
        return finalize(&obj, &ctx).await;
    }
    // Added before the first switch, so a deletion can always be undone.
    finalizer::ensure(&ctx, &*obj, FINALIZER).await?;
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
    let t = actuate::Target { rt: &ctx.rt, ns: &ns, policy: &name, spec: &obj.spec, rules: &r, clusters };
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
    Ok(Action::await_change())
}

/// The target Deployment, if it exists, and where Karmada propagates it.
async fn dereference(
    ctx: &Ctx,
    ns: &str,
    target: &str,
) -> (Option<Deployment>, (Option<Propagation>, conditions::OffloadCond)) {
    let deployment = Api::<Deployment>::namespaced(ctx.client(), ns).get_opt(target).await.ok().flatten();
    let propagation = karmada::propagation(&ctx.client(), ns, deployment.as_ref()).await;
    (deployment, propagation)
}

/// The newest sample time among the signals whose freshness is known.
fn newest_sample(seen: &observe::Observed) -> Option<i64> {
    let checked = |i: &usize| matches!(seen.freshness.get(*i), Some(observe::Freshness::Checked));
    let signals = &seen.observation.signals;
    (0..signals.len()).filter(checked).filter_map(|i| signals[i].sample_time_ms).max()
}

/// One evaluation: dereference (target, current backend, persisted state), observe, decide,
/// actuate, report.
async fn evaluate(obj: Arc<OffloadPolicy>, ctx: Arc<Ctx>) -> Result<Action, kit::Error> {
    let started = Instant::now();
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let spec = &obj.spec;
    let interval = Duration::from(spec.telemetry.interval);
    if let Some(wait) = ctx.pacer.wait(&format!("{ns}/{name}"), obj.metadata.generation, interval).await {
        return Ok(Action::requeue(wait));
    }
    let (r, now) = (rules(spec), crate::clock::now_ms());
    let target = &spec.target_ref.name;
    let ((deployment, (propagation, propagated)), seen) =
        tokio::join!(dereference(&ctx, &ns, target), observed(&ctx, &obj, now));
    let clusters = propagation.as_ref().map(cluster_names).unwrap_or_default();
    let t = actuate::Target { rt: &ctx.rt, ns: &ns, policy: &name, spec, rules: &r, clusters };
    let current = actuate::read(&t).await;
    let prev = status::state_of(obj.status.as_ref(), &r).unwrap_or_else(|| State {
        active: match &current {
            Ok(reading) => reading.backend.unwrap_or(Backend::Local),
            _ => Backend::Local,
        },
        ..State::default()
    });
    let d = decide(&r, &prev, &seen.observation, now);
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
    kit::status::apply(&ctx, &*obj, &status::build(&obj, &out, now)).await?;
    kit::events::publish(&ctx, &*obj, notes).await;
    report::record(&ctx.rt.metrics, &ns, &name, &r, &seen, &d, &act);
    ctx.rt.metrics.offload.evaluated(started.elapsed());
    Ok(Action::requeue(plan_next(&ctx, &obj, &seen).await))
}

/// The telemetry and the offload agents' health, read at the same time as the target (neither
/// waits for the other).
async fn observed(ctx: &Ctx, obj: &OffloadPolicy, now: i64) -> observe::Observed {
    let (ns, spec) = (obj.namespace().unwrap_or_default(), &obj.spec);
    let key = format!("{ns}/{}/{}", obj.name_any(), obj.metadata.uid.as_deref().unwrap_or_default());
    let (mut seen, targets) = tokio::join!(
        observe::observe(ctx, &key, &ns, &spec.telemetry, &spec.signals, now),
        observe::probe_all(&spec.backends.offload)
    );
    seen.observation.targets = targets;
    seen
}

/// When to evaluate next (aligned on the source's samples, see `pace`), recorded in the pacer.
async fn plan_next(ctx: &Ctx, obj: &OffloadPolicy, seen: &observe::Observed) -> Duration {
    let t = &obj.spec.telemetry;
    let newest = t.prometheus.as_ref().and(newest_sample(seen));
    let next = pace::next_delay(Duration::from(t.interval), newest, crate::clock::now_ms());
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    ctx.pacer.plan(&key, next).await;
    next
}
