//! Ingress: listeners that turn network requests into runtime requests and
//! runtime responses back into bytes on the wire.

mod config;
mod conn;
mod error;
pub mod h1;
pub mod h3;
mod http1;
pub mod listener;
pub mod tls;

pub use config::IngressConfig;
pub use conn::{IngressStats, Protocol, TrackedBody};
pub use error::IngressError;
pub use h3::H3Body;
pub use listener::{PlainListener, TlsListener, bind_plain, bind_tls, serve_plain, serve_tls};
pub use tls::{ClientHelloHook, TlsSetup};

use std::sync::Arc;

use bytes::Buf;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use outpost_js::{Body, HeaderList, HttpRequest, HttpResponse};
use tokio::sync::oneshot;

use crate::router::{RouteCache, Router, Target};
use crate::worker::{DispatchError, InflightGuard};

/// Limits applied to every request.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_request_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_body: 100 * 1024 * 1024,
        }
    }
}

/// The response body every listener writes: a whole body is held as it
/// is (no allocation or dynamic dispatch per response), a streamed one is
/// boxed.
pub enum ResponseBody {
    /// A whole body.
    Full(Full<Bytes>),
    /// Chunks as the handler produces them.
    Stream(UnsyncBoxBody<Bytes, std::io::Error>),
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ResponseBody::Full(body) => std::pin::Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map_err(|never| match never {}))),
            ResponseBody::Stream(body) => std::pin::Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Full(body) => body.is_end_stream(),
            ResponseBody::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ResponseBody::Full(body) => body.size_hint(),
            ResponseBody::Stream(body) => body.size_hint(),
        }
    }
}

/// What a listener needs to serve requests.
pub struct Service {
    /// Host → deployment.
    pub router: Arc<Router>,
    /// Request limits.
    pub limits: Limits,
}

fn plain(status: u16, text: &'static str) -> http::Response<ResponseBody> {
    to_hyper(HttpResponse::text(status, text))
}

/// Converts a runtime response into a hyper response, streaming its body.
pub fn to_hyper(resp: HttpResponse) -> http::Response<ResponseBody> {
    to_hyper_limited(resp, u64::MAX)
}

/// [`to_hyper`] for a deployment whose response bodies may hold at most
/// `limit` bytes: a whole body over it answers 500, a streamed one is cut
/// off with an error once it passes it (the client sees a reset stream or
/// a truncated chunked body).
pub fn to_hyper_limited(resp: HttpResponse, limit: u64) -> http::Response<ResponseBody> {
    if let Body::Full(b) = &resp.body
        && b.len() as u64 > limit
    {
        tracing::warn!(bytes = b.len(), limit, "response body over the deployment's limit");
        crate::metrics::record_rejected("response_too_large");
        return plain(500, "outpost: response body limit exceeded\n");
    }
    let Ok(status) = http::StatusCode::from_u16(resp.status) else {
        return plain(500, "Internal Server Error\n");
    };
    let body: ResponseBody = match resp.body {
        Body::Empty => ResponseBody::Full(Full::default()),
        Body::Full(b) => ResponseBody::Full(Full::new(b)),
        Body::Stream(rx) => {
            use futures::StreamExt;
            let mut sent = 0u64;
            let frames = rx.map(move |chunk| {
                let data = chunk.map_err(std::io::Error::other)?;
                sent += data.len() as u64;
                if sent > limit {
                    tracing::warn!(limit, "streamed response body over the deployment's limit; cut off");
                    crate::metrics::record_rejected("response_too_large");
                    return Err(std::io::Error::other("outpost: response body limit exceeded"));
                }
                Ok(Frame::data(data))
            });
            ResponseBody::Stream(StreamBody::new(frames).boxed_unsync())
        }
    };
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = resp.headers;
    response
}

/// Chunks of a streamed request body in flight to the isolate.
const REQUEST_CHUNKS_IN_FLIGHT: usize = 8;

