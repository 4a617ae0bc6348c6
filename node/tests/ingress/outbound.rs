//! Outbound `fetch()` from handlers, end to end: handlers run in the real
//! runtime behind the real ingress and fetch through the real `NodeHost`
//! from origin servers on loopback — plain HTTP, HTTPS with HTTP/1.1 and
//! with HTTP/2 (a test CA trusted through the extra roots), raw TCP servers
//! that stall or watch for the connection to close — resolving names
//! through a small UDP DNS server that answers real DNS packets.
//!
//! The SSRF cases never reach a non-loopback address: the guard refuses
//! them before any socket is opened.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use outpost_node::ingress::IngressConfig;
use outpost_node::outbound::{Outbound, OutboundConfig};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Notify;

use crate::support::{self, Client, Pki, Server};

/// How long a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(5);

/// The deployed handler: `/<case>?url=…` fetches `url` one way or another
/// and describes the outcome as JSON, or answers 502 with the error.
const HANDLER: &str = r#"
async function describe(r) {
  return Response.json({
    status: r.status,
    url: r.url,
    redirected: r.redirected,
    location: r.headers.get("location"),
    proto: r.headers.get("x-proto"),
    body: await r.text(),
  });
}

export default {
  async fetch(request) {
    const u = new URL(request.url);
    const target = u.searchParams.get("url");
    const redirect = u.searchParams.get("redirect") ?? "follow";
    const dec = new TextDecoder();
    try {
      switch (u.pathname) {
        case "/get":
          return await describe(await fetch(target, { redirect }));
        case "/post": {
          const init = {
            method: u.searchParams.get("method") ?? "POST",
            body: await request.text(),
            headers: { "content-type": "text/plain", authorization: "Bearer s3cret" },
            redirect,
          };
          return await describe(await fetch(target, init));
        }
        case "/sequential": {
          const bodies = [];
          for (let i = 0; i < 3; i++) bodies.push(await (await fetch(target)).text());
          return new Response(bodies.join(","));
        }
        case "/stream-response": {
          const r = await fetch(target);
          const reader = r.body.getReader();
          const first = dec.decode((await reader.read()).value);
          await (await fetch(u.searchParams.get("release"))).text();
          let rest = "";
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            rest += dec.decode(value);
          }
          return Response.json({ first, rest });
        }
        case "/stream-request": {
          const enc = new TextEncoder();
          let ctl;
          const body = new ReadableStream({ start(c) { ctl = c; } });
          ctl.enqueue(enc.encode("one"));
          const pending = fetch(target, { method: "POST", body, duplex: "half", redirect });
          pending.catch(() => {});
          const seen = await (await fetch(u.searchParams.get("seen"))).text();
          ctl.enqueue(enc.encode("two"));
          ctl.close();
          const described = await (await describe(await pending)).json();
          return Response.json({ seen, ...described });
        }
        case "/forward":
          // The request's own body stream goes to the origin as it arrives.
          return await fetch(new Request(target, request));
        case "/abort-mid-body": {
          const ac = new AbortController();
          const r = await fetch(target, { signal: ac.signal });
          const reader = r.body.getReader();
          const first = dec.decode((await reader.read()).value);
          const pending = reader.read();
          ac.abort(new Error("enough"));
          const after = await pending.then(() => "read on", (e) => `read failed: ${e.message}`);
          return Response.json({ first, after });
        }
        case "/abort-connect": {
          const ac = new AbortController();
          setTimeout(() => ac.abort(), 200);
          const t0 = Date.now();
          const e = await fetch(target, { signal: ac.signal }).then(() => null, (e) => e);
          return Response.json({ name: e?.name ?? null, ms: Date.now() - t0 });
        }
        default:
          return new Response("alive");
      }
    } catch (e) {
      return new Response(String(e), { status: 502 });
    }
  },
};
"#;

// ---------------------------------------------------------------- DNS ---

