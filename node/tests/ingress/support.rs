//! What the ingress tests share: a deployment behind a `Service`, servers
//! on ephemeral ports, a test PKI, and HTTP/1.1, HTTP/2 and HTTP/3 clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use outpost_js::{Bundle, RuntimeOptions};
use outpost_node::host::LogSink;
use outpost_node::ingress::{IngressConfig, IngressStats, Limits, Service, TlsSetup};
use outpost_node::limits::DeploymentLimits;
use outpost_node::outbound::Outbound;
use outpost_node::router::{Router, Target};
use outpost_node::worker::{self, WorkerConfig};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// The handler every test deploys.
pub const HANDLER: &str = r#"
const PAGE = `<!doctype html>
<html><head><title>Outpost ingress</title></head>
<body><p id="greeting">hello over TLS</p>
<script>document.getElementById("greeting").dataset.ran = "script-" + (6 * 7);</script>
</body></html>`;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/echo":
        return new Response(await request.text(), { headers: { "x-method": request.method } });
      case "/page":
        return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
      case "/slow": {
        await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get("ms") ?? 300)));
        return new Response("slow done");
      }
      case "/stream": {
        const encoder = new TextEncoder();
        let n = 0;
        const body = new ReadableStream({
          async pull(controller) {
            if (n === 3) return controller.close();
            await new Promise((resolve) => setTimeout(resolve, 10));
            n++;
            controller.enqueue(encoder.encode(`chunk ${n}\n`));
          },
        });
        return new Response(body);
      }
      default:
        return new Response(request.url);
    }
  },
};
"#;

/// A `Service` whose router sends every host to one isolate running
/// [`HANDLER`].
pub async fn service() -> Arc<Service> {
    service_running("ingress-test", HANDLER, Default::default()).await
}

/// A `Service` whose router sends every host to one isolate (on its own
/// thread) running `handler` as deployment `name`, fetching through
/// `outbound`.
pub async fn service_running(name: &str, handler: &str, outbound: Arc<Outbound>) -> Arc<Service> {
    service_with_limits(name, handler, outbound, DeploymentLimits::default()).await
}

/// [`service_running`] with the deployment's `limits`.
pub async fn service_with_limits(
    name: &str,
    handler: &str,
    outbound: Arc<Outbound>,
    limits: DeploymentLimits,
) -> Arc<Service> {
    let (handle, _join) = worker::spawn(
        format!("{name}-isolate"),
        WorkerConfig {
            log_sink: LogSink::Tracing,
            runtime: RuntimeOptions::default(),
            outbound,
        },
    )
    .expect("spawn isolate thread");
    let name: Arc<str> = name.into();
    handle
        .load(name.clone(), Arc::new(Bundle::single("h.js", handler)))
        .await
        .expect("handler loads");
    let router = Arc::new(Router::new("localhost"));
    router.set_fallback(Some(Target {
        limits,
        ..Target::new(name, handle)
    }));
    Arc::new(Service {
        router,
        limits: Limits::default(),
    })
}

/// A running listener; [`Server::stop`] drains it.
pub struct Server {
    /// TCP address.
    pub addr: SocketAddr,
    /// UDP address of HTTP/3, when served.
    pub h3_addr: Option<SocketAddr>,
    /// The listener's counters.
    pub stats: Arc<IngressStats>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Serves plain HTTP on 127.0.0.1:0.
    pub async fn plain(config: IngressConfig) -> Server {
        Server::plain_serving(service().await, config).await
    }

    /// Serves `service` over plain HTTP on 127.0.0.1:0.
    pub async fn plain_serving(service: Arc<Service>, config: IngressConfig) -> Server {
        let listener = outpost_node::ingress::bind_plain(loopback(), config)
            .await
            .expect("bind");
        let (stop, rx) = watch::channel(false);
        let (addr, stats) = (listener.local_addr(), listener.stats());
        let task = tokio::spawn(listener.serve(service, rx));
        Server {
            addr,
            h3_addr: None,
            stats,
            stop,
            task,
        }
    }

    /// Serves HTTPS (and HTTP/3 unless the config turns it off) on
    /// 127.0.0.1:0.
    pub async fn tls(config: IngressConfig, tls: TlsSetup) -> Server {
        let service = service().await;
        let listener = outpost_node::ingress::bind_tls(loopback(), config, tls)
            .await
            .expect("bind");
        let (stop, rx) = watch::channel(false);
        let (addr, h3_addr, stats) = (listener.local_addr(), listener.h3_addr(), listener.stats());
        let task = tokio::spawn(listener.serve(service, rx));
        Server {
            addr,
            h3_addr,
            stats,
            stop,
            task,
        }
    }

