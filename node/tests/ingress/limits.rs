//! Protocol limits (431, 400, timeouts, request quotas, stream limits) and
//! graceful drain.

use std::time::{Duration, Instant};

use outpost_node::ingress::{IngressConfig, TlsSetup};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::support::{Client, HANDLER, Server, insecure_client_config, raw_exchange, service_with_limits, tls_connect};

const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `cond` until true (or panics after `PATIENCE`).
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads from `io` into `out` until the server closes the connection
/// (panics if that takes longer than `PATIENCE`).
async fn read_until_closed<S: AsyncRead + Unpin>(io: &mut S, out: &mut Vec<u8>) -> std::io::Result<usize> {
    tokio::time::timeout(PATIENCE, io.read_to_end(out))
        .await
        .expect("server closes")
}

/// Opens a plain HTTP/2 connection to `server`, sends `requests` GETs that
/// must each be answered 200, then waits (at most `PATIENCE`) for the server
/// to end the connection, panicking with `ends` if it does not.
async fn h2_gets_then_closed(server: &Server, requests: usize, ends: &str) {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    for _ in 0..requests {
        let req = http::Request::get(format!("http://localhost:{}/", server.addr.port()))
            .body(http_body_util::Empty::new())
            .unwrap();
        assert_eq!(send.send_request(req).await.unwrap().status(), 200);
    }
    let _ = tokio::time::timeout(PATIENCE, conn).await.expect(ends);
}

#[tokio::test]
async fn oversized_headers_get_431_on_h1_and_h2() {
    let config = IngressConfig {
        max_header_bytes: 4096,
        ..Default::default()
    };
    let server = Server::plain(config).await;
    let big = "a".repeat(6000);
    let request = format!("GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n");
    let reply = raw_exchange(server.addr, request.as_bytes(), PATIENCE).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    // Just under the limit is fine.
    let ok = "a".repeat(3000);
    let request = format!("GET / HTTP/1.1\r\nHost: localhost\r\nX-Ok: {ok}\r\nConnection: close\r\n\r\n");
    let reply = raw_exchange(server.addr, request.as_bytes(), PATIENCE).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // Too many header fields.
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let request = format!("GET / HTTP/1.1\r\nHost: localhost\r\n{many}\r\n");
    let reply = raw_exchange(server.addr, request.as_bytes(), PATIENCE).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");

    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut h2 = Client::h2(tcp).await;
    let url = format!("http://localhost:{}/", server.addr.port());
    let reply = h2.send("GET", &url, "", &[("x-big", &big)]).await.unwrap();
    assert_eq!(reply.status, 431);
    assert_eq!(h2.get(&url).await.status, 200, "the connection survives");
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_400() {
    let server = Server::plain(IngressConfig::default()).await;
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: nope\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls on the plain port\r\n\r\n",
    ] {
        let reply = raw_exchange(server.addr, garbage, PATIENCE).await;
        assert!(
            reply.starts_with("HTTP/1.1 400"),
            "{:?} → {reply}",
            String::from_utf8_lossy(garbage)
        );
    }
    // A request without a Host header is refused by the service.
    let reply = raw_exchange(server.addr, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", PATIENCE).await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    let config = IngressConfig {
        header_read_timeout_ms: 200,
        ..Default::default()
    };
    let server = Server::plain(config).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let start = Instant::now();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let mut rest = Vec::new();
    let n = read_until_closed(&mut tcp, &mut rest).await.unwrap_or(0);
    let elapsed = start.elapsed();
    assert_eq!(n, 0, "nothing is answered: {:?}", String::from_utf8_lossy(&rest));
    assert!(elapsed >= Duration::from_millis(200), "closed after {elapsed:?}");

    // The same over TLS, where the bytes are in TLS records.
    let server = Server::tls(
        IngressConfig {
            header_read_timeout_ms: 200,
            http3: false,
            ..Default::default()
        },
        TlsSetup::self_signed_localhost().unwrap(),
    )
    .await;
    let mut tls = tls_connect(server.addr, "localhost", insecure_client_config(&[b"http/1.1"]))
        .await
        .unwrap();
    let start = Instant::now();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: loc").await.unwrap();
    let mut rest = Vec::new();
    let _ = read_until_closed(&mut tls, &mut rest).await;
    assert!(rest.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(200));
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let config = IngressConfig {
        idle_timeout_ms: 300,
        ..Default::default()
    };
    let server = Server::plain(config).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let idle_from = Instant::now();
    let mut rest = Vec::new();
    read_until_closed(&mut tcp, &mut rest).await.unwrap();
    assert!(
        idle_from.elapsed() >= Duration::from_millis(250),
        "closed after {:?}",
        idle_from.elapsed()
    );

    // HTTP/2: GOAWAY, then the connection ends.
    h2_gets_then_closed(&server, 1, "the server ends the idle h2 connection").await;
    server.stop().await;
}

