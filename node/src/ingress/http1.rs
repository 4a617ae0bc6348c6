//! HTTP/1.1 for the common request, served without hyper: the head is
//! parsed once (httparse) straight into the isolate's request, and the
//! response head is written straight from the handler's headers, with no
//! `http::Request` and `HeaderMap` built and taken apart in between.
//!
//! A request this path does not take, and everything after it on the
//! connection, goes to hyper's HTTP/1 server with the bytes read so far put
//! back: HTTP/1.0, `HEAD`, `CONNECT` and non-standard methods, a target
//! that is not a plain origin-form path, `Transfer-Encoding`, `Expect`,
//! `Upgrade`, no (or more than one) `Host` or `Content-Length`, a body
//! longer than [`BUFFERED_BODY_BYTES`] or not yet fully read, a head
//! over the limits, and every malformed head. hyper then answers as it
//! always has (400, 431, 413, streamed and trickling bodies, 100-continue).

use std::future::{Future, poll_fn};
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures::FutureExt;
use http::header::{self, HeaderValue};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use outpost_js::HttpResponse;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::router::RouteCache;
use crate::worker::{InflightGuard, SlotCache};

use super::conn::{ConnTracker, Protocol, RequestGuard, TrackedIo};
use super::listener::{ConnContext, hyper_service};
use super::{BUFFERED_BODY_BYTES, ResponseBody, WireRequest, WireRouted, absolute_url, answer, refused};

/// An error that ends a connection (logged at debug level).
pub(crate) type ConnError = Box<dyn std::error::Error + Send + Sync>;

/// Request heads with more headers than this go to hyper, which applies
/// the configured count.
const MAX_HEADERS: usize = 100;

/// Bytes read at a time.
const READ_CHUNK: usize = 8 * 1024;

/// While a handler runs, the connection keeps reading (to see the client
/// leave) until this much of what follows is buffered.
const READ_AHEAD: usize = 64 * 1024;

/// Whole response bodies up to this are copied behind their head and sent
/// in one write; longer ones follow it in a second buffer.
const COPY_BODY: usize = 16 * 1024;

/// A streamed body is written once this much of it is ready, or sooner
/// when the handler has nothing more ready.
const STREAM_BATCH: usize = 256 * 1024;

/// Serves HTTP/1.1 on `io` until the client leaves, a response says
/// `connection: close`, or the tracker winds the connection down while no
/// request is in progress.
pub(crate) async fn serve<S>(
    io: TrackedIo<S>,
    tracker: Arc<ConnTracker>,
    ctx: Arc<ConnContext>,
) -> Result<(), ConnError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = Conn {
        io,
        read: BytesMut::with_capacity(READ_CHUNK),
        write: Vec::with_capacity(1024),
        routes: RouteCache::default(),
        slots: SlotCache::default(),
        tracker: tracker.clone(),
        ctx,
    };
    loop {
        match conn.parse() {
            Parsed::Request(req) => {
                let begun = conn.begin(req, &tracker);
                if !conn.finish(begun).await? {
                    break;
                }
            }
            Parsed::Incomplete => {
                if conn.read_more().await? == 0 {
                    break;
                }
            }
            Parsed::Other => return conn.hand_over().await,
        }
    }
    conn.io.shutdown().await?;
    Ok(())
}

struct Conn<S> {
    io: TrackedIo<S>,
    /// Bytes read and not yet taken by a request.
    read: BytesMut,
    /// The response being written (kept for its capacity).
    write: Vec<u8>,
    /// The routing table and the deployments, as of the last request.
    routes: RouteCache,
    slots: SlotCache,
    tracker: Arc<ConnTracker>,
    ctx: Arc<ConnContext>,
}

/// What the read buffer starts with.
enum Parsed {
    /// A request this path serves.
    Request(Head),
    /// The start of a head: read more.
    Incomplete,
    /// A request for hyper.
    Other,
}

/// A request handed on by [`Conn::begin`], waiting for its answer.
struct Begun<'t> {
    /// Counts it as in progress on the connection until it is answered.
    guard: RequestGuard<&'t ConnTracker>,
    started: Instant,
    /// The connection closes after it.
    close: bool,
    pending: Pending,
}

