//! The admin server: `/metrics` (OpenMetrics text), `/healthz` (the process answers and its
//! reconciles do not stall, see [`Liveness`](crate::liveness::Liveness)) and
//! `/readyz` (see [`Readiness`](crate::readiness::Readiness)); 404 for anything else.
//!
//! HTTP/1 on hyper, one task per connection, one request per connection. A client gets
//! [`HEAD_TIMEOUT`] to send its request head and [`CONNECTION_TIMEOUT`] for the whole exchange,
//! so a slow or silent client costs one idle task for a bounded time and blocks no one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::Metrics;

/// Time a client has to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a connection may last in all, reading the answer included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request head read (the smallest hyper allows; these requests are one line).
const MAX_HEAD_BYTES: usize = 8192;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain";

/// Serves until the process ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    serve_with(listener, metrics, HEAD_TIMEOUT).await;
}

/// [`serve`] with another head timeout (tests use a short one).
pub async fn serve_with(listener: TcpListener, metrics: Arc<Metrics>, head_timeout: Duration) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, metrics.clone(), head_timeout));
            }
            Err(e) => {
                // Out of file descriptors, usually: give the open connections time to finish.
                tracing::debug!("admin server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(stream: TcpStream, metrics: Arc<Metrics>, head_timeout: Duration) {
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        std::future::ready(Ok::<_, Infallible>(respond(&metrics, req.uri().path())))
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!("admin server: connection ended: {e}"),
        Err(_) => tracing::debug!("admin server: connection cut after {CONNECTION_TIMEOUT:?}"),
    }
}

/// The answer to a request for `path`.
pub fn respond(metrics: &Metrics, path: &str) -> Response<String> {
    let (status, content_type, body) = match path {
        "/metrics" => (StatusCode::OK, OPENMETRICS, metrics.encode()),
        "/healthz" => match metrics.liveness.problem(std::time::Instant::now()) {
            None => (StatusCode::OK, TEXT, "ok\n".to_owned()),
            Some(problem) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{problem}\n")),
        },
        "/readyz" => match metrics.readiness.problem() {
            None => (StatusCode::OK, TEXT, "ok\n".to_owned()),
            Some(problem) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{problem}\n")),
        },
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    //! Real HTTP requests over loopback.

    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use crate::metrics::Metrics;

    /// Patience for an answer that should come at once.
    const PROMPT: Duration = Duration::from_secs(5);

    async fn start(head_timeout: Duration) -> (SocketAddr, Arc<Metrics>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"));
        let metrics = Arc::new(Metrics::new());
        tokio::spawn(super::serve_with(listener, metrics.clone(), head_timeout));
        (addr, metrics)
    }

    /// Everything the server sends for `request` until it closes the connection.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let talk = async {
            let mut s = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
            s.write_all(request).await.unwrap_or_else(|e| panic!("write: {e}"));
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            String::from_utf8_lossy(&out).into_owned()
        };
        tokio::time::timeout(PROMPT, talk).await.unwrap_or_else(|_| panic!("no answer within {PROMPT:?}"))
    }

    /// (status code, content type, body) of `GET path`.
    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let raw = exchange(addr, format!("GET {path} HTTP/1.1\r\nHost: operator\r\n\r\n").as_bytes()).await;
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {raw:?}"));
        let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{head}"));
        let content_type = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
            .unwrap_or_default();
        (code, content_type, body.to_owned())
    }

    #[tokio::test]
    async fn serves_metrics_health_readiness_and_404() {
        let (addr, metrics) = start(super::HEAD_TIMEOUT).await;
        metrics.wrote("deployments");
        let (code, ctype, body) = get(addr, "/metrics").await;
        assert_eq!((code, ctype.as_str()), (200, "application/openmetrics-text; version=1.0.0; charset=utf-8"));
        assert!(body.contains("continuum_api_writes_total{resource=\"deployments\"} 1"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert_eq!(get(addr, "/healthz").await, (200, "text/plain".into(), "ok\n".into()));
        assert_eq!(get(addr, "/readyz").await, (503, "text/plain".into(), "CRDs not established yet\n".into()));
        metrics.readiness.crds_established();
        assert_eq!(get(addr, "/readyz").await, (200, "text/plain".into(), "ok\n".into()));
        assert_eq!(get(addr, "/nothing-here").await, (404, "text/plain".into(), "not found\n".into()));
    }

    #[tokio::test]
    async fn healthz_fails_while_reconciles_stall() {
        let (addr, metrics) = start(super::HEAD_TIMEOUT).await;
        let long_ago = std::time::Instant::now().checked_sub(Duration::from_secs(300));
        let Some(long_ago) = long_ago else { return }; // a machine up for less than 5 minutes
        metrics.liveness.with("OffloadPolicy", |c| c.ended("ns/p", long_ago, Some(Duration::from_secs(60))));
        let (code, _, body) = get(addr, "/healthz").await;
        assert_eq!(code, 503, "{body}");
        assert!(body.starts_with("OffloadPolicy reconciles stalled"), "{body}");
        metrics.liveness.with("OffloadPolicy", |c| c.ended("ns/p", std::time::Instant::now(), None));
        assert_eq!(get(addr, "/healthz").await.0, 200);
    }

    #[tokio::test]
    async fn a_slow_client_is_cut_off_without_blocking_others() {
        let head_timeout = Duration::from_millis(300);
        let (addr, _) = start(head_timeout).await;
        let mut slow = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
        slow.write_all(b"GET /metr").await.unwrap_or_else(|e| panic!("write: {e}"));
        assert_eq!(get(addr, "/healthz").await.0, 200, "a slow client blocked another");
        let mut rest = Vec::new();
        let cut = tokio::time::timeout(head_timeout + PROMPT, slow.read_to_end(&mut rest)).await;
        assert!(cut.is_ok(), "the slow client was not cut off");
        assert!(!String::from_utf8_lossy(&rest).contains("200 OK"), "the slow client was answered");
    }

    #[tokio::test]
    async fn garbage_gets_an_error_and_the_server_keeps_answering() {
        let (addr, _) = start(super::HEAD_TIMEOUT).await;
        let answer = exchange(addr, b"\x16\x03\x01 not http at all\r\n\r\n").await;
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 400"), "{answer:?}");
        let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        let answer = exchange(addr, huge.as_bytes()).await;
        assert!(!answer.contains("200 OK"), "an oversized head was answered: {answer:?}");
        assert_eq!(get(addr, "/healthz").await.0, 200);
    }
}
