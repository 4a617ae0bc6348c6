//! What the runtime asks of its host: the clock, timers, logging and
//! outbound fetch. The node implements [`Host`] on top of tokio; tests can
//! use [`StdHost`] or a fake of their own.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};

/// Severity of a line a handler logged through `console`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// `console.debug`
    Debug,
    /// `console.log`, `console.info`
    Info,
    /// `console.warn`
    Warn,
    /// `console.error`, uncaught exceptions
    Error,
}

impl LogLevel {
    pub(crate) fn from_u32(n: u32) -> Self {
        match n {
            0 => LogLevel::Debug,
            1 => LogLevel::Info,
            2 => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }

    /// The lower-case name, as printed in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A stream of body chunks; an `Err` ends it abnormally.
pub type BodyStream = mpsc::Receiver<Result<Bytes, String>>;

/// A request or response body.
#[derive(Debug, Default)]
pub enum Body {
    /// No body at all.
    #[default]
    Empty,
    /// The whole body, already in memory.
    Full(Bytes),
    /// A body that arrives in chunks.
    Stream(BodyStream),
}

/// An HTTP request as the runtime sees it: for `fetch` handlers (incoming)
/// and for outbound `fetch()` (outgoing).
#[derive(Debug)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The absolute URL, e.g. `http://hello.localhost:8787/path?q`.
    pub url: String,
    /// Header names and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

/// An HTTP response produced by a handler, or received by outbound `fetch()`.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl HttpResponse {
    /// A plain-text response, as the runtime answers on its own behalf.
    pub fn text(status: u16, body: &'static str) -> Self {
        HttpResponse {
            status,
            headers: vec![("content-type".into(), "text/plain;charset=UTF-8".into())],
            body: Body::Full(Bytes::from_static(body.as_bytes())),
        }
    }

    /// The `503` a request gets when `limit` stopped it, e.g. body
    /// `outpost: cpu limit exceeded`.
    pub fn limit_exceeded(limit: crate::Limit) -> Self {
        Self::text(503, limit.response_body())
    }
}

/// Why an outbound `fetch()` failed; surfaces in JS as a `TypeError`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// A boxed future that stays on the isolate's thread.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// What [`Host::fetch_with`] resolves with: the response and, when redirects
/// were followed, the URL of the final one.
pub type FetchResult = Result<(HttpResponse, Option<String>), FetchError>;

/// Capabilities the embedding node gives a runtime.
pub trait Host {
    /// A line logged by the handler (`console.*`, uncaught errors).
    fn log(&self, level: LogLevel, message: &str);

    /// A future that completes at `deadline` (timers).
    fn sleep_until(&self, deadline: Instant) -> LocalFuture<()>;

    /// Outbound `fetch()`. By default outbound requests are refused.
    fn fetch(&self, request: HttpRequest) -> LocalFuture<Result<HttpResponse, FetchError>> {
        let _ = request;
        Box::pin(async { Err(FetchError("outbound fetch is not available on this host".into())) })
    }

    /// Outbound `fetch()` as the runtime calls it: with the request's
    /// redirect mode and a way to stop it.
    ///
    /// `redirect` is the request's `redirect` member: `"follow"` (follow up
    /// to the host's limit), `"error"` (a redirect is a network error) or
    /// `"manual"` (the redirect response is the answer). `abort` completes
    /// — with `Ok` or `Canceled` — when the handler aborts the fetch (its
    /// `AbortSignal`) or the runtime forgets it: the host then stops,
    /// dropping its connection, whether it is connecting, sending, waiting
    /// for the head or streaming the response body. A host drops `abort`
    /// once it is done with the fetch, body included.
    ///
    /// Resolves with the response and, when redirects were followed, the
    /// URL of the final one (`Response.url`; `Response.redirected` is then
    /// true). By default it calls [`Host::fetch`], follows nothing and
    /// cannot be stopped.
    fn fetch_with(
        &self,
        request: HttpRequest,
        redirect: &str,
        abort: oneshot::Receiver<()>,
    ) -> LocalFuture<FetchResult> {
        let _ = (redirect, abort);
        let response = self.fetch(request);
        Box::pin(async move { response.await.map(|r| (r, None)) })
    }

    /// A request met `limit` (the runtime has logged it and answered or
    /// thrown); for the host's metrics.
    fn limit_exceeded(&self, limit: crate::Limit) {
        let _ = limit;
    }

    /// The monotonic clock behind `performance.now()` and timers.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A host without an async runtime: logs to `tracing`, sleeps on a thread.
/// Good for tests and tools that drive the runtime with
/// `futures::executor::block_on`.
#[derive(Default)]
pub struct StdHost;

impl Host for StdHost {
    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Debug => tracing::debug!(target: "handler", "{message}"),
            LogLevel::Info => tracing::info!(target: "handler", "{message}"),
            LogLevel::Warn => tracing::warn!(target: "handler", "{message}"),
            LogLevel::Error => tracing::error!(target: "handler", "{message}"),
        }
    }

    fn sleep_until(&self, deadline: Instant) -> LocalFuture<()> {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let wait = deadline.saturating_duration_since(Instant::now());
        std::thread::spawn(move || {
            std::thread::sleep(wait.max(Duration::from_micros(1)));
            let _ = tx.send(());
        });
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
