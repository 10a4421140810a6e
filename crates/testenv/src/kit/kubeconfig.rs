//! Kubeconfigs for identities other than the control plane's admin.

use std::path::Path;

use kube::config::{AuthInfo, Cluster as ClusterEntry, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};

use super::error::{Result, io_err};
use super::manifest;

/// Writes a kubeconfig that authenticates to `server` (CA file `ca`) with a bearer `token`, such
/// as a ServiceAccount's from the TokenRequest API.
pub fn write_token_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) -> Result<()> {
    let cluster = ClusterEntry {
        server: Some(server.to_owned()),
        certificate_authority: Some(ca.to_string_lossy().into_owned()),
        ..Default::default()
    };
    let user = AuthInfo { token: Some(token.to_owned().into()), ..Default::default() };
    let context = Context { cluster: "cp".into(), user: Some("sa".into()), ..Default::default() };
    let config = Kubeconfig {
        clusters: vec![NamedCluster { name: "cp".into(), cluster: Some(cluster), other: Default::default() }],
        auth_infos: vec![NamedAuthInfo { name: "sa".into(), auth_info: Some(user), other: Default::default() }],
        contexts: vec![NamedContext { name: "sa".into(), context: Some(context), other: Default::default() }],
        current_context: Some("sa".into()),
        api_version: Some("v1".into()),
        kind: Some("Config".into()),
        ..Default::default()
    };
    std::fs::write(path, manifest::to_yaml(&config)?).map_err(io_err(format!("writing {}", path.display())))
}
