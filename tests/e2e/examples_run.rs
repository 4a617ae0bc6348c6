//! Every example under examples/ is served and exercised.

use std::time::Duration;

use outpost_tests::{Outpost, request, root};

fn example(name: &str) -> Outpost {
    Outpost::dev(&root().join("examples").join(name), &[])
}

#[test]
fn hello() {
    let op = example("hello");
    let r = op.get("hello.localhost", "/there");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello from Outpost! You asked for /there\n");
}

#[test]
fn json_api() {
    let op = example("json-api");
    let r = request(
        op.addr,
        "POST",
        "localhost",
        "/v1/todos",
        &[("content-type", "application/json")],
        br#"{"title":"write docs"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.text(), r#"{"id":1,"title":"write docs","done":false}"#);
    let r = op.get("localhost", "/v1/todos/1");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), r#"{"id":1,"title":"write docs","done":false}"#);
    assert_eq!(
        op.get("localhost", "/v1/todos").text(),
        r#"[{"id":1,"title":"write docs","done":false}]"#
    );
    assert_eq!(op.get("localhost", "/v1/todos/2").status, 404);
    assert_eq!(op.get("localhost", "/v2/todos").status, 404);
    let bad = request(op.addr, "POST", "localhost", "/v1/todos", &[], b"not json");
    assert_eq!(bad.status, 400);
    assert_eq!(
        request(op.addr, "DELETE", "localhost", "/v1/todos/1", &[], b"").status,
        204
    );
    assert_eq!(op.get("localhost", "/v1/todos").text(), "[]");
}

#[test]
fn streaming() {
    let op = example("streaming");
    let started = std::time::Instant::now();
    let r = op.get("localhost", "/?lines=4");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "line 1 of 4\nline 2 of 4\nline 3 of 4\nline 4 of 4\n");
    assert!(
        started.elapsed() >= Duration::from_millis(190),
        "lines are paced by timers"
    );
}

#[test]
fn webcrypto() {
    let op = example("webcrypto");
    let r = request(op.addr, "POST", "localhost", "/digest", &[], b"abc");
    assert_eq!(
        r.text(),
        r#"{"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#
    );
    let signed = request(op.addr, "POST", "localhost", "/sign", &[], b"hello");
    let sig = signed.text();
    let sig = sig
        .trim_start_matches(r#"{"signature":""#)
        .trim_end_matches(r#""}"#)
        .to_string();
    assert_eq!(sig.len(), 64, "HMAC-SHA-256 is 32 bytes: {sig}");
    let ok = request(
        op.addr,
        "POST",
        "localhost",
        &format!("/verify?signature={sig}"),
        &[],
        b"hello",
    );
    assert_eq!(ok.text(), r#"{"valid":true}"#);
    let tampered = request(
        op.addr,
        "POST",
        "localhost",
        &format!("/verify?signature={sig}"),
        &[],
        b"hellO",
    );
    assert_eq!(tampered.text(), r#"{"valid":false}"#);
}

#[test]
fn form() {
    let op = example("form");
    let page = op.get("localhost", "/");
    assert!(page.text().contains("<form method=\"post\""));
    let urlencoded = request(
        op.addr,
        "POST",
        "localhost",
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ],
        b"name=Ada+Lovelace",
    );
    assert_eq!(urlencoded.text(), r#"{"name":"Ada Lovelace"}"#);
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAda\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\nhello file\r\n--XyZ--\r\n";
    let multipart = request(
        op.addr,
        "POST",
        "localhost",
        "/",
        &[
            ("content-type", "multipart/form-data; boundary=XyZ"),
            ("accept", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(
        multipart.text(),
        r#"{"name":"Ada","file":{"name":"notes.txt","type":"text/plain","size":10}}"#
    );
    let html = request(
        op.addr,
        "POST",
        "localhost",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"name=%3Cb%3E",
    );
    assert!(html.text().contains("Hello, &#60;b&#62;!"), "{}", html.text());
}

/// Installs the Hono example's packages (npm registry) and bundles it with
/// esbuild, as a developer would (scripts/bundle-hono.sh).
fn build_hono() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(root().join("scripts/bundle-hono.sh"))
            .output()
            .expect("bash runs scripts/bundle-hono.sh");
        assert!(
            out.status.success(),
            "scripts/bundle-hono.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

#[test]
fn hono_app_bundled_by_esbuild() {
    build_hono();
    let op = example("hono");
    let r = op.get("localhost", "/");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello Hono!"));
    assert_eq!(r.header("x-served-by"), Some("outpost"), "middleware ran");
    assert!(r.header("x-elapsed-ms").is_some());
    assert_eq!(op.get("localhost", "/users/7").text(), r#"{"id":7,"name":"user 7"}"#);
    let echo = request(
        op.addr,
        "POST",
        "localhost",
        "/echo",
        &[("content-type", "application/json")],
        br#"{"a":[1,2]}"#,
    );
    assert_eq!(
        (echo.status, echo.text().as_str()),
        (201, r#"{"received":{"a":[1,2]}}"#)
    );
    assert_eq!(op.get("localhost", "/stream").text(), "part 1\npart 2\npart 3\n");
    let token = op.get("localhost", "/token").text();
    assert!(token.contains(r#""sub":"ada""#) && token.contains("eyJ"), "{token}");
    assert_eq!(op.get("localhost", "/nope").status, 404);
}
