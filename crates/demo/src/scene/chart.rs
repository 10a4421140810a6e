//! The operator's command line as the Helm chart renders it, so the scene runs the operator the
//! way the chart's Deployment would.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;

use super::{Error, Result};

/// Arguments and plain environment variables of the operator's container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ChartCommand {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// The operator's arguments and plain environment as the chart renders them for the release
/// `continuum` in `continuum-system` (single-cluster values plus the allow-list), with the
/// metrics address moved to a free loopback port. Helm keeps its state under `work`.
pub(super) fn command(repo: &Path, work: &Path, allowed: &[String]) -> Result<ChartCommand> {
    let yaml = template(repo, work, allowed)?;
    container_command(&yaml)
}

/// `helm template` of the chart's Deployment.
fn template(repo: &Path, work: &Path, allowed: &[String]) -> Result<Vec<u8>> {
    let helm = continuum_testenv::gobuild::helm()?;
    let out = Command::new(helm)
        .args(["template", "continuum"])
        .arg(repo.join("charts/continuum-operator"))
        .args(["-n", "continuum-system", "--kube-version", &continuum_testenv::versions::kubernetes()])
        .args(["--show-only", "templates/deployment.yaml", "--set", "logFormat=text"])
        .arg("--set")
        .arg(format!("telemetry.allowedUrls={{{}}}", allowed.join(",")))
        .env("HELM_CACHE_HOME", work.join("helm/cache"))
        .env("HELM_CONFIG_HOME", work.join("helm/config"))
        .env("HELM_DATA_HOME", work.join("helm/data"))
        .output()
        .map_err(|source| Error::Io { what: "running helm".into(), source })?;
    if !out.status.success() {
        return Err(Error::Chart(format!("helm template: {}", String::from_utf8_lossy(&out.stderr))));
    }
    Ok(out.stdout)
}

/// The first container's args (metrics on a free loopback port) and literal env values of a
/// rendered Deployment.
fn container_command(yaml: &[u8]) -> Result<ChartCommand> {
    let deployment: Deployment =
        serde_yaml::from_slice(yaml).map_err(|e| Error::Chart(format!("the rendered Deployment: {e}")))?;
    let pod = deployment.spec.template.spec;
    let container = pod
        .and_then(|p| p.containers.into_iter().next())
        .ok_or_else(|| Error::Chart("the rendered Deployment has no container".into()))?;
    let args = container
        .args
        .ok_or_else(|| Error::Chart("the chart's container has no args".into()))?
        .into_iter()
        .map(|a| if a.starts_with("--metrics-addr=") { "--metrics-addr=127.0.0.1:0".to_owned() } else { a })
        .collect();
    let env = container.env.unwrap_or_default().into_iter().filter_map(|e| Some((e.name, e.value?))).collect();
    Ok(ChartCommand { args, env })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_and_literal_env_are_read_and_metrics_move_to_loopback() {
        let yaml = br#"---
# Source: continuum-operator/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: continuum}
spec:
  selector: {matchLabels: {app: continuum}}
  template:
    spec:
      containers:
      - name: operator
        args: [run, "--metrics-addr=0.0.0.0:8080", "--log-format=text"]
        env:
        - {name: RUST_LOG, value: info}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
"#;
        let command = container_command(yaml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(command.args, ["run", "--metrics-addr=127.0.0.1:0", "--log-format=text"]);
        assert_eq!(command.env, [("RUST_LOG".to_owned(), "info".to_owned())]);
        assert!(matches!(container_command(b"kind: Service\napiVersion: v1\n"), Err(Error::Chart(_))));
    }
}
