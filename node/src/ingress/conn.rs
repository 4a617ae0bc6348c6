//! Per-connection bookkeeping shared by every protocol: requests in flight,
//! the header-read, idle and request-count limits, and the response body
//! wrapper that tells when a request is really over (its last byte sent).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ResponseBody;
use crate::metrics::ShardedCounter;
use outpost_js::clock::CoarseClock;

/// The HTTP version a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (or 1.0).
    H1,
    /// HTTP/2, over TLS (ALPN `h2`) or cleartext with prior knowledge.
    H2,
    /// HTTP/3 over QUIC.
    H3,
}

/// Counters of one listener (or several: they may share one). Every
/// isolate thread counts its requests here: in shards, so that the threads
/// do not take turns owning one cache line.
#[derive(Debug, Default)]
pub struct IngressStats {
    /// Connections accepted (TCP after the handshake, QUIC after the handshake).
    pub connections: AtomicU64,
    /// Requests served over HTTP/1.x.
    pub h1_requests: ShardedCounter,
    /// Requests served over HTTP/2.
    pub h2_requests: ShardedCounter,
    /// Requests served over HTTP/3.
    pub h3_requests: ShardedCounter,
    /// TLS or QUIC handshakes that failed or timed out.
    pub handshake_failures: AtomicU64,
}

impl IngressStats {
    pub(crate) fn count_request(&self, proto: Protocol) {
        let c = match proto {
            Protocol::H1 => &self.h1_requests,
            Protocol::H2 => &self.h2_requests,
            Protocol::H3 => &self.h3_requests,
        };
        c.add(1);
    }
}

/// Why a connection should wind down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnEvent {
    /// A request head did not arrive in time.
    HeaderTimeout,
    /// No request in flight for the idle timeout.
    Idle,
    /// The connection served its quota of requests.
    MaxRequests,
}

/// The limits a tracker enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrackerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// 0: none.
    pub max_requests: u64,
}

/// One connection's requests and deadlines, updated with plain atomic
/// stores on each read (HTTP/1 only), request start and request end.
///
/// Nothing is signalled per request: [`ConnTracker::next_event`] sleeps on
/// one timer, looks at the state when it fires, and re-arms it for the
/// deadline the state implies then (checking in at least every header-read
/// timeout, so a request head that starts while the connection idles is
/// still timed from its first byte).
pub(crate) struct ConnTracker {
    proto: Protocol,
    limits: TrackerLimits,
    /// Time zero of the nanosecond timestamps below, which are read on
    /// the coarse clock: the timeouts are of milliseconds and more.
    clock: CoarseClock,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// When the connection last had no request in flight.
    idle_since: AtomicU64,
    /// HTTP/1: when the first byte of the next request head arrived, plus
    /// one; 0 when no head is arriving.
    head_started: AtomicU64,
    max_reported: AtomicBool,
    /// HTTP/1: the connection is to close once no request is in progress
    /// (shutdown, or its quota or a limit reached). Kept here, beside what
    /// each request updates anyway, not in an allocation of its own.
    winding_down: AtomicBool,
    /// Woken when the request quota is reached.
    quota: Notify,
    /// Woken when the last request in flight ends, while `drain_waiters`
    /// says someone waits for that.
    idle: Notify,
    /// Callers of [`ConnTracker::all_done`] waiting now: a request that ends
    /// with none waiting skips `idle`'s lock.
    drain_waiters: AtomicUsize,
}

impl ConnTracker {
    pub(crate) fn new(proto: Protocol, limits: TrackerLimits) -> Arc<Self> {
        Arc::new(ConnTracker {
            proto,
            limits,
            clock: CoarseClock::new(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            max_reported: AtomicBool::new(false),
            winding_down: AtomicBool::new(false),
            quota: Notify::new(),
            idle: Notify::new(),
            drain_waiters: AtomicUsize::new(0),
        })
    }

    fn instant(&self, stamp: u64) -> Instant {
        Instant::from_std(self.clock.instant(stamp))
    }

    /// Bytes arrived from the client. On an idle HTTP/1 connection they
    /// start a request head, which must then complete in time.
    pub(crate) fn on_read(&self) {
        if self.proto == Protocol::H1
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started
                .store(self.clock.now().saturating_add(1), Ordering::Relaxed);
        }
    }

    /// An HTTP/1 request head began arriving at `at` (bytes read before the
    /// connection was handed over, while sniffing the protocol).
    pub(crate) fn head_started_at(&self, at: Instant) {
        if self.proto == Protocol::H1 && self.in_flight.load(Ordering::Relaxed) == 0 {
            self.head_started
                .store(self.clock.nanos_at(at.into_std()).saturating_add(1), Ordering::Relaxed);
        }
    }

    /// A request's head has arrived; the guard ends it when dropped.
    pub(crate) fn start_request(self: &Arc<Self>) -> RequestGuard {
        self.count_start();
        RequestGuard { tracker: self.clone() }
    }

