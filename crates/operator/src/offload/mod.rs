//! OffloadPolicy controller: every `interval` read the telemetry, probe the offload agent, decide
//! (pure, `continuum_policy::offload`), actuate, and write status, Events and metrics. Also woken
//! when the target Deployment changes.

mod actuate;
mod karmada;
mod observe;
mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use continuum_api::OffloadPolicy;
use continuum_api::offload::{BackendName, Mode, OffloadPolicySpec, OnDelete, OnNoData, Transition};
use continuum_policy::offload::{Backend, NoData, Rules, State, decide};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};

use crate::metrics::{CategoryLabels, Metrics, PolicyLabels, SwitchLabels};
use crate::shared::{Fetchers, Pacer};

#[allow(missing_debug_implementations)]
pub struct Context {
    client: Client,
    rt: crate::shared::Runtime,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    cache: observe::QueryCache,
    fetchers: Fetchers,
    pacer: Pacer,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status failed: {0}")]
    Status(#[source] kube::Error),
    #[error(transparent)]
    NotLeading(#[from] crate::shared::NotLeading),
}

fn ms(d: &kube::core::Duration) -> i64 {
    Duration::from(*d).as_millis() as i64
}

fn secs(d: &kube::core::Duration) -> f64 {
    Duration::from(*d).as_secs_f64()
}

pub fn rules(spec: &OffloadPolicySpec) -> Rules {
    let recover = spec.recover_when.as_ref();
    Rules {
        fps_below: spec.offload_when.fps_below,
        latency_above: spec.offload_when.latency_above.as_ref().map(secs),
        offload_for_ms: ms(&spec.offload_when.for_),
        fps_above: recover.and_then(|r| r.fps_above),
        latency_below: recover.and_then(|r| r.latency_below.as_ref().map(secs)),
        recover_for_ms: recover.map_or(60_000, |r| ms(&r.for_)),
        cooldown_ms: ms(&spec.cooldown),
        max_switches_per_hour: spec.max_switches_per_hour.max(1) as usize,
        max_sample_age_ms: ms(&spec.telemetry.max_sample_age),
        on_no_data: match spec.telemetry.on_no_data {
            OnNoData::Hold => NoData::Hold,
            OnNoData::Local => NoData::Local,
            OnNoData::Offload => NoData::Offload,
        },
        dry_run: spec.mode == Mode::DryRun,
        suspend: spec.suspend,
        pin: spec.pin.map(status::from_api),
        local_endpoint: spec.backends.local.endpoint.clone(),
        offload_endpoint: spec.backends.offload.endpoint.clone(),
    }
    .with_recovery_defaults()
}

pub async fn run(rt: crate::shared::Runtime, shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static) {
    let (client, metrics) = (rt.control.clone(), rt.metrics.clone());
    let reporter = Reporter { controller: "continuum-operator".into(), instance: std::env::var("POD_NAME").ok() };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        cache: observe::QueryCache::new(metrics.offload_queries.clone()),
        client: client.clone(),
        rt,
        metrics,
        fetchers: Fetchers::default(),
        pacer: Pacer::default(),
    });
    let controller = Controller::new(Api::<OffloadPolicy>::all(client.clone()), watcher::Config::default());
    let store = controller.store();
    let ready = store.clone();
    crate::shared::report_synced(ready, ctx.metrics.clone(), "OffloadPolicy");
    controller
        .watches(Api::<Deployment>::all(client), watcher::Config::default(), move |d: Deployment| {
            let (ns, name) = (d.namespace(), d.name_any());
            store
                .state()
                .iter()
                .filter(|p| p.namespace() == ns && p.spec.target_ref.name == name)
                .map(|p| ObjectRef::from_obj(&**p))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            if let Err(err) = res {
                tracing::debug!(%err, "offloadpolicy reconcile");
            }
        })
        .await;
}

