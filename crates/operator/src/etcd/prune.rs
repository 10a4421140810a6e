//! Forgetting deleted EtcdHealths: their pacing, their memory and their metric series. An
//! EtcdHealth holds no finalizer (it changes nothing to undo), so deletions are found by
//! comparing the controller's store with what is remembered, every [`EVERY`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use continuum_api::EtcdHealth;
use kube::ResourceExt;
use kube::runtime::reflector::Store;

use super::Ctx;

/// How often the store is compared with what the controller remembers.
pub const EVERY: Duration = Duration::from_secs(10);

/// Forgets EtcdHealth `ns/name`.
pub fn forget(ctx: &Ctx, ns: &str, name: &str) {
    let key = format!("{ns}/{name}");
    ctx.pacer.forget(&key);
    ctx.state.forget(&key);
    ctx.rt.metrics.etcd.forget(ns, name);
}

/// Every [`EVERY`], forgets the EtcdHealths the store no longer holds.
pub async fn run(ctx: Arc<Ctx>, store: Store<EtcdHealth>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if futures::FutureExt::now_or_never(store.wait_until_ready()).is_none() {
            continue;
        }
        let live: HashSet<(String, String)> =
            store.state().iter().map(|h| (h.namespace().unwrap_or_default(), h.name_any())).collect();
        let gone: Vec<(String, String)> =
            ctx.rt.metrics.etcd.known().into_iter().filter(|k| !live.contains(k)).collect();
        for (ns, name) in &gone {
            forget(&ctx, ns, name);
        }
        if !gone.is_empty() {
            tracing::debug!(etcdhealths = gone.len(), "forgot deleted EtcdHealths");
        }
    }
}
