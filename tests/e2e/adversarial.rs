//! Hostile handlers against a real `outpost dev` serving several tenants:
//! each case gets the right status, the node stays alive, and the
//! well-behaved neighbour keeps answering.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use outpost_tests::{Outpost, TempDir, request};

/// The neighbour every case checks afterwards.
const HELLO: &str = r#"export default { fetch() { return new Response("hello"); } };"#;

/// Serves `hello` first (the fallback host) and the given tenants.
fn serve(dir: &TempDir, tenants: &[(&str, &str, &str)], extra: &[&str]) -> Outpost {
    let mut paths: Vec<PathBuf> = vec![dir.handler("hello", HELLO, "")];
    for (name, code, limits) in tenants {
        paths.push(dir.handler(name, code, limits));
    }
    Outpost::dev_many(&paths, extra)
}

fn host(name: &str) -> String {
    format!("{name}.localhost")
}

/// The neighbour still answers at once.
fn assert_alive(op: &Outpost) {
    let r = op.get("hello.localhost", "/");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
}

#[test]
fn runaway_cpu_memory_and_time_get_503_and_the_node_lives_on() {
    let dir = TempDir::new("adversarial-limits");
    let op = serve(
        &dir,
        &[
            ("spin", "export default { fetch() { for (;;) {} } };", "cpu_ms = 20"),
            (
                "chain",
                "export default { async fetch() { await null; await Promise.resolve(); \
                   return Promise.resolve().then(() => { for (;;) {} }); } };",
                "cpu_ms = 20",
            ),
            (
                "bomb",
                "export default { fetch() { const a = []; for (;;) a.push(new Array(1e5).fill(Math.random())); } };",
                "memory_mb = 32\ncpu_ms = 20000",
            ),
            (
                "hang",
                "export default { fetch() { return new Promise(() => {}); } };",
                "wall_ms = 300",
            ),
        ],
        &["--threads", "2", "--admin", "127.0.0.1:0"],
    );
    for (name, body) in [
        ("spin", "outpost: cpu limit exceeded"),
        ("chain", "outpost: cpu limit exceeded"),
        ("bomb", "outpost: memory limit exceeded"),
        ("hang", "outpost: wall-clock limit exceeded"),
    ] {
        let started = Instant::now();
        let r = op.get(&host(name), "/");
        assert_eq!((r.status, r.text().as_str()), (503, body), "{name}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} was stopped promptly"
        );
        assert_alive(&op);
    }
    // Each limit is counted in the metrics, by deployment.
    let metrics = op.metrics();
    for (deployment, limit) in [
        ("spin", "cpu"),
        ("chain", "cpu"),
        ("bomb", "memory"),
        ("hang", "wall-clock"),
    ] {
        let series = format!("outpost_limits_exceeded_total{{limit=\"{limit}\",deployment=\"{deployment}\"}} 1");
        assert!(metrics.contains(&series), "{series} missing from:\n{metrics}");
    }
}

#[test]
fn giant_strings_and_deep_recursion_are_range_errors() {
    let dir = TempDir::new("adversarial-errors");
    let op = serve(
        &dir,
        &[
            (
                "strings",
                "export default { fetch() { let s = 'x'; \
                   try { for (;;) s += s; } catch (e) { return new Response(e.constructor.name + ': ' + e.message); } } };",
                "",
            ),
            (
                "recurse",
                "function down(n) { return down(n + 1) + 1; } \
                 export default { fetch(req) { \
                   if (new URL(req.url).pathname === '/uncaught') return new Response(String(down(0))); \
                   try { down(0); } catch (e) { return new Response(e.constructor.name + ': ' + e.message); } } };",
                "",
            ),
        ],
        &[],
    );
    let r = op.get(&host("strings"), "/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "RangeError: Invalid string length")
    );
    let r = op.get(&host("recurse"), "/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "RangeError: Maximum call stack size exceeded")
    );
    let r = op.get(&host("recurse"), "/uncaught");
    assert_eq!(r.status, 500, "an uncaught RangeError is an exception, not a crash");
    assert!(!r.text().contains("down"), "the stack stays in the log: {}", r.text());
    assert_alive(&op);
}

