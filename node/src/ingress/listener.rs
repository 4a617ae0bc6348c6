//! TCP listeners: plain (HTTP/1.1 and HTTP/2 with prior knowledge, told
//! apart by the connection preface) and TLS (HTTP/1.1 or HTTP/2 by ALPN,
//! with HTTP/3 on the UDP port of the same number). Every request goes to
//! [`Service::handle`].
//!
//! Start with [`bind_plain`] / [`bind_tls`] (which validate the config and
//! bind, so the caller learns the address before serving), then `serve`;
//! or [`serve_plain`] / [`serve_tls`] in one step.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use super::conn::{ConnEvent, ConnTracker, IngressStats, Protocol, TrackedBody, TrackedIo, TrackerLimits};
use super::h3::H3Listener;
use super::tls::TlsSetup;
use super::{IngressConfig, IngressError, Service};

/// The HTTP/2 connection preface a client with prior knowledge sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a connection winding down with nothing in flight gets to close
/// by itself (HTTP/2 and HTTP/3 clients close after GOAWAY) before it is
/// closed: covers requests already on their way when GOAWAY left.
pub(crate) const GOAWAY_GRACE: Duration = Duration::from_millis(500);

/// How a connection winds down, for every protocol: once winding down
/// (GOAWAY sent, keep-alive off) no more limit events count; on shutdown a
/// drain `deadline` bounds how long requests may still run; and a `grace`
/// period runs while nothing is in flight, for a client that keeps an
/// emptied connection open (or never finished its HTTP/2 preface).
#[derive(Default)]
pub(crate) struct Drain {
    winding_down: bool,
    stopping: bool,
    deadline: Option<Instant>,
    grace: Option<Instant>,
}

impl Drain {
    /// Whether the connection is winding down.
    pub(crate) fn winding_down(&self) -> bool {
        self.winding_down
    }

    /// Whether the node's shutdown reached this connection.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping
    }

    /// Starts winding down; `true` the first time (the caller then sends
    /// GOAWAY or turns keep-alive off).
    pub(crate) fn wind_down(&mut self) -> bool {
        !std::mem::replace(&mut self.winding_down, true)
    }

    /// The node is shutting down: requests get `drain_timeout`; `true` when
    /// the connection must now be told to wind down.
    pub(crate) fn stop(&mut self, drain_timeout: Duration) -> bool {
        self.stopping = true;
        self.deadline = Some(Instant::now() + drain_timeout);
        self.wind_down()
    }

    /// Whether a grace period should start once nothing is in flight.
    pub(crate) fn awaits_idle(&self) -> bool {
        self.winding_down && self.grace.is_none()
    }

    /// Nothing is in flight while winding down: the grace period starts.
    pub(crate) fn idle(&mut self) {
        self.grace = Some(Instant::now() + GOAWAY_GRACE);
    }

    /// The grace period's end, if one runs.
    pub(crate) fn grace(&self) -> Option<Instant> {
        self.grace
    }

    /// The drain deadline, once shutting down.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The grace period ended: `true` to close (still nothing in flight);
    /// otherwise a new one starts when the connection is idle again.
    pub(crate) fn grace_over(&mut self, in_flight: usize) -> bool {
        if in_flight == 0 {
            return true;
        }
        self.grace = None;
        false
    }
}

