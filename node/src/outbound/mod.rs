//! Outbound `fetch()` from handlers: a real HTTP client that will not be
//! turned against the node's own network.
//!
//! A fetch resolves its host with hickory (the system's resolvers, or the
//! configured ones), and connects only to addresses the
//! [`Guard`](guard::Guard) allows — judged on the address the socket
//! connects to, after resolution, for every redirect hop, so neither a
//! literal internal address, nor a name that resolves to one, nor a
//! redirect to one gets through. It speaks HTTP/1.1, or HTTP/2 when a TLS
//! server picks it by ALPN; TLS is rustls with the Mozilla roots
//! (`webpki-roots`) plus any the operator adds. Request and response bodies
//! stream; redirects follow the Fetch Standard up to a limit; connecting
//! and waiting for the response head time out; an abort drops the
//! connection whatever stage the fetch is in.
//!
//! [`Outbound`] is the node-wide part (configuration, TLS settings, DNS
//! settings); each isolate's host makes its own [`Client`] from it, whose
//! resolver cache and idle connections belong to that isolate alone and
//! whose connection tasks run on its thread.
//!
//! It does not count subrequests (the runtime does), decompress bodies,
//! keep cookies, or cache.

mod body;
mod connect;
pub mod guard;
pub mod redirect;

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::{FutureExt, LocalBoxFuture, Shared};
use hickory_resolver::config::{NameServerConfig, NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};
use http::header::{HOST, HeaderName, HeaderValue, LOCATION};
use ipnet::IpNet;
use outpost_js::{Body, HeaderList, HttpRequest, HttpResponse};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use body::OutBody;
use connect::{Connector, Origin, Pool, Sender};
use guard::Guard;

/// Settings of outbound `fetch()`.
#[derive(Clone, Debug)]
pub struct OutboundConfig {
    /// Address ranges handlers may reach although the default policy
    /// refuses them (loopback, private, link-local, …). Empty by default.
    pub allow: Vec<IpNet>,
    /// DNS servers to ask (UDP, then TCP); empty: the system's
    /// (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// Certificate authorities trusted besides the Mozilla roots (private
    /// CAs, tests).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Limit on resolving, connecting and the TLS and HTTP handshakes of one
    /// connection.
    pub connect_timeout: Duration,
    /// Limit on waiting for a response head once the request is sent.
    pub head_timeout: Duration,
    /// Redirects followed before a fetch fails (the Fetch Standard's 20).
    pub max_redirects: u32,
}

impl OutboundConfig {
    /// Default [`connect_timeout`](Self::connect_timeout).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default [`head_timeout`](Self::head_timeout).
    pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(100);
    /// Default [`max_redirects`](Self::max_redirects).
    pub const DEFAULT_MAX_REDIRECTS: u32 = 20;

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), OutboundError> {
        if self.connect_timeout.is_zero() || self.head_timeout.is_zero() {
            return Err(OutboundError::Config("timeouts must be longer than zero".into()));
        }
        Ok(())
    }
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            allow: Vec::new(),
            nameservers: Vec::new(),
            extra_roots: Vec::new(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            head_timeout: Self::DEFAULT_HEAD_TIMEOUT,
            max_redirects: Self::DEFAULT_MAX_REDIRECTS,
        }
    }
}

/// The certificates in a PEM file, for [`OutboundConfig::extra_roots`].
pub fn roots_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, OutboundError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| OutboundError::Config(format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(OutboundError::Config("no certificate in the PEM data".into()));
    }
    Ok(certs)
}

