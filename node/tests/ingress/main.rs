//! Ingress end to end on real sockets (127.0.0.1, ephemeral ports): HTTP/1.1,
//! HTTP/2 (TLS + ALPN, and cleartext with prior knowledge), HTTP/3 over
//! QUIC, SNI certificate choice, Alt-Svc, the protocol limits, graceful
//! drain, and a real headless Chromium loading a page over HTTPS.
//!
//!   cargo test -p outpost-node --test ingress

mod browser;
mod density;
mod h3;
mod http;
mod http1;
mod limits;
mod outbound;
mod support;
mod tls;