/// Pause after a failed `accept` (out of file descriptors, …) so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What every connection of a listener shares.
pub(crate) struct ConnContext {
    pub(crate) service: Arc<Service>,
    pub(crate) config: IngressConfig,
    pub(crate) stats: Arc<IngressStats>,
    /// `http` or `https`.
    pub(crate) scheme: &'static str,
    /// `h3=":PORT"; ma=…` when HTTP/3 is served beside this listener.
    pub(crate) alt_svc: Option<http::HeaderValue>,
    pub(crate) h1: hyper::server::conn::http1::Builder,
    h2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

impl ConnContext {
    pub(crate) fn new(
        service: Arc<Service>,
        config: IngressConfig,
        stats: Arc<IngressStats>,
        scheme: &'static str,
        alt_svc: Option<http::HeaderValue>,
    ) -> Self {
        let mut h1 = hyper::server::conn::http1::Builder::new();
        h1.timer(TokioTimer::new())
            // The tracker times request heads from their first byte; hyper's
            // own timer would also count the idle time before it.
            .header_read_timeout(None)
            .max_header_size(config.max_header_bytes)
            .keep_alive(true)
            // Head and small body in one buffer: one plain write per
            // response instead of a two-part writev.
            .writev(false);
        if config.max_headers != IngressConfig::default().max_headers {
            // hyper keeps the default count on the stack; any other count
            // costs an allocation per request, so set it only when asked.
            h1.max_headers(config.max_headers);
        }
        // hyper's read buffer (about 400 KiB) must hold a whole head.
        if config.max_header_bytes > 400 * 1024 {
            h1.max_buf_size(config.max_header_bytes + 8192);
        }
        let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(config.max_concurrent_streams)
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
        ConnContext {
            service,
            config,
            stats,
            scheme,
            alt_svc,
            h1,
            h2,
        }
    }

    pub(crate) fn tracker_limits(&self) -> TrackerLimits {
        TrackerLimits {
            header_read_timeout: self.config.header_read_timeout(),
            idle_timeout: self.config.idle_timeout(),
            max_requests: self.config.max_requests_per_connection,
        }
    }
}

/// A bound plain-TCP listener (`http://`), not yet serving.
pub struct PlainListener {
    tcp: TcpListener,
    addr: SocketAddr,
    config: IngressConfig,
    stats: Arc<IngressStats>,
}

impl PlainListener {
    /// Wraps an already bound socket (the config is validated here).
    pub fn from_tcp(tcp: TcpListener, config: IngressConfig) -> Result<Self, IngressError> {
        config.validate()?;
        let addr = tcp.local_addr().map_err(|source| IngressError::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            proto: "tcp",
            source,
        })?;
        Ok(PlainListener {
            tcp,
            addr,
            config,
            stats: Arc::default(),
        })
    }

    /// The bound address (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The listener's counters.
    pub fn stats(&self) -> Arc<IngressStats> {
        self.stats.clone()
    }

    /// Serves HTTP/1.1 and HTTP/2 (prior knowledge) until `shutdown` turns
    /// true (or its sender is dropped); then stops accepting, lets in-flight
    /// requests finish for up to `drain_timeout_ms`, and returns.
    pub async fn serve(self, service: Arc<Service>, shutdown: watch::Receiver<bool>) {
        let ctx = Arc::new(ConnContext::new(service, self.config, self.stats, "http", None));
        accept_loop(self.tcp, ctx, None, shutdown).await;
    }
}

/// A bound TLS listener (`https://`): TCP, and UDP for HTTP/3 on the same
/// port number unless `http3` is off. Not yet serving.
pub struct TlsListener {
    tcp: TcpListener,
    addr: SocketAddr,
    h3: Option<H3Listener>,
    tls: Arc<rustls::ServerConfig>,
    config: IngressConfig,
    stats: Arc<IngressStats>,
}

impl TlsListener {
    /// The bound TCP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound UDP address of HTTP/3, if it is served.
    pub fn h3_addr(&self) -> Option<SocketAddr> {
        self.h3.as_ref().map(H3Listener::local_addr)
    }

    /// The listener's counters (TCP and QUIC together).
    pub fn stats(&self) -> Arc<IngressStats> {
        self.stats.clone()
    }