#[test]
fn timers_that_reschedule_forever_stop_with_their_request() {
    let dir = TempDir::new("adversarial-timers");
    let code = r#"
        let ticks = 0;
        export default { async fetch(req) {
          const path = new URL(req.url).pathname;
          if (path === "/interval") {
            setInterval(() => { ticks++; }, 1);
            (function again() { ticks++; setTimeout(again, 0); })();
            return new Response("scheduled");
          }
          if (path === "/pending") {
            // Reschedules forever and never answers: the wall-clock limit ends it.
            (function again() { ticks++; setTimeout(again, 1); })();
            return new Promise(() => {});
          }
          const before = ticks;
          await new Promise((r) => setTimeout(r, 30));
          return new Response(`${before} ${ticks}`);
        } };"#;
    let op = serve(&dir, &[("timers", code, "wall_ms = 200")], &[]);
    assert_eq!(op.get(&host("timers"), "/interval").text(), "scheduled");
    // The finished request's timers were cancelled: nothing ticks while
    // this request waits 30 ms.
    let r = op.get(&host("timers"), "/count");
    let counts: Vec<u64> = r.text().split(' ').map(|n| n.parse().unwrap()).collect();
    assert_eq!(
        counts[0],
        counts[1],
        "ticks moved after the request ended: {}",
        r.text()
    );
    let r = op.get(&host("timers"), "/pending");
    assert_eq!(
        (r.status, r.text().as_str()),
        (503, "outpost: wall-clock limit exceeded")
    );
    let r = op.get(&host("timers"), "/count");
    let counts: Vec<u64> = r.text().split(' ').map(|n| n.parse().unwrap()).collect();
    assert_eq!(
        counts[0],
        counts[1],
        "the expired request's timers still run: {}",
        r.text()
    );
    assert_alive(&op);
}

#[test]
fn tenants_cannot_see_each_others_globals_prototypes_or_env() {
    let dir = TempDir::new("adversarial-tenants");
    let writer = r#"
        export default { fetch(req, env) {
          Object.prototype.polluted = "yes";
          Array.prototype.map = () => "hijacked";
          globalThis.shared = env.SECRET;
          globalThis.Response.prototype.marker = "writer";
          return new Response("written " + [1].map((x) => x));
        } };"#;
    let reader = r#"
        export default { fetch(req, env) {
          const seen = [({}).polluted, [1].map((x) => x * 2).join(), globalThis.shared,
                        new Response("").marker, env.SECRET];
          return new Response(seen.map(String).join(","));
        } };"#;
    dir.write(
        "writer/outpost.toml",
        "name = \"writer\"\nmain = \"index.js\"\n[vars]\nSECRET = \"s3cret\"\n",
    );
    dir.write("writer/index.js", writer);
    let paths = vec![
        dir.handler("hello", HELLO, ""),
        dir.0.join("writer"),
        dir.handler("reader", reader, ""),
    ];
    let op = Outpost::dev_many(&paths, &[]);
    assert_eq!(op.get(&host("writer"), "/").text(), "written hijacked");
    assert_eq!(
        op.get(&host("reader"), "/").text(),
        "undefined,2,undefined,undefined,undefined"
    );
}