/// A UDP DNS server answering A records from a table (NXDOMAIN for other
/// names, no answers for other types); it records the names asked.
struct Dns {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

async fn dns(table: &[(&str, &[Ipv4Addr])]) -> Dns {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind DNS");
    let addr = socket.local_addr().unwrap();
    let table: HashMap<String, Vec<Ipv4Addr>> = table.iter().map(|(n, ips)| (n.to_string(), ips.to_vec())).collect();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut answer = Message::new();
            answer
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(OpCode::Query)
                .set_authoritative(true)
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true);
            for q in query.queries() {
                answer.add_query(q.clone());
                let name = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
                log.lock().unwrap().push(name.clone());
                match table.get(&name) {
                    Some(ips) if q.query_type() == RecordType::A => {
                        for ip in ips {
                            answer.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(*ip))));
                        }
                    }
                    Some(_) => {}
                    None => {
                        answer.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            let _ = socket.send_to(&answer.to_vec().expect("encode answer"), peer).await;
        }
    });
    Dns { addr, asked }
}

const LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// The one loopback address the guarded node may reach.
const ALLOWED: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

async fn test_dns() -> Dns {
    dns(&[
        ("evil.test", &[Ipv4Addr::new(10, 0, 0, 1)]),
        ("api.test", &[LOOPBACK]),
        ("meta.test", &[Ipv4Addr::new(169, 254, 169, 254)]),
        ("allowed.test", &[ALLOWED]),
        ("mixed.test", &[Ipv4Addr::new(10, 0, 0, 1), ALLOWED]),
        ("secure.test", &[LOOPBACK]),
    ])
    .await
}

// --------------------------------------------------------------- node ---

/// The handler deployed on one isolate thread behind a plain HTTP ingress,
/// fetching through `config`.
struct Node {
    addr: SocketAddr,
    _server: Server,
}

impl Node {
    async fn start(config: OutboundConfig) -> Node {
        let outbound = Arc::new(Outbound::new(config).expect("valid outbound settings"));
        let service = support::service_running("outbound-test", HANDLER, outbound).await;
        let server = Server::plain_serving(service, IngressConfig::default()).await;
        Node {
            addr: server.addr,
            _server: server,
        }
    }