    /// Serves HTTPS over TCP and QUIC until `shutdown` turns true (or its
    /// sender is dropped); then drains like [`PlainListener::serve`].
    pub async fn serve(self, service: Arc<Service>, shutdown: watch::Receiver<bool>) {
        let alt_svc = self.h3.as_ref().and_then(|h3| {
            let v = format!(
                "h3=\":{}\"; ma={}",
                h3.local_addr().port(),
                self.config.alt_svc_max_age_secs
            );
            http::HeaderValue::from_str(&v).ok()
        });
        let ctx = Arc::new(ConnContext::new(service, self.config, self.stats, "https", alt_svc));
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls);
        let quic = self.h3.map(|h3| tokio::spawn(h3.serve(ctx.clone(), shutdown.clone())));
        accept_loop(self.tcp, ctx, Some(acceptor), shutdown).await;
        if let Some(quic) = quic {
            let _ = quic.await;
        }
    }
}

/// Validates `config` and binds `addr` for plain HTTP.
pub async fn bind_plain(addr: SocketAddr, config: IngressConfig) -> Result<PlainListener, IngressError> {
    config.validate()?;
    let tcp = TcpListener::bind(addr).await.map_err(|source| IngressError::Bind {
        addr,
        proto: "tcp",
        source,
    })?;
    PlainListener::from_tcp(tcp, config)
}

/// How many times to look for a port free on both TCP and UDP when asked
/// for port 0.
const PORT_PAIR_TRIES: usize = 16;

