//! `outpost dev`: serving, logging, reloading, shutting down.

use std::time::Duration;

use outpost_tests::{Outpost, TempDir, request, root, send_raw};

#[test]
fn serves_a_single_file_and_prints_console_log() {
    let dir = TempDir::new("single");
    let file = dir.write(
        "worker.js",
        r#"export default { fetch(req) { console.log("got", new URL(req.url).pathname); return new Response("hi " + req.method); } };"#,
    );
    let mut op = Outpost::dev(&file, &[]);
    let r = op.get("localhost", "/path");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hi GET");
    assert!(
        op.wait_line(|l| l.contains("got /path"), Duration::from_secs(10))
            .is_some(),
        "console.log reaches stdout"
    );
}

#[test]
fn service_worker_syntax_and_env_vars_from_wrangler_toml() {
    let dir = TempDir::new("sw");
    dir.write(
        "wrangler.toml",
        "name = \"sw\"\nmain = \"sw.js\"\n[vars]\nGREETING = \"hey\"\n",
    );
    dir.write(
        "sw.js",
        r#"addEventListener("fetch", (event) => { event.respondWith(new Response("sw " + typeof GREETING)); });"#,
    );
    let op = Outpost::dev(&dir.0, &[]);
    let r = op.get("localhost", "/");
    assert_eq!((r.status, r.text().as_str()), (200, "sw undefined"));

    let dir2 = TempDir::new("vars");
    dir2.write(
        "wrangler.toml",
        "name = \"vars\"\nmain = \"index.js\"\n[vars]\nGREETING = \"hey\"\nN = 3\n",
    );
    dir2.write(
        "index.js",
        "export default { fetch(r, env) { return Response.json(env); } };",
    );
    let op2 = Outpost::dev(&dir2.0, &[]);
    let r = op2.get("localhost", "/");
    assert_eq!(r.text(), r#"{"GREETING":"hey","N":3}"#);
}

#[test]
fn posts_bodies_and_streams_responses() {
    let dir = TempDir::new("echo");
    let file = dir.write(
        "echo.js",
        r#"export default { async fetch(req) {
            if (req.method === "POST") return new Response((await req.text()).toUpperCase(), { status: 201 });
            const enc = new TextEncoder();
            let i = 0;
            return new Response(new ReadableStream({ pull(c) { if (i++ < 3) c.enqueue(enc.encode("chunk" + i + ";")); else c.close(); } }));
        } };"#,
    );
    let op = Outpost::dev(&file, &[]);
    let r = request(
        op.addr,
        "POST",
        "localhost",
        "/",
        &[("content-type", "text/plain")],
        b"hello body",
    );
    assert_eq!((r.status, r.text().as_str()), (201, "HELLO BODY"));
    let r = op.get("localhost", "/");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "chunk1;chunk2;chunk3;");
}

#[test]
fn reloads_when_a_file_changes_and_keeps_serving_on_a_broken_edit() {
    let dir = TempDir::new("reload");
    dir.write("outpost.toml", "name = \"reload\"\nmain = \"index.js\"\n");
    dir.write(
        "index.js",
        r#"export default { fetch() { return new Response("v1"); } };"#,
    );
    let mut op = Outpost::dev(&dir.0, &[]);
    assert_eq!(op.get("localhost", "/").text(), "v1");

    dir.write(
        "index.js",
        r#"export default { fetch() { return new Response("v2"); } };"#,
    );
    assert!(
        op.wait_line(|l| l.starts_with("reloaded"), Duration::from_secs(20))
            .is_some(),
        "reload announced"
    );
    assert_eq!(op.get("localhost", "/").text(), "v2");

    // A syntax error: the old version keeps serving, the error names the spot.
    dir.write(
        "index.js",
        "export default { fetch() { return new Response(\"v3\") } ;\n",
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut stderr_seen = false;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        if op.get("localhost", "/").text() == "v2" {
            stderr_seen = true;
            break;
        }
    }
    assert!(stderr_seen, "previous version still serves after a broken edit");
    dir.write(
        "index.js",
        r#"export default { fetch() { return new Response("v4"); } };"#,
    );
    assert!(
        op.wait_line(|l| l.starts_with("reloaded"), Duration::from_secs(20))
            .is_some()
    );
    assert_eq!(op.get("localhost", "/").text(), "v4");
    let status = op
        .signal_and_wait("INT", Duration::from_secs(20))
        .expect("exits on SIGINT");
    assert!(status.success(), "clean exit on Ctrl-C: {status:?}");
    let stderr = op.stderr_text();
    assert!(
        stderr.contains("index.js:1:"),
        "reload error names file:line:col: {stderr}"
    );
}