    /// `GET /<case>?url=<target>&<extra>` (or POST with `body`) → (status, body).
    async fn call(&self, case: &str, target: &str, extra: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
        let mut query = format!("url={}", encode(target));
        for (k, v) in extra {
            query.push_str(&format!("&{k}={}", encode(v)));
        }
        let url = format!("http://app.localhost/{case}?{query}");
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect to the node");
        let mut client = Client::h1(tcp).await;
        let method = if body.is_some() { "POST" } else { "GET" };
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            client.send(method, &url, body.unwrap_or(""), &[]),
        )
        .await
        .expect("the node answers in time")
        .expect("the node answers");
        (reply.status, reply.body)
    }

    async fn json(&self, case: &str, target: &str, extra: &[(&str, &str)], body: Option<&str>) -> Value {
        let (status, text) = self.call(case, target, extra, body).await;
        assert_eq!(status, 200, "{case} {target}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{case} {target}: {e}: {text}"))
    }

    /// The handler's error for a fetch that must fail.
    async fn error(&self, case: &str, target: &str, extra: &[(&str, &str)]) -> String {
        let (status, text) = self.call(case, target, extra, None).await;
        assert_eq!(status, 502, "{case} {target} should fail: {text}");
        text
    }

    async fn is_alive(&self) -> bool {
        self.call("alive", "", &[], None).await == (200, "alive".to_string())
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------------- origins ---

type OriginBody = BoxBody<Bytes, Infallible>;

/// What an origin server saw, and the gates its slow routes wait on.
#[derive(Default)]
struct OriginState {
    /// `METHOD /path VERSION` per request.
    hits: Mutex<Vec<String>>,
    /// Connections accepted.
    connections: AtomicUsize,
    /// Opened by `/release`: `/gated` sends the rest of its body.
    release: Notify,
    /// The first chunk `/upload` received.
    first_upload: Mutex<Option<String>>,
    uploaded: Notify,
}

/// An HTTP origin on `ip:0`: plain, or TLS offering `alpn`.
struct Origin {
    addr: SocketAddr,
    state: Arc<OriginState>,
}

impl Origin {
    async fn start(ip: Ipv4Addr, tls: Option<Arc<rustls::ServerConfig>>) -> Origin {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind origin");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(OriginState::default());
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let state = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| route(req, state.clone()));
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(config) => {
                            let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await else {
                                return;
                            };
                            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        Origin { addr, state }
    }

    fn hits(&self) -> Vec<String> {
        self.state.hits.lock().unwrap().clone()
    }

    fn url(&self, scheme_host: &str, path: &str) -> String {
        format!("{scheme_host}:{}{path}", self.addr.port())
    }
}

fn full(status: u16, body: impl Into<Bytes>) -> hyper::Response<OriginBody> {
    let mut r = hyper::Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r
}

fn query(req: &hyper::Request<hyper::body::Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

async fn route(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<OriginState>,
) -> Result<hyper::Response<OriginBody>, Infallible> {
    let version = format!("{:?}", req.version());
    state
        .hits
        .lock()
        .unwrap()
        .push(format!("{} {} {version}", req.method(), req.uri().path()));
    let q = query(&req);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "-".into())
    };
    let mut response = match req.uri().path() {
        "/hello" => full(200, "hello"),
        "/echo" => {
            let (method, ct, auth) = (
                req.method().to_string(),
                header("content-type"),
                header("authorization"),
            );
            let host = match req.version() {
                hyper::Version::HTTP_2 => req.uri().authority().map_or("-".into(), |a| a.to_string()),
                _ => header("host"),
            };
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            full(
                200,
                format!("{method} {version} host={host} ct={ct} auth={auth} body={body}"),
            )
        }
        "/redirect" => {
            let mut r = full(q["status"].parse().unwrap(), "");
            r.headers_mut().insert("location", q["to"].parse().unwrap());
            r
        }
        "/chain" => {
            let n: u32 = q["n"].parse().unwrap();
            if n == 0 {
                full(200, "chain done")
            } else {
                let mut r = full(302, "");
                r.headers_mut()
                    .insert("location", format!("/chain?n={}", n - 1).parse().unwrap());
                r
            }
        }
        "/gated" => {
            let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(4);
            let gate = state.clone();
            tokio::spawn(async move {
                let mut tx = tx;
                let _ = tx.try_send(Bytes::from_static(b"first;"));
                let rest = match tokio::time::timeout(PATIENCE, gate.release.notified()).await {
                    Ok(()) => "second",
                    Err(_) => "late: the first chunk did not reach the handler on its own",
                };
                let _ = tx.try_send(Bytes::from(rest));
            });
            let body = StreamBody::new(rx.map(|b| Ok::<_, Infallible>(Frame::data(b))));
            hyper::Response::new(BodyExt::boxed(body))
        }
        "/release" => {
            state.release.notify_one();
            full(200, "released")
        }
        "/upload" => {
            let mut body = req.into_body();
            let mut chunks = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    let text = String::from_utf8_lossy(&data).into_owned();
                    if chunks.is_empty() {
                        *state.first_upload.lock().unwrap() = Some(text.clone());
                        state.uploaded.notify_one();
                    }
                    chunks.push(text);
                }
            }
            full(200, chunks.join("|"))
        }
        "/seen" => {
            let seen = tokio::time::timeout(PATIENCE, state.uploaded.notified()).await;
            let first = state.first_upload.lock().unwrap().clone();
            match (seen, first) {
                (Ok(()), Some(first)) => full(200, first),
                _ => full(200, "nothing yet: the body was not streamed"),
            }
        }
        "/stall" => {
            tokio::time::sleep(Duration::from_secs(20)).await;
            full(200, "too late")
        }
        _ => full(404, "no such route"),
    };
    response.headers_mut().insert("x-proto", version.parse().unwrap());
    Ok(response)
}

