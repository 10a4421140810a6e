//! Forgetting deleted policies: their pacing, their entry in the Deployment index and their
//! metric series. A policy deleted through its finalizer is forgotten at once; one deleted
//! without (it never switched, so it holds none) within [`EVERY`], by comparing with the
//! controller's store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use continuum_api::OffloadPolicy;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::Ctx;
use crate::metrics::PolicyLabels;

/// How often the store is compared with what the controller remembers.
pub const EVERY: Duration = Duration::from_secs(30);

/// Forgets policy `ns/name`.
pub fn forget(ctx: &Ctx, ns: &str, name: &str) {
    ctx.pacer.forget(&format!("{ns}/{name}"));
    ctx.state.stores.targets().forget(ns, name);
    ctx.rt.metrics.offload.forget(&PolicyLabels { namespace: ns.to_owned(), policy: name.to_owned() });
}

/// Every [`EVERY`], forgets the policies the store no longer holds.
pub async fn run(ctx: Arc<Ctx>, store: Store<OffloadPolicy>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if futures::FutureExt::now_or_never(store.wait_until_ready()).is_none() {
            continue;
        }
        let live: HashSet<(String, String)> =
            store.state().iter().map(|p| (p.namespace().unwrap_or_default(), p.name_any())).collect();
        let known = ctx.state.stores.targets().policies().into_iter();
        let metered = ctx.rt.metrics.offload.known().into_iter().map(|l| (l.namespace, l.policy));
        let gone: HashSet<(String, String)> = known.chain(metered).filter(|k| !live.contains(k)).collect();
        for (ns, name) in &gone {
            forget(&ctx, ns, name);
        }
        if !gone.is_empty() {
            tracing::debug!(policies = gone.len(), "forgot deleted OffloadPolicies");
        }
    }
}
