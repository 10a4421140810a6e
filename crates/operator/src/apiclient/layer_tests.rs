//! The layer over a server stand-in that answers every call the same way, counting the calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::{Body as HttpBody, Bytes, Frame};
use kube::client::{Body, DynBody};
use tower::{BoxError, Layer, Service, ServiceExt};

use super::{Resilience, TimedOut};
use crate::apiclient::Limits;
use crate::leader::WriteGate;

struct Empty;

impl HttpBody for Empty {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        std::task::Poll::Ready(None)
    }
}

fn limits(attempts: u32, budget_ms: u64) -> Limits {
    let ms = Duration::from_millis;
    Limits { attempts, budget: ms(budget_ms), first_backoff: ms(10), max_backoff: ms(20) }
}

/// Sends `method uri` through the layer to a server answering `status` (None: never answering);
/// returns the outcome and how many calls reached the server.
async fn send(gate: WriteGate, method: &str, uri: &str, status: Option<u16>) -> (Result<StatusCode, BoxError>, u32) {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let server = tower::service_fn(move |_req: Request<Body>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let Some(code) = status else { return std::future::pending().await };
            let answer: Response<Box<DynBody>> =
                Response::builder().status(code).body(Box::new(Empty) as Box<DynBody>).map_err(BoxError::from)?;
            Ok::<_, BoxError>(answer)
        }
    });
    let layer = Resilience { reads: limits(4, 600), writes: limits(3, 600), gate: Some(gate) };
    let mut client = layer.layer(server);
    let req = Request::builder().method(method).uri(uri).body(Body::from(b"{}".to_vec()));
    let req = req.unwrap_or_else(|e| panic!("{e}"));
    let out = match client.ready().await {
        Ok(ready) => ready.call(req).await.map(|r| r.status()),
        Err(e) => Err(e),
    };
    (out, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_throttled_write_is_tried_again_a_bounded_number_of_times_while_leading() {
    let (out, calls) = send(WriteGate::always_open(), "PATCH", "/api/v1/namespaces/n/configmaps/c", Some(429)).await;
    assert_eq!(out.ok(), Some(StatusCode::TOO_MANY_REQUESTS), "the last answer is returned");
    assert_eq!(calls, 3);
    let (_, calls) = send(WriteGate::always_open(), "PUT", "/api/v1/namespaces/n/configmaps/c", Some(409)).await;
    assert_eq!(calls, 1, "a conflict is not tried again");
}

#[tokio::test]
async fn a_write_is_not_tried_again_once_the_write_gate_is_closed() {
    let closed = WriteGate::elected(Duration::from_secs(10));
    let (out, calls) = send(closed.clone(), "PATCH", "/apis/g/v1/namespaces/n/x/p/status", Some(503)).await;
    assert_eq!((out.ok(), calls), (Some(StatusCode::SERVICE_UNAVAILABLE), 1));
    let (_, calls) = send(closed, "GET", "/api/v1/namespaces/n/configmaps/c", Some(503)).await;
    assert_eq!(calls, 4, "reads are not gated");
}

#[tokio::test]
async fn watches_are_passed_through_untouched() {
    let (out, calls) = send(WriteGate::always_open(), "GET", "/api/v1/pods?watch=true", Some(503)).await;
    assert_eq!((out.ok(), calls), (Some(StatusCode::SERVICE_UNAVAILABLE), 1));
}

#[tokio::test]
async fn a_silent_server_ends_the_call_with_a_timeout_within_the_budget() {
    let (out, calls) = send(WriteGate::always_open(), "PATCH", "/api/v1/namespaces/n/configmaps/c", None).await;
    let err = out.err().unwrap_or_else(|| panic!("a silent server answered"));
    assert!(err.downcast_ref::<TimedOut>().is_some(), "{err}");
    assert_eq!(calls, 3, "a timeout is tried again, within the same budget");
}
