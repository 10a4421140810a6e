//! Restarts and liveness-probe failures of the pods that depend on etcd, inside the window.

use std::collections::{HashMap, VecDeque};

use continuum_api::etcd::Correlate;
use continuum_policy::etcd::PodTrouble;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ListParams;
use kube::{Api, Client};

/// Restart counts seen per pod over time, to tell restarts inside the window from older ones.
#[derive(Debug, Default)]
pub struct RestartHistory {
    pods: HashMap<String, VecDeque<(i64, u32)>>,
}

impl RestartHistory {
    /// Restarts of `pod` within the window ending at `now_ms`. A pod seen for the first time
    /// counts all its restarts when it was created inside the window, else at least one when its
    /// last termination is inside the window.
    fn restarts(&mut self, pod: &Pod, now_ms: i64, window_ms: i64) -> u32 {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
        let total: u32 = statuses.iter().map(|c| c.restart_count.max(0) as u32).sum();
        let start = now_ms - window_ms;
        let seen = self.pods.entry(name).or_default();
        if seen.is_empty() {
            // First sight: estimate the count at the start of the window as the baseline.
            let ms = |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| t.0.as_millisecond();
            let created_inside = pod.metadata.creation_timestamp.as_ref().is_some_and(|t| ms(t) >= start);
            let last_termination_inside = statuses.iter().any(|c| {
                c.last_state
                    .as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .and_then(|t| t.finished_at.as_ref())
                    .is_some_and(|t| ms(t) >= start)
            });
            let inside = if created_inside { total } else { u32::from(last_termination_inside).min(total) };
            seen.push_back((now_ms, total - inside));
        }
        seen.push_back((now_ms, total));
        while seen.len() > 1 && seen.front().is_some_and(|(at, _)| *at < start) {
            seen.pop_front();
        }
        total.saturating_sub(seen.front().map_or(total, |(_, n)| *n))
    }

    /// Forgets pods that no longer exist.
    fn retain(&mut self, alive: &[String]) {
        self.pods.retain(|name, _| alive.contains(name));
    }
}

/// The selected pods and the namespace's `Unhealthy` Events: read without holding any memory,
/// then counted by [`troubles`].
#[derive(Debug)]
pub struct Seen {
    pods: Vec<Pod>,
    unhealthy: Vec<Event>,
}

/// Reads the pods `spec` selects and their namespace's `Unhealthy` Events.
pub async fn read(client: &Client, spec: &Correlate) -> Result<Seen, kube::Error> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
    let selector: Vec<String> = spec.pod_selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let list = pods.list(&ListParams::default().labels(&selector.join(","))).await?;
    let events: Api<Event> = Api::namespaced(client.clone(), &spec.namespace);
    let unhealthy = events.list(&ListParams::default().fields("reason=Unhealthy")).await?;
    Ok(Seen { pods: list.items, unhealthy: unhealthy.items })
}

/// Counts trouble of the pods seen in the window.
pub fn troubles(seen: &Seen, history: &mut RestartHistory, now_ms: i64, window_ms: i64) -> Vec<PodTrouble> {
    let start = now_ms - window_ms;
    let mut out = Vec::new();
    let mut alive = Vec::new();
    for pod in &seen.pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let restarts = history.restarts(pod, now_ms, window_ms);
        let liveness_failures = seen
            .unhealthy
            .iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(name.as_str()))
            .filter(|e| e.message.as_deref().is_some_and(|m| m.starts_with("Liveness probe failed")))
            .filter(|e| last_seen_ms(e).is_some_and(|t| t >= start))
            .map(|e| e.count.unwrap_or(1).max(1) as u32)
            .sum();
        out.push(PodTrouble { pod: name.clone(), restarts, liveness_failures });
        alive.push(name);
    }
    history.retain(&alive);
    out
}

fn last_seen_ms(e: &Event) -> Option<i64> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond())
        .or_else(|| e.event_time.as_ref().map(|t| t.0.as_millisecond()))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0.as_millisecond()))
}