/// Where a begun request's answer comes from.
enum Pending {
    /// Answered without an isolate (no route, too large, refused): rare, so
    /// boxed to keep [`Begun`] small.
    Answered(Box<http::Response<ResponseBody>>),
    /// From the isolate the request went to.
    Isolate {
        reply: oneshot::Receiver<HttpResponse>,
        inflight: InflightGuard,
        /// When the handler's JS returned, if it ran during the dispatch.
        ran_until: Option<Instant>,
        /// The deployment's limit on response bodies.
        response_limit: u64,
    },
}

/// A parsed request and how much of the buffer it spans.
struct Head {
    wire: WireRequest,
    /// Bytes of the head; the body (of `body` bytes) follows.
    head: usize,
    body: usize,
    /// The client asked to close after this request.
    close: bool,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn parse(&self) -> Parsed {
        let config = &self.ctx.config;
        parse(&self.read, config.max_header_bytes, config.max_headers, self.ctx.scheme)
    }

    /// Takes a parsed request off the read buffer, routes it and hands it
    /// to its isolate. Not async: the request moves from the parser to the
    /// isolate without passing through the connection's future, and only
    /// what the answer needs is kept there.
    fn begin<'t>(&mut self, mut req: Head, tracker: &'t ConnTracker) -> Begun<'t> {
        // Copied out, not split off: the read buffer stays one owner's, to
        // be reused whole once drained.
        if req.body > 0 {
            req.wire.body = Bytes::copy_from_slice(&self.read[req.head..req.head + req.body]);
        }
        self.read.advance(req.head + req.body);
        let guard = tracker.start_request_within();
        self.ctx.stats.count_request(Protocol::H1);
        let close = req.close || tracker.quota_reached();
        let started = Instant::now();
        // Routed and dispatched right here: the request is whole, so none
        // of `Finish`'s states for bodies still arriving are needed.
        let pending = match self.ctx.service.route_wire(&mut self.routes, req.wire) {
            WireRouted::Answered(answered) => Pending::Answered(Box::new(answered)),
            WireRouted::To(target, request) => {
                match target
                    .worker
                    .dispatch_cached(&mut self.slots, &target.deployment, request, started)
                {
                    Err(e) => Pending::Answered(Box::new(refused(target, e))),
                    Ok(dispatched) => Pending::Isolate {
                        reply: dispatched.reply,
                        inflight: dispatched.inflight,
                        ran_until: dispatched.ran_until,
                        response_limit: target.limits.response_body_bytes,
                    },
                }
            }
        };
        Begun {
            guard,
            started,
            close,
            pending,
        }
    }

    /// Waits for a begun request's answer and writes it; `false` when the
    /// connection closes after it.
    async fn finish(&mut self, begun: Begun<'_>) -> Result<bool, ConnError> {
        let Begun {
            guard,
            started,
            close,
            pending,
        } = begun;
        // When the answer was ready: the clock reading that ended the
        // handler's JS, if it answered within it.
        let mut ready_at = None;
        let mut resp = match pending {
            Pending::Answered(answered) => *answered,
            Pending::Isolate {
                mut reply,
                inflight,
                ran_until,
                response_limit,
            } => {
                // A handler that answers at once has answered by now.
                let replied = match reply.try_recv() {
                    Ok(resp) => {
                        ready_at = ran_until;
                        Some(resp)
                    }
                    Err(oneshot::error::TryRecvError::Closed) => None,
                    Err(oneshot::error::TryRecvError::Empty) => match self.answer(reply).await {
                        Some(replied) => replied,
                        // The client left before its answer: dropping the
                        // reply's receiver tells the isolate.
                        None => return Ok(false),
                    },
                };
                drop(inflight);
                answer(replied, response_limit)
            }
        };
        let now = ready_at.unwrap_or_else(Instant::now);
        crate::metrics::record_request(resp.status().as_u16(), now.saturating_duration_since(started));
        if let Some(alt_svc) = &self.ctx.alt_svc {
            resp.headers_mut().insert(header::ALT_SVC, alt_svc.clone());
        }
        let close = close || self.tracker.winding_down();
        let (parts, body) = resp.into_parts();
        let (ok, close) = match body {
            ResponseBody::Full(full) => {
                // Encoded before the first await: the response is not kept
                // in the connection's future while it is written.
                let (tail, close) = self.encode_whole(&parts, full, close, now);
                drop(parts);
                self.write_whole(tail).await?;
                (true, close)
            }
            // Boxed: a stream's batching state stays out of the future
            // every request on the connection goes through.
            ResponseBody::Stream(stream) => Box::pin(self.write_stream(parts, stream, close, now)).await?,
        };
        drop(guard);
        Ok(ok && !close)
    }

    /// Waits for the isolate's `reply` (`None` if it went away without
    /// one), reading ahead meanwhile to see the client leave; `None` when
    /// it did.
    async fn answer<T>(&mut self, mut reply: oneshot::Receiver<T>) -> Option<Option<T>> {
        poll_fn(|cx| {
            if let Poll::Ready(resp) = Pin::new(&mut reply).poll(cx) {
                return Poll::Ready(Some(resp.ok()));
            }
            while self.read.len() < READ_AHEAD {
                match self.poll_fill(cx) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(None),
                    Poll::Ready(Ok(_)) => {}
                    Poll::Pending => break,
                }
            }
            Poll::Pending
        })
        .await
    }

    /// Reads more of the next request; 0 when the client closed, or when a
    /// graceful shutdown finds no request begun.
    async fn read_more(&mut self) -> std::io::Result<usize> {
        poll_fn(|cx| {
            if self.read.is_empty() && self.tracker.winding_down() {
                return Poll::Ready(Ok(0));
            }
            self.poll_fill(cx)
        })
        .await
    }

    /// Reads what has arrived into the read buffer; 0 at the end.
    fn poll_fill(&mut self, cx: &mut std::task::Context<'_>) -> Poll<std::io::Result<usize>> {
        self.read.reserve(READ_CHUNK);
        pin!(self.io.read_buf(&mut self.read)).poll(cx)
    }

    /// Puts a whole response in the write buffer: its head, saying
    /// `connection: close` if `close` or if the handler asked to, and its
    /// body unless that is long, which is returned to be written after the
    /// buffer. Also returns whether the head says close. `now`: a clock
    /// reading just taken.
    fn encode_whole(
        &mut self,
        parts: &http::response::Parts,
        mut full: Full<Bytes>,
        close: bool,
        now: Instant,
    ) -> (Option<Bytes>, bool) {
        let bodiless = bodiless(parts.status);
        // A whole body is one frame, ready at once.
        let data = match full.frame().now_or_never() {
            Some(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
            _ => Bytes::new(),
        };
        let framing = if bodiless {
            Framing::None
        } else {
            Framing::Length(data.len() as u64)
        };
        self.write.clear();
        let close = encode_head(&mut self.write, parts, framing, close, now);
        if bodiless || data.is_empty() {
            (None, close)
        } else if data.len() <= COPY_BODY {
            self.write.extend_from_slice(&data);
            (None, close)
        } else {
            (Some(data), close)
        }
    }

    /// Writes the write buffer, then `tail`, and flushes.
    async fn write_whole(&mut self, tail: Option<Bytes>) -> std::io::Result<()> {
        match tail {
            None => self.io.write_all(&self.write).await?,
            Some(data) => write_all_vectored(&mut self.io, &[&self.write[..], &data[..]]).await?,
        }
        self.io.flush().await
    }

    /// Writes a streamed response, saying `connection: close` if `close` or
    /// if the handler asked to. Returns whether its body was sent whole (the
    /// connection must close if not: the client cannot tell where the next
    /// response starts), and whether it said close. `now`: a clock reading
    /// just taken.
    async fn write_stream(
        &mut self,
        parts: http::response::Parts,
        mut stream: UnsyncBoxBody<Bytes, std::io::Error>,
        close: bool,
        now: Instant,
    ) -> Result<(bool, bool), ConnError> {
        let bodiless = bodiless(parts.status);
        self.write.clear();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| decimal(v.as_bytes()));
        let framing = match declared {
            _ if bodiless => Framing::None,
            Some(n) => Framing::Declared(n),
            None => Framing::Chunked,
        };
        let close = encode_head(&mut self.write, &parts, framing, close, now);
        if bodiless {
            self.io.write_all(&self.write).await?;
            self.io.flush().await?;
            return Ok((true, close));
        }
        // What is ready goes out together: the head with the first
        // chunks, and every chunk the handler has produced by the
        // time the last write is done, up to `STREAM_BATCH` bytes.
        let mut batch = vec![Bytes::copy_from_slice(&self.write)];
        let mut batched = 0;
        let mut sent = 0u64;
        loop {
            let frame = if batch.is_empty() {
                stream.frame().await
            } else {
                match stream.frame().now_or_never() {
                    Some(frame) => frame,
                    None => {
                        self.write_batch(&mut batch).await?;
                        batched = 0;
                        continue;
                    }
                }
            };
            let data = match frame {
                None => break,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => data,
                    _ => continue,
                },
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "response body failed; closing the connection");
                    self.write_batch(&mut batch).await?;
                    return Ok((false, true));
                }
            };
            sent += data.len() as u64;
            batched += data.len();
            match framing {
                Framing::Declared(n) if sent > n => {
                    tracing::debug!(declared = n, "response body longer than its Content-Length");
                    self.write_batch(&mut batch).await?;
                    return Ok((false, true));
                }
                Framing::Chunked => {
                    batch.push(Bytes::from(format!("{:x}\r\n", data.len())));
                    batch.push(data);
                    batch.push(Bytes::from_static(b"\r\n"));
                }
                _ => batch.push(data),
            }
            if batched >= STREAM_BATCH {
                self.write_batch(&mut batch).await?;
                batched = 0;
            }
        }
        match framing {
            Framing::Declared(n) if sent != n => {
                tracing::debug!(declared = n, sent, "response body shorter than its Content-Length");
                self.write_batch(&mut batch).await?;
                return Ok((false, true));
            }
            Framing::Chunked => batch.push(Bytes::from_static(b"0\r\n\r\n")),
            _ => {}
        }
        self.write_batch(&mut batch).await?;
        Ok((true, close))
    }

    /// Writes and empties `batch`, then flushes.
    async fn write_batch(&mut self, batch: &mut Vec<Bytes>) -> std::io::Result<()> {
        write_all_vectored(&mut self.io, batch).await?;
        batch.clear();
        self.io.flush().await
    }

    /// Gives the connection, with what it read and did not serve, to
    /// hyper's HTTP/1 server for good.
    async fn hand_over(self) -> Result<(), ConnError> {
        let Conn {
            mut io,
            read,
            tracker,
            ctx,
            ..
        } = self;
        io.unread(read.freeze());
        let svc = hyper_service(&ctx, &tracker, Protocol::H1);
        let mut conn = pin!(ctx.h1.serve_connection(TokioIo::new(io), svc));
        let mut told = false;
        poll_fn(|cx| {
            if !told && tracker.winding_down() {
                told = true;
                conn.as_mut().graceful_shutdown();
            }
            conn.as_mut().poll(cx)
        })
        .await?;
        Ok(())
    }
}

