//! A real browser: headless Chromium (Debian package `chromium`, which
//! `.ci/run` installs) loads a page from a handler over HTTPS, over HTTP/2
//! and over HTTP/3, and the test reads the DOM it built.

use std::time::Duration;

use outpost_node::ingress::{IngressConfig, TlsSetup};

use crate::support::{Pki, Server, TempDir};

fn chromium() -> std::path::PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(dir) =
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).find(|dir| dir.join(name).is_file())
        {
            return dir.join(name);
        }
    }
    panic!("headless Chromium is needed for this test: apt-get install chromium (.ci/run does)");
}

/// Runs Chromium on `url` with `extra` flags and returns the serialized DOM.
async fn dump_dom(url: &str, extra: &[&str]) -> String {
    let profile = TempDir::new("chromium");
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg("--dump-dom")
    .arg(url)
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("chromium finishes within 90 s")
        .expect("chromium starts");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && !dom.is_empty(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// Chromium's `--ignore-certificate-errors-spki-list` value: base64 of the
/// SHA-256 of the SubjectPublicKeyInfo. Unlike `--ignore-certificate-errors`
/// it also covers QUIC.
fn spki_pin(spki: &[u8]) -> String {
    let rustls::SupportedCipherSuite::Tls13(suite) = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
    else {
        unreachable!("a TLS 1.3 suite")
    };
    base64(suite.common.hash_provider.hash(spki).as_ref())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_the_rfc_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}

/// The page's hostname: served from a certificate file, like in production.
const HOST: &str = "hello.outpost.test";

#[tokio::test]
async fn chromium_loads_a_page_over_h2_and_h3() {
    // A certificate from a test CA Chromium does not know; the SPKI pin
    // makes Chromium accept exactly this key.
    let pki = Pki::new();
    let leaf = pki.leaf(&[HOST]);
    let dir = TempDir::new("browser-certs");
    std::fs::write(
        dir.path().join(format!("{HOST}.pem")),
        format!("{}{}", leaf.cert_pem, leaf.key_pem),
    )
    .unwrap();
    let server = Server::tls(IngressConfig::default(), TlsSetup::from_dir(dir.path()).unwrap()).await;
    let port = server.addr.port();
    let pin = format!("--ignore-certificate-errors-spki-list={}", spki_pin(&leaf.spki));
    // The name resolves to the listener's address (`localhost` could be
    // tried as ::1 first, where nothing listens on UDP).
    let resolve = format!("--host-resolver-rules=MAP {HOST} 127.0.0.1");

    // HTTPS as any browser would first reach it: TCP, ALPN picks h2.
    let url = format!("https://{HOST}:{port}/page");
    let dom = dump_dom(&url, &[&pin, &resolve]).await;
    assert!(dom.contains("hello over TLS"), "{dom}");
    assert!(dom.contains(r#"data-ran="script-42""#), "the page's script ran: {dom}");
    let (h1, h2, _) = server.requests();
    assert!(h2 >= 1 && h1 == 0, "Chromium spoke HTTP/2 (h1 {h1}, h2 {h2})");

    // HTTP/3: told to use QUIC for this origin, Chromium talks to the UDP
    // listener on the same port.
    let dom = dump_dom(
        &url,
        &[&pin, &resolve, &format!("--origin-to-force-quic-on={HOST}:{port}")],
    )
    .await;
    assert!(dom.contains(r#"data-ran="script-42""#), "{dom}");
    let (_, _, h3) = server.requests();
    assert!(h3 >= 1, "Chromium spoke HTTP/3");
    server.stop().await;
}