#[test]
fn huge_headers_and_bodies_are_refused_with_4xx() {
    let dir = TempDir::new("adversarial-sizes");
    let echo =
        "export default { async fetch(req) { return new Response(String((await req.arrayBuffer()).byteLength)); } };";
    let big = "export default { fetch() { return new Response(new Uint8Array(2 * 1024 * 1024)); } };";
    let op = serve(
        &dir,
        &[
            ("echo", echo, "request_body_mb = 1"),
            ("big", big, "response_body_mb = 1"),
        ],
        &[],
    );
    let huge = "a".repeat(200 * 1024);
    let r = request(op.addr, "GET", "echo.localhost", "/", &[("x-huge", huge.as_str())], b"");
    assert_eq!(r.status, 431);
    // Larger than the socket buffers: the server answers before reading it
    // and must read and drop the rest, or the client gets a reset instead.
    let body = vec![b'x'; 8 * 1024 * 1024];
    let r = request(op.addr, "POST", "echo.localhost", "/", &[], &body);
    assert_eq!(r.status, 413);
    let r = request(op.addr, "POST", "echo.localhost", "/", &[], &body[..1024 * 1024]);
    assert_eq!((r.status, r.text().as_str()), (200, "1048576"));
    let r = op.get(&host("big"), "/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (500, "outpost: response body limit exceeded\n")
    );
    assert_alive(&op);
}

/// A plain HTTP server on 127.0.0.1 answering `upstream` to every request;
/// counts the connections it accepted.
fn upstream() -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nupstream");
            });
        }
    });
    (addr, seen)
}

#[test]
fn a_request_over_its_subrequest_limit_gets_a_type_error() {
    let dir = TempDir::new("adversarial-subrequests");
    let (addr, _) = upstream();
    let code = format!(
        r#"
        export default {{ async fetch() {{
          const out = [];
          for (let i = 0; i < 4; i++) {{
            try {{ out.push(await (await fetch("http://{addr}/")).text()); }}
            catch (e) {{ out.push(e.message.includes("too many subrequests") ? "limit" : e.message); }}
          }}
          return new Response(out.join(" "));
        }} }};"#
    );
    let op = serve(
        &dir,
        &[("fanout", code.as_str(), "subrequests = 3")],
        &["--allow-outbound", "127.0.0.0/8"],
    );
    assert_eq!(op.get(&host("fanout"), "/").text(), "upstream upstream upstream limit");
}

#[test]
fn outbound_fetch_to_internal_addresses_is_refused_unless_allowed() {
    let dir = TempDir::new("adversarial-ssrf");
    let (addr, seen) = upstream();
    let code = r#"
        export default { async fetch(req) {
          const target = new URL(req.url).searchParams.get("to");
          try { return new Response("reached " + await (await fetch(target)).text()); }
          catch (e) { return new Response(e.constructor.name + ": " + e.message, { status: 502 }); }
        } };"#;
    let strict = serve(&dir, &[("proxy", code, "")], &[]);
    for target in [
        format!("http://{addr}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://[::ffff:127.0.0.1]:{}/", addr.port()),
        "http://10.0.0.1/".to_string(),
    ] {
        let r = strict.get(&host("proxy"), &format!("/?to={target}"));
        assert_eq!(r.status, 502, "{target}: {}", r.text());
        assert!(
            r.text().starts_with("TypeError: fetch failed: refused:"),
            "{target}: {}",
            r.text()
        );
    }
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection reached loopback"
    );
    assert_alive(&strict);
    drop(strict);
    let open = serve(&dir, &[("proxy", code, "")], &["--allow-outbound", "127.0.0.0/8"]);
    let r = open.get(&host("proxy"), &format!("/?to=http://{addr}/"));
    assert_eq!((r.status, r.text().as_str()), (200, "reached upstream"));
}

#[test]
fn limits_above_the_node_maximum_are_refused_at_startup() {
    let dir = TempDir::new("adversarial-maxima");
    let path = dir.handler("greedy", HELLO, "wall_ms = 3600000");
    let mut cmd = std::process::Command::new(outpost_tests::outpost_bin());
    cmd.arg("dev").arg(&path).args(["--listen", "127.0.0.1:0"]);
    let err = Outpost::start(cmd).err().expect("refused");
    assert!(
        err.contains("limits.wall_ms = 3600000 exceeds the maximum of 300000"),
        "{err}"
    );
}