/// Why an outbound fetch failed; the text is what the handler's
/// `TypeError` says after `fetch failed: `.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The URL cannot be fetched as written.
    #[error("invalid URL: {0}")]
    Url(String),
    /// Not `http:` or `https:`.
    #[error("the {0}: scheme is not supported")]
    Scheme(String),
    /// The guard refused every address the host resolved to.
    #[error("refused: {} is {reason}", describe(*.ip, .host))]
    Refused {
        /// The (first) refused address.
        ip: IpAddr,
        /// The host of the URL.
        host: String,
        /// Why, e.g. "a private address".
        reason: guard::Reason,
    },
    /// DNS gave no usable answer.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host of the URL.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// No allowed address accepted the connection.
    #[error("cannot connect to {host} ({addr}): {reason}")]
    Connect {
        /// The host of the URL.
        host: String,
        /// The last address tried.
        addr: SocketAddr,
        /// The socket error.
        reason: String,
    },
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS handshake with {host} failed: {reason}")]
    Tls {
        /// The host of the URL.
        host: String,
        /// What rustls said.
        reason: String,
    },
    /// Resolving, connecting or a handshake took longer than allowed.
    #[error("connecting to {host} timed out after {after:?}")]
    ConnectTimeout {
        /// The host of the URL.
        host: String,
        /// The limit.
        after: Duration,
    },
    /// The server sent no response head in time.
    #[error("{host} sent no response within {after:?}")]
    HeadTimeout {
        /// The host of the URL.
        host: String,
        /// The limit.
        after: Duration,
    },
    /// The HTTP exchange failed.
    #[error("{0}")]
    Protocol(String),
    /// A redirect that may not be followed.
    #[error("{0}")]
    Redirect(String),
    /// A request header hyper cannot send.
    #[error("invalid request header {0}")]
    Header(String),
    /// The handler aborted the fetch.
    #[error("the fetch was aborted")]
    Aborted,
    /// The node's outbound settings are unusable.
    #[error("outbound fetch is misconfigured: {0}")]
    Config(String),
}

fn describe(ip: IpAddr, host: &str) -> String {
    if host.parse::<IpAddr>().ok() == Some(ip) {
        ip.to_string()
    } else {
        format!("{ip} ({host})")
    }
}

/// `e` and its sources, joined by `: ` (repeats left out).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// How a fetch treats a redirect response (`Request.redirect`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedirectMode {
    /// Follow it, up to [`OutboundConfig::max_redirects`].
    #[default]
    Follow,
    /// Fail the fetch.
    Error,
    /// Answer with the redirect response itself.
    Manual,
}

impl RedirectMode {
    /// From the JS enum value; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "follow" => Some(RedirectMode::Follow),
            "error" => Some(RedirectMode::Error),
            "manual" => Some(RedirectMode::Manual),
            _ => None,
        }
    }
}

/// The node-wide part of outbound fetch: settings, TLS, DNS settings.
pub struct Outbound {
    config: OutboundConfig,
    tls: Arc<rustls::ClientConfig>,
    /// The resolver settings, read once (the system's on first use).
    dns: OnceLock<Result<(ResolverConfig, ResolverOpts), String>>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound::new(OutboundConfig::default()).expect("the default outbound settings are valid")
    }
}

impl Outbound {
    /// Checks `config` and prepares the TLS settings.
    pub fn new(config: OutboundConfig) -> Result<Self, OutboundError> {
        config.validate()?;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in &config.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| OutboundError::Config(format!("unusable extra root certificate: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| OutboundError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Outbound {
            config,
            tls: Arc::new(tls),
            dns: OnceLock::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }

    fn dns(&self) -> Result<(ResolverConfig, ResolverOpts), OutboundError> {
        let settings = self.dns.get_or_init(|| {
            if self.config.nameservers.is_empty() {
                return hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e: ResolveError| format!("cannot read the system DNS settings: {e}"));
            }
            let mut servers = Vec::new();
            for addr in &self.config.nameservers {
                servers.push(NameServerConfig::new(*addr, Protocol::Udp));
                servers.push(NameServerConfig::new(*addr, Protocol::Tcp));
            }
            let config = ResolverConfig::from_parts(None, Vec::new(), NameServerConfigGroup::from(servers));
            Ok((config, ResolverOpts::default()))
        });
        settings.clone().map_err(OutboundError::Config)
    }

    /// A client for one isolate. Call it on the thread (and tokio runtime)
    /// that will use it.
    pub fn client(self: &Arc<Self>) -> Result<Client, OutboundError> {
        let (config, mut opts) = self.dns()?;
        opts.timeout = opts.timeout.min(self.config.connect_timeout);
        let resolver = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            .with_options(opts)
            .build();
        Ok(Client {
            outbound: self.clone(),
            connector: Connector {
                guard: Guard::new(self.config.allow.clone()),
                resolver,
                tls: self.tls.clone(),
                pool: Rc::new(Pool::default()),
            },
        })
    }
}

/// Completes when the fetch is aborted; shared by the request and the task
/// that streams its response body.
pub(crate) type Abort = Shared<LocalBoxFuture<'static, ()>>;

/// The request body as far as redirects are concerned.
enum Replay {
    None,
    /// Sent again on every hop.
    Bytes(Bytes),
    /// Sent once; `None` after that.
    Stream(Option<outpost_js::BodyStream>),
}

/// One isolate's outbound HTTP client.
pub struct Client {
    outbound: Arc<Outbound>,
    connector: Connector,
}

impl Client {
    /// Fetches `request`, following redirects as `mode` says. Resolves with
    /// the response (its body streaming) and, when redirects were followed,
    /// the final URL. `abort` completing (with `Ok` or `Canceled`) stops it
    /// at any stage, the response body included, and drops the connection.
    pub async fn fetch(
        &self,
        request: HttpRequest,
        mode: RedirectMode,
        abort: Option<oneshot::Receiver<()>>,
    ) -> Result<(HttpResponse, Option<String>), OutboundError> {
        let abort: Abort = match abort {
            Some(rx) => rx.map(|_| ()).boxed_local().shared(),
            None => futures::future::pending().boxed_local().shared(),
        };
        tokio::select! {
            done = self.run(request, mode, abort.clone()) => done,
            _ = abort.clone() => Err(OutboundError::Aborted),
        }
    }

