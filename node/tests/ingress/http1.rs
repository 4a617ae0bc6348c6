//! HTTP/1.1 on the wire: the requests Outpost parses itself and those it
//! hands to hyper, on one connection and in either order, and the framing
//! of what it writes back.

use std::time::{Duration, Instant};

use outpost_node::ingress::IngressConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Server, raw_exchange, service_running};

const PATIENCE: Duration = Duration::from_secs(10);

/// A handler that also tells whether a request's signal was aborted.
const ABORTS: &str = r#"
let aborted = 0;
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/wait") {
      request.signal.addEventListener("abort", () => { aborted++; });
      await new Promise((resolve) => setTimeout(resolve, 60_000));
      return new Response("too late");
    }
    if (url.pathname === "/aborted") return new Response(String(aborted));
    if (url.pathname === "/echo") {
      return new Response(`${request.method} ${url.pathname}${url.search} ${await request.text()}`);
    }
    if (url.pathname === "/headers") {
      return new Response([...request.headers].map(([k, v]) => `${k}=${v}`).join(";"));
    }
    if (url.pathname === "/no-content") return new Response(null, { status: 204 });
    if (url.pathname === "/declared") {
      const body = new ReadableStream({
        start(c) { c.enqueue(new TextEncoder().encode("0123456789")); c.close(); },
      });
      return new Response(body, { headers: { "content-length": "10" } });
    }
    if (url.pathname === "/chunks") {
      const body = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("abc"));
          c.enqueue(new TextEncoder().encode("defgh"));
          c.close();
        },
      });
      return new Response(body);
    }
    return new Response(request.url);
  },
};
"#;

async fn server() -> Server {
    Server::plain_serving(
        service_running("http1-test", ABORTS, Default::default()).await,
        IngressConfig::default(),
    )
    .await
}

/// The responses in `raw`, each as its head and body (a chunked body
/// decoded).
fn responses(raw: &[u8], heads_only_for: &[usize]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole head") + 4;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end..];
        let lower = head.to_ascii_lowercase();
        let mut body = Vec::new();
        if heads_only_for.contains(&out.len()) || lower.starts_with("http/1.1 204") {
        } else if lower.contains("transfer-encoding: chunked") {
            loop {
                let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
                let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap(), 16).unwrap();
                rest = &rest[line + 2..];
                body.extend_from_slice(&rest[..size]);
                rest = &rest[size + 2..];
                if size == 0 {
                    break;
                }
            }
        } else {
            let len: usize = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .expect("a length")
                .trim()
                .parse()
                .unwrap();
            body.extend_from_slice(&rest[..len]);
            rest = &rest[len..];
        }
        out.push((head, String::from_utf8(body).unwrap()));
    }
    out
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_whichever_parser_takes_them() {
    let server = server().await;
    let port = server.addr.port();
    // Requests Outpost parses itself, then one only hyper takes (HEAD),
    // after which hyper keeps the connection; a chunked body is hyper's too.
    let pipelined = format!(
        "GET /one?x=1 HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n\
         POST /echo?y=2 HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 5\r\n\r\nhello\
         GET /headers HTTP/1.1\r\nHost: localhost:{port}\r\nX-Mixed-Case: Value\r\nx-two: a\r\nX-Two: b\r\n\r\n\
         HEAD /two HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n\
         GET /three HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n\
         POST /echo HTTP/1.1\r\nHost: localhost:{port}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         3\r\nabc\r\n0\r\n\r\n"
    );
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(pipelined.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut raw))
        .await
        .expect("the server closes after the last request")
        .unwrap();
    let got = responses(&raw, &[3]);
    let bodies: Vec<&str> = got.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(
        bodies,
        [
            &format!("http://localhost:{port}/one?x=1"),
            "POST /echo?y=2 hello",
            &format!("host=localhost:{port};x-mixed-case=Value;x-two=a, b"),
            "",
            &format!("http://localhost:{port}/three"),
            "POST /echo abc",
        ],
        "{}",
        String::from_utf8_lossy(&raw)
    );
    for (head, _) in &got {
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.to_ascii_lowercase().contains("\r\ndate: "), "{head}");
    }
    // HEAD: the length of the body it would have had, and no body.
    let head = got[3].0.to_ascii_lowercase();
    let expected = format!("content-length: {}\r\n", format!("http://localhost:{port}/two").len());
    assert!(head.contains(&expected), "{head}");
    assert!(
        got[5].0.to_ascii_lowercase().contains("connection: close"),
        "{}",
        got[5].0
    );
    assert_eq!(server.stats.h1_requests.value(), 6);
    server.stop().await;
}

#[tokio::test]
async fn responses_are_framed_by_their_body() {
    let server = server().await;
    let port = server.addr.port();
    let ask = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");

    // A streamed body of unknown length is chunked, one chunk per write.
    let raw = raw_exchange(server.addr, ask("/chunks").as_bytes(), PATIENCE).await;
    let got = responses(raw.as_bytes(), &[]);
    assert_eq!(got.len(), 1, "{raw}");
    assert!(got[0].0.contains("transfer-encoding: chunked\r\n"), "{raw}");
    assert!(!got[0].0.contains("content-length"), "{raw}");
    assert_eq!(got[0].1, "abcdefgh");

    // One whose length the handler declared is sent as it is.
    let raw = raw_exchange(server.addr, ask("/declared").as_bytes(), PATIENCE).await;
    assert!(raw.contains("content-length: 10\r\n"), "{raw}");
    assert!(!raw.contains("chunked"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n0123456789"), "{raw}");

    // 204: no body and no length.
    let raw = raw_exchange(server.addr, ask("/no-content").as_bytes(), PATIENCE).await;
    assert!(raw.starts_with("HTTP/1.1 204 No Content\r\n"), "{raw}");
    assert!(!raw.contains("content-length") && raw.ends_with("\r\n\r\n"), "{raw}");

    // The client's `Connection: close` closes the connection after its
    // response (raw_exchange reads to the end).
    let start = Instant::now();
    let raw = raw_exchange(server.addr, ask("/").as_bytes(), PATIENCE).await;
    assert!(start.elapsed() < PATIENCE, "the server kept the connection open");
    assert!(raw.contains("connection: close\r\n"), "{raw}");
    server.stop().await;
}

/// Asks `/aborted` on a fresh connection until it answers `want`.
async fn until_aborted(server: &Server, want: &str) {
    let start = Instant::now();
    let ask = format!(
        "GET /aborted HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        server.addr.port()
    );
    loop {
        let raw = raw_exchange(server.addr, ask.as_bytes(), PATIENCE).await;
        if raw.ends_with(&format!("\r\n\r\n{want}")) {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "aborted signals: want {want}, got {raw}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_client_that_leaves_before_its_answer_aborts_the_handlers_signal() {
    let server = server().await;
    let port = server.addr.port();
    // Parsed by Outpost (GET), then by hyper (HEAD): both notice.
    for (n, method) in ["GET", "HEAD"].into_iter().enumerate() {
        let counted = || server.stats.h1_requests.value();
        let before = counted();
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let request = format!("{method} /wait HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        // Left once the request is in.
        let start = Instant::now();
        while counted() == before {
            assert!(start.elapsed() < PATIENCE, "the request never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(tcp);
        until_aborted(&server, &(n + 1).to_string()).await;
    }
    server.stop().await;
}
