//! Credentials read from Secrets in the resource's namespace: TLS material and HTTP auth headers.
//! Errors are typed; their text is a sentence for status conditions.
//!
//! Reads go through a [`SecretCache`] where one is given: a Secret is fetched at most once per
//! [`SECRET_TTL`] however many policies name it (the operator may only `get` Secrets, so it does
//! not watch them; a rotated credential is picked up within the TTL).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How long a fetched Secret (or its absence) is reused.
pub const SECRET_TTL: Duration = Duration::from_secs(60);

/// A Secret fetched at a time (`None`: it was not found).
type Fetched = (Instant, Option<Arc<Secret>>);

/// Secrets fetched recently, by (namespace, name).
#[derive(Debug, Default)]
pub struct SecretCache(Mutex<HashMap<(String, String), Fetched>>);

impl SecretCache {
    fn fresh(&self, key: &(String, String)) -> Option<Option<Arc<Secret>>> {
        let map = self.0.lock().ok()?;
        map.get(key).filter(|(at, _)| at.elapsed() < SECRET_TTL).map(|(_, s)| s.clone())
    }

    fn put(&self, key: (String, String), secret: Option<Arc<Secret>>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 4096 {
                map.retain(|_, (at, _)| at.elapsed() < SECRET_TTL);
            }
            map.insert(key, (Instant::now(), secret));
        }
    }
}

/// Where Secrets of one namespace are read from: the API, through the cache if there is one.
struct Secrets<'a> {
    api: Api<Secret>,
    namespace: &'a str,
    cache: Option<&'a SecretCache>,
}

impl<'a> Secrets<'a> {
    fn new(client: &Client, namespace: &'a str, cache: Option<&'a SecretCache>) -> Self {
        Self { api: Api::namespaced(client.clone(), namespace), namespace, cache }
    }

    async fn get(&self, name: &str) -> Result<Option<Arc<Secret>>, SecretError> {
        let key = (self.namespace.to_owned(), name.to_owned());
        if let Some(hit) = self.cache.and_then(|c| c.fresh(&key)) {
            return Ok(hit);
        }
        let got = self.api.get_opt(name).await.map_err(|source| SecretError::Read { name: name.to_owned(), source })?;
        let got = got.map(Arc::new);
        if let Some(c) = self.cache {
            c.put(key, got.clone());
        }
        Ok(got)
    }
}

/// Reads the CA bundle and client certificate named by `tls`; the error is a sentence for status.
pub async fn material(client: &Client, namespace: &str, tls: Option<&TlsConfig>) -> Result<TlsMaterial, SecretError> {
    material_cached(client, namespace, tls, None).await
}

/// [`material`], reusing what `cache` fetched recently.
pub async fn material_cached(
    client: &Client,
    namespace: &str,
    tls: Option<&TlsConfig>,
    cache: Option<&SecretCache>,
) -> Result<TlsMaterial, SecretError> {
    let Some(tls) = tls else { return Ok(TlsMaterial::default()) };
    let secrets = Secrets::new(client, namespace, cache);
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

async fn key(secrets: &Secrets<'_>, name: &str, key: &str) -> Result<Vec<u8>, SecretError> {
    let secret = secrets.get(name).await?.ok_or_else(|| SecretError::NotFound(name.to_owned()))?;
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .ok_or_else(|| SecretError::NoKey { name: name.to_owned(), key: key.to_owned() })
}

async fn text(secrets: &Secrets<'_>, name: &str, k: &str) -> Result<String, SecretError> {
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
    headers_cached(Auth { client, namespace, cache: None }, headers, bearer, basic).await
}

/// Who reads the Secrets of [`headers_cached`]: the client, the namespace, and the cache if any.
pub struct Auth<'a> {
    pub client: &'a Client,
    pub namespace: &'a str,
    pub cache: Option<&'a SecretCache>,
}

impl std::fmt::Debug for Auth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("namespace", &self.namespace).field("cached", &self.cache.is_some()).finish()
    }
}

/// [`headers_for`], reusing what the cache fetched recently.
pub async fn headers_cached(
    auth: Auth<'_>,
    headers: Option<&BTreeMap<String, String>>,
    bearer: Option<&SecretKeyRef>,
    basic: Option<&SecretRef>,
) -> Result<Vec<(String, String)>, SecretError> {
    let secrets = Secrets::new(auth.client, auth.namespace, auth.cache);
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