#[test]
fn malformed_requests_get_400() {
    let op = Outpost::dev(&root().join("examples/hello"), &[]);
    let out = send_raw(op.addr, b"GARBAGE\r\n\r\n");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    let out = send_raw(op.addr, b"GET / HTTP/1.1\r\n\r\n");
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"),
        "missing Host is a 400"
    );
}

#[test]
fn admin_endpoints_and_graceful_drain_on_sigterm() {
    let dir = TempDir::new("drain");
    let file = dir.write(
        "slow.js",
        r#"export default { async fetch(req) {
            if (new URL(req.url).pathname === "/slow") {
                console.log("slow request started");
                await new Promise((r) => setTimeout(r, 700));
                return new Response("finished");
            }
            return new Response("fast");
        } };"#,
    );
    let mut op = Outpost::dev(&file, &["--admin", "127.0.0.1:0"]);
    let admin_line = op
        .stdout
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.starts_with("admin on http://"))
        .cloned()
        .expect("admin line");
    let admin: std::net::SocketAddr = admin_line.trim_start_matches("admin on http://").parse().unwrap();
    assert_eq!(op.get("localhost", "/").text(), "fast");
    assert_eq!(request(admin, "GET", "localhost", "/healthz", &[], b"").status, 200);
    assert_eq!(request(admin, "GET", "localhost", "/readyz", &[], b"").status, 200);
    let metrics = request(admin, "GET", "localhost", "/metrics", &[], b"").text();
    assert!(metrics.contains("outpost_requests_total{status=\"2xx\"}"), "{metrics}");
    assert!(
        metrics.contains("# TYPE outpost_request_duration_seconds histogram\n"),
        "{metrics}"
    );
    let answered = metrics
        .lines()
        .find_map(|l| l.strip_prefix("outpost_request_duration_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(answered.is_some_and(|n| n >= 1), "{metrics}");

    let addr = op.addr;
    let slow = std::thread::spawn(move || request(addr, "GET", "localhost", "/slow", &[], b""));
    assert!(
        op.wait_line(|l| l.contains("slow request started"), Duration::from_secs(10))
            .is_some()
    );
    let status = op
        .signal_and_wait("TERM", Duration::from_secs(20))
        .expect("exits after draining");
    assert!(status.success(), "{status:?}");
    let r = slow.join().unwrap();
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "finished"),
        "the in-flight request completed"
    );
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn large_bodies_stream_through_without_buffering() {
    use std::io::{Read, Write};
    let dir = TempDir::new("pipe");
    let file = dir.write(
        "pipe.js",
        r#"export default { fetch(req) {
            let n = 0;
            const count = new TransformStream({ transform(chunk, c) { n += chunk.byteLength; c.enqueue(chunk); } });
            return new Response(req.body.pipeThrough(count), { headers: { "content-type": "application/octet-stream" } });
        } };"#,
    );
    let op = Outpost::dev(&file, &[]);
    assert_eq!(request(op.addr, "POST", "localhost", "/", &[], b"warm").text(), "warm");
    let before = vm_hwm_kb(op.child.id());
    // Just under the 100 MiB request limit. Streaming shows twice: the echo
    // starts before the upload ends, and peak memory stays below what
    // holding the body (in and out) would take. V8 may keep up to ~64 MiB of
    // collected-but-unswept chunk garbage, hence no tighter bound.
    const TOTAL: usize = 96 << 20;
    let upload_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done_flag = upload_done.clone();
    let mut conn = std::net::TcpStream::connect(op.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = conn.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let head =
            format!("POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {TOTAL}\r\n\r\n");
        writer.write_all(head.as_bytes()).unwrap();
        let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..TOTAL / chunk.len() {
            writer.write_all(&chunk).unwrap();
        }
        done_flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    // Read the (chunked) response as it streams, counting bytes and a checksum.
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut echoed_during_upload = false;
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if raw.len() > (1 << 20) && !upload_done.load(std::sync::atomic::Ordering::SeqCst) {
            echoed_during_upload = true;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    assert!(echoed_during_upload, "the echo began before the upload finished");
    sender.join().unwrap();
    let resp = outpost_tests::parse_response(&raw).expect("response");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), TOTAL);
    assert!(
        resp.body
            .iter()
            .enumerate()
            .take(1 << 20)
            .all(|(i, b)| *b == ((i % 65536) % 251) as u8)
    );
    let grew_mb = (vm_hwm_kb(op.child.id()).saturating_sub(before)) / 1024;
    assert!(
        grew_mb < 150,
        "96 MiB streamed through, peak RSS grew by {grew_mb} MiB: the body was buffered"
    );
}

