//! GET a metrics page over HTTP or HTTPS (custom CA, client certificate, or no verification),
//! with a timeout and a size limit.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Largest page accepted (etcd's is ~170 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// PEM material for TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsMaterial {
    pub ca_pem: Option<Vec<u8>>,
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
}

/// Why a fetch failed; `category()` is a bounded label for metrics.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid TLS material: {0}")]
    Tls(String),
    #[error("invalid URL {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP {status} from {url}: {body}")]
    Status { status: u16, url: String, body: String },
    #[error("reading the response failed: {0}")]
    Body(String),
}

impl FetchError {
    pub fn category(&self) -> &'static str {
        match self {
            FetchError::Tls(_) => "tls_config",
            FetchError::Url { .. } => "url",
            FetchError::Timeout(_) => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::Status { .. } => "http_status",
            FetchError::Body(_) => "body",
        }
    }
}

/// A reusable client for one TLS configuration.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
    /// A hash of the TLS material, not the material: `Debug` must not print a private key.
    tls_identity: u64,
}

impl Fetcher {
    pub fn new(tls: &TlsMaterial, timeout: Duration) -> Result<Self, FetchError> {
        let config = client_config(tls)?;
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().build();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(tls, &mut hasher);
        Ok(Self { client, timeout, tls_identity: std::hash::Hasher::finish(&hasher) })
    }

    /// Identifies the TLS material the client was built with (equal material, equal value): part
    /// of who is asking, since a client certificate can be the credential, so caches of answers
    /// key on it.
    pub fn tls_identity(&self) -> u64 {
        self.tls_identity
    }

    /// How long a request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// GETs `url` with extra `headers`; returns the body as text.
    pub async fn get(&self, url: &str, headers: &[(String, String)]) -> Result<String, FetchError> {
        let bad_url = |reason: String| FetchError::Url { url: url.to_owned(), reason };
        let mut req = hyper::Request::get(url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Empty::new()).map_err(|e| bad_url(e.to_string()))?;
        let work = async {
            let resp = self.client.request(req).await.map_err(|e| FetchError::Connect(error_chain(&e)))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| FetchError::Body(e.to_string()))?
                .to_bytes();
            if !status.is_success() {
                let body: String = String::from_utf8_lossy(&body).chars().take(512).collect();
                return Err(FetchError::Status { status: status.as_u16(), url: url.to_owned(), body });
            }
            String::from_utf8(body.to_vec()).map_err(|_| FetchError::Body("the page is not UTF-8".into()))
        };
        tokio::time::timeout(self.timeout, work).await.map_err(|_| FetchError::Timeout(self.timeout))?
    }
}

/// The error and its sources in one line ("client error (Connect): tcp connect error: Connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn client_config(tls: &TlsMaterial) -> Result<rustls::ClientConfig, FetchError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Tls(e.to_string()))?;
    let builder = if tls.insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots(tls.ca_pem.as_deref())?)
    };
    match (&tls.client_cert_pem, &tls.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| FetchError::Tls(format!("client certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| FetchError::Tls(format!("client key: {e}")))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| FetchError::Tls(e.to_string()))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(FetchError::Tls("a client certificate needs both the certificate and its key".into())),
    }
}

fn roots(ca_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, FetchError> {
    let mut store = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| FetchError::Tls(format!("CA bundle: {e}")))?;
                store.add(cert).map_err(|e| FetchError::Tls(format!("CA bundle: {e}")))?;
            }
            if store.is_empty() {
                return Err(FetchError::Tls("the CA bundle holds no certificate".into()));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
        }
    }
    Ok(store)
}

/// `insecureSkipVerify`: accepts any server certificate (signatures are still checked).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_identity_is_equal_for_equal_material_and_differs_otherwise() {
        let id = |tls: &TlsMaterial| Fetcher::new(tls, Duration::from_secs(1)).map(|f| f.tls_identity()).ok();
        let plain = TlsMaterial::default();
        let skip = TlsMaterial { insecure_skip_verify: true, ..Default::default() };
        assert!(id(&plain).is_some());
        assert_eq!(id(&plain), id(&plain.clone()));
        assert_ne!(id(&plain), id(&skip));
    }
}