/// Reads the telemetry; configuration problems (Secrets, TLS) come back as the observation's error.
async fn observe(
    ctx: &Context,
    ns: &str,
    spec: &OffloadPolicySpec,
    now: i64,
) -> continuum_policy::offload::Observation {
    let t = &spec.telemetry;
    let (tls, timeout) = match (&t.prometheus, &t.scrape) {
        (Some(p), _) => (p.tls.as_ref(), p.timeout),
        (None, Some(s)) => (s.tls.as_ref(), s.timeout),
        (None, None) => (None, kube::core::Duration::from(Duration::from_secs(5))),
    };
    let setup = async {
        for url in t.prometheus.as_ref().map(|p| &p.url).into_iter().chain(t.scrape.as_ref().map(|s| &s.url)) {
            ctx.rt.allow.check(url)?;
        }
        let material = crate::secrets::material(&ctx.client, ns, tls).await?;
        let f = ctx.fetchers.get(material, Duration::from(timeout)).await?;
        let headers = match &t.prometheus {
            Some(p) => {
                crate::secrets::headers_for(
                    &ctx.client,
                    ns,
                    p.headers.as_ref(),
                    p.auth.as_ref().and_then(|a| a.bearer_token_secret_ref.as_ref()),
                    p.auth.as_ref().and_then(|a| a.basic_auth_secret_ref.as_ref()),
                )
                .await?
            }
            None => Vec::new(),
        };
        Ok::<_, String>((f, headers))
    };
    match setup.await {
        Ok((f, headers)) => observe::read(&ctx.cache, t, &f, headers, now).await,
        Err(e) => continuum_policy::offload::Observation {
            fps: None,
            latency_seconds: None,
            sample_time_ms: None,
            error: Some(e),
            target: continuum_policy::offload::TargetHealth::Unchecked,
        },
    }
}

/// Finalizer that lets a deleted policy restore the local backend first (`onDelete: Restore`).
pub const FINALIZER: &str = "continuum.dev/restore-backend";

async fn reconcile(obj: Arc<OffloadPolicy>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);
    if obj.metadata.deletion_timestamp.is_some() {
        return if has_finalizer { finalize(&obj, &ctx, &ns, &name).await } else { Ok(Requeue::await_change()) };
    }
    if !has_finalizer {
        // Added before the first switch, so a deletion can always be undone.
        ctx.rt.may_write("offloadpolicies")?;
        let mut finalizers = obj.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        // resourceVersion: a concurrent change of the list fails this write instead of being lost.
        let patch =
            serde_json::json!({ "metadata": { "finalizers": finalizers, "resourceVersion": obj.resource_version() } });
        Api::<OffloadPolicy>::namespaced(ctx.client.clone(), &ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(Error::Status)?;
    }
    evaluate(obj, ctx).await
}

/// The policy is being deleted: restore the local backend unless `onDelete: Keep`, then let it go.
/// A failed restore keeps the finalizer (and the policy), says why in an Event, and retries.
async fn finalize(obj: &OffloadPolicy, ctx: &Context, ns: &str, name: &str) -> Result<Requeue, Error> {
    let r = rules(&obj.spec);
    let clusters = obj.status.as_ref().and_then(|s| s.propagation.as_ref()).map(cluster_names).unwrap_or_default();
    let t = actuate::Target { rt: &ctx.rt, ns, policy: name, spec: &obj.spec, rules: &r, clusters };
    let (kind, reason, note) = match obj.spec.on_delete {
        _ if obj.spec.mode == Mode::DryRun => {
            (EventType::Normal, "Kept", "Deleted in DryRun mode: the workload was never changed.".to_owned())
        }
        OnDelete::Keep => (
            EventType::Normal,
            "Kept",
            "Deleted with onDelete: Keep: the workload stays on its current backend.".to_owned(),
        ),
        OnDelete::Restore => match actuate::restore(&t).await {
            Ok(done) => (EventType::Normal, "Restored", format!("Deleted: {done}.")),
            Err(err) => {
                let note = format!("Deleted, but restoring the local backend failed (retrying in 10s): {err}.");
                let event = Event {
                    type_: EventType::Warning,
                    reason: "RestoreFailed".into(),
                    note: Some(note),
                    action: "Delete".into(),
                    secondary: None,
                };
                let _ = crate::shared::publish_event(&ctx.rt, &ctx.recorder, &event, &obj.object_ref(&())).await;
                return Ok(Requeue::requeue(Duration::from_secs(10)));
            }
        },
    };
    let event =
        Event { type_: kind, reason: reason.into(), note: Some(note), action: "Delete".into(), secondary: None };
    let _ = crate::shared::publish_event(&ctx.rt, &ctx.recorder, &event, &obj.object_ref(&())).await;
    let left: Vec<&String> = obj.finalizers().iter().filter(|f| *f != FINALIZER).collect();
    ctx.rt.may_write("offloadpolicies")?;
    let patch = serde_json::json!({ "metadata": { "finalizers": left, "resourceVersion": obj.resource_version() } });
    match Api::<OffloadPolicy>::namespaced(ctx.client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(Requeue::await_change()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Requeue::await_change()),
        Err(e) => Err(Error::Status(e)),
    }
}