/// Reads the request at the start of `buf` (`scheme` is the connection's),
/// whose head may hold up to `limit` bytes and `max_headers` headers.
fn parse(buf: &[u8], limit: usize, max_headers: usize, scheme: &str) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) if n <= limit => n,
        Ok(httparse::Status::Partial) if buf.len() <= limit => return Parsed::Incomplete,
        _ => return Parsed::Other,
    };
    let (Some(1), Some(method), Some(target)) = (req.version, req.method, req.path) else {
        return Parsed::Other;
    };
    if req.headers.len() > max_headers {
        return Parsed::Other;
    }
    let Some(method) = outpost_js::standard_method(method).filter(|m| !matches!(*m, "HEAD" | "CONNECT")) else {
        return Parsed::Other;
    };
    if !target.starts_with('/') || !target.bytes().all(plain_target_byte) {
        return Parsed::Other;
    }
    let mut host = None;
    let mut length = None;
    let mut close = false;
    let mut bytes = 0;
    for h in req.headers.iter() {
        bytes += h.name.len() + h.value.len() + 2;
        let name = h.name.as_bytes();
        // Only the few names this path looks at, picked by length first.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if host.is_some() || !h.value.iter().all(|&b| b.is_ascii_graphic()) {
                    return Parsed::Other;
                }
                host = Some(h.value);
            }
            6 if name.eq_ignore_ascii_case(b"expect") => return Parsed::Other,
            7 if name.eq_ignore_ascii_case(b"upgrade") => return Parsed::Other,
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in h.value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        return Parsed::Other;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => match (length, decimal(h.value)) {
                (None, Some(n)) if n <= BUFFERED_BODY_BYTES => length = Some(n as usize),
                _ => return Parsed::Other,
            },
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => return Parsed::Other,
            _ => {}
        }
    }
    let Some(host) = host.and_then(|h| std::str::from_utf8(h).ok()) else {
        return Parsed::Other;
    };
    let body = length.unwrap_or(0);
    if buf.len() < head + body {
        // hyper reads the rest within the deployment's wall-clock limit.
        return Parsed::Other;
    }
    let url = absolute_url(scheme, host, target);
    let authority = scheme.len() + 3..scheme.len() + 3 + host.len();
    let path = authority.end..authority.end + target.find('?').unwrap_or(target.len());
    let headers = outpost_js::HeaderList::from_wire(req.headers.iter().map(|h| (h.name.as_bytes(), h.value)), bytes);
    Parsed::Request(Head {
        wire: WireRequest {
            method,
            url,
            authority,
            path,
            headers,
            body: Bytes::new(),
        },
        head,
        body,
        close,
    })
}