    async fn run(
        &self,
        request: HttpRequest,
        mode: RedirectMode,
        abort: Abort,
    ) -> Result<(HttpResponse, Option<String>), OutboundError> {
        let config = &self.outbound.config;
        let HttpRequest {
            mut method,
            url,
            mut headers,
            body,
        } = request;
        let mut uri: http::Uri = url.parse().map_err(|e| OutboundError::Url(format!("{e}")))?;
        let mut body = match body {
            Body::Empty => Replay::None,
            Body::Full(b) => Replay::Bytes(b),
            Body::Stream(s) => Replay::Stream(Some(s)),
        };
        let mut final_url = None;
        let mut followed = 0;
        loop {
            let origin = connect::Origin::of(&uri)?;
            let hop_body = match &mut body {
                Replay::None => OutBody::empty(),
                Replay::Bytes(b) => OutBody::Full(Some(b.clone())),
                Replay::Stream(s) => s.take().map_or_else(OutBody::empty, OutBody::Stream),
            };
            let streamed = matches!(hop_body, OutBody::Stream(_));
            let (response, sender) = self
                .exchange(&origin, &uri, &method, &headers, hop_body, streamed)
                .await?;
            let status = response.status().as_u16();
            if redirect::is_redirect(status) {
                match mode {
                    RedirectMode::Manual => {}
                    RedirectMode::Error => {
                        return Err(OutboundError::Redirect(format!(
                            "{status} redirect while the request's redirect mode is \"error\""
                        )));
                    }
                    RedirectMode::Follow => {
                        if let Some(location) = response.headers().get(LOCATION) {
                            let next = redirect::resolve(&uri, location.as_bytes()).map_err(OutboundError::Redirect)?;
                            if followed >= config.max_redirects {
                                return Err(OutboundError::Redirect(format!(
                                    "too many redirects (more than {})",
                                    config.max_redirects
                                )));
                            }
                            followed += 1;
                            if status != 303 && matches!(body, Replay::Stream(_)) {
                                return Err(OutboundError::Redirect(format!(
                                    "a {status} redirect cannot be followed: the request body was a stream and \
                                     cannot be sent again"
                                )));
                            }
                            if redirect::becomes_get(status, &method) {
                                method = "GET".into();
                                body = Replay::None;
                                headers
                                    .retain(|k, _| !redirect::BODY_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)));
                            }
                            if redirect::origin(&uri) != redirect::origin(&next) {
                                headers.retain(|k, _| {
                                    !redirect::CROSS_ORIGIN_DROPPED.iter().any(|h| k.eq_ignore_ascii_case(h))
                                });
                            }
                            // Its body is not read: the connection goes.
                            drop((response, sender));
                            final_url = Some(next.to_string());
                            uri = next;
                            continue;
                        }
                    }
                }
            }
            return Ok((self.respond(response, sender, &origin, &method, abort), final_url));
        }
    }

    /// Sends one request on a connection to `origin` and waits for the head.
    async fn exchange(
        &self,
        origin: &Origin,
        uri: &http::Uri,
        method: &str,
        headers: &HeaderList,
        body: OutBody,
        streamed: bool,
    ) -> Result<(http::Response<hyper::body::Incoming>, Sender), OutboundError> {
        let config = &self.outbound.config;
        let connect_timeout = |_| OutboundError::ConnectTimeout {
            host: origin.host.clone(),
            after: config.connect_timeout,
        };
        let mut conn = tokio::time::timeout(config.connect_timeout, self.connector.get(origin))
            .await
            .map_err(connect_timeout)??;
        let mut request = build_request(method, uri, headers, body, streamed)?;
        let head_timeout = |_| OutboundError::HeadTimeout {
            host: origin.host.clone(),
            after: config.head_timeout,
        };
        for attempt in 0..2 {
            shape_for(&mut request, uri, conn.sender.is_h2());
            let sent = tokio::time::timeout(config.head_timeout, conn.sender.send(request))
                .await
                .map_err(head_timeout)?;
            match sent {
                Ok(response) => return Ok((response, conn.sender)),
                // A pooled connection the server had closed: the request
                // never left, so it goes on a new connection.
                Err((_, Some(unsent))) if conn.reused && attempt == 0 => {
                    request = unsent;
                    conn = tokio::time::timeout(config.connect_timeout, self.connector.connect(origin))
                        .await
                        .map_err(connect_timeout)??;
                }
                Err((e, _)) => return Err(OutboundError::Protocol(error_chain(&e))),
            }
        }
        unreachable!("the second attempt returns")
    }

    /// The handler's view of `response`: its body streams as it arrives.
    fn respond(
        &self,
        response: http::Response<hyper::body::Incoming>,
        sender: Sender,
        origin: &Origin,
        method: &str,
        abort: Abort,
    ) -> HttpResponse {
        let (parts, incoming) = response.into_parts();
        let status = parts.status.as_u16();
        let headers = parts.headers;
        let checkin = connect::checkin(&self.connector.pool, origin, sender);
        let null_body = method == "HEAD" || matches!(status, 101 | 103 | 204 | 205 | 304);
        let body = if null_body || hyper::body::Body::is_end_stream(&incoming) {
            drop(incoming);
            if let Some(checkin) = checkin {
                tokio::task::spawn_local(checkin.give_back());
            }
            if null_body {
                Body::Empty
            } else {
                Body::Full(Bytes::new())
            }
        } else {
            Body::Stream(body::stream_response(incoming, abort, checkin))
        };
        HttpResponse { status, headers, body }
    }
}

