//! Reading the members: a direct scrape of each member's `/metrics`, or one Prometheus that
//! scrapes them all. Errors are typed; their category is a metric label, their text a sentence
//! for status.

use std::time::Duration;

use continuum_api::etcd::{EtcdEndpoint, EtcdPrometheusSource, MemberStatus};
use continuum_policy::etcd::{MemberReading, Thresholds};
use continuum_telemetry::etcd::EtcdSnapshot;
use continuum_telemetry::fetch::FetchError;
use continuum_telemetry::promql::QueryError;
use futures::StreamExt;

use super::{Ctx, prom_source};
use crate::allow::NotAllowed;
use crate::secrets::SecretError;

/// Scrape timeout for members (the spec has no field for it: etcd answers fast or is in trouble).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most a member's whole read (Secrets, connection, page, parse) may take.
const MEMBER_TIMEOUT: Duration = Duration::from_secs(6);
/// Members read at once: a hundred members take ~1/8 of the time one after another would, and
/// dead members cost one timeout per eight instead of one each.
pub const IN_FLIGHT: usize = 8;

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
    #[error("no answer within {}s", .0.as_secs())]
    Timeout(Duration),
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
            ReadError::Timeout(_) => "timeout",
        }
    }
}

/// Scrapes every member, [`IN_FLIGHT`] at a time, each within [`MEMBER_TIMEOUT`]; the results
/// in the order of `endpoints`.
pub async fn members<'a>(
    ctx: &Ctx,
    ns: &str,
    endpoints: &'a [EtcdEndpoint],
) -> Vec<(&'a EtcdEndpoint, Result<EtcdSnapshot, ReadError>)> {
    let reads: Vec<_> = endpoints.iter().enumerate().map(|(i, ep)| bounded(ctx, ns, i, ep)).collect();
    let mut done: Vec<_> = futures::stream::iter(reads).buffer_unordered(IN_FLIGHT).collect().await;
    done.sort_by_key(|(i, ..)| *i);
    done.into_iter().map(|(_, ep, read)| (ep, read)).collect()
}

/// Scrapes member `i` within [`MEMBER_TIMEOUT`].
async fn bounded<'a>(
    ctx: &Ctx,
    ns: &str,
    i: usize,
    ep: &'a EtcdEndpoint,
) -> (usize, &'a EtcdEndpoint, Result<EtcdSnapshot, ReadError>) {
    let read = tokio::time::timeout(MEMBER_TIMEOUT, member(ctx, ns, ep)).await;
    (i, ep, read.unwrap_or(Err(ReadError::Timeout(MEMBER_TIMEOUT))))
}

/// Scrapes one member.
async fn member(ctx: &Ctx, ns: &str, ep: &EtcdEndpoint) -> Result<EtcdSnapshot, ReadError> {
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