/// Whether a response with `status` carries no body on the wire (1xx,
/// 204, 304: RFC 9112, section 6.3).
fn bodiless(status: http::StatusCode) -> bool {
    matches!(status.as_u16(), 100..=199 | 204 | 304)
}

/// How a response body is delimited.
#[derive(Clone, Copy)]
enum Framing {
    /// None is sent (1xx, 204, 304).
    None,
    /// A whole body of this length.
    Length(u64),
    /// A streamed body whose length the handler declared.
    Declared(u64),
    Chunked,
}

/// Writes the status line and headers. The handler's own framing headers
/// give way to the body's (`Declared` keeps its `Content-Length`), and
/// `Date` is added unless the handler set one. The head says `connection:
/// close` if `close` or if the handler's `Connection` header does; returns
/// whether it does. `now`: a clock reading just taken (for the date).
fn encode_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    framing: Framing,
    mut close: bool,
    now: Instant,
) -> bool {
    if parts.status == http::StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(parts.status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut dated = false;
    for (name, value) in &parts.headers {
        if name == header::CONNECTION {
            close |= says_close(value);
            continue;
        }
        if name == header::TRANSFER_ENCODING
            || (name == header::CONTENT_LENGTH && !matches!(framing, Framing::Declared(_)))
        {
            continue;
        }
        dated |= name == header::DATE;
        push_header(out, name.as_str().as_bytes(), value.as_bytes());
    }
    match framing {
        Framing::None | Framing::Declared(_) => {}
        Framing::Length(n) => {
            push_header(out, b"content-length", itoa::Buffer::new().format(n).as_bytes());
        }
        Framing::Chunked => push_header(out, b"transfer-encoding", b"chunked"),
    }
    if close {
        push_header(out, b"connection", b"close");
    }
    if !dated {
        http_date(now, |date| push_header(out, b"date", date));
    }
    out.extend_from_slice(b"\r\n");
    close
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Calls `f` with the current time as an HTTP date, `now` being a clock
/// reading just taken. Each thread formats the date once a second, and
/// compares `now` with when that second is over in between.
fn http_date(now: Instant, f: impl FnOnce(&[u8])) {
    use std::cell::RefCell;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    struct Cached {
        /// When to format the date again.
        stale_at: Option<Instant>,
        date: String,
    }
    thread_local! {
        static DATE: RefCell<Cached> = const { RefCell::new(Cached {
            stale_at: None,
            date: String::new(),
        }) };
    }
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.stale_at.is_none_or(|at| now >= at) {
            let wall = SystemTime::now();
            let into_second = wall.duration_since(UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
            d.stale_at = Some(now + Duration::from_nanos(u64::from(1_000_000_000 - into_second)));
            d.date = httpdate::fmt_http_date(wall);
        }
        f(d.date.as_bytes());
    });
}

/// Whether a `Connection` value asks to close the connection.
fn says_close(value: &HeaderValue) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// A `Content-Length` value: decimal digits only.
fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0, |n, &b| n * 10 + u64::from(b - b'0')))
}