/// A TLS server config for `names` from `pki`, offering `alpn`.
fn tls_config(pki: &Pki, names: &[&str], alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let leaf = pki.leaf(names);
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A raw TCP server that answers nothing, or (with `head`) writes `head`
/// after reading a request, then waits for the client to close; `closed`
/// is notified for every connection the client closed.
struct Raw {
    addr: SocketAddr,
    closed: Arc<Notify>,
}

async fn raw(head: Option<&'static str>) -> Raw {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = Arc::new(Notify::new());
    let signal = closed.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let signal = signal.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                if let Some(head) = head {
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    if tcp.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                }
                // Until the client lets go.
                let watched = tokio::time::timeout(Duration::from_secs(30), async {
                    loop {
                        match tcp.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                });
                if watched.await.is_ok() {
                    signal.notify_one();
                }
            });
        }
    });
    Raw { addr, closed }
}

fn config(dns: &Dns, allow: &[&str]) -> OutboundConfig {
    OutboundConfig {
        allow: allow.iter().map(|r| r.parse().unwrap()).collect(),
        nameservers: vec![dns.addr],
        ..OutboundConfig::default()
    }
}

// --------------------------------------------------------------- tests ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_is_refused_after_resolution_and_the_node_stays_up() {
    let dns = test_dns().await;
    let victim = Origin::start(LOOPBACK, None).await;
    let allowed = Origin::start(ALLOWED, None).await;
    let node = Node::start(config(&dns, &["127.0.0.2/32"])).await;
    let port = victim.addr.port();

    let refused = [
        (
            format!("http://127.0.0.1:{port}/hello"),
            "refused: 127.0.0.1 is a loopback address",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".into(),
            "refused: 169.254.169.254 is a cloud metadata address",
        ),
        (
            format!("http://evil.test:{port}/?token=SECRET-1"),
            "refused: 10.0.0.1 (evil.test) is a private address",
        ),
        (
            format!("http://api.test:{port}/hello"),
            "refused: 127.0.0.1 (api.test) is a loopback address",
        ),
        (
            "http://meta.test/".into(),
            "refused: 169.254.169.254 (meta.test) is a cloud metadata address",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/hello"),
            "refused: ::ffff:127.0.0.1 is a loopback address",
        ),
        (
            format!("http://[::1]:{port}/hello"),
            "refused: ::1 is a loopback address",
        ),
        (
            format!("https://127.0.0.1:{port}/hello"),
            "refused: 127.0.0.1 is a loopback address",
        ),
        // An allowed origin redirecting to a denied one: the hop is judged too.
        (
            allowed.url(
                "http://127.0.0.2",
                &format!(
                    "/redirect?status=302&to={}",
                    encode(&victim.url("http://127.0.0.1", "/hello"))
                ),
            ),
            "refused: 127.0.0.1 is a loopback address",
        ),
        (
            allowed.url(
                "http://allowed.test",
                &format!("/redirect?status=307&to={}", encode("http://evil.test/?token=SECRET-2")),
            ),
            "refused: 10.0.0.1 (evil.test) is a private address",
        ),
    ];
    for (target, reason) in &refused {
        let text = node.error("get", target, &[]).await;
        assert_eq!(text, format!("TypeError: fetch failed: {reason}"), "{target}");
        assert!(!text.contains("SECRET"), "the error leaks the URL: {text}");
    }
    let text = node.error("post", &format!("http://evil.test:{port}/echo"), &[]).await;
    assert_eq!(
        text,
        "TypeError: fetch failed: refused: 10.0.0.1 (evil.test) is a private address"
    );

    assert!(
        victim.hits().is_empty(),
        "a refused fetch reached the loopback origin: {:?}",
        victim.hits()
    );
    assert_eq!(
        victim.state.connections.load(Ordering::SeqCst),
        0,
        "nothing connected to it"
    );
    let asked = dns.asked.lock().unwrap().clone();
    for name in ["evil.test", "api.test", "meta.test"] {
        assert!(
            asked.iter().any(|n| n == name),
            "{name} was resolved through the test DNS server: {asked:?}"
        );
    }
    // The redirecting origin was reached, and only it.
    assert_eq!(allowed.hits().len(), 2, "{:?}", allowed.hits());

    // Allowed addresses still work, by name and among refused ones.
    let ok = node
        .json("get", &allowed.url("http://allowed.test", "/hello"), &[], None)
        .await;
    assert_eq!(ok["body"], "hello");
    let mixed = node
        .json("get", &allowed.url("http://mixed.test", "/hello"), &[], None)
        .await;
    assert_eq!(mixed["body"], "hello", "10.0.0.1 is skipped, 127.0.0.2 is used");
    let unknown = node.error("get", "http://nowhere.test/", &[]).await;
    assert_eq!(
        unknown,
        "TypeError: fetch failed: cannot resolve nowhere.test: no such host"
    );

    assert!(node.is_alive().await, "the node still answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_origins_over_http_and_https_h1_and_h2() {
    let dns = test_dns().await;
    let pki = Pki::new();
    let plain = Origin::start(LOOPBACK, None).await;
    let h1 = Origin::start(LOOPBACK, Some(tls_config(&pki, &["secure.test"], &[b"http/1.1"]))).await;
    let h2 = Origin::start(
        LOOPBACK,
        Some(tls_config(&pki, &["secure.test"], &[b"h2", b"http/1.1"])),
    )
    .await;
    let stranger = Origin::start(LOOPBACK, Some(tls_config(&Pki::new(), &["secure.test"], &[b"h2"]))).await;
    let mut cfg = config(&dns, &["127.0.0.0/8"]);
    cfg.extra_roots = vec![pki.ca.clone()];
    let node = Node::start(cfg).await;

    let got = node
        .json("get", &plain.url("http://127.0.0.1", "/hello"), &[], None)
        .await;
    assert_eq!(
        (got["status"].as_u64(), got["body"].as_str()),
        (Some(200), Some("hello"))
    );
    assert_eq!(got["proto"], "HTTP/1.1");
    assert_eq!(got["redirected"], false);
    assert_eq!(got["url"], plain.url("http://127.0.0.1", "/hello"));

    let posted = node
        .json("post", &plain.url("http://api.test", "/echo"), &[], Some("payload"))
        .await;
    let host = format!("api.test:{}", plain.addr.port());
    assert_eq!(
        posted["body"],
        format!("POST HTTP/1.1 host={host} ct=text/plain auth=Bearer s3cret body=payload")
    );

    let tls1 = node
        .json("get", &h1.url("https://secure.test", "/hello"), &[], None)
        .await;
    assert_eq!(
        (tls1["body"].as_str(), tls1["proto"].as_str()),
        (Some("hello"), Some("HTTP/1.1"))
    );
    assert_eq!(h1.hits(), vec!["GET /hello HTTP/1.1"]);

    let tls2 = node
        .json("post", &h2.url("https://secure.test", "/echo"), &[], Some("over h2"))
        .await;
    let authority = format!("secure.test:{}", h2.addr.port());
    assert_eq!(
        tls2["body"],
        format!("POST HTTP/2.0 host={authority} ct=text/plain auth=Bearer s3cret body=over h2")
    );
    let tls2_get = node
        .json("get", &h2.url("https://secure.test", "/hello"), &[], None)
        .await;
    assert_eq!(tls2_get["proto"], "HTTP/2.0");
    assert_eq!(h2.hits(), vec!["POST /echo HTTP/2.0", "GET /hello HTTP/2.0"]);

    // Connections are reused: three fetches in a row, one connection each.
    let (status, text) = node
        .call("sequential", &plain.url("http://127.0.0.1", "/hello"), &[], None)
        .await;
    assert_eq!((status, text.as_str()), (200, "hello,hello,hello"));
    let (status, text) = node
        .call("sequential", &h1.url("https://secure.test", "/hello"), &[], None)
        .await;
    assert_eq!((status, text.as_str()), (200, "hello,hello,hello"));
    assert_eq!(h1.state.connections.load(Ordering::SeqCst), 1, "HTTP/1.1 keep-alive");
    assert_eq!(h2.state.connections.load(Ordering::SeqCst), 1, "one HTTP/2 connection");

    // A certificate from another CA (of the same name: the signature gives
    // it away) is not trusted.
    let text = node
        .error("get", &stranger.url("https://secure.test", "/hello"), &[])
        .await;
    assert_eq!(
        text,
        "TypeError: fetch failed: TLS handshake with secure.test failed: invalid peer certificate: BadSignature"
    );
    assert!(stranger.hits().is_empty());
    // Nor is a name the certificate does not cover.
    let text = node.error("get", &h2.url("https://api.test", "/hello"), &[]).await;
    assert!(
        text.starts_with("TypeError: fetch failed: TLS handshake with api.test failed: ")
            && text.contains("certificate not valid for name \"api.test\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways() {
    let dns = test_dns().await;
    let origin = Origin::start(LOOPBACK, None).await;
    let node = Node::start(config(&dns, &["127.0.0.0/8"])).await;
    let at = |path: &str| origin.url("http://127.0.0.1", path);

    // The handler reads the first chunk, then asks the server for the rest.
    let got = node
        .json("stream-response", &at("/gated"), &[("release", &at("/release"))], None)
        .await;
    assert_eq!(
        (got["first"].as_str(), got["rest"].as_str()),
        (Some("first;"), Some("second"))
    );

    // The server sees the first chunk before the handler enqueues the second.
    let got = node
        .json("stream-request", &at("/upload"), &[("seen", &at("/seen"))], None)
        .await;
    assert_eq!(got["seen"], "one", "{got}");
    assert_eq!(got["body"], "one|two");

    // A handler forwards its request, body stream and all; the Host is the
    // origin's, not the handler's own.
    let (status, text) = node.call("forward", &at("/echo"), &[], Some("forwarded body")).await;
    let host = format!("127.0.0.1:{}", origin.addr.port());
    assert_eq!(
        (status, text),
        (
            200,
            format!("POST HTTP/1.1 host={host} ct=- auth=- body=forwarded body")
        )
    );

    // A streamed body cannot be sent again: a 307 to it is a network error.
    let redirecting = at(&format!("/redirect?status=307&to={}", encode("/upload")));
    let (status, text) = node
        .call("stream-request", &redirecting, &[("seen", &at("/hello"))], None)
        .await;
    assert_eq!(status, 502);
    assert!(
        text.starts_with("TypeError: fetch failed: a 307 redirect cannot be followed: the request body was a stream"),
        "{text}"
    );
    assert!(node.is_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_follow_manual_error_and_the_limit() {
    let dns = test_dns().await;
    let origin = Origin::start(LOOPBACK, None).await;
    let node = Node::start(config(&dns, &["127.0.0.0/8"])).await;
    let at = |path: &str| origin.url("http://127.0.0.1", path);
    let to = |status: u16, location: &str| at(&format!("/redirect?status={status}&to={}", encode(location)));
    let host = format!("127.0.0.1:{}", origin.addr.port());

    let got = node.json("get", &to(302, "/hello"), &[], None).await;
    assert_eq!(
        (got["status"].as_u64(), got["body"].as_str()),
        (Some(200), Some("hello"))
    );
    assert_eq!(got["redirected"], true);
    assert_eq!(got["url"], at("/hello"));

    // 303 turns a POST into a GET without body or body headers; 307 keeps it.
    let got = node.json("post", &to(303, "/echo"), &[], Some("payload")).await;
    assert_eq!(
        got["body"],
        format!("GET HTTP/1.1 host={host} ct=- auth=Bearer s3cret body=")
    );
    let got = node.json("post", &to(301, "/echo"), &[], Some("payload")).await;
    assert_eq!(
        got["body"],
        format!("GET HTTP/1.1 host={host} ct=- auth=Bearer s3cret body=")
    );
    let got = node.json("post", &to(307, "/echo"), &[], Some("payload")).await;
    assert_eq!(
        got["body"],
        format!("POST HTTP/1.1 host={host} ct=text/plain auth=Bearer s3cret body=payload")
    );
    let got = node
        .json("post", &to(308, "/echo"), &[("method", "PUT")], Some("payload"))
        .await;
    assert_eq!(
        got["body"],
        format!("PUT HTTP/1.1 host={host} ct=text/plain auth=Bearer s3cret body=payload")
    );
    // Credentials stay behind on another origin.
    let elsewhere = origin.url("http://api.test", "/echo");
    let got = node.json("post", &to(307, &elsewhere), &[], Some("payload")).await;
    let other = format!("api.test:{}", origin.addr.port());
    assert_eq!(
        got["body"],
        format!("POST HTTP/1.1 host={other} ct=text/plain auth=- body=payload")
    );
    assert_eq!(got["url"], elsewhere);

    let got = node
        .json("get", &to(302, "/hello"), &[("redirect", "manual")], None)
        .await;
    assert_eq!(
        (got["status"].as_u64(), got["location"].as_str()),
        (Some(302), Some("/hello"))
    );
    assert_eq!(got["redirected"], false);
    assert_eq!(got["url"], to(302, "/hello"));

    let text = node.error("get", &to(302, "/hello"), &[("redirect", "error")]).await;
    assert_eq!(
        text,
        "TypeError: fetch failed: 302 redirect while the request's redirect mode is \"error\""
    );

    let got = node.json("get", &at("/chain?n=20"), &[], None).await;
    assert_eq!(
        (got["body"].as_str(), got["url"].as_str()),
        (Some("chain done"), Some(at("/chain?n=0").as_str()))
    );
    let text = node.error("get", &at("/chain?n=21"), &[]).await;
    assert_eq!(text, "TypeError: fetch failed: too many redirects (more than 20)");

    let text = node.error("get", &to(302, "file:///etc/passwd"), &[]).await;
    assert_eq!(text, "TypeError: fetch failed: redirect to a file: URL");
    assert!(node.is_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_aborts_drop_the_connection() {
    let dns = test_dns().await;
    let origin = Origin::start(LOOPBACK, None).await;
    let silent = raw(None).await;
    let silent_too = raw(None).await;
    let hold = raw(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst;\r\n",
    ))
    .await;
    let mut impatient = config(&dns, &["127.0.0.0/8"]);
    impatient.connect_timeout = Duration::from_millis(300);
    impatient.head_timeout = Duration::from_millis(300);
    let quick = Node::start(impatient).await;
    let node = Node::start(config(&dns, &["127.0.0.0/8"])).await;

    // A TLS server that never speaks: the handshake is part of connecting.
    let text = quick
        .error("get", &format!("https://127.0.0.1:{}/", silent.addr.port()), &[])
        .await;
    assert_eq!(
        text,
        "TypeError: fetch failed: connecting to 127.0.0.1 timed out after 300ms"
    );
    let text = quick.error("get", &origin.url("http://127.0.0.1", "/stall"), &[]).await;
    assert_eq!(text, "TypeError: fetch failed: 127.0.0.1 sent no response within 300ms");

    // An abort while connecting closes the socket at once.
    let closed = silent_too.closed.notified();
    let got = node
        .json(
            "abort-connect",
            &format!("https://secure.test:{}/", silent_too.addr.port()),
            &[],
            None,
        )
        .await;
    assert_eq!(got["name"], "AbortError", "{got}");
    assert!(got["ms"].as_u64().unwrap() < 2000, "{got}");
    tokio::time::timeout(PATIENCE, closed)
        .await
        .expect("the server saw the connection close after the abort");

    // An abort while the body streams (a read pending) closes it too.
    let closed = hold.closed.notified();
    let got = node
        .json(
            "abort-mid-body",
            &format!("http://127.0.0.1:{}/", hold.addr.port()),
            &[],
            None,
        )
        .await;
    assert_eq!(got["first"], "first;");
    assert_eq!(got["after"], "read failed: enough");
    tokio::time::timeout(PATIENCE, closed)
        .await
        .expect("the server saw the connection close after the abort");
    assert!(node.is_alive().await && quick.is_alive().await);
}
