//! The controller kit both controllers run on: one context, one `run` (recorder, controller,
//! cache-sync report, shutdown), one error type and error policy, status apply, typed conditions,
//! Events and the finalizer.

mod aging;
pub mod conditions;
pub mod events;
pub mod finalizer;
mod reuse;
mod runtime;
pub mod status;
pub mod watch;

use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{Lookup, Store};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::liveness::Paced;

pub use aging::Aging;
pub use reuse::{Fetchers, Pacer};
pub use runtime::{NotLeading, Runtime};

/// The field manager of every write the operator makes (status, actuation, finalizers).
pub const FIELD_MANAGER: &str = "continuum-operator";

/// A namespaced resource the operator writes (status, finalizers).
pub trait Managed:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope> + Clone + DeserializeOwned + Debug
{
}

impl<K> Managed for K where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope> + Clone + DeserializeOwned + Debug
{
}

/// How long a failed reconcile waits before it is tried again.
const RETRY: Duration = Duration::from_secs(10);

/// What a reconcile gets: the runtime, the Event recorder, reusable HTTP clients, the pacer, and
/// the controller's own state `S`.
pub struct Context<S> {
    pub rt: Runtime,
    pub recorder: events::Recorders,
    pub fetchers: Fetchers,
    pub pacer: Pacer,
    pub state: S,
}

impl<S: Debug> Debug for Context<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("rt", &self.rt).field("pacer", &self.pacer).field("state", &self.state).finish()
    }
}

impl<S> Context<S> {
    pub fn new(rt: Runtime, state: S) -> Self {
        let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: std::env::var("POD_NAME").ok() };
        let recorder = events::Recorders::new(rt.control.clone(), reporter);
        Self { rt, recorder, fetchers: Fetchers::default(), pacer: Pacer::default(), state }
    }

    /// The control-plane client.
    pub fn client(&self) -> kube::Client {
        self.rt.control.clone()
    }
}

/// Why a reconcile failed (it is retried after [`RETRY`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing {resource} failed: {source}")]
    Write {
        resource: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    NotLeading(#[from] NotLeading),
}

impl Error {
    /// A bounded category (log field, metric label): never the error text.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Write { .. } => "write",
            Error::NotLeading(_) => "not_leading",
        }
    }
}

/// Logs the failure and tries again after [`RETRY`].
pub fn error_policy<K: Resource<DynamicType = ()>, S>(obj: Arc<K>, err: &Error, _ctx: Arc<Context<S>>) -> Action {
    tracing::warn!(kind = %K::kind(&()), name = %obj.name_any(), category = err.category(), %err, "reconcile failed; retrying in 10s");
    Action::requeue(RETRY)
}

/// Runs the controller for `K` until `shutdown`: `wire` may add watches (it gets the store of
/// `K`), and the controller's first full list counts towards `/readyz`. At most
/// `rt.concurrency` reconciles run at once; each one's end is noted for `/healthz`.
pub async fn run<K, S, W, R, Fut>(
    ctx: Arc<Context<S>>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
    wire: W,
    reconcile: R,
) where
    K: Resource<DynamicType = ()> + Paced + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    S: Send + Sync + 'static,
    W: FnOnce(Controller<K>, Store<K>) -> Controller<K>,
    R: FnMut(Arc<K>, Arc<Context<S>>) -> Fut,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    let (controller, store) = watch::controller::<K>(ctx.client());
    let metrics = ctx.rt.metrics.clone();
    report_synced(store.clone(), metrics.clone(), K::kind(&()).into_owned());
    let config = controller::Config::default().concurrency(ctx.rt.concurrency);
    wire(controller, store)
        .with_config(config)
        .graceful_shutdown_on(shutdown)
        .run(noted(reconcile, metrics.clone()), error_policy::<K, S>, ctx)
        .for_each(|res| {
            if let Err(controller::Error::ObjectNotFound(gone)) = &res {
                let key = format!("{}/{}", gone.namespace.as_deref().unwrap_or_default(), gone.name);
                metrics.liveness.with(&K::kind(&()), |c| c.forget(&key));
            }
            async move {
                if let Err(err) = res {
                    tracing::debug!(kind = %K::kind(&()), %err, "reconcile");
                }
            }
        })
        .await;
}

/// `reconcile`, noting for `/healthz` when each call ends and whether its object is due again.
fn noted<K, S, R, Fut>(
    mut reconcile: R,
    metrics: Arc<crate::metrics::Metrics>,
) -> impl FnMut(Arc<K>, Arc<Context<S>>) -> futures::future::BoxFuture<'static, Result<Action, Error>>
where
    K: Resource<DynamicType = ()> + Paced,
    R: FnMut(Arc<K>, Arc<Context<S>>) -> Fut,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    move |obj, ctx| {
        let key = format!("{}/{}", ResourceExt::namespace(&*obj).unwrap_or_default(), obj.name_any());
        // Due again within the period (or the error retry); overdue after three of them.
        let overdue_after = (obj.period() + RETRY).saturating_mul(3);
        let (pending, metrics) = (reconcile(obj, ctx), metrics.clone());
        Box::pin(async move {
            let res = pending.await;
            let waits = matches!(&res, Ok(a) if *a == Action::await_change());
            let due = (!waits).then_some(overdue_after);
            metrics.liveness.with(&K::kind(&()), |c| c.ended(&key, std::time::Instant::now(), due));
            res
        })
    }
}

/// Resolves true once a controller's cache holds its first full list (false if it never will).
/// Polled again every 200 ms: the store's readiness signal wakes only one waiter, and the
/// controller itself waits on it too.
pub async fn wait_synced<K>(store: &Store<K>) -> bool
where
    K: Lookup + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    loop {
        if let Ok(result) = tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await {
            return result.is_ok();
        }
    }
}

/// Counts the controller's cache towards `/readyz` once it holds its first full list.
fn report_synced<K>(store: Store<K>, metrics: Arc<crate::metrics::Metrics>, kind: String)
where
    K: Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    tokio::spawn(async move {
        if wait_synced(&store).await {
            tracing::info!("{kind} cache synced");
            metrics.readiness.synced();
        }
    });
}