#[test]
fn relax_limits_says_so_and_lets_a_slow_handler_finish() {
    let dir = TempDir::new("adversarial-relax");
    // About 200 ms of CPU: over the 50 ms default, well under the relaxed 30 s.
    let code = "export default { fetch() { const end = Date.now() + 200; let n = 0; \
                while (Date.now() < end) n++; return new Response('done'); } };";
    let path = dir.handler("slow", code, "");
    let strict = Outpost::dev(&path, &[]);
    assert_eq!(strict.get("localhost", "/").status, 503);
    let relaxed = Outpost::dev(&path, &["--relax-limits"]);
    let said = relaxed.stdout.lock().unwrap().join("\n");
    assert!(said.contains("limits relaxed (--relax-limits): cpu 30000 ms"), "{said}");
    assert_eq!(relaxed.get("localhost", "/").text(), "done");
}

#[test]
fn ten_thousand_concurrent_requests_get_answers_and_the_node_stays_up() {
    let dir = TempDir::new("adversarial-flood");
    let code =
        "export default { async fetch() { await new Promise((r) => setTimeout(r, 50)); return new Response('ok'); } };";
    let op = serve(&dir, &[("flood", code, "")], &[]);
    let addr = op.addr;
    // 100 HTTP/2 connections (prior knowledge) with 100 streams each.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let statuses: Vec<u16> = rt.block_on(async move {
        let mut conns = Vec::new();
        for _ in 0..100 {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let (sender, conn) = hyper::client::conn::http2::handshake::<_, _, http_body_util::Empty<bytes::Bytes>>(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(tcp),
            )
            .await
            .expect("h2 handshake");
            tokio::spawn(conn);
            conns.push(sender);
        }
        let mut tasks = Vec::new();
        for i in 0..10_000 {
            let mut sender = conns[i % conns.len()].clone();
            tasks.push(tokio::spawn(async move {
                let req = http::Request::get("http://flood.localhost/")
                    .body(http_body_util::Empty::new())
                    .unwrap();
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let _ = http_body_util::BodyExt::collect(resp.into_body()).await;
                        status
                    }
                    Err(_) => 0,
                }
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or(0));
        }
        out
    });
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let busy = statuses.iter().filter(|&&s| s == 503).count();
    assert_eq!(
        ok + busy,
        10_000,
        "every request is answered 200 or 503: {:?}",
        statuses
            .iter()
            .filter(|&&s| s != 200 && s != 503)
            .take(5)
            .collect::<Vec<_>>()
    );
    eprintln!("flood: {ok} ok, {busy} busy");
    assert!(ok >= 1000, "most of the flood is served ({ok} ok, {busy} busy)");
    assert_alive(&op);
}

#[test]
fn tenants_beyond_the_memory_budget_are_evicted_and_recreated_on_demand() {
    let dir = TempDir::new("adversarial-budget");
    let names: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    let paths: Vec<PathBuf> = names
        .iter()
        .map(|n| {
            let code = format!(
                "let hits = 0; export default {{ fetch() {{ hits++; return new Response('{n} ' + hits); }} }};"
            );
            dir.handler(n, &code, "")
        })
        .collect();
    // About four idle isolates fit in 6 MiB of heap.
    let op = Outpost::dev_many(&paths, &["--isolate-memory-budget", "6", "--admin", "127.0.0.1:0"]);
    for round in 1..=2 {
        for n in &names {
            let r = op.get(&host(n), "/");
            assert_eq!(r.status, 200);
            // A re-created isolate starts its module state over.
            assert_eq!(r.text(), format!("{n} 1"), "round {round}");
        }
    }
    let metrics = op.metrics();
    let evicted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("outpost_isolates_evicted_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(evicted >= 12.0, "evictions: {evicted}\n{metrics}");
}