/// Validates `config` and binds `addr` for HTTPS: TCP, and with `http3` the
/// UDP port of the same number (with port 0, a number free on both).
pub async fn bind_tls(addr: SocketAddr, config: IngressConfig, tls: TlsSetup) -> Result<TlsListener, IngressError> {
    config.validate()?;
    let tcp_tls = tls.tcp_config()?;
    let mut tries = 0;
    loop {
        tries += 1;
        let bind_err = |source| IngressError::Bind {
            addr,
            proto: "tcp",
            source,
        };
        let tcp = TcpListener::bind(addr).await.map_err(bind_err)?;
        let bound = tcp.local_addr().map_err(bind_err)?;
        let h3 = if config.http3 {
            match H3Listener::bind(bound, &config, &tls) {
                Ok(h3) => Some(h3),
                // Port 0 gave a TCP port whose UDP twin is taken: try another.
                Err(IngressError::Bind { source, .. })
                    if addr.port() == 0
                        && source.kind() == std::io::ErrorKind::AddrInUse
                        && tries < PORT_PAIR_TRIES =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        return Ok(TlsListener {
            tcp,
            addr: bound,
            h3,
            tls: tcp_tls,
            config,
            stats: Arc::default(),
        });
    }
}

/// Binds and serves plain HTTP until `shutdown`; see [`PlainListener::serve`].
pub async fn serve_plain(
    addr: SocketAddr,
    config: IngressConfig,
    service: Arc<Service>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), IngressError> {
    bind_plain(addr, config).await?.serve(service, shutdown).await;
    Ok(())
}

/// Binds and serves HTTPS (and HTTP/3) until `shutdown`; see
/// [`TlsListener::serve`].
pub async fn serve_tls(
    addr: SocketAddr,
    config: IngressConfig,
    tls: TlsSetup,
    service: Arc<Service>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), IngressError> {
    bind_tls(addr, config, tls).await?.serve(service, shutdown).await;
    Ok(())
}

/// Runs a TLS or QUIC handshake under the configured timeout; a failure
/// or timeout is counted and logged, and gives `None`.
pub(crate) async fn handshake<T, E: std::fmt::Display>(
    ctx: &ConnContext,
    what: &str,
    fut: impl std::future::IntoFuture<Output = Result<T, E>>,
) -> Option<T> {
    match tokio::time::timeout(ctx.config.tls_handshake_timeout(), fut).await {
        Ok(Ok(done)) => return Some(done),
        Ok(Err(e)) => tracing::debug!(error = %e, "{what} handshake failed"),
        Err(_) => tracing::debug!("{what} handshake timed out"),
    }
    ctx.stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
    None
}

/// Resolves when `shutdown` is true or its sender is gone.
pub(crate) async fn shutdown_signal(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    tcp: TcpListener,
    ctx: Arc<ConnContext>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = shutdown_signal(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let span = tracing::debug_span!("conn", %peer);
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        match &tls {
            Some(acceptor) => spawn_conn(
                &mut conns,
                serve_tls_conn(stream, acceptor.clone(), ctx, shutdown),
                span,
            ),
            None => spawn_conn(&mut conns, serve_plain_conn(stream, ctx, shutdown), span),
        }
        while conns.try_join_next().is_some() {}
    }
    drop(tcp);
    while conns.join_next().await.is_some() {}
}

/// Runs a connection's future as a task of its own, in the connection's
/// span when that is enabled. The future is the task's whole state and
/// each request polls down through it: without a span, no wrapper is
/// polled on the way.
fn spawn_conn<F: Future<Output = ()> + Send + 'static>(conns: &mut JoinSet<()>, conn: F, span: tracing::Span) {
    if span.is_disabled() {
        conns.spawn(conn);
    } else {
        conns.spawn(conn.instrument(span));
    }
}

async fn serve_tls_conn(
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    ctx: Arc<ConnContext>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(tls) = handshake(&ctx, "TLS", acceptor.accept(stream)).await else {
        return;
    };
    let proto = match tls.get_ref().1.alpn_protocol() {
        Some(b"h2") => Protocol::H2,
        _ => Protocol::H1,
    };
    serve_http(tls, Bytes::new(), None, proto, &ctx, shutdown).await;
}

async fn serve_plain_conn(mut stream: TcpStream, ctx: Arc<ConnContext>, shutdown: watch::Receiver<bool>) {
    match sniff(&mut stream, &ctx.config).await {
        Ok(Some((proto, prefix, first_byte))) => {
            serve_http(stream, prefix, Some(first_byte), proto, &ctx, shutdown).await
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "connection closed before its first request"),
    }
}

/// Reads until the bytes are, or cannot be, the HTTP/2 preface. The first
/// byte may take the idle timeout, the rest the header read timeout.
/// Returns the protocol, the bytes read and when the first arrived; `None`
/// when the client closed without sending anything.
async fn sniff<S: AsyncRead + Unpin>(
    stream: &mut S,
    config: &IngressConfig,
) -> std::io::Result<Option<(Protocol, Bytes, Instant)>> {
    let mut buf = BytesMut::with_capacity(4096);
    let mut deadline = Instant::now() + config.idle_timeout();
    let mut first_byte = Instant::now();
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in time")),
        };
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed mid-request",
                ))
            };
        }
        if buf.len() == n {
            first_byte = Instant::now();
            deadline = first_byte + config.header_read_timeout();
        }
        let k = buf.len().min(H2_PREFACE.len());
        if buf[..k] != H2_PREFACE[..k] {
            return Ok(Some((Protocol::H1, buf.freeze(), first_byte)));
        }
        if buf.len() >= H2_PREFACE.len() {
            return Ok(Some((Protocol::H2, buf.freeze(), first_byte)));
        }
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one established connection; `prefix` was
/// read already, its first byte at `first_byte`.
async fn serve_http<S>(
    io: S,
    prefix: Bytes,
    first_byte: Option<Instant>,
    proto: Protocol,
    ctx: &Arc<ConnContext>,
    shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
    let tracker = ConnTracker::new(proto, ctx.tracker_limits());
    if let Some(at) = first_byte {
        tracker.head_started_at(at);
    }
    let io = TrackedIo::new(io, prefix, tracker.clone());
    match proto {
        Protocol::H2 => {
            let conn = pin!(
                ctx.h2
                    .serve_connection(TokioIo::new(io), hyper_service(ctx, &tracker, proto))
            );
            drive(conn, |c| c.graceful_shutdown(), proto, &tracker, &ctx.config, shutdown).await;
        }
        _ => {
            let conn = pin!(super::http1::serve(io, tracker.clone(), ctx.clone()));
            let wind_down = |_: Pin<&mut _>| tracker.wind_down();
            drive(conn, wind_down, proto, &tracker, &ctx.config, shutdown).await;
        }
    }
}

