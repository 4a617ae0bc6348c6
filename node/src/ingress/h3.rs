//! HTTP/3 over QUIC (quinn + h3), on the UDP port of the TLS listener's
//! number, with the same certificates. Request bodies stream to
//! [`Service::handle`](super::Service::handle) as an `http_body::Body`;
//! response bodies stream back frame by frame.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use h3::server::{RequestResolver, RequestStream};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::conn::{ConnTracker, Protocol, RequestGuard};
use super::listener::{ConnContext, Drain, handshake, shutdown_signal, sleep_until_opt};
use super::tls::TlsSetup;
use super::{IngressConfig, IngressError};

/// How long the endpoint waits, after the last connection closed, for its
/// CONNECTION_CLOSE frames to leave.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// `H3_NO_ERROR`, the application close code of a clean shutdown.
const H3_NO_ERROR: u32 = 0x100;

/// Response header fields that only mean something on HTTP/1.1 and make an
/// HTTP/3 message malformed (RFC 9114 §4.2).
const CONNECTION_SPECIFIC: [http::HeaderName; 4] = [
    http::header::CONNECTION,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
    http::HeaderName::from_static("keep-alive"),
];

/// A bound QUIC endpoint, not yet serving.
pub(crate) struct H3Listener {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
}

impl H3Listener {
    /// Binds `addr` (UDP) with the certificates of `tls`.
    pub(crate) fn bind(addr: SocketAddr, config: &IngressConfig, tls: &TlsSetup) -> Result<Self, IngressError> {
        let crypto = tls.quic_config()?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(config.max_concurrent_streams));
        let idle = quinn::IdleTimeout::try_from(config.idle_timeout()).map_err(|e| IngressError::Config {
            key: "idle_timeout_ms",
            reason: e.to_string(),
        })?;
        transport.max_idle_timeout(Some(idle));
        server.transport_config(Arc::new(transport));
        let socket = std::net::UdpSocket::bind(addr).map_err(|source| IngressError::Bind {
            addr,
            proto: "udp",
            source,
        })?;
        let addr = socket.local_addr().map_err(|source| IngressError::Bind {
            addr,
            proto: "udp",
            source,
        })?;
        let endpoint = quinn::Endpoint::new(
            quinn::EndpointConfig::default(),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|source| IngressError::Bind {
            addr,
            proto: "udp",
            source,
        })?;
        Ok(H3Listener { endpoint, addr })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Accepts QUIC connections until `shutdown`, then refuses new ones and
    /// waits for open connections to drain.
    pub(crate) async fn serve(self, ctx: Arc<ConnContext>, mut shutdown: watch::Receiver<bool>) {
        let mut conns = JoinSet::new();
        loop {
            let incoming = tokio::select! {
                incoming = self.endpoint.accept() => match incoming {
                    Some(i) => i,
                    None => break,
                },
                _ = shutdown_signal(&mut shutdown) => break,
            };
            let span = tracing::debug_span!("quic", peer = %incoming.remote_address());
            conns.spawn(serve_conn(incoming, ctx.clone(), shutdown.clone()).instrument(span));
            while conns.try_join_next().is_some() {}
        }
        self.endpoint.set_server_config(None);
        while conns.join_next().await.is_some() {}
        let _ = tokio::time::timeout(CLOSE_GRACE, self.endpoint.wait_idle()).await;
    }
}

async fn serve_conn(incoming: quinn::Incoming, ctx: Arc<ConnContext>, mut shutdown: watch::Receiver<bool>) {
    let Some(conn) = handshake(&ctx, "QUIC", incoming).await else {
        return;
    };
    ctx.stats.connections.fetch_add(1, Ordering::Relaxed);
    let built = h3::server::builder()
        .max_field_section_size(ctx.config.max_header_bytes as u64)
        .build::<_, Bytes>(h3_quinn::Connection::new(conn.clone()))
        .await;
    let mut h3 = match built {
        Ok(h3) => h3,
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/3 setup failed");
            return;
        }
    };
    let tracker = ConnTracker::new(Protocol::H3, ctx.tracker_limits());
    let mut drain = Drain::default();
    loop {
        tokio::select! {
            accepted = h3.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let guard = tracker.start_request();
                    tokio::spawn(serve_request(resolver, ctx.clone(), guard).in_current_span());
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "HTTP/3 connection ended");
                    break;
                }
            },
            _ = shutdown_signal(&mut shutdown), if !drain.stopping() => {
                if drain.stop(ctx.config.drain_timeout()) {
                    let _ = h3.shutdown(0).await;
                }
            }
            event = tracker.next_event(), if !drain.winding_down() => {
                tracing::debug!(?event, "winding the connection down with GOAWAY");
                drain.wind_down();
                let _ = h3.shutdown(0).await;
            }
            _ = tracker.all_done(), if drain.awaits_idle() => drain.idle(),
            _ = sleep_until_opt(drain.grace()) => {
                if drain.grace_over(tracker.in_flight()) {
                    break;
                }
            }
            _ = sleep_until_opt(drain.deadline()) => {
                tracing::debug!("drain deadline passed; closing the connection");
                break;
            }
        }
    }
    conn.close(quinn::VarInt::from_u32(H3_NO_ERROR), b"");
}

