//! Credentials read from Secrets in the resource's namespace: TLS material and HTTP auth headers.
//! Errors are typed; their text is a sentence for status conditions.

use std::collections::BTreeMap;

use continuum_api::common::{SecretKeyRef, SecretRef, TlsConfig};
use continuum_telemetry::fetch::TlsMaterial;
use continuum_telemetry::promql::base64;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// Why a Secret the resource names cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read Secret {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Secret {0} not found")]
    NotFound(String),
    #[error("Secret {name} has no key {key}")]
    NoKey { name: String, key: String },
    #[error("Secret {name} key {key} is not text")]
    NotText { name: String, key: String },
}

/// Reads the CA bundle and client certificate named by `tls`; the error is a sentence for status.
pub async fn material(client: &Client, namespace: &str, tls: Option<&TlsConfig>) -> Result<TlsMaterial, SecretError> {
    let Some(tls) = tls else { return Ok(TlsMaterial::default()) };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut out = TlsMaterial { insecure_skip_verify: tls.insecure_skip_verify, ..Default::default() };
    if let Some(ca) = &tls.ca_secret_ref {
        out.ca_pem = Some(key(&secrets, &ca.name, &ca.key).await?);
    }
    if let Some(cert) = &tls.cert_secret_ref {
        out.client_cert_pem = Some(key(&secrets, &cert.name, "tls.crt").await?);
        out.client_key_pem = Some(key(&secrets, &cert.name, "tls.key").await?);
    }
    Ok(out)
}

async fn key(secrets: &Api<Secret>, name: &str, key: &str) -> Result<Vec<u8>, SecretError> {
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|source| SecretError::Read { name: name.to_owned(), source })?
        .ok_or_else(|| SecretError::NotFound(name.to_owned()))?;
    secret
        .data
        .and_then(|mut d| d.remove(key))
        .map(|b| b.0)
        .ok_or_else(|| SecretError::NoKey { name: name.to_owned(), key: key.to_owned() })
}

async fn text(secrets: &Api<Secret>, name: &str, k: &str) -> Result<String, SecretError> {
    let bytes = key(secrets, name, k).await?;
    String::from_utf8(bytes)
        .map(|s| s.trim().to_owned())
        .map_err(|_| SecretError::NotText { name: name.to_owned(), key: k.to_owned() })
}

/// Extra headers plus `Authorization` from a bearer-token key or a basic-auth Secret
/// (`username`, `password`).
pub async fn headers_for(
    client: &Client,
    namespace: &str,
    headers: Option<&BTreeMap<String, String>>,
    bearer: Option<&SecretKeyRef>,
    basic: Option<&SecretRef>,
) -> Result<Vec<(String, String)>, SecretError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut out: Vec<(String, String)> = headers.cloned().unwrap_or_default().into_iter().collect();
    if let Some(r) = bearer {
        out.push(("Authorization".into(), format!("Bearer {}", text(&secrets, &r.name, &r.key).await?)));
    }
    if let Some(r) = basic {
        let user = text(&secrets, &r.name, "username").await?;
        let pass = text(&secrets, &r.name, "password").await?;
        out.push(("Authorization".into(), format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))));
    }
    Ok(out)
}