/// The bytes of a request target this path takes as it is: RFC 3986's
/// unreserved and sub-delimiter characters, `%`, `:`, `@`, `/` and `?`.
/// Anything else (a fragment, spaces, non-ASCII) goes to hyper, which
/// applies `http`'s own rules.
fn plain_target_byte(b: u8) -> bool {
    PLAIN_TARGET[usize::from(b)]
}

const PLAIN_TARGET: [bool; 256] = {
    let mut table = [false; 256];
    let extra = b"-._~!$&'()*+,;=%:@/?";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    let mut b = 0;
    while b < 128 {
        table[b] |= (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

/// Writes every byte of `bufs`, in order, in as few writes as the stream
/// allows (up to `MAX_SLICES` buffers a write).
async fn write_all_vectored<W: AsyncWrite + Unpin, B: AsRef<[u8]>>(io: &mut W, bufs: &[B]) -> std::io::Result<()> {
    const MAX_SLICES: usize = 64;
    let buf = |i: usize| bufs[i].as_ref();
    // The next byte to write: buffer `i`, offset `at`.
    let (mut i, mut at) = (0, 0);
    loop {
        while i < bufs.len() && at == buf(i).len() {
            i += 1;
            at = 0;
        }
        if i == bufs.len() {
            return Ok(());
        }
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let parts = std::iter::once(&buf(i)[at..]).chain(bufs[i + 1..].iter().map(AsRef::as_ref));
        let mut count = 0;
        for (slice, part) in slices.iter_mut().zip(parts) {
            *slice = IoSlice::new(part);
            count += 1;
        }
        let mut n = io.write_vectored(&slices[..count]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let left = buf(i).len() - at;
            if n < left {
                at += n;
                break;
            }
            n -= left;
            i += 1;
            at = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `parse` makes of `raw`: `Ok((url, headers, body))` for a
    /// request it takes, `Err("incomplete" | "hyper")` otherwise.
    fn parsed(raw: &str) -> Result<(String, String, usize), &'static str> {
        match parse(raw.as_bytes(), 8192, 10, "http") {
            Parsed::Request(h) => {
                assert_eq!(&h.wire.url[h.wire.authority.clone()], "a.test");
                Ok((h.wire.url.clone(), h.wire.headers.as_block().to_string(), h.body))
            }
            Parsed::Incomplete => Err("incomplete"),
            Parsed::Other => Err("hyper"),
        }
    }

    #[test]
    fn plain_requests_are_parsed_and_the_rest_left_to_hyper() {
        let ok = parsed("GET /p/q?x=1&y=%20 HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n\r\nGET");
        assert_eq!(
            ok,
            Ok(("http://a.test/p/q?x=1&y=%20".into(), "host:a.test\nx-a:1".into(), 0))
        );
        let Parsed::Request(h) = parse(b"DELETE /p?q HTTP/1.1\r\nHost: a.test\r\n\r\n", 8192, 10, "https") else {
            panic!("not parsed");
        };
        assert_eq!((h.wire.method, &h.wire.url[h.wire.path.clone()]), ("DELETE", "/p"));
        assert_eq!(
            parsed("POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc").map(|r| r.2),
            Ok(3)
        );
        assert_eq!(parsed(""), Err("incomplete"));
        assert_eq!(parsed("GET / HTTP/1.1\r\nHost: a.te"), Err("incomplete"));
        for other in [
            "GET / HTTP/1.0\r\nHost: a.test\r\n\r\n",
            "HEAD / HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "PURGE / HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "GET /a#b HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "GET /\"x\" HTTP/1.1\r\nHost: a.test\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: +1\r\n\r\nx",
            "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 99999999\r\n\r\n",
            // Body not all here yet.
            "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n\r\nabc",
            "GARBAGE\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert_eq!(parsed(other), Err("hyper"), "{other:?}");
        }
        // A head over the limit, whole or not, is hyper's (431).
        let big = format!("GET / HTTP/1.1\r\nHost: a.test\r\nX: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(parsed(&big), Err("hyper"));
        assert_eq!(parsed(&big[..8500]), Err("hyper"));
        // More headers than configured (10 here), or than this path has
        // room for, are hyper's (431).
        let some: String = (0..9).map(|i| format!("x-{i}: v\r\n")).collect();
        assert!(parsed(&format!("GET / HTTP/1.1\r\nHost: a.test\r\n{some}\r\n")).is_ok());
        let more: String = (0..10).map(|i| format!("x-{i}: v\r\n")).collect();
        assert_eq!(
            parsed(&format!("GET / HTTP/1.1\r\nHost: a.test\r\n{more}\r\n")),
            Err("hyper")
        );
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("x-{i}: v\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\nHost: a.test\r\n{many}\r\n");
        assert!(matches!(parse(head.as_bytes(), 1 << 20, 1000, "http"), Parsed::Other));
        // `Connection: close` is noted.
        let Parsed::Request(h) = parse(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
            99,
            2,
            "http",
        ) else {
            panic!("not parsed");
        };
        assert!(h.close);
    }

    /// A writer that takes at most 3 bytes a write, from one or two buffers.
    struct Trickle(Vec<u8>);

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(3);
            self.get_mut().0.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<std::io::Result<usize>> {
            let this = self.get_mut();
            let mut n = 0;
            for b in bufs.iter().take(2) {
                let take = b.len().min(3 - n);
                this.0.extend_from_slice(&b[..take]);
                n += take;
                if n == 3 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn vectored_writes_resume_where_a_short_write_stopped() {
        // More buffers than one write takes (`MAX_SLICES`), some empty.
        let bufs: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; usize::from(i % 7)]).collect();
        let mut out = Trickle(Vec::new());
        write_all_vectored(&mut out, &bufs).await.unwrap();
        assert_eq!(out.0, bufs.concat());
        write_all_vectored(&mut out, &[] as &[Bytes]).await.unwrap();
        assert_eq!(out.0, bufs.concat());
    }

    fn head_of(status: u16, headers: &[(&str, &str)], framing: Framing, close: bool) -> String {
        let mut resp = http::Response::new(());
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
        for (k, v) in headers {
            resp.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let (parts, ()) = resp.into_parts();
        let mut out = Vec::new();
        let closes = encode_head(&mut out, &parts, framing, close, Instant::now());
        let head = String::from_utf8(out).unwrap();
        assert_eq!(closes, head.contains("connection: close\r\n"), "{head}");
        head
    }

    #[test]
    fn response_heads_carry_the_bodys_framing_not_the_handlers() {
        let date = |h: &str| h.lines().filter(|l| l.starts_with("date: ")).count();
        let h = head_of(
            200,
            &[
                ("content-type", "text/plain"),
                ("content-length", "99"),
                ("transfer-encoding", "gzip"),
            ],
            Framing::Length(5),
            false,
        );
        assert!(h.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\ndate: "));
        assert!(h.ends_with(" GMT\r\n\r\n") && date(&h) == 1, "{h}");

        let h = head_of(
            404,
            &[("content-length", "7"), ("date", "then"), ("connection", "keep-alive")],
            Framing::Declared(7),
            true,
        );
        assert_eq!(
            h,
            "HTTP/1.1 404 Not Found\r\ncontent-length: 7\r\ndate: then\r\nconnection: close\r\n\r\n"
        );
        let h = head_of(
            599,
            &[("set-cookie", "a=1"), ("set-cookie", "b=2")],
            Framing::Chunked,
            false,
        );
        assert!(
            h.starts_with("HTTP/1.1 599 \r\nset-cookie: a=1\r\nset-cookie: b=2\r\ntransfer-encoding: chunked\r\n"),
            "{h}"
        );
        // The handler's `Connection` header is not passed on; a close in it
        // is honoured.
        let h = head_of(200, &[("connection", "keep-alive, Close")], Framing::Length(0), false);
        assert!(h.contains("\r\nconnection: close\r\n"), "{h}");
        let h = head_of(200, &[("connection", "keep-alive")], Framing::Length(0), false);
        assert!(!h.contains("connection"), "{h}");
        let h = head_of(204, &[("content-length", "0")], Framing::None, false);
        assert!(
            h.starts_with("HTTP/1.1 204 No Content\r\ndate: ") && !h.contains("length"),
            "{h}"
        );
        for n in [0, u64::MAX] {
            let h = head_of(200, &[], Framing::Length(n), false);
            assert!(h.contains(&format!("\r\ncontent-length: {n}\r\n")), "{h}");
        }
        assert_eq!(decimal(b"0042"), Some(42));
        assert_eq!(decimal(b""), None);
        assert_eq!(decimal(b"4 2"), None);
    }
}