#[test]
fn https_http2_and_alt_svc_from_the_cli() {
    let op = Outpost::dev(&root().join("examples/hello"), &["--https", "127.0.0.1:0"]);
    let url = format!("https://{}/tls", op.https_addr().expect("https line"));
    let out = std::process::Command::new("curl")
        .args(["-sk", "--http2", "-D", "-", "-w", "\nversion=%{http_version}", &url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Hello from Outpost! You asked for /tls"), "{text}");
    assert!(text.contains("version=2"), "negotiated HTTP/2 by ALPN: {text}");
    assert!(
        text.to_ascii_lowercase().contains("alt-svc: h3=\":"),
        "advertises HTTP/3: {text}"
    );
}

/// Reads one response with a `content-length` from `s`; returns its head.
fn read_sized_response(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("a content-length");
            if buf.len() >= split + 4 + len {
                return head;
            }
        }
        let n = s.read(&mut chunk).expect("read a response");
        assert!(n > 0, "connection closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn ingress_settings_from_the_command_line() {
    use std::io::{Read, Write};
    // A setting applies: the connection is wound down after its second request.
    let op = Outpost::dev(
        &root().join("examples/hello"),
        &[
            "--ingress",
            "max_requests_per_connection=2",
            "--ingress",
            "idle_timeout_ms=20000",
        ],
    );
    let mut s = std::net::TcpStream::connect(op.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    s.write_all(req).unwrap();
    let first = read_sized_response(&mut s);
    assert!(first.starts_with("http/1.1 200"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");
    s.write_all(req).unwrap();
    let second = read_sized_response(&mut s);
    assert!(second.starts_with("http/1.1 200"), "{second}");
    assert!(second.contains("connection: close"), "{second}");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the server closes the connection");
    assert!(rest.is_empty(), "nothing after the last response");

    // A bad setting is refused at startup, naming the key.
    for (setting, says) in [
        ("max_header_bytes=10", "max_header_bytes"),
        ("no_such_key=1", "unknown field `no_such_key`"),
        ("idle_timeout_ms", "expected KEY=VALUE"),
    ] {
        let out = std::process::Command::new(outpost_tests::outpost_bin())
            .arg("dev")
            .arg(root().join("examples/hello"))
            .args(["--listen", "127.0.0.1:0", "--ingress", setting])
            .output()
            .unwrap();
        assert!(!out.status.success(), "outpost dev started with --ingress {setting}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--ingress") && stderr.contains(says),
            "{setting}: {stderr}"
        );
    }
}

#[test]
fn v8_flags_from_the_environment_reach_the_isolates() {
    let dir = TempDir::new("v8flags");
    let file = dir.write(
        "worker.js",
        "export default { fetch() { return new Response(typeof gc); } };",
    );
    let mut cmd = Outpost::dev_command(&[&file], &[]);
    cmd.env("OUTPOST_V8_FLAGS", "--expose-gc");
    let op = Outpost::start(cmd).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(op.get("localhost", "/").text(), "function");
    let plain = Outpost::dev(&file, &[]);
    assert_eq!(plain.get("localhost", "/").text(), "undefined");
}

/// A TLS ClientHello that names `host` in its server-name extension and
/// offers one TLS 1.3 cipher suite, nothing else.
fn client_hello_naming(host: &str) -> Vec<u8> {
    let name = host.as_bytes();
    let mut sni = vec![0u8]; // host_name
    sni.extend((name.len() as u16).to_be_bytes());
    sni.extend(name);
    let mut ext = vec![0, 0]; // server_name
    ext.extend(((sni.len() + 2) as u16).to_be_bytes());
    ext.extend((sni.len() as u16).to_be_bytes());
    ext.extend(sni);
    let mut hello = vec![3, 3]; // TLS 1.2 in the legacy version field
    hello.extend([7u8; 32]); // random
    hello.push(0); // no session id
    hello.extend([0, 2, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    hello.extend([1, 0]); // null compression
    hello.extend((ext.len() as u16).to_be_bytes());
    hello.extend(ext);
    let mut handshake = vec![1]; // client_hello
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![22, 3, 1]; // handshake record
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[test]
fn clients_that_send_an_ip_address_as_server_name_are_not_logged_per_connection() {
    // wrk, h2load and other clients put the IP address of an https://IP/
    // URL in SNI, which RFC 6066 forbids; rustls ignores it with a warning
    // per connection, which a client could thus write to the log at will.
    let mut op = Outpost::dev(&root().join("examples/hello"), &["--https", "127.0.0.1:0"]);
    let addr = op.https_addr().expect("https line");
    // The server has read the ClientHello once it answers (an alert: the
    // hello offers too little to agree on) and closes.
    for _ in 0..3 {
        let answer = send_raw(addr, &client_hello_naming("127.0.0.1"));
        assert_eq!(answer.first(), Some(&21), "a TLS alert record: {answer:?}");
    }
    assert!(
        op.signal_and_wait("TERM", Duration::from_secs(30))
            .is_some_and(|s| s.success())
    );
    let stderr = op.stderr_text();
    assert!(!stderr.contains("SNI") && !stderr.contains("rustls"), "{stderr}");
}
