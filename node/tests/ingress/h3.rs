//! HTTP/3 over QUIC through the same `Service`.

use outpost_node::ingress::{IngressConfig, TlsSetup};

use crate::support::{H3Client, Server, insecure_client_config};

#[tokio::test]
async fn h3_get_post_and_stream() {
    let server = Server::tls(IngressConfig::default(), TlsSetup::self_signed_localhost().unwrap()).await;
    let port = server.addr.port();
    let mut client = H3Client::connect(server.h3_addr.unwrap(), "localhost", insecure_client_config(&[b"h3"])).await;

    let url = format!("https://hello.localhost:{port}/h3?x=1");
    let reply = client.get(&url).await;
    assert_eq!((reply.status, reply.version), (200, http::Version::HTTP_3));
    assert_eq!(reply.body, url);

    // A request body streams to the handler (several DATA frames).
    let big = "0123456789abcdef".repeat(8 * 1024);
    let echo = format!("https://hello.localhost:{port}/echo");
    let reply = client
        .send("POST", &echo, &big, &[("content-type", "text/plain")])
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["x-method"], "POST");
    assert_eq!(reply.body.len(), big.len());
    assert!(reply.body == big);

    // An empty POST and a streamed response.
    let reply = client.send("POST", &echo, "", &[]).await.unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    let reply = client.get(&format!("https://hello.localhost:{port}/stream")).await;
    assert_eq!(reply.body, "chunk 1\nchunk 2\nchunk 3\n");

    // Concurrent requests on one connection.
    let mut c2 = H3Client::connect(server.h3_addr.unwrap(), "localhost", insecure_client_config(&[b"h3"])).await;
    let slow = format!("https://hello.localhost:{port}/slow?ms=100");
    let (a, b) = tokio::join!(client.send("GET", &slow, "", &[]), c2.send("GET", &slow, "", &[]));
    assert_eq!(a.unwrap().body, "slow done");
    assert_eq!(b.unwrap().body, "slow done");
    assert_eq!(server.requests(), (0, 0, 6));
    server.stop().await;
}

#[tokio::test]
async fn h3_oversized_headers_get_431() {
    let config = IngressConfig {
        max_header_bytes: 4096,
        ..Default::default()
    };
    let server = Server::tls(config, TlsSetup::self_signed_localhost().unwrap()).await;
    let mut client = H3Client::connect(server.h3_addr.unwrap(), "localhost", insecure_client_config(&[b"h3"])).await;
    let big = "x".repeat(8000);
    let url = format!("https://localhost:{}/", server.addr.port());
    let reply = client.send("GET", &url, "", &[("x-big", &big)]).await.unwrap();
    assert_eq!(reply.status, 431);
    // The connection stays usable.
    assert_eq!(client.get(&url).await.status, 200);
    server.stop().await;
}
