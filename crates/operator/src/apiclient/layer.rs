//! The tower layer under every API client: a deadline on each call that is not a watch (the
//! whole answer, body included, must arrive within it) and bounded retries (see
//! [`policy`](super::policy)), with the write gate checked before each retry of a write.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use kube::client::{Body, DynBody};
use tokio::time::{Instant, Sleep};
use tower::buffer::Buffer;
use tower::{BoxError, Layer, Service, ServiceExt};

use super::policy::{Kind, Limits, Outcome, retry_after};
use crate::leader::WriteGate;

/// Retry limits per kind of call, and the gate writes are retried under.
#[derive(Clone, Debug)]
pub struct Resilience {
    pub reads: Limits,
    pub writes: Limits,
    /// Closed while this replica does not lead: a write is not tried again then. None: writes
    /// are not gated (the Lease's own client).
    pub gate: Option<WriteGate>,
}

/// Calls queued in front of kube's own stack (which cannot be cloned) before they wait.
const QUEUE: usize = 1024;

impl<S> Layer<S> for Resilience
where
    S: Service<Request<Body>, Response = Answer, Error = BoxError> + Send + 'static,
    S::Future: Send + 'static,
{
    type Service = Resilient<Buffer<Request<Body>, S::Future>>;

    fn layer(&self, inner: S) -> Self::Service {
        Resilient { inner: Buffer::new(inner, QUEUE), policy: Arc::new(self.clone()) }
    }
}

/// See [`Resilience`].
#[derive(Clone, Debug)]
pub struct Resilient<S> {
    inner: S,
    policy: Arc<Resilience>,
}

/// No answer within the call's deadline.
#[derive(Debug, thiserror::Error)]
#[error("no answer from the API server within {0:?}")]
pub struct TimedOut(pub Duration);

type Answer = Response<Box<DynBody>>;

impl<S> Service<Request<Body>> for Resilient<S>
where
    S: Service<Request<Body>, Response = Answer, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Answer;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The service that was polled ready takes this call; the clone waits for the next.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let kind = Kind::of(req.method(), req.uri());
        if kind == Kind::Watch {
            let mut inner = inner;
            return Box::pin(inner.call(req));
        }
        Box::pin(attempts(inner, self.policy.clone(), kind, req))
    }
}

/// Sends `req` until it succeeds, fails for good, or its limits are reached.
async fn attempts<S>(mut inner: S, policy: Arc<Resilience>, kind: Kind, req: Request<Body>) -> Result<Answer, BoxError>
where
    S: Service<Request<Body>, Response = Answer, Error = BoxError> + Send,
    S::Future: Send,
{
    let limits = if kind == Kind::Write { policy.writes } else { policy.reads };
    let started = Instant::now();
    let deadline = started + limits.budget;
    let mut next = Some(req);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(req) = next.take() else { return Err(TimedOut(limits.budget).into()) };
        let last = attempt >= limits.attempts;
        let spare = if last { None } else { copy(&req) };
        // An attempt that may be followed by another gets half the time left, so a timeout
        // leaves room to try again.
        let until = if last || spare.is_none() { deadline } else { Instant::now() + (deadline - Instant::now()) / 2 };
        let sent = tokio::time::timeout_at(until, async { inner.ready().await?.call(req).await }).await;
        let (outcome, hint) = match &sent {
            Ok(Ok(answer)) => {
                (Outcome::Status(answer.status().as_u16()), retry_after(answer.headers().get("retry-after")))
            }
            Ok(Err(_)) => (Outcome::Broken, None),
            Err(_) => (Outcome::TimedOut, None),
        };
        let wait = limits.next_wait(kind, outcome, attempt, started.elapsed(), hint);
        let gate_open = kind != Kind::Write || policy.gate.as_ref().is_none_or(WriteGate::is_open);
        match (wait, spare) {
            (Some(wait), Some(spare)) if gate_open => {
                tracing::debug!(?outcome, attempt, ?wait, ?kind, "API call failed; trying again");
                tokio::time::sleep(wait).await;
                next = Some(spare);
            }
            _ => return finish(sent, deadline, limits.budget),
        }
    }
}

/// The last attempt's answer, its body bound to the call's deadline.
fn finish(
    sent: Result<Result<Answer, BoxError>, tokio::time::error::Elapsed>,
    deadline: Instant,
    budget: Duration,
) -> Result<Answer, BoxError> {
    let answer = sent.map_err(|_| TimedOut(budget))??;
    Ok(answer.map(|body| Box::new(Deadline { body, sleep: Box::pin(tokio::time::sleep_until(deadline)), budget }) as _))
}

/// A copy of `req` for another attempt (None when its body cannot be replayed).
fn copy(req: &Request<Body>) -> Option<Request<Body>> {
    let mut copy = Request::new(req.body().try_clone()?);
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    *copy.extensions_mut() = req.extensions().clone();
    Some(copy)
}

/// A response body that fails once the call's deadline passes.
struct Deadline {
    body: Box<DynBody>,
    sleep: Pin<Box<Sleep>>,
    budget: Duration,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(TimedOut(self.budget).into())));
        }
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