    /// [`start_request`](Self::start_request) for a request that ends
    /// before the tracker goes: its guard borrows the tracker instead of
    /// counting a reference to it.
    pub(crate) fn start_request_within(&self) -> RequestGuard<&Self> {
        self.count_start();
        RequestGuard { tracker: self }
    }

    fn count_start(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        // Only the connection's task starts requests, one at a time (ends
        // may come from elsewhere, hence `in_flight`'s atomic add): a load
        // and a store, not a locked add.
        let requests = self.requests.load(Ordering::Relaxed) + 1;
        self.requests.store(requests, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        if self.limits.max_requests > 0 && requests == self.limits.max_requests {
            self.quota.notify_one();
        }
    }

    /// Whether the connection has served its quota of requests (the one
    /// just started included).
    pub(crate) fn quota_reached(&self) -> bool {
        self.limits.max_requests > 0 && self.requests.load(Ordering::Relaxed) >= self.limits.max_requests
    }

    fn end_request(&self) {
        // Stamped before the count drops, so whoever sees no request in
        // flight also sees when that became so (HTTP/2 streams may end on
        // other threads).
        self.idle_since.store(self.clock.now(), Ordering::Release);
        // SeqCst with `all_done`'s two: a waiter that saw this request in
        // flight registered before, and is seen here.
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.drain_waiters.load(Ordering::SeqCst) > 0 {
            self.idle.notify_waiters();
        }
    }

    /// HTTP/1: close the connection once no request is in progress.
    pub(crate) fn wind_down(&self) {
        self.winding_down.store(true, Ordering::Relaxed);
    }

    /// Whether [`wind_down`](Self::wind_down) was called.
    pub(crate) fn winding_down(&self) -> bool {
        self.winding_down.load(Ordering::Relaxed)
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The next deadline the state implies, and what passing it means;
    /// `None` while a request is in flight.
    fn deadline(&self) -> Option<(Instant, ConnEvent)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.head_started.load(Ordering::Relaxed) {
            0 => Some((
                self.instant(self.idle_since.load(Ordering::Acquire)) + self.limits.idle_timeout,
                ConnEvent::Idle,
            )),
            started => Some((
                self.instant(started - 1) + self.limits.header_read_timeout,
                ConnEvent::HeaderTimeout,
            )),
        }
    }

    /// Resolves when a limit says the connection should wind down. Each
    /// call reports at most one event; `MaxRequests` is reported once.
    pub(crate) async fn next_event(&self) -> ConnEvent {
        // A head may start at any moment without a signal: look at least
        // this often.
        let check_in = self.limits.header_read_timeout.min(self.limits.idle_timeout);
        let sleep = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(sleep);
        loop {
            let quota = self.quota.notified();
            tokio::pin!(quota);
            quota.as_mut().enable();
            if self.quota_reached() && !self.max_reported.swap(true, Ordering::Relaxed) {
                return ConnEvent::MaxRequests;
            }
            let now = Instant::now();
            let wake = match self.deadline() {
                Some((deadline, event)) if now >= deadline => return event,
                Some((deadline, _)) => deadline.min(now + check_in),
                None => now + check_in,
            };
            sleep.as_mut().reset(wake);
            tokio::select! {
                _ = quota => {}
                _ = sleep.as_mut() => {}
            }
        }
    }

    /// Resolves once no request is in flight.
    pub(crate) async fn all_done(&self) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.drain_waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.drain_waiters);
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Marks one request in flight until dropped; it holds its tracker by
/// `T` (a counted reference, or a borrow for a request that ends first).
pub(crate) struct RequestGuard<T: std::ops::Deref<Target = ConnTracker> = Arc<ConnTracker>> {
    tracker: T,
}

impl<T: std::ops::Deref<Target = ConnTracker>> Drop for RequestGuard<T> {
    fn drop(&mut self) {
        self.tracker.end_request();
    }
}

/// A response body that keeps its request counted as in flight until the
/// body has been sent in full (or dropped).
pub struct TrackedBody {
    inner: ResponseBody,
    guard: Option<RequestGuard>,
}

impl TrackedBody {
    pub(crate) fn new(inner: ResponseBody, guard: RequestGuard) -> Self {
        TrackedBody {
            inner,
            guard: Some(guard),
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = polled {
            self.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's byte stream with bytes already read (while sniffing the
/// protocol) put back in front, telling the tracker when bytes arrive.
/// hyper-util has such a type (`Rewind`) but does not export it, and its
/// auto builder neither exposes the HTTP/1 header size limit nor bounds the
/// time it waits for the preface.
///
/// Closing it lingers: after the write side is shut down, what the client
/// still sends (the rest of a body the server refused, say with 413) is read
/// and thrown away for a moment. Closing a socket with unread input makes the
/// kernel send a reset, which can destroy the final response before the
/// client reads it.
pub(crate) struct TrackedIo<S> {
    inner: S,
    prefix: Bytes,
    tracker: Arc<ConnTracker>,
    closing: Closing,
}

/// How long, and how many bytes, a closing connection reads and discards.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 16 << 20;

enum Closing {
    Open,
    Lingering {
        until: Pin<Box<tokio::time::Sleep>>,
        discarded: usize,
    },
    Closed,
}

impl<S> TrackedIo<S> {
    pub(crate) fn new(inner: S, prefix: Bytes, tracker: Arc<ConnTracker>) -> Self {
        TrackedIo {
            inner,
            prefix,
            tracker,
            closing: Closing::Open,
        }
    }
}

impl<S> TrackedIo<S> {
    /// Puts `bytes` back in front of what is left to read.
    pub(crate) fn unread(&mut self, bytes: Bytes) {
        self.prefix = if self.prefix.is_empty() {
            bytes
        } else {
            let mut joined = Vec::with_capacity(bytes.len() + self.prefix.len());
            joined.extend_from_slice(&bytes);
            joined.extend_from_slice(&self.prefix);
            joined.into()
        };
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TrackedIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            this.tracker.on_read();
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.tracker.on_read();
        }
        polled
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TrackedIo<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.closing {
                Closing::Open => {
                    std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    this.closing = Closing::Lingering {
                        until: Box::pin(tokio::time::sleep(LINGER_TIME)),
                        discarded: 0,
                    };
                }
                Closing::Lingering { until, discarded } => {
                    let mut scratch = [0u8; 8192];
                    loop {
                        let mut buf = ReadBuf::new(&mut scratch);
                        match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                            Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                                *discarded += buf.filled().len();
                                if *discarded > LINGER_BYTES {
                                    break;
                                }
                            }
                            Poll::Ready(_) => break,
                            Poll::Pending if until.as_mut().poll(cx).is_ready() => break,
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                    this.closing = Closing::Closed;
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_millis(50);
    const IDLE: Duration = Duration::from_millis(500);

    fn limits() -> TrackerLimits {
        TrackerLimits {
            header_read_timeout: HEADER,
            idle_timeout: IDLE,
            max_requests: 2,
        }
    }

    #[tokio::test]
    async fn idle_then_header_timeout_then_quota() {
        let t = ConnTracker::new(Protocol::H1, limits());
        let start = Instant::now();
        assert_eq!(t.next_event().await, ConnEvent::Idle);
        assert!(start.elapsed() >= IDLE);

        // A first byte starts the (shorter) header clock.
        t.on_read();
        let start = Instant::now();
        assert_eq!(t.next_event().await, ConnEvent::HeaderTimeout);
        assert!(
            start.elapsed() >= HEADER && start.elapsed() < IDLE,
            "{:?}",
            start.elapsed()
        );

        // In flight: no deadline until the request ends.
        let g1 = t.start_request();
        assert!(tokio::time::timeout(IDLE * 2, t.next_event()).await.is_err());
        drop(g1);
        let start = Instant::now();
        assert_eq!(t.next_event().await, ConnEvent::Idle);
        assert!(start.elapsed() >= IDLE);

        let _g2 = t.start_request();
        assert_eq!(t.next_event().await, ConnEvent::MaxRequests);
        assert_eq!(t.in_flight(), 1);
        // Reported once.
        assert!(tokio::time::timeout(IDLE, t.next_event()).await.is_err());
    }

    /// Counts the wake-ups of the task it is the waker of.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn all_done_is_woken_when_the_last_request_in_flight_ends() {
        let t = ConnTracker::new(Protocol::H2, limits());
        let wakes = Arc::new(Wakes::default());
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        // Nothing in flight: done at once.
        assert!(std::pin::pin!(t.all_done()).poll(&mut cx).is_ready());

        let (g1, g2) = (t.start_request(), t.start_request());
        let mut done = std::pin::pin!(t.all_done());
        assert!(done.as_mut().poll(&mut cx).is_pending());
        drop(g1);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "one is still in flight");
        drop(g2);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "woken when the last one ended");
        assert!(done.as_mut().poll(&mut cx).is_ready());
        assert_eq!(t.drain_waiters.load(Ordering::SeqCst), 0, "no longer waiting");

        // With nobody waiting, a request ends without notifying `idle`: a
        // `Notified` made before a `notify_waiters` call completes from it
        // even unpolled, and this one does not.
        let unpolled = t.idle.notified();
        drop(t.start_request());
        assert!(std::pin::pin!(unpolled).poll(&mut cx).is_pending(), "idle not notified");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reads_do_not_start_heads_on_h2() {
        let t = ConnTracker::new(Protocol::H2, limits());
        t.on_read();
        assert_eq!(t.next_event().await, ConnEvent::Idle);
    }
}