impl Service {
    /// Serves one request: route, hand to the isolate, wait for the answer.
    /// A body of known length up to [`BUFFERED_BODY_BYTES`] is read whole
    /// first (within the deployment's wall-clock limit); a longer or chunked
    /// one streams to the handler as it arrives.
    pub async fn handle<B>(&self, req: http::Request<B>, scheme: &str) -> http::Response<ResponseBody>
    where
        B: hyper::body::Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: std::fmt::Display + Send,
    {
        self.start(req, scheme).finish().await
    }

    /// The part of [`Service::handle`] that needs no waiting and runs no
    /// JS: routes the request and turns its head into the isolate's
    /// [`HttpRequest`], or answers it on the spot; [`Started::finish`] hands
    /// it to the isolate. The head is dropped before this returns, so a
    /// server that calls this from its service's `call` frees the
    /// connection's read buffer, which the head's header values borrow,
    /// before the connection next reads: hyper then reuses that buffer
    /// instead of allocating a new one for every request.
    pub fn start<B>(&self, req: http::Request<B>, scheme: &str) -> Started
    where
        B: hyper::body::Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: std::fmt::Display + Send,
    {
        let started = std::time::Instant::now();
        let state = self.route(req, scheme);
        Started { started, state }
    }

    fn route<B>(&self, req: http::Request<B>, scheme: &str) -> StartedState
    where
        B: hyper::body::Body + Send + Unpin + 'static,
        B::Data: Send,
        B::Error: std::fmt::Display + Send,
    {
        let uri = req.uri();
        let host = match req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()) {
            Some(h) => std::borrow::Cow::Borrowed(h),
            None => match uri.authority() {
                Some(a) => std::borrow::Cow::Owned(a.to_string()),
                None => return StartedState::Answered(plain(400, "missing Host header\n")),
            },
        };
        let Some(target) = self.router.resolve(&host, uri.path()) else {
            return StartedState::Answered(no_route());
        };
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let url = absolute_url(scheme, &host, path_and_query);
        drop(host);
        let method = method_name(req.method());
        let headers = HeaderList::from(req.headers());
        // hyper knows a request without a body (no length, or 0) from its
        // head: its Content-Length is then not looked up.
        let bodiless = req.body().is_end_stream();
        let declared = if bodiless {
            None
        } else {
            req.headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let max_body = self.max_body(&target);
        if declared.is_some_and(|n| n > max_body) {
            return StartedState::Answered(too_large());
        }
        let body = req.into_body();
        let mut whole = None;
        let body = if bodiless {
            Body::Empty
        } else if let Some(len) = declared.filter(|&n| n <= BUFFERED_BODY_BYTES) {
            // A small body of known length is read whole before the handler
            // runs: no task, channel or stream per request, where it would
            // mostly arrive with the head anyway.
            whole = Some(Box::pin(read_whole(body, len as usize)) as WholeBody);
            Body::Empty
        } else {
            Body::Stream(stream_body(body, usize::try_from(max_body).unwrap_or(usize::MAX)))
        };
        let request = HttpRequest {
            method,
            url,
            headers,
            body,
        };
        StartedState::Routed { target, request, whole }
    }

    /// Routes a request an HTTP/1 connection parsed itself (see [`http1`]):
    /// its URL is already absolute, `authority` and `path` are the ranges
    /// of its host and path in it, and its body (of `Content-Length`) is in
    /// hand.
    pub(crate) fn route_wire<'c>(&self, routes: &'c mut RouteCache, head: WireRequest) -> WireRouted<'c> {
        let WireRequest {
            method,
            url,
            authority,
            path,
            headers,
            body,
        } = head;
        match self.router.resolve_cached(routes, &url[authority], &url[path]) {
            None => WireRouted::Answered(no_route()),
            Some(target) if body.len() as u64 > self.max_body(target) => WireRouted::Answered(too_large()),
            Some(target) => WireRouted::To(
                target,
                HttpRequest {
                    method: method.into(),
                    url,
                    headers,
                    body: if body.is_empty() { Body::Empty } else { Body::Full(body) },
                },
            ),
        }
    }

    /// The largest request body `target` takes.
    fn max_body(&self, target: &Target) -> u64 {
        target
            .limits
            .request_body_bytes
            .min(self.limits.max_request_body as u64)
    }
}