    /// Flips the shutdown signal without waiting.
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Flips the shutdown signal and waits for the listener to drain.
    pub async fn stop(self) {
        self.signal_stop();
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the listener drains in time")
            .expect("the listener task does not panic");
    }

    /// Requests served per protocol: (h1, h2, h3).
    pub fn requests(&self) -> (u64, u64, u64) {
        let s = &self.stats;
        (s.h1_requests.value(), s.h2_requests.value(), s.h3_requests.value())
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "outpost-ingress-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test certificate authority and the leaf certificates it signs.
pub struct Pki {
    pub ca: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A signed leaf: its DER (to compare with what a server presents) and PEM
/// files' contents.
pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
    /// The DER SubjectPublicKeyInfo, for certificate pinning.
    pub spki: Vec<u8>,
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Outpost ingress test CA");
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        Leaf {
            der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            spki,
        }
    }

    /// A client config trusting only this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// A client config that accepts any certificate (for the self-signed one),
/// offering `alpn`.
pub fn insecure_client_config(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Opens a TLS connection to `addr` with SNI `name`.
pub async fn tls_connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string()).unwrap();
    tokio_rustls::TlsConnector::from(config).connect(name, tcp).await
}

/// A response with its body read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub version: http::Version,
    pub body: String,
}

/// An HTTP/1.1 or HTTP/2 client on one connection.
pub enum Client {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Client {
    pub async fn h1<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: S) -> Client {
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        Client::H1(send)
    }

    pub async fn h2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: S) -> Client {
        let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("h2 handshake");
        tokio::spawn(conn);
        Client::H2(send)
    }

    /// Sends `method url` with `body` and optional extra headers.
    pub async fn send(
        &mut self,
        method: &str,
        url: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> hyper::Result<Reply> {
        let uri: http::Uri = url.parse().unwrap();
        let mut b = http::Request::builder().method(method);
        b = match self {
            // HTTP/1.1 takes the path in the request line and a Host header.
            Client::H1(_) => b
                .uri(uri.path_and_query().unwrap().as_str())
                .header("host", uri.authority().unwrap().as_str()),
            Client::H2(_) => b.uri(uri),
        };
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let resp = match self {
            Client::H1(s) => s.send_request(req).await?,
            Client::H2(s) => s.send_request(req).await?,
        };
        let (status, version, headers) = (resp.status().as_u16(), resp.version(), resp.headers().clone());
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            version,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    pub async fn get(&mut self, url: &str) -> Reply {
        self.send("GET", url, "", &[]).await.expect("request")
    }
}

/// An HTTP/3 client on one QUIC connection.
pub struct H3Client {
    send: h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>,
    _endpoint: quinn::Endpoint,
    driver: tokio::task::JoinHandle<()>,
}

impl H3Client {
    pub async fn connect(addr: SocketAddr, name: &str, tls: Arc<rustls::ClientConfig>) -> H3Client {
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from((*tls).clone()).expect("QUIC client config");
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).expect("client endpoint");
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let conn = endpoint.connect(addr, name).unwrap().await.expect("QUIC handshake");
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .expect("h3 setup");
        let driver = tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        H3Client {
            send,
            _endpoint: endpoint,
            driver,
        }
    }

    pub async fn send(
        &mut self,
        method: &str,
        url: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(()).unwrap();
        let mut stream = self.send.send_request(req).await.map_err(|e| e.to_string())?;
        if !body.is_empty() {
            stream
                .send_data(Bytes::from(body.to_string()))
                .await
                .map_err(|e| e.to_string())?;
        }
        stream.finish().await.map_err(|e| e.to_string())?;
        let resp = stream.recv_response().await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await.map_err(|e| e.to_string())? {
            out.extend_from_slice(&chunk.copy_to_bytes(chunk.remaining()));
        }
        Ok(Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            version: resp.version(),
            body: String::from_utf8_lossy(&out).into_owned(),
        })
    }

    pub async fn get(&mut self, url: &str) -> Reply {
        self.send("GET", url, "", &[]).await.expect("h3 request")
    }
}

impl Drop for H3Client {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Writes `request` on a fresh TCP connection and reads until the server
/// closes it (or `limit` passes); returns what came back.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}
