//! Types shared by OffloadPolicy and EtcdHealth.

use kube::KubeSchema;

use serde::{Deserialize, Serialize};

use crate::rules;

/// A key in a Secret in the namespace of the resource that refers to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = rules::object_name())]
    pub name: String,
    /// Key inside the Secret whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A Secret in the namespace of the resource that refers to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret, in the same namespace as this resource.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = rules::object_name())]
    pub name: String,
}

/// TLS settings for an HTTPS endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!(self.insecureSkipVerify && has(self.caSecretRef))").message("insecureSkipVerify and caSecretRef contradict each other: set one"))]
pub struct TlsConfig {
    /// PEM bundle of the certificate authorities that sign the server's certificate.
    /// Default: the operator's system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// Client certificate for mutual TLS: a Secret of type kubernetes.io/tls whose `tls.crt` and
    /// `tls.key` are presented to the server. Default: no client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<SecretRef>,
    /// Skip verification of the server's certificate. For tests only: anyone on the path can
    /// read and change the data. Default: false.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}
