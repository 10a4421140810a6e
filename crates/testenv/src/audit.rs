//! The kube-apiserver's audit log, as a count of one user's requests: how many, of which verbs and
//! resources, how many were status writes, and the busiest second, over a window of time.
//!
//! The control plane started with [`crate::ControlPlane::start_audited`] logs every request of
//! [`AUDITED_USER`] at `Metadata` level (no bodies) and nothing else, in blocking mode: an event is
//! on disk before its response is sent, so once a window has ended (plus the longest request
//! time) reading the file gives every request received in it. Long-running watches are counted
//! when they start.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use k8s_openapi::jiff::Timestamp;

use crate::error::{Result, io};

/// The user whose requests are audited: give the measured process a kubeconfig for it
/// ([`crate::ControlPlane::kubeconfig_for`]).
pub const AUDITED_USER: &str = "continuum-operator";

/// The audit policy: the audited user's requests at `Metadata` level, once each (the stage a
/// request ends in, or a watch's start), nothing of anyone else.
fn policy() -> String {
    format!(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n  users: [\"{AUDITED_USER}\"]\n- level: None\n"
    )
}

/// The kube-apiserver flags that write the audit log to `dir/audit.log` (the policy is written
/// to `dir/audit-policy.yaml`).
pub(crate) fn flags(dir: &Path) -> Result<(Vec<String>, PathBuf)> {
    let (policy_file, log) = (dir.join("audit-policy.yaml"), dir.join("audit.log"));
    std::fs::write(&policy_file, policy()).map_err(io("writing the audit policy"))?;
    let args = vec![
        format!("--audit-policy-file={}", policy_file.display()),
        format!("--audit-log-path={}", log.display()),
        "--audit-log-format=json".into(),
        "--audit-log-mode=blocking".into(),
        "--audit-log-maxsize=0".into(),
    ];
    Ok((args, log))
}

/// The audited user's requests received in a window.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    /// Every request (a watch counts once, when it starts).
    pub requests: u64,
    /// GETs of one object (`verb` get).
    pub gets: u64,
    /// Lists and watches started.
    pub lists_and_watches: u64,
    /// Writes of a `status` subresource.
    pub status_writes: u64,
    /// Other writes (create, update, patch, delete), Leases included.
    pub other_writes: u64,
    /// Requests answered 429 (throttled by API Priority and Fairness).
    pub throttled: u64,
    /// The most requests received in one wall-clock second of the window.
    pub peak_per_second: u64,
    /// Requests per `verb resource[/subresource]`, for a breakdown.
    pub by_kind: BTreeMap<String, u64>,
}

impl Counts {
    /// `requests` per second over a window of `seconds`.
    pub fn per_second(&self, n: u64, seconds: f64) -> f64 {
        if seconds > 0.0 { n as f64 / seconds } else { 0.0 }
    }
}

/// One audit event, as far as counting goes.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "auditID")]
    audit_id: String,
    stage: String,
    verb: String,
    #[serde(default)]
    user: User,
    #[serde(default)]
    object_ref: Option<ObjectRef>,
    #[serde(default)]
    response_status: Option<Status>,
    request_received_timestamp: Timestamp,
}

#[derive(Debug, Default, serde::Deserialize)]
struct User {
    #[serde(default)]
    username: String,
}

#[derive(Debug, serde::Deserialize)]
struct ObjectRef {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    subresource: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct Status {
    #[serde(default)]
    code: u16,
}

/// Counts the audited user's requests received in `[from, to)` in the audit log at `path`.
/// Lines that are not audit events (a torn last line) are skipped.
pub fn count(path: &Path, from: Timestamp, to: Timestamp) -> Result<Counts> {
    let file = std::fs::File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut counts = Counts::default();
    let (mut seen, mut per_second) = (HashSet::new(), BTreeMap::<i64, u64>::new());
    for line in BufReader::new(file).lines() {
        let line = line.map_err(io("reading the audit log"))?;
        let Ok(event) = serde_json::from_str::<Event>(&line) else { continue };
        let received = event.request_received_timestamp;
        if event.user.username != AUDITED_USER || received < from || received >= to {
            continue;
        }
        if event.stage == "Panic" || !seen.insert(event.audit_id.clone()) {
            continue;
        }
        *per_second.entry(received.as_second()).or_default() += 1;
        counts.add(&event);
    }
    counts.peak_per_second = per_second.values().copied().max().unwrap_or(0);
    Ok(counts)
}

impl Counts {
    fn add(&mut self, event: &Event) {
        self.requests += 1;
        let (resource, sub) =
            event.object_ref.as_ref().map_or(("", None), |o| (o.resource.as_str(), o.subresource.as_deref()));
        match event.verb.as_str() {
            "get" => self.gets += 1,
            "list" | "watch" => self.lists_and_watches += 1,
            _ if sub == Some("status") => self.status_writes += 1,
            _ => self.other_writes += 1,
        }
        if event.response_status.as_ref().is_some_and(|s| s.code == 429) {
            self.throttled += 1;
        }
        let kind = match sub {
            Some(sub) => format!("{} {resource}/{sub}", event.verb),
            None => format!("{} {resource}", event.verb),
        };
        *self.by_kind.entry(kind).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, stage: &str, verb: &str, user: &str, sub: Option<&str>, at: &str, code: u16) -> String {
        let sub = sub.map(|s| format!(",\"subresource\":\"{s}\"")).unwrap_or_default();
        format!(
            "{{\"kind\":\"Event\",\"auditID\":\"{id}\",\"stage\":\"{stage}\",\"verb\":\"{verb}\",\"user\":{{\"username\":\"{user}\"}},\"objectRef\":{{\"resource\":\"offloadpolicies\"{sub}}},\"responseStatus\":{{\"code\":{code}}},\"requestReceivedTimestamp\":\"{at}\"}}"
        )
    }

    #[test]
    fn counts_each_request_of_the_user_once_inside_the_window() -> Result<()> {
        let dir = crate::controlplane::make_temp_dir("audit-test")?;
        let path = dir.join("audit.log");
        let lines = [
            line("a", "ResponseComplete", "get", AUDITED_USER, None, "2026-01-01T00:00:10.000000Z", 200),
            line("b", "ResponseStarted", "watch", AUDITED_USER, None, "2026-01-01T00:00:10.500000Z", 200),
            line("b", "ResponseComplete", "watch", AUDITED_USER, None, "2026-01-01T00:00:10.500000Z", 200),
            line("c", "ResponseComplete", "patch", AUDITED_USER, Some("status"), "2026-01-01T00:00:11.000000Z", 429),
            line("d", "ResponseComplete", "get", "admin", None, "2026-01-01T00:00:11.000000Z", 200),
            line("e", "ResponseComplete", "get", AUDITED_USER, None, "2026-01-01T00:00:20.000000Z", 200),
            "{\"torn".to_owned(),
        ];
        std::fs::write(&path, lines.join("\n")).map_err(io("writing"))?;
        let at = |s: &str| s.parse::<Timestamp>().unwrap_or_default();
        let counts = count(&path, at("2026-01-01T00:00:10Z"), at("2026-01-01T00:00:20Z"))?;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!((counts.requests, counts.gets, counts.lists_and_watches), (3, 1, 1));
        assert_eq!((counts.status_writes, counts.other_writes, counts.throttled), (1, 0, 1));
        assert_eq!(counts.peak_per_second, 2);
        assert_eq!(counts.by_kind.get("patch offloadpolicies/status"), Some(&1));
        Ok(())
    }
}
