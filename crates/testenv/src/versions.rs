//! Versions of the components the test environment builds.

/// Kubernetes release whose kube-apiserver and kubectl are built (override: CONTINUUM_KUBE_VERSION).
pub const KUBERNETES: &str = "v1.37.2";
/// etcd release that is built (override: CONTINUUM_ETCD_VERSION).
pub const ETCD: &str = "v3.6.16";

/// Helm release built for chart tests (override: CONTINUUM_HELM_VERSION).
pub const HELM: &str = "v3.22.0";

pub fn helm() -> String {
    std::env::var("CONTINUUM_HELM_VERSION").unwrap_or_else(|_| HELM.to_owned())
}

/// KWOK release that simulates the edge nodes (override: CONTINUUM_KWOK_VERSION).
pub const KWOK: &str = "v0.8.0";

pub fn kwok() -> String {
    std::env::var("CONTINUUM_KWOK_VERSION").unwrap_or_else(|_| KWOK.to_owned())
}

pub fn kubernetes() -> String {
    std::env::var("CONTINUUM_KUBE_VERSION").unwrap_or_else(|_| KUBERNETES.to_owned())
}

pub fn etcd() -> String {
    std::env::var("CONTINUUM_ETCD_VERSION").unwrap_or_else(|_| ETCD.to_owned())
}

/// `v1.37.2` -> (`1`, `37`, `v0.37.2`): the parts the version stamps and staging modules need.
pub fn kube_parts(version: &str) -> (String, String, String) {
    let bare = version.trim_start_matches('v');
    let mut it = bare.split('.');
    let major = it.next().unwrap_or("1").to_owned();
    let minor = it.next().unwrap_or("0").to_owned();
    let rest: Vec<&str> = it.collect();
    let staging = format!("v0.{minor}.{}", rest.join("."));
    (major, minor, staging)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_version_follows_the_kubernetes_minor_and_patch() {
        assert_eq!(kube_parts("v1.37.2"), ("1".into(), "37".into(), "v0.37.2".into()));
        assert_eq!(kube_parts("v1.36.0-rc.1"), ("1".into(), "36".into(), "v0.36.0-rc.1".into()));
    }
}