/// A request head and body an HTTP/1 connection parsed itself.
pub(crate) struct WireRequest {
    /// A standard method other than `HEAD` and `CONNECT`.
    pub method: &'static str,
    /// `scheme://host/path?query`.
    pub url: String,
    /// Where the host (with its port, if any) is in `url`.
    pub authority: std::ops::Range<usize>,
    /// Where the path (without the query) is in `url`.
    pub path: std::ops::Range<usize>,
    pub headers: HeaderList,
    pub body: Bytes,
}

/// Where [`Service::route_wire`] sends a request.
pub(crate) enum WireRouted<'c> {
    /// To the target's isolate, as this request.
    To(&'c Arc<Target>, HttpRequest),
    /// Nowhere: this is the answer.
    Answered(http::Response<ResponseBody>),
}

/// `scheme://host` followed by a request's path and query.
pub(crate) fn absolute_url(scheme: &str, host: &str, path_and_query: &str) -> String {
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + path_and_query.len());
    for part in [scheme, "://", host, path_and_query] {
        url.push_str(part);
    }
    url
}

/// The answer to a request for a host no deployment serves.
fn no_route() -> http::Response<ResponseBody> {
    crate::metrics::record_rejected("no_route");
    plain(404, "no deployment serves this host\n")
}

/// The answer to a request whose body is over the limit.
fn too_large() -> http::Response<ResponseBody> {
    crate::metrics::record_rejected("too_large");
    plain(413, "request body too large\n")
}

/// A request's method, borrowed from a constant for the standard ones.
fn method_name(method: &http::Method) -> std::borrow::Cow<'static, str> {
    match outpost_js::standard_method(method.as_str()) {
        Some(name) => name.into(),
        None => method.as_str().to_string().into(),
    }
}

/// The `503` for a request `target`'s isolates could not take.
pub(crate) fn refused(target: &Target, error: DispatchError) -> http::Response<ResponseBody> {
    match error {
        DispatchError::Busy => {
            crate::metrics::record_rejected("busy");
            let mut resp = plain(503, "the node is saturated; retry shortly\n");
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            resp
        }
        e @ (DispatchError::NotLoaded | DispatchError::Gone) => {
            crate::metrics::record_rejected("unavailable");
            tracing::warn!(deployment = %target.deployment, error = %e, "request not dispatched");
            plain(503, "the deployment is not available on this node\n")
        }
    }
}

/// Reads a request's body whole, within the deployment's wall-clock limit:
/// the request ready for its isolate, or the answer when the body did not
/// come.
async fn read_whole_body(target: Arc<Target>, mut request: HttpRequest, body: WholeBody) -> ReadBody {
    Err(match tokio::time::timeout(target.limits.wall, body).await {
        Ok(Ok(bytes)) => {
            request.body = Body::Full(bytes);
            return Ok((target, request));
        }
        Ok(Err(e)) => unreadable_body(&e),
        // The request's time to its response head ran out before its body
        // arrived (a client trickling it, say): answered as the isolate
        // answers a request over its wall clock.
        Err(_) => {
            crate::metrics::record_rejected("body_timeout");
            to_hyper_limited(HttpResponse::limit_exceeded(outpost_js::Limit::WallClock), u64::MAX)
        }
    })
}

/// The answer to a request whose body could not be read whole.
fn unreadable_body(error: &str) -> http::Response<ResponseBody> {
    tracing::debug!(error, "request body not read");
    plain(400, "the request body could not be read\n")
}

/// The isolate's answer as hyper's response, its body cut off past the
/// deployment's `limit`: `500` when the isolate went away without one.
pub(crate) fn answer(resp: Option<HttpResponse>, limit: u64) -> http::Response<ResponseBody> {
    match resp {
        Some(resp) => to_hyper_limited(resp, limit),
        None => plain(500, "Internal Server Error\n"),
    }
}

/// Request bodies with a `Content-Length` up to this are read whole before
/// the handler runs; longer or chunked ones stream to it as they arrive.
pub const BUFFERED_BODY_BYTES: u64 = 64 * 1024;

