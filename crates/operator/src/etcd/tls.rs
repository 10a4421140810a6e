//! TLS material for a metrics endpoint, read from Secrets in the resource's namespace.

use continuum_api::common::TlsConfig;
use continuum_telemetry::fetch::TlsMaterial;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// Reads the CA bundle and client certificate named by `tls`; the error is a sentence for status.
pub async fn material(client: &Client, namespace: &str, tls: Option<&TlsConfig>) -> Result<TlsMaterial, String> {
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

async fn key(secrets: &Api<Secret>, name: &str, key: &str) -> Result<Vec<u8>, String> {
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|e| format!("cannot read Secret {name}: {e}"))?
        .ok_or_else(|| format!("Secret {name} not found"))?;
    secret.data.and_then(|mut d| d.remove(key)).map(|b| b.0).ok_or_else(|| format!("Secret {name} has no key {key}"))
}
