//! Connections of outbound `fetch()`: resolve the host with hickory, judge
//! every address with the [`Guard`](super::guard::Guard) right before
//! connecting to it, TCP, TLS with ALPN (`h2`, `http/1.1`), the HTTP
//! handshake, and a small per-origin pool of idle connections.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::OutboundError;
use super::body::OutBody;
use super::guard::Guard;

/// Idle connections kept per origin.
const IDLE_PER_ORIGIN: usize = 4;
/// How long an idle connection may wait for its next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs hyper's connection tasks on the isolate's thread.
#[derive(Clone, Copy, Debug)]
struct LocalExec;

impl<F: Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Where a request goes: from its URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    /// `http` or `https`.
    pub https: bool,
    /// The host as written in the URL, lower case, IPv6 without brackets.
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an absolute `http(s)` URI.
    pub(crate) fn of(uri: &http::Uri) -> Result<Origin, OutboundError> {
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(OutboundError::Scheme(other.to_string())),
            None => return Err(OutboundError::Url("the URL has no scheme".into())),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| OutboundError::Url("the URL has no host".into()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Origin { https, host, port })
    }

    /// The host as an IP address, when the URL gives one.
    fn literal_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// A connection's request sender.
pub(crate) enum Sender {
    H1(http1::SendRequest<OutBody>),
    H2(http2::SendRequest<OutBody>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// Whether requests go in HTTP/2 form.
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Sender::H2(_))
    }

    /// Sends `request`. An error that comes back with the request means it
    /// never left (a stale pooled connection): it can go again elsewhere.
    pub(crate) async fn send(
        &mut self,
        request: http::Request<OutBody>,
    ) -> Result<http::Response<hyper::body::Incoming>, (hyper::Error, Option<http::Request<OutBody>>)> {
        let sent = match self {
            Sender::H1(s) => {
                if let Err(e) = s.ready().await {
                    return Err((e, Some(request)));
                }
                s.try_send_request(request).await
            }
            Sender::H2(s) => {
                if let Err(e) = s.ready().await {
                    return Err((e, Some(request)));
                }
                s.try_send_request(request).await
            }
        };
        sent.map_err(|mut e| {
            let request = e.take_message();
            (e.into_error(), request)
        })
    }
}

/// A connection checked out for one request.
pub(crate) struct Conn {
    pub sender: Sender,
    /// Whether it came from the pool (and may have gone stale).
    pub reused: bool,
}

/// Gives an HTTP/1.1 connection back to the pool once its response is read.
pub(crate) struct Checkin {
    pool: Rc<Pool>,
    origin: Origin,
    sender: http1::SendRequest<OutBody>,
}

impl Checkin {
    /// Waits until the connection can take a request again, then pools it.
    pub(crate) async fn give_back(mut self) {
        let ready = tokio::time::timeout(Duration::from_secs(1), self.sender.ready()).await;
        if matches!(ready, Ok(Ok(()))) {
            self.pool.put(self.origin, Sender::H1(self.sender));
        }
    }
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// Idle connections by origin (HTTP/2 ones stay while in use too).
#[derive(Default)]
pub(crate) struct Pool {
    idle: RefCell<HashMap<Origin, Vec<Idle>>>,
}

impl Pool {
    fn take(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(origin)?;
        list.retain(|i| !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT);
        let found = list.iter().rposition(|i| match &i.sender {
            Sender::H1(s) => s.is_ready(),
            Sender::H2(s) => s.is_ready(),
        });
        let sender = match found {
            Some(i) => match &mut list[i] {
                Idle {
                    sender: Sender::H2(s),
                    since,
                } => {
                    *since = Instant::now();
                    Some(Sender::H2(s.clone()))
                }
                _ => Some(list.swap_remove(i).sender),
            },
            None => None,
        };
        if list.is_empty() {
            idle.remove(origin);
        }
        sender
    }