#[tokio::test]
async fn max_requests_per_connection() {
    let config = IngressConfig {
        max_requests_per_connection: 2,
        ..Default::default()
    };
    let server = Server::plain(config).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // Three pipelined requests: two are answered, the second says close.
    tcp.write_all(b"GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /3 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    read_until_closed(&mut tcp, &mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out);
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    assert!(out.contains("/2") && !out.contains("/3"), "{out}");
    assert!(out.to_ascii_lowercase().contains("connection: close"), "{out}");

    // One request at a time: the last response of the quota itself carries
    // `Connection: close`, so a client never reuses a closing connection.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    for i in 1..=2 {
        tcp.write_all(format!("GET /{i} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
            .await
            .expect("answer")
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        assert_eq!(head.contains("connection: close"), i == 2, "response {i}: {head}");
    }

    // HTTP/2: after two requests the server sends GOAWAY and the
    // connection ends.
    h2_gets_then_closed(&server, 2, "the server ends the h2 connection").await;
    server.stop().await;
}

#[tokio::test]
async fn h2_max_concurrent_streams_queues_the_rest() {
    let config = IngressConfig {
        max_concurrent_streams: 1,
        ..Default::default()
    };
    let server = Server::tls(config, TlsSetup::self_signed_localhost().unwrap()).await;
    let tls = tls_connect(server.addr, "localhost", insecure_client_config(&[b"h2"]))
        .await
        .unwrap();
    let mut a = Client::h2(tls).await;
    let mut b = match &a {
        Client::H2(s) => Client::H2(s.clone()),
        Client::H1(_) => unreachable!(),
    };
    // One exchange first, so the client has the server's SETTINGS (a
    // stream opened past the limit before that is refused, not queued).
    assert_eq!(
        a.get(&format!("https://localhost:{}/", server.addr.port()))
            .await
            .status,
        200
    );
    let url = format!("https://localhost:{}/slow?ms=200", server.addr.port());
    let start = Instant::now();
    let (ra, rb) = tokio::join!(a.send("GET", &url, "", &[]), b.send("GET", &url, "", &[]));
    let elapsed = start.elapsed();
    assert_eq!(ra.unwrap().body, "slow done");
    assert_eq!(rb.unwrap().body, "slow done");
    // One stream at a time: the two 200 ms requests ran one after the other.
    assert!(elapsed >= Duration::from_millis(400), "took {elapsed:?}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let server = Server::tls(IngressConfig::default(), TlsSetup::self_signed_localhost().unwrap()).await;
    let port = server.addr.port();
    let tls = tls_connect(server.addr, "localhost", insecure_client_config(&[b"h2"]))
        .await
        .unwrap();
    let mut h2 = Client::h2(tls).await;
    let slow = format!("https://localhost:{port}/slow?ms=400");
    let in_flight = tokio::spawn(async move { h2.send("GET", &slow, "", &[]).await });
    let mut h3 =
        crate::support::H3Client::connect(server.h3_addr.unwrap(), "localhost", insecure_client_config(&[b"h3"])).await;
    let slow = format!("https://localhost:{port}/slow?ms=400");
    let in_flight_h3 = tokio::spawn(async move { h3.send("GET", &slow, "", &[]).await });
    wait_until("both requests in flight", || {
        let (_, h2, h3) = server.requests();
        h2 == 1 && h3 == 1
    })
    .await;

    server.signal_stop();
    let reply = in_flight.await.unwrap().expect("the h2 request finishes");
    assert_eq!((reply.status, reply.body.as_str()), (200, "slow done"));
    let reply = in_flight_h3.await.unwrap().expect("the h3 request finishes");
    assert_eq!((reply.status, reply.body.as_str()), (200, "slow done"));
    let addr = server.addr;
    server.stop().await;
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_small_body_that_trickles_past_the_wall_clock_limit_gets_503() {
    // A body of known length is read whole before the handler runs; a
    // client that never finishes sending it is answered once the request's
    // wall-clock limit passes, as a handler over it would be.
    let limits = outpost_node::limits::DeploymentLimits {
        wall: Duration::from_millis(300),
        ..Default::default()
    };
    let service = service_with_limits("trickle", HANDLER, Default::default(), limits).await;
    let server = Server::plain_serving(service, IngressConfig::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let started = Instant::now();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        reply.extend_from_slice(&buf[..n]);
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "answered before the limit"
    );
    server.stop().await;
}
