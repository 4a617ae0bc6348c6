//! HTTP/1.1 and HTTP/2, cleartext and over TLS.

use outpost_node::ingress::{IngressConfig, TlsSetup};

use crate::support::{Client, Server, insecure_client_config, tls_connect};

#[tokio::test]
async fn h1_plain_serves_the_handler() {
    let server = Server::plain(IngressConfig::default()).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut client = Client::h1(tcp).await;
    let url = format!("http://hello.localhost:{}/a?b=1", server.addr.port());
    let reply = client.get(&url).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.version, http::Version::HTTP_11);
    assert_eq!(reply.body, url);
    // Keep-alive: a second request on the same connection, with a body.
    let reply = client
        .send("POST", &url.replace("/a?b=1", "/echo"), "ping", &[])
        .await
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "ping"));
    assert!(
        reply.headers.get("alt-svc").is_none(),
        "plain HTTP does not advertise h3"
    );
    assert_eq!(server.requests(), (2, 0, 0));
    server.stop().await;
}

#[tokio::test]
async fn h2c_with_prior_knowledge() {
    let server = Server::plain(IngressConfig::default()).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut client = Client::h2(tcp).await;
    let url = format!("http://hello.localhost:{}/h2c", server.addr.port());
    let reply = client.get(&url).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.version, http::Version::HTTP_2);
    assert_eq!(reply.body, url);
    // Streams run concurrently on the one connection.
    let echo = url.replace("/h2c", "/echo");
    let mut c2 = match &client {
        Client::H2(s) => Client::H2(s.clone()),
        Client::H1(_) => unreachable!(),
    };
    let (a, b) = tokio::join!(client.send("PUT", &echo, "one", &[]), c2.send("PUT", &echo, "two", &[]));
    assert_eq!(a.unwrap().body, "one");
    assert_eq!(b.unwrap().body, "two");
    assert_eq!(server.requests(), (0, 3, 0));
    server.stop().await;
}

#[tokio::test]
async fn tls_alpn_picks_h2_or_http11_and_advertises_h3() {
    let server = Server::tls(IngressConfig::default(), TlsSetup::self_signed_localhost().unwrap()).await;
    let port = server.addr.port();
    let h3_port = server.h3_addr.expect("HTTP/3 is on by default").port();
    assert_eq!(h3_port, port, "HTTP/3 listens on the same port number");
    let url = format!("https://hello.localhost:{port}/tls");

    let tls = tls_connect(
        server.addr,
        "hello.localhost",
        insecure_client_config(&[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut h2 = Client::h2(tls).await;
    let reply = h2.get(&url).await;
    assert_eq!((reply.status, reply.version), (200, http::Version::HTTP_2));
    assert_eq!(reply.body, url);
    assert_eq!(reply.headers["alt-svc"], format!("h3=\":{port}\"; ma=86400"));

    let tls = tls_connect(server.addr, "hello.localhost", insecure_client_config(&[b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut h1 = Client::h1(tls).await;
    let reply = h1.get(&url).await;
    assert_eq!((reply.status, reply.version), (200, http::Version::HTTP_11));
    assert_eq!(reply.body, url);
    assert_eq!(reply.headers["alt-svc"], format!("h3=\":{port}\"; ma=86400"));

    // No ALPN at all: HTTP/1.1.
    let tls = tls_connect(server.addr, "hello.localhost", insecure_client_config(&[]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let reply = Client::h1(tls).await.get(&url).await;
    assert_eq!(reply.status, 200);

    // A streamed response arrives whole.
    let reply = h2.get(&url.replace("/tls", "/stream")).await;
    assert_eq!(reply.body, "chunk 1\nchunk 2\nchunk 3\n");
    assert_eq!(server.requests(), (2, 2, 0));
    server.stop().await;
}

#[tokio::test]
async fn alt_svc_follows_config() {
    let config = IngressConfig {
        alt_svc_max_age_secs: 60,
        ..Default::default()
    };
    let server = Server::tls(config, TlsSetup::self_signed_localhost().unwrap()).await;
    let port = server.addr.port();
    let tls = tls_connect(server.addr, "localhost", insecure_client_config(&[b"h2"]))
        .await
        .unwrap();
    let reply = Client::h2(tls).await.get(&format!("https://localhost:{port}/")).await;
    assert_eq!(reply.headers["alt-svc"], format!("h3=\":{port}\"; ma=60"));
    server.stop().await;

    let config = IngressConfig {
        http3: false,
        ..Default::default()
    };
    let server = Server::tls(config, TlsSetup::self_signed_localhost().unwrap()).await;
    assert!(server.h3_addr.is_none());
    let tls = tls_connect(server.addr, "localhost", insecure_client_config(&[b"h2"]))
        .await
        .unwrap();
    let reply = Client::h2(tls)
        .await
        .get(&format!("https://localhost:{}/", server.addr.port()))
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("alt-svc").is_none(), "no h3, no Alt-Svc");
    server.stop().await;
}

#[tokio::test]
async fn bodies_either_side_of_the_buffering_threshold_reach_the_handler_whole() {
    // Up to BUFFERED_BODY_BYTES with a Content-Length the body is read whole
    // before the handler runs; past it, and for chunked bodies, it streams.
    // Both arrive byte for byte, over HTTP/1.1 and HTTP/2.
    let limit = outpost_node::ingress::BUFFERED_BODY_BYTES as usize;
    let server = Server::plain(IngressConfig::default()).await;
    let url = format!("http://hello.localhost:{}/echo", server.addr.port());
    for h2 in [false, true] {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut client = if h2 {
            Client::h2(tcp).await
        } else {
            Client::h1(tcp).await
        };
        for len in [1, limit - 1, limit, limit + 1, 3 * limit] {
            let body: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            let reply = client.send("POST", &url, &body, &[]).await.unwrap();
            assert_eq!(reply.status, 200, "{len} bytes, h2 {h2}");
            assert_eq!(reply.body.len(), len, "{len} bytes, h2 {h2}");
            assert!(reply.body == body, "{len} bytes, h2 {h2}: the echo differs");
        }
    }
    server.stop().await;
}
