//! Events, published only while this replica leads.

use kube::Resource;
use kube::runtime::events::{Event, EventType};

use super::Context;

/// Longest Event note (the API refuses notes over 1 kB).
const MAX_NOTE: usize = 1000;

/// One Event to publish about the reconciled object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
    /// What the operator was doing (`Evaluate`, `Delete`, ...).
    pub action: String,
}

impl Note {
    pub fn new(warning: bool, reason: &'static str, message: impl Into<String>, action: impl Into<String>) -> Self {
        Self { warning, reason, message: message.into(), action: action.into() }
    }
}

/// Publishes `notes` about `obj`; a refused or failed Event is logged, never fatal.
pub async fn publish<K, S>(ctx: &Context<S>, obj: &K, notes: Vec<Note>)
where
    K: Resource<DynamicType = ()>,
{
    let reference = obj.object_ref(&());
    for n in notes {
        let event = Event {
            type_: if n.warning { EventType::Warning } else { EventType::Normal },
            reason: n.reason.to_owned(),
            note: Some(n.message.chars().take(MAX_NOTE).collect()),
            action: n.action,
            secondary: None,
        };
        let sent = match ctx.rt.may_write("events") {
            Ok(()) => ctx.recorder.publish(&event, &reference).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(err) = sent {
            tracing::warn!(kind = %K::kind(&()), name = ?reference.name, %err, reason = n.reason, "cannot publish an Event");
        }
    }
}