async fn serve_request(
    resolver: RequestResolver<h3_quinn::Connection, Bytes>,
    ctx: Arc<ConnContext>,
    guard: RequestGuard,
) {
    // A request head that dribbles in is cut off like on HTTP/1. An
    // oversized head is answered 431 by h3 itself.
    let resolved = tokio::time::timeout(ctx.config.header_read_timeout(), resolver.resolve_request()).await;
    let (req, stream) = match resolved {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "bad HTTP/3 request");
            return;
        }
        Err(_) => {
            tracing::debug!("HTTP/3 request head timed out");
            return;
        }
    };
    ctx.stats.count_request(Protocol::H3);
    let (mut send, recv) = stream.split();
    let (parts, ()) = req.into_parts();
    let body = H3Body::new(recv, &parts);
    let resp = ctx
        .service
        .handle(http::Request::from_parts(parts, body), "https")
        .await;
    let (mut parts, mut body) = resp.into_parts();
    for name in &CONNECTION_SPECIFIC {
        parts.headers.remove(name);
    }
    if let Err(e) = send.send_response(http::Response::from_parts(parts, ())).await {
        tracing::debug!(error = %e, "sending the HTTP/3 response head failed");
        return;
    }
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                tracing::debug!(error = %e, "response body failed; resetting the stream");
                send.stop_stream(h3::error::Code::H3_INTERNAL_ERROR);
                return;
            }
        };
        match frame.into_data() {
            Ok(data) => {
                if !data.is_empty() && send.send_data(data).await.is_err() {
                    return;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    if send.send_trailers(trailers).await.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
    let _ = send.finish().await;
    drop(guard);
}

/// An HTTP/3 request body as an `http_body::Body`: each DATA frame becomes
/// a data frame, read as the handler asks for it.
pub struct H3Body {
    recv: RequestStream<h3_quinn::RecvStream, Bytes>,
    /// Data read while checking for an empty body.
    first: Option<Bytes>,
    /// A read error met while checking for an empty body.
    error: Option<h3::error::StreamError>,
    done: bool,
}

impl H3Body {
    /// A body for a request with head `parts`. GET and HEAD requests and
    /// `Content-Length: 0` have none (their `Request.body` is null); else
    /// one look at the stream tells whether it already ended.
    fn new(recv: RequestStream<h3_quinn::RecvStream, Bytes>, parts: &http::request::Parts) -> Self {
        let no_body = parts.method == http::Method::GET
            || parts.method == http::Method::HEAD
            || parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() == b"0");
        let mut body = H3Body {
            recv,
            first: None,
            error: None,
            done: no_body,
        };
        if !no_body {
            // A waker that does nothing: a later poll from the real task
            // registers the real one.
            let mut cx = Context::from_waker(Waker::noop());
            match body.recv.poll_recv_data(&mut cx) {
                Poll::Ready(Ok(Some(mut data))) => body.first = Some(data.copy_to_bytes(data.remaining())),
                Poll::Ready(Ok(None)) => body.done = true,
                Poll::Ready(Err(e)) => body.error = Some(e),
                Poll::Pending => {}
            }
        }
        body
    }
}

impl Body for H3Body {
    type Data = Bytes;
    type Error = h3::error::StreamError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(data) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(e) = this.error.take() {
            this.done = true;
            return Poll::Ready(Some(Err(e)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        match this.recv.poll_recv_data(cx) {
            Poll::Ready(Ok(Some(mut data))) => Poll::Ready(Some(Ok(Frame::data(data.copy_to_bytes(data.remaining()))))),
            Poll::Ready(Ok(None)) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Err(e)) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.first.is_none() && self.error.is_none()
    }
}