    fn put(&self, origin: Origin, sender: Sender) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(origin).or_default();
        list.retain(|i| !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT);
        if list.len() < IDLE_PER_ORIGIN {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// What a connection attempt needs.
pub(crate) struct Connector {
    pub guard: Guard,
    pub resolver: TokioResolver,
    pub tls: Arc<rustls::ClientConfig>,
    pub pool: Rc<Pool>,
}

impl Connector {
    /// A connection to `origin`: an idle one, or a new one when none is.
    pub(crate) async fn get(&self, origin: &Origin) -> Result<Conn, OutboundError> {
        if let Some(sender) = self.pool.take(origin) {
            return Ok(Conn { sender, reused: true });
        }
        self.connect(origin).await
    }

    /// A new connection to `origin`; HTTP/2 ones go into the pool at once.
    pub(crate) async fn connect(&self, origin: &Origin) -> Result<Conn, OutboundError> {
        let tcp = self.tcp(origin).await?;
        let sender = if origin.https {
            let name = match origin.literal_ip() {
                Some(ip) => ServerName::IpAddress(ip.into()),
                None => ServerName::try_from(origin.host.clone())
                    .map_err(|_| OutboundError::Url(format!("{} is not a valid TLS server name", origin.host)))?,
            };
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| OutboundError::Tls {
                    host: origin.host.clone(),
                    reason: super::error_chain(&e),
                })?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            handshake(tls, h2).await?
        } else {
            handshake(tcp, false).await?
        };
        if let Sender::H2(s) = &sender {
            self.pool.put(origin.clone(), Sender::H2(s.clone()));
        }
        Ok(Conn { sender, reused: false })
    }

    /// Resolves `origin`'s host and connects to the first address the guard
    /// allows and that answers.
    async fn tcp(&self, origin: &Origin) -> Result<TcpStream, OutboundError> {
        let addrs: Vec<IpAddr> = match origin.literal_ip() {
            Some(ip) => vec![ip],
            None => {
                let found = self.resolver.lookup_ip(origin.host.as_str()).await.map_err(|e| {
                    let reason = if e.is_no_records_found() || e.is_nx_domain() {
                        "no such host".to_string()
                    } else {
                        e.to_string()
                    };
                    OutboundError::Resolve {
                        host: origin.host.clone(),
                        reason,
                    }
                })?;
                found.iter().collect()
            }
        };
        let mut refused = None;
        let mut failed = None;
        for ip in addrs {
            // The decision is on the address the socket connects to.
            if let Err(reason) = self.guard.check(ip) {
                refused.get_or_insert((ip, reason));
                continue;
            }
            let addr = SocketAddr::new(ip, origin.port);
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    let peer = stream.peer_addr().map(|p| p.ip()).unwrap_or(ip);
                    if let Err(reason) = self.guard.check(peer) {
                        refused.get_or_insert((peer, reason));
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => failed = Some((addr, e)),
            }
        }
        if let Some((addr, e)) = failed {
            return Err(OutboundError::Connect {
                host: origin.host.clone(),
                addr,
                reason: e.to_string(),
            });
        }
        match refused {
            Some((ip, reason)) => Err(OutboundError::Refused {
                ip,
                host: origin.host.clone(),
                reason,
            }),
            None => Err(OutboundError::Resolve {
                host: origin.host.clone(),
                reason: "no addresses".into(),
            }),
        }
    }
}

/// The HTTP/1.1 or HTTP/2 handshake on `io`; the connection task runs on
/// this thread until both ends let go.
async fn handshake<T>(io: T, h2: bool) -> Result<Sender, OutboundError>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let io = TokioIo::new(io);
    let protocol = |e: hyper::Error| OutboundError::Protocol(super::error_chain(&e));
    if h2 {
        let (sender, conn) = http2::Builder::new(LocalExec).handshake(io).await.map_err(protocol)?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, conn) = http1::handshake(io).await.map_err(protocol)?;
        tokio::task::spawn_local(async move {
            let _ = conn.await;
        });
        Ok(Sender::H1(sender))
    }
}

/// The pool entry a finished HTTP/1.1 exchange goes back to.
pub(crate) fn checkin(pool: &Rc<Pool>, origin: &Origin, sender: Sender) -> Option<Checkin> {
    match sender {
        Sender::H1(sender) => Some(Checkin {
            pool: pool.clone(),
            origin: origin.clone(),
            sender,
        }),
        Sender::H2(_) => None,
    }
}
