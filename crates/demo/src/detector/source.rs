//! Where the detector's `VACCEL_RPC_ADDRESS` comes from: fixed, a rolled-out pod, or a Service.

use std::path::PathBuf;
use std::process::Command;

/// Where the detector's `VACCEL_RPC_ADDRESS` comes from.
#[derive(Clone, Debug)]
pub enum EndpointSource {
    Fixed(String),
    /// The env var of the newest Ready, not terminating pod labelled `app=<app>` (read with
    /// kubectl): what a rolled-out Deployment runs.
    Pods {
        kubectl: PathBuf,
        kubeconfig: PathBuf,
        namespace: String,
        app: String,
        var: String,
    },
    /// Where a Service routes, as kube-proxy would: the Service's selector value for `label`
    /// (e.g. `node=jetson-agx-orin`) names the agent, `routes` maps it to that agent's address
    /// (the agents' pods are KWOK pods whose IPs do not exist).
    Service {
        kubectl: PathBuf,
        kubeconfig: PathBuf,
        namespace: String,
        service: String,
        label: String,
        routes: Vec<(String, String)>,
    },
}

impl EndpointSource {
    pub(super) fn resolve(&self) -> Option<String> {
        match self {
            Self::Fixed(e) => Some(e.clone()),
            Self::Pods { kubectl, kubeconfig, namespace, app, var } => {
                let out = Command::new(kubectl)
                    .arg("--kubeconfig")
                    .arg(kubeconfig)
                    .args(["get", "pods", "-n", namespace, "-l", &format!("app={app}"), "-o", "json"])
                    .output()
                    .ok()?;
                let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                newest_ready_env(&list, var)
            }
            Self::Service { kubectl, kubeconfig, namespace, service, label, routes } => {
                let out = Command::new(kubectl)
                    .arg("--kubeconfig")
                    .arg(kubeconfig)
                    .args(["get", "service", service, "-n", namespace, "-o", "json"])
                    .output()
                    .ok()?;
                let svc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                let target = svc["spec"]["selector"][label.as_str()].as_str()?;
                routes.iter().find(|(value, _)| value == target).map(|(_, endpoint)| endpoint.clone())
            }
        }
    }
}

/// The `var` of the newest Ready, not terminating pod in a pod list.
pub fn newest_ready_env(list: &serde_json::Value, var: &str) -> Option<String> {
    let items = list["items"].as_array()?;
    let ready = |p: &&serde_json::Value| {
        p["metadata"]["deletionTimestamp"].is_null()
            && p["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
    };
    let newest =
        items.iter().filter(ready).max_by_key(|p| p["metadata"]["creationTimestamp"].as_str().unwrap_or(""))?;
    newest["spec"]["containers"].as_array()?.iter().find_map(|c| {
        c["env"].as_array()?.iter().find(|e| e["name"] == var).and_then(|e| e["value"].as_str().map(str::to_owned))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_ready_pod_decides_the_endpoint() {
        let list = serde_json::json!({"items": [
            {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]},
             "spec": {"containers": [{"env": [{"name": "V", "value": "old"}]}]}},
            {"metadata": {"creationTimestamp": "2026-01-01T00:01:00Z"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]},
             "spec": {"containers": [{"env": [{"name": "V", "value": "new"}]}]}},
            {"metadata": {"creationTimestamp": "2026-01-01T00:02:00Z"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]},
             "spec": {"containers": [{"env": [{"name": "V", "value": "starting"}]}]}}
        ]});
        assert_eq!(newest_ready_env(&list, "V").as_deref(), Some("new"));
        assert_eq!(newest_ready_env(&list, "W"), None);
    }
}
