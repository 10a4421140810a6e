//! Reading the members: a direct scrape of each member's `/metrics`, or one Prometheus that
//! scrapes them all. Errors are typed; their category is a metric label, their text a sentence
//! for status.

use std::time::Duration;

use continuum_api::etcd::{EtcdEndpoint, EtcdPrometheusSource, MemberStatus};
use continuum_policy::etcd::{MemberReading, Thresholds};
use continuum_telemetry::etcd::EtcdSnapshot;
use continuum_telemetry::fetch::FetchError;
use continuum_telemetry::promql::QueryError;

use super::{Ctx, prom_source};
use crate::allow::NotAllowed;
use crate::secrets::SecretError;

/// Scrape timeout for members (the spec has no field for it: etcd answers fast or is in trouble).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a member (or the Prometheus source) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("not a metrics page: {0}")]
    Parse(String),
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl ReadError {
    /// A bounded category (metric label).
    pub fn category(&self) -> &'static str {
        match self {
            ReadError::NotAllowed(_) => "not_allowed",
            ReadError::Secret(_) => "tls_secret",
            ReadError::Fetch(e) => e.category(),
            ReadError::Parse(_) => "parse",
            ReadError::Query(_) => "prometheus_query",
        }
    }
}

/// Scrapes one member.
pub async fn member(ctx: &Ctx, ns: &str, ep: &EtcdEndpoint) -> Result<EtcdSnapshot, ReadError> {
    ctx.rt.allow.check(&ep.metrics_url)?;
    let tls = crate::secrets::material(&ctx.client(), ns, ep.tls.as_ref()).await?;
    let fetcher = ctx.fetchers.get(tls, SCRAPE_TIMEOUT).await?;
    let page = fetcher.get(&ep.metrics_url, &[]).await?;
    EtcdSnapshot::parse(&page, crate::clock::now_ms()).map_err(|e| ReadError::Parse(e.to_string()))
}

/// Every member's figures through PromQL; `Err` when the API cannot be queried at all.
pub async fn prometheus(
    ctx: &Ctx,
    ns: &str,
    src: &EtcdPrometheusSource,
    t: &Thresholds,
) -> Result<Vec<(MemberReading, MemberStatus)>, ReadError> {
    ctx.rt.allow.check(&src.url)?;
    let tls = crate::secrets::material(&ctx.client(), ns, src.tls.as_ref()).await?;
    let fetcher = ctx.fetchers.get(tls, prom_source::fetcher_timeout()).await?;
    let headers = prom_source::headers(&ctx.client(), ns, src).await?;
    Ok(prom_source::read(fetcher, headers, src, t).await?)
}