/// Headers a handler does not set: connection-specific ones, and `Host`,
/// which always comes from the URL (a handler forwarding its own request
/// to another origin must not send its own host name there).
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "host",
];

/// The request with an absolute URI and the handler's headers.
fn build_request(
    method: &str,
    uri: &http::Uri,
    headers: &HeaderList,
    body: OutBody,
    streamed: bool,
) -> Result<http::Request<OutBody>, OutboundError> {
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| OutboundError::Protocol(format!("invalid method {method}")))?;
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri.clone();
    let map = request.headers_mut();
    for (name, value) in headers.iter() {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| OutboundError::Header(format!("name {name:?}")))?;
        if NOT_FORWARDED.contains(&name.as_str()) {
            continue;
        }
        // A whole body's length is known; a stream may announce its own.
        if name == http::header::CONTENT_LENGTH && !streamed {
            continue;
        }
        let value = HeaderValue::from_str(value).map_err(|_| OutboundError::Header(format!("{name} value")))?;
        map.append(name, value);
    }
    Ok(request)
}

/// Puts `request` in HTTP/1.1 form (origin-form target, `Host` from the
/// URL) or HTTP/2 form (absolute URI for the pseudo-headers, no `Host`).
fn shape_for(request: &mut http::Request<OutBody>, uri: &http::Uri, h2: bool) {
    if h2 {
        *request.uri_mut() = uri.clone();
        request.headers_mut().remove(HOST);
        return;
    }
    let host = uri.host().unwrap_or("");
    let value = match uri.port() {
        Some(port) => format!("{host}:{}", port.as_str()),
        None => host.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        request.headers_mut().insert(HOST, v);
    }
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    if let Ok(t) = target.parse() {
        *request.uri_mut() = t;
    }
}