fn cluster_names(p: &continuum_api::offload::Propagation) -> Vec<String> {
    p.clusters.iter().map(|c| c.name.clone()).collect()
}

async fn evaluate(obj: Arc<OffloadPolicy>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let started = Instant::now();
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    let spec = &obj.spec;
    let interval = Duration::from(spec.telemetry.interval);
    if let Some(wait) = ctx.pacer.wait(&format!("{ns}/{name}"), obj.metadata.generation, interval).await {
        return Ok(Requeue::requeue(wait));
    }
    // Dereference: the target, where the workload points now, the persisted decision state.
    let (r, now) = (rules(spec), crate::shared::now_ms());
    let deploys: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let target = &spec.target_ref.name;
    let deployment = deploys.get_opt(target).await.ok().flatten();
    let (propagation, propagated) = karmada::propagation(&ctx.client, &ns, deployment.as_ref()).await;
    let clusters = propagation.as_ref().map(cluster_names).unwrap_or_default();
    let t = actuate::Target { rt: &ctx.rt, ns: &ns, policy: &name, spec, rules: &r, clusters };
    let current = actuate::read(&t).await;
    let prev = status::state_of(obj.status.as_ref()).unwrap_or_else(|| State {
        active: match &current {
            Ok(reading) if reading.backend == Some(Backend::Offload) => Backend::Offload,
            _ => Backend::Local,
        },
        ..State::default()
    });
    // Observe and decide.
    let mut o = observe(&ctx, &ns, spec, now).await;
    o.target = observe::probe(&spec.backends.offload).await;
    let d = decide(&r, &prev, &o, now);
    // Actuate, then report.
    let act = actuate::carry_out(&t, &prev, &d, now, current.ok()).await;
    let target_found = deployment.is_some();
    let conditions = status::conditions(
        &status::Facts { target, ns: &ns, target_found, decision: &d, observation: &o },
        act.condition.clone(),
        propagated,
    );
    let out = status::Outcome {
        decision: &d,
        state: &act.state,
        observation: &o,
        endpoint: r.endpoint(act.state.active).to_owned(),
        switched: act.switched.clone(),
        conditions,
        propagation,
        actuation: act.actuation.clone(),
    };
    let new_status = status::build(&obj, &out, now);
    let api: Api<OffloadPolicy> = Api::namespaced(ctx.client.clone(), &ns);
    let body =
        serde_json::json!({ "apiVersion": "continuum.dev/v1alpha1", "kind": "OffloadPolicy", "status": new_status });
    ctx.rt.may_write("offloadpolicies/status")?;
    api.patch_status(&name, &PatchParams::apply(actuate::FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map_err(Error::Status)?;
    publish(&ctx, &obj, &d, act.switched.as_ref(), &new_status.conditions).await;
    record_metrics(&ctx.metrics, &ns, &name, &o, &act);
    ctx.metrics.offload_evaluation.observe(started.elapsed().as_secs_f64());
    Ok(Requeue::requeue(interval))
}

/// A bounded category for a telemetry error (metric label; never the error text).
fn error_category(err: &str) -> &'static str {
    if err.contains("allow-list") {
        "not_allowed"
    } else if err.contains("timeout") || err.contains("no answer") {
        "timeout"
    } else if err.contains("series") {
        "series"
    } else {
        "unavailable"
    }
}

fn record_metrics(
    m: &Metrics,
    ns: &str,
    name: &str,
    o: &continuum_policy::offload::Observation,
    act: &actuate::Carried,
) {
    let labels = PolicyLabels { namespace: ns.into(), policy: name.into() };
    if let Some(err) = &o.error {
        let l = CategoryLabels { namespace: ns.into(), policy: name.into(), category: error_category(err).into() };
        m.offload_telemetry_errors.get_or_create(&l).inc();
    }
    if let Some(f) = o.fps.filter(|v| v.is_finite()) {
        m.offload_fps.get_or_create(&labels).set(f);
    }
    if let Some(l) = o.latency_seconds.filter(|v| v.is_finite()) {
        m.offload_latency.get_or_create(&labels).set(l);
    }
    m.offload_offloaded.get_or_create(&labels).set(if act.state.active == Backend::Offload { 1.0 } else { 0.0 });
    if let Some(t) = &act.switched {
        let to = if t.to == BackendName::Offload { "offload" } else { "local" };
        m.offload_switches
            .get_or_create(&SwitchLabels { namespace: ns.into(), policy: name.into(), to: to.into() })
            .inc();
    }
}

/// Events: one per switch, per DryRun decision, and per condition change.
async fn publish(
    ctx: &Context,
    obj: &OffloadPolicy,
    d: &continuum_policy::offload::Decision,
    switched: Option<&Transition>,
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) {
    let previous = obj.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let mut events: Vec<(EventType, String, String)> = Vec::new();
    if let Some(t) = switched {
        let reason = match (t.to, d.reason) {
            (BackendName::Offload, _) => "Offloaded",
            (BackendName::Local, "TargetUnhealthy") => "FailedBack",
            (BackendName::Local, _) => "Recovered",
        };
        events.push((EventType::Normal, reason.into(), d.message.clone()));
    }
    for c in conditions {
        let before = previous.iter().find(|p| p.type_ == c.type_);
        let changed = before.is_none_or(|p| p.status != c.status || p.reason != c.reason);
        let notable = c.type_ != "Ready"
            || matches!(
                c.reason.as_str(),
                "DryRunWouldOffload"
                    | "DryRunWouldRecover"
                    | "CooldownActive"
                    | "SwitchBudgetExhausted"
                    | "TargetUnhealthy"
                    | "TelemetryUnavailable"
            );
        let quiet = before.is_none() && (c.status == "True" || c.reason == "NotAResourceTemplate");
        if changed && notable && !quiet {
            let kind = if c.status == "True" { EventType::Normal } else { EventType::Warning };
            events.push((kind, c.reason.clone(), c.message.clone()));
        }
    }
    for (type_, reason, note) in events {
        let event = Event {
            type_,
            reason,
            note: Some(note.chars().take(1000).collect()),
            action: "Evaluate".into(),
            secondary: None,
        };
        if let Err(err) = crate::shared::publish_event(&ctx.rt, &ctx.recorder, &event, &obj.object_ref(&())).await {
            tracing::warn!(offloadpolicy = %obj.name_any(), %err, "cannot publish an Event");
        }
    }
}

fn error_policy(obj: Arc<OffloadPolicy>, err: &Error, _ctx: Arc<Context>) -> Requeue {
    tracing::warn!(offloadpolicy = %obj.name_any(), %err, "reconcile failed; retrying in 10s");
    Requeue::requeue(Duration::from_secs(10))
}