/// A request body being read whole.
type WholeBody = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Bytes, String>> + Send>>;

/// Reads a body of declared length `len` whole: one chunk is kept as it is,
/// several are joined. A body longer than declared is an error.
async fn read_whole<B>(mut body: B, len: usize) -> Result<Bytes, String>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display + Send,
{
    // The first chunk is kept as it is; only a second one starts a copy.
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| format!("request body: {e}"))?;
        if let Ok(mut data) = frame.into_data() {
            seen += data.remaining();
            if seen > len {
                return Err("request body longer than its Content-Length".into());
            }
            let chunk = data.copy_to_bytes(data.remaining());
            match &first {
                None if joined.is_empty() => first = Some(chunk),
                _ => {
                    if let Some(f) = first.take() {
                        joined.reserve_exact(len);
                        joined.extend_from_slice(&f);
                    }
                    joined.extend_from_slice(&chunk);
                }
            }
        }
    }
    Ok(match first {
        Some(f) => f,
        None => Bytes::from(joined),
    })
}

/// A request [`Service::start`] has routed: answered already, or ready for
/// its isolate.
pub struct Started {
    started: std::time::Instant,
    state: StartedState,
}

enum StartedState {
    Answered(http::Response<ResponseBody>),
    /// For `target`'s isolate; with `whole`, its body is read whole first.
    Routed {
        target: Arc<Target>,
        request: HttpRequest,
        whole: Option<WholeBody>,
    },
}

impl Started {
    /// Hands the request to its isolate (once its body is in, when that is
    /// read whole) and returns the answer, or returns the one given on the
    /// spot. Nothing runs until the future is first polled.
    pub fn finish(self) -> Finish {
        Finish {
            started: self.started,
            state: FinishState::Start(self.state),
        }
    }
}

/// The future of [`Started::finish`]. Written out by hand to stay small:
/// servers move it a few times per request, and an `async` block would
/// hold the request beside the states that follow it.
pub struct Finish {
    started: std::time::Instant,
    state: FinishState,
}

enum FinishState {
    Start(StartedState),
    /// Dispatched; the answer comes on `reply`.
    Waiting {
        target: Arc<Target>,
        reply: oneshot::Receiver<HttpResponse>,
        inflight: InflightGuard,
    },
    /// Reading the body whole first.
    Reading(std::pin::Pin<Box<dyn Future<Output = ReadBody> + Send>>),
    Done,
}

/// What [`read_whole_body`] gives.
type ReadBody = Result<(Arc<Target>, HttpRequest), http::Response<ResponseBody>>;

impl Finish {
    /// Hands `request` to `target`'s isolate, to wait for its answer next;
    /// the answer now when the isolates cannot take it.
    fn dispatch(&mut self, target: Arc<Target>, request: HttpRequest) -> Option<http::Response<ResponseBody>> {
        match target.worker.dispatch(&target.deployment, request) {
            Ok((reply, inflight)) => {
                self.state = FinishState::Waiting {
                    target,
                    reply,
                    inflight,
                };
                None
            }
            Err(e) => Some(refused(&target, e)),
        }
    }
}

