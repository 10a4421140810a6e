//! Events, published only while this replica leads.
//!
//! kube's `Recorder` folds a repeat of the same reason about the same object into the first
//! Event's series, keeping the first message: a second failed trial would read "waits at least
//! 40s (1 failed in a row)" for ever. So a repeat with the same message is counted on the Event
//! it repeats, and a new message gets an Event of its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::Mutex;

use super::Context;

/// How long a (object, reason) keeps its recorder: kube's own series window is shorter.
const KEEP: Duration = Duration::from_secs(3600);

/// One kube `Recorder` per object and reason, renewed whenever the message changes.
pub struct Recorders {
    client: kube::Client,
    reporter: Reporter,
    by_reason: Mutex<HashMap<(String, &'static str), Last>>,
    /// When entries older than [`KEEP`] were last dropped (at most once a minute: a sweep walks
    /// every entry, and a thousand policies switching at once publish a thousand Events).
    swept: Mutex<Option<Instant>>,
}

/// The last message published for an object and reason, and the recorder that counts its
/// repeats.
struct Last {
    message: String,
    recorder: Recorder,
    at: Instant,
}

impl std::fmt::Debug for Recorders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorders").field("reporter", &self.reporter).finish_non_exhaustive()
    }
}

impl Recorders {
    pub fn new(client: kube::Client, reporter: Reporter) -> Self {
        Self { client, reporter, by_reason: Mutex::default(), swept: Mutex::default() }
    }

    /// The recorder for `message`: the one that published it last (a repeat), or a new one.
    async fn for_message(&self, object: String, reason: &'static str, message: &str) -> Recorder {
        let mut map = self.by_reason.lock().await;
        let mut swept = self.swept.lock().await;
        if swept.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            map.retain(|_, last| last.at.elapsed() < KEEP);
            *swept = Some(Instant::now());
        }
        drop(swept);
        let last = map.entry((object, reason)).or_insert_with(|| Last {
            message: String::new(),
            recorder: Recorder::new(self.client.clone(), self.reporter.clone()),
            at: Instant::now(),
        });
        if last.message != message {
            last.message = message.to_owned();
            last.recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        }
        last.at = Instant::now();
        last.recorder.clone()
    }
}

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
            Ok(()) => {
                let object = reference.uid.clone().or_else(|| reference.name.clone()).unwrap_or_default();
                let note = event.note.as_deref().unwrap_or_default();
                let recorder = ctx.recorder.for_message(object, n.reason, note).await;
                recorder.publish(&event, &reference).await.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(err) = sent {
            tracing::warn!(kind = %K::kind(&()), name = ?reference.name, %err, reason = n.reason, "cannot publish an Event");
        }
    }
}