/// hyper's service for one connection: each request is counted, routed and
/// handed to its isolate, and counts as in flight until its response body
/// has been sent.
pub(crate) fn hyper_service(
    ctx: &Arc<ConnContext>,
    tracker: &Arc<ConnTracker>,
    proto: Protocol,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = http::Response<TrackedBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<TrackedBody>, Infallible>> + Send + 'static,
> + Send
+ 'static {
    let ctx = ctx.clone();
    let tracker = tracker.clone();
    service_fn(move |req: http::Request<Incoming>| {
        let guard = tracker.start_request();
        // HTTP/1.1: the last request of the quota says so in its own
        // response, so the client does not reuse the connection.
        let last = proto != Protocol::H2 && tracker.quota_reached();
        ctx.stats.count_request(proto);
        // Routed here, not in the future below: hyper reads ahead before
        // it polls that, and its read buffer is free for reuse only once
        // this request's head is gone. The handler runs in the future
        // (for HTTP/2 a task of its own per stream), not within this
        // poll of the connection.
        let started = ctx.service.start(req, ctx.scheme);
        let alt_svc = ctx.alt_svc.clone();
        // A combinator, not an `async` block: that would hold the
        // request twice over (hyper moves this future a few times).
        started.finish().map(move |mut resp| {
            if last {
                resp.headers_mut()
                    .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
            }
            if let Some(alt_svc) = alt_svc {
                resp.headers_mut().insert(http::header::ALT_SVC, alt_svc);
            }
            Ok::<_, Infallible>(resp.map(|body| TrackedBody::new(body, guard)))
        })
    })
}

/// Polls a hyper connection to its end while applying the limits and the
/// shutdown signal.
async fn drive<C, G, E>(
    mut conn: Pin<&mut C>,
    graceful: G,
    proto: Protocol,
    tracker: &ConnTracker,
    config: &IngressConfig,
    mut shutdown: watch::Receiver<bool>,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    G: Fn(Pin<&mut C>),
{
    let mut drain = Drain::default();
    loop {
        // What may end or wind down the connection besides the connection
        // itself. It is polled only when one of its own wakers fired, not
        // on each of the connection's wake-ups (one or more per request).
        let side = WokenOnly::new(async {
            tokio::select! {
                _ = shutdown_signal(&mut shutdown), if !drain.stopping() => Side::Shutdown,
                event = tracker.next_event(), if !drain.winding_down() => Side::Event(event),
                _ = tracker.all_done(), if drain.awaits_idle() => Side::AllDone,
                _ = sleep_until_opt(drain.grace()) => Side::GraceOver,
                _ = sleep_until_opt(drain.deadline()) => Side::DeadlinePassed,
            }
        });
        let side = tokio::select! {
            // The connection first: it is what wakes this task per request.
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            side = side => side,
        };
        match side {
            Side::Shutdown => {
                if drain.stop(config.drain_timeout()) {
                    graceful(conn.as_mut());
                }
            }
            Side::Event(ConnEvent::MaxRequests) => {
                // The request in flight finishes (however long it streams);
                // HTTP/1 closes after it, HTTP/2 says GOAWAY.
                drain.wind_down();
                graceful(conn.as_mut());
            }
            Side::Event(event @ (ConnEvent::Idle | ConnEvent::HeaderTimeout)) if proto == Protocol::H1 => {
                tracing::debug!(?event, "closing the connection");
                return;
            }
            Side::Event(event @ (ConnEvent::Idle | ConnEvent::HeaderTimeout)) => {
                tracing::debug!(?event, "closing the connection with GOAWAY");
                drain.wind_down();
                graceful(conn.as_mut());
            }
            Side::AllDone => drain.idle(),
            Side::GraceOver => {
                if drain.grace_over(tracker.in_flight()) {
                    tracing::debug!("closing a drained connection the client kept open");
                    return;
                }
            }
            Side::DeadlinePassed => {
                tracing::debug!("drain deadline passed; closing the connection");
                return;
            }
        }
    }
}

/// What besides the connection itself happened to it (see [`drive`]).
enum Side {
    Shutdown,
    Event(ConnEvent),
    AllDone,
    GraceOver,
    DeadlinePassed,
}

/// A future that is polled only after a waker it handed out fired (and
/// once at first). Where a task waits on several futures and one of them
/// wakes it far more often than the rest, wrapping the rest in this spares
/// polling them on each of the busy one's wake-ups — and a poll of it that
/// finds no wake-up costs one load, no atomic write.
struct WokenOnly<F> {
    inner: Pin<Box<F>>,
    gate: Arc<Gate>,
    /// The task's waker as last given to the gate.
    registered: Option<std::task::Waker>,
}

/// The waker [`WokenOnly`] gives its future: it records the wake-up and
/// passes it on to the task. It keeps the task's waker (wakes do not take
/// it), so a poll that finds the same task need not give it again.
struct Gate {
    woken: std::sync::atomic::AtomicBool,
    task: std::sync::Mutex<Option<std::task::Waker>>,
}

impl std::task::Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Set before the waker is read under the lock: a poll that gave a
        // new waker after this read either sees the flag, or its waker
        // here.
        self.woken.store(true, Ordering::Release);
        if let Some(task) = &*self.task.lock().unwrap_or_else(|e| e.into_inner()) {
            task.wake_by_ref();
        }
    }
}