impl Future for Finish {
    type Output = http::Response<ResponseBody>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            let resp = match &mut this.state {
                FinishState::Start(_) => {
                    let FinishState::Start(start) = std::mem::replace(&mut this.state, FinishState::Done) else {
                        unreachable!()
                    };
                    match start {
                        StartedState::Answered(resp) => resp,
                        StartedState::Routed {
                            target,
                            request,
                            whole: None,
                        } => match this.dispatch(target, request) {
                            Some(resp) => resp,
                            None => continue,
                        },
                        StartedState::Routed {
                            target,
                            mut request,
                            whole: Some(mut body),
                        } => match body.as_mut().poll(cx) {
                            // A small body mostly comes with its head: read
                            // at once, it needs no timer.
                            Poll::Ready(Ok(bytes)) => {
                                request.body = Body::Full(bytes);
                                match this.dispatch(target, request) {
                                    Some(resp) => resp,
                                    None => continue,
                                }
                            }
                            Poll::Ready(Err(e)) => unreadable_body(&e),
                            Poll::Pending => {
                                this.state = FinishState::Reading(Box::pin(read_whole_body(target, request, body)));
                                continue;
                            }
                        },
                    }
                }
                FinishState::Waiting { reply, .. } => {
                    let Poll::Ready(resp) = std::pin::Pin::new(reply).poll(cx) else {
                        return Poll::Pending;
                    };
                    let FinishState::Waiting { target, inflight, .. } =
                        std::mem::replace(&mut this.state, FinishState::Done)
                    else {
                        unreachable!()
                    };
                    // The request stops counting as in flight.
                    drop(inflight);
                    answer(resp.ok(), target.limits.response_body_bytes)
                }
                FinishState::Reading(fut) => {
                    let Poll::Ready(read) = fut.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    this.state = FinishState::Done;
                    match read {
                        Ok((target, request)) => match this.dispatch(target, request) {
                            Some(resp) => resp,
                            None => continue,
                        },
                        Err(resp) => resp,
                    }
                }
                FinishState::Done => panic!("`Finish` polled after it completed"),
            };
            crate::metrics::record_request(resp.status().as_u16(), this.started.elapsed());
            return Poll::Ready(resp);
        }
    }
}

/// Forwards a request body to the isolate chunk by chunk, with backpressure
/// (a bounded channel); past `limit` bytes the stream ends in an error.
fn stream_body<B>(mut body: B, limit: usize) -> outpost_js::BodyStream
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display + Send,
{
    use futures::SinkExt;
    let (mut tx, rx) = futures::channel::mpsc::channel(REQUEST_CHUNKS_IN_FLIGHT);
    tokio::spawn(async move {
        let mut seen = 0usize;
        loop {
            let item = match std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
                None => break,
                Some(Err(e)) => Err(format!("request body: {e}")),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        seen += data.remaining();
                        if seen > limit {
                            Err("request body too large".to_string())
                        } else {
                            Ok(data.copy_to_bytes(data.remaining()))
                        }
                    }
                    Err(_) => continue,
                },
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    /// A body of `chunks`, each its own data frame.
    fn body_of(
        chunks: &[&'static str],
    ) -> impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Send + Unpin + 'static {
        let frames: Vec<Result<_, std::convert::Infallible>> = chunks
            .iter()
            .map(|c| Ok(hyper::body::Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        StreamBody::new(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_whole_body_is_its_chunks_joined_and_no_longer_than_declared() {
        for (chunks, len, expected) in [
            (&[][..], 0, Ok("")),
            (&["abc"][..], 3, Ok("abc")),
            (&["abc", "defg"][..], 7, Ok("abcdefg")),
            (&["", "ab", "", "c"][..], 3, Ok("abc")),
            (&["ab", "cd"][..], 3, Err(())),
        ] {
            let got = read_whole(body_of(chunks), len).await;
            match expected {
                Ok(text) => assert_eq!(got.as_deref(), Ok(text.as_bytes()), "{chunks:?}"),
                Err(()) => assert!(got.is_err(), "{chunks:?}: {got:?}"),
            }
        }
    }

    /// A whole response body is one data frame and says its exact length
    /// up front (hyper writes it as `Content-Length`); an empty one is over
    /// before it starts.
    #[tokio::test]
    async fn a_whole_response_body_is_one_frame_of_known_length() {
        use hyper::body::Body as _;
        let mut body = ResponseBody::Full(Full::new(Bytes::from_static(b"hello")));
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(5));
        let frame = body.frame().await.expect("a frame").expect("no error");
        assert_eq!(frame.into_data().ok().as_deref(), Some(&b"hello"[..]));
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());

        for mut empty in [
            ResponseBody::Full(Full::new(Bytes::new())),
            to_hyper(HttpResponse::text(204, "")).into_body(),
        ] {
            assert!(empty.is_end_stream());
            assert_eq!(empty.size_hint().exact(), Some(0));
            assert!(empty.frame().await.is_none());
        }
    }
}