impl<F: Future> WokenOnly<F> {
    fn new(inner: F) -> Self {
        WokenOnly {
            inner: Box::pin(inner),
            gate: Arc::new(Gate {
                woken: std::sync::atomic::AtomicBool::new(true),
                task: std::sync::Mutex::new(None),
            }),
            registered: None,
        }
    }
}

impl<F: Future> Future for WokenOnly<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = &mut *self;
        if this.registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            // The gate wakes this task already: nothing to do unless it
            // was woken.
            if !this.gate.woken.load(Ordering::Acquire) {
                return std::task::Poll::Pending;
            }
        } else {
            // Given before the flag is read: a wake-up in between still
            // reaches this task.
            *this.gate.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            this.registered = Some(cx.waker().clone());
        }
        if !this.gate.woken.swap(false, Ordering::AcqRel) {
            return std::task::Poll::Pending;
        }
        let waker = std::task::Waker::from(this.gate.clone());
        this.inner.as_mut().poll(&mut std::task::Context::from_waker(&waker))
    }
}

/// Sleeps until `deadline`, or forever without one.
pub(crate) async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::task::{Context, Poll, Wake, Waker};

    use super::*;

    /// A future that counts its polls and is ready once `ready` is set;
    /// it keeps the last waker it was given. A clone is a handle on the
    /// same probe.
    #[derive(Clone)]
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Probe {
        /// A probe not ready yet.
        fn new() -> Probe {
            Probe {
                polls: Arc::new(AtomicUsize::new(0)),
                ready: Arc::new(AtomicBool::new(false)),
                waker: Arc::new(Mutex::new(None)),
            }
        }
    }

    impl Future for Probe {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.ready.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    /// A task's waker that counts its wake-ups.
    struct CountWake(AtomicUsize);

    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl CountWake {
        /// A task: its wake-up count, and its waker.
        fn task() -> (Arc<CountWake>, Waker) {
            let count = Arc::new(CountWake(AtomicUsize::new(0)));
            (count.clone(), Waker::from(count))
        }

        fn wakes(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_woken_only_future_is_polled_first_and_then_only_after_its_own_wake_up() {
        let seen = Probe::new();
        let probe = seen.clone();
        let mut fut = std::pin::pin!(WokenOnly::new(probe));
        let (wakes, task) = CountWake::task();
        let mut cx = Context::from_waker(&task);

        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(seen.polls.load(Ordering::SeqCst), 1, "polled the first time");
        // The task wakes for something else: the inner future is left alone.
        for _ in 0..3 {
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(seen.polls.load(Ordering::SeqCst), 1);
        // Its own waker fires: the task is woken, and the next poll reaches it.
        seen.ready.store(true, Ordering::SeqCst);
        seen.waker.lock().unwrap().take().unwrap().wake();
        assert_eq!(wakes.wakes(), 1);
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        assert_eq!(seen.polls.load(Ordering::SeqCst), 2);
    }

    /// Wake-ups keep reaching the task after the first (the gate keeps its
    /// waker), and a poll from another task moves them there.
    #[test]
    fn a_woken_only_future_passes_on_every_wake_up_to_the_task_that_polled_it_last() {
        let seen = Probe::new();
        let probe = seen.clone();
        let mut fut = std::pin::pin!(WokenOnly::new(probe));
        let ((a, task_a), (b, task_b)) = (CountWake::task(), CountWake::task());
        assert!(fut.as_mut().poll(&mut Context::from_waker(&task_a)).is_pending());
        for round in 1..=3 {
            // Woken from another thread, as a shutdown signal is.
            let inner = seen.waker.lock().unwrap().clone().unwrap();
            std::thread::spawn(move || inner.wake()).join().unwrap();
            assert_eq!(a.wakes(), round, "wake-up {round} reached the task");
            assert!(fut.as_mut().poll(&mut Context::from_waker(&task_a)).is_pending());
            assert_eq!(seen.polls.load(Ordering::SeqCst), round + 1);
            // Not woken: not polled.
            assert!(fut.as_mut().poll(&mut Context::from_waker(&task_a)).is_pending());
            assert_eq!(seen.polls.load(Ordering::SeqCst), round + 1);
        }
        // Polled from task b: the next wake-up goes there.
        assert!(fut.as_mut().poll(&mut Context::from_waker(&task_b)).is_pending());
        seen.waker.lock().unwrap().clone().unwrap().wake();
        assert_eq!((a.wakes(), b.wakes()), (3, 1));
        seen.ready.store(true, Ordering::SeqCst);
        assert!(fut.as_mut().poll(&mut Context::from_waker(&task_b)).is_ready());
    }

    #[tokio::test]
    async fn sniffs_h1_and_h2() {
        let config = IngressConfig::default();
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"GET / HTTP/1.1\r\n")
            .await
            .unwrap();
        let (proto, prefix, _) = sniff(&mut b, &config).await.unwrap().unwrap();
        assert_eq!(proto, Protocol::H1);
        assert_eq!(&prefix[..], b"GET / HTTP/1.1\r\n");

        // The preface in two pieces.
        let (mut a, mut b) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move { sniff(&mut b, &IngressConfig::default()).await });
        tokio::io::AsyncWriteExt::write_all(&mut a, &H2_PREFACE[..5])
            .await
            .unwrap();
        tokio::task::yield_now().await;
        tokio::io::AsyncWriteExt::write_all(&mut a, &H2_PREFACE[5..])
            .await
            .unwrap();
        let (proto, prefix, _) = task.await.unwrap().unwrap().unwrap();
        assert_eq!(proto, Protocol::H2);
        assert_eq!(&prefix[..], H2_PREFACE);

        // Closed without a byte.
        let (a, mut b) = tokio::io::duplex(1024);
        drop(a);
        assert!(sniff(&mut b, &config).await.unwrap().is_none());

        // A partial preface that stalls runs into the header timeout.
        let config = IngressConfig {
            header_read_timeout_ms: 20,
            ..Default::default()
        };
        let (mut a, mut b) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"PRI *").await.unwrap();
        let err = sniff(&mut b, &config).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
