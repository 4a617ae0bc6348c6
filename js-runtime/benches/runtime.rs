//! Runtime micro-benchmarks: isolate start and first request, cold start of a 100 KB bundle,
//! warm request → response inside the runtime, heap per idle isolate.
//! Prints a Markdown table (bench/run.sh writes it to bench/RESULTS.md).
//!
//! Run: `cargo bench -p outpost-js --bench runtime`

use std::rc::Rc;
use std::time::{Duration, Instant};

use outpost_js::{Body, Bundle, HttpRequest, Runtime, RuntimeOptions, StdHost};
use tokio::sync::oneshot;

const HELLO: &str = "export default { fetch() { return new Response('Hello World!'); } };";

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[idx]
}

fn request() -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: "http://hello.localhost/".into(),
        headers: [("host", "hello.localhost"), ("accept", "*/*")].into(),
        body: Body::Empty,
    }
}

/// A ~100 KB module in the shape of a bundled app: many route handlers and
/// helpers, of which one request reaches a few.
fn big_bundle(seed: usize) -> Bundle {
    let mut code = String::with_capacity(110_000);
    code.push_str(&format!("const SEED = {seed};\n"));
    let mut i = 0;
    while code.len() < 100_000 {
        code.push_str(&format!(
            "function route{i}(req, url) {{ const parts = url.pathname.split('/'); if (parts[1] === 'r{i}') {{ return new Response(JSON.stringify({{ route: {i}, q: url.searchParams.get('q') ?? null, note: 'generated handler number {i} for the cold start benchmark' }}), {{ headers: {{ 'content-type': 'application/json' }} }}); }} return null; }}\n"
        ));
        i += 1;
    }
    code.push_str(&format!(
        "const ROUTES = {{ {} }};\n",
        (0..i)
            .map(|n| format!("'/r{n}': route{n}"))
            .collect::<Vec<_>>()
            .join(",")
    ));
    code.push_str("export default { fetch(req) { const url = new URL(req.url); const route = ROUTES[url.pathname]; return route ? route(req, url) : new Response('cold ' + SEED); } };\n");
    Bundle::single("app.js", code)
}

/// The Hono example bundled by esbuild (`examples/hono/dist/worker.js`),
/// when it has been built.
fn hono_bundle() -> Option<Bundle> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hono/dist/worker.js");
    let code = std::fs::read_to_string(path).ok()?;
    let mut b = Bundle::single("worker.js", code);
    b.vars.insert("JWT_SECRET".into(), serde_json::json!("bench"));
    Some(b)
}

/// One table row in milliseconds: p50, p90, p99 of `samples`.
fn ms_row(metric: &str, samples: &mut [Duration], goal: &str) {
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let (p50, p90, p99) = (
        percentile(samples, 0.5),
        percentile(samples, 0.9),
        percentile(samples, 0.99),
    );
    println!("| {metric} | {} | {} | {} | {goal} |", ms(p50), ms(p90), ms(p99));
}

/// How long each of `n` new isolates with `bundle` took to be ready.
fn isolate_starts(bundle: &Bundle, host: &Rc<StdHost>, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let rt = Runtime::new(bundle, host.clone(), RuntimeOptions::default()).unwrap();
            let elapsed = t.elapsed();
            drop(rt);
            elapsed
        })
        .collect()
}

fn call(rt: &mut Runtime) -> Duration {
    let (tx, mut rx) = oneshot::channel();
    let t = Instant::now();
    rt.dispatch(request(), tx);
    let got = rx.try_recv();
    let elapsed = t.elapsed();
    assert!(got.is_ok(), "hello answers synchronously");
    elapsed
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn main() {
    let host: Rc<StdHost> = Rc::new(StdHost);
    let hello = Bundle::single("hello.js", HELLO);
    let started = Instant::now();
    let resident = Runtime::new(&hello, host.clone(), RuntimeOptions::default()).unwrap();
    let first = started.elapsed();
    println!("| metric | p50 | p90 | p99 | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| process's first runtime (builds the startup snapshot, {} KB) | {:.1} ms | | | once per process |",
        outpost_js::snapshot_size() / 1024,
        first.as_secs_f64() * 1e3
    );

    // Isolate + context from the snapshot + hello module loaded, then its
    // first request. `resident` stays alive meanwhile, as a serving node's
    // isolates do: V8 shares its read-only heap among live isolates, and
    // rebuilds it for an isolate that starts alone.
    let mut ready = isolate_starts(&hello, &host, 200);
    let mut first_call = Vec::new();
    for _ in 0..200 {
        let mut rt = Runtime::new(&hello, host.clone(), RuntimeOptions::default()).unwrap();
        let t = Instant::now();
        let resp = rt.call(request()).unwrap();
        first_call.push(t.elapsed());
        assert_eq!(resp.body, b"Hello World!".as_slice());
        drop(rt);
    }
    ms_row("isolate + context + hello module ready", &mut ready, "≤ 2 ms p50");
    ms_row(
        "new isolate's first hello request: Request in → Response out",
        &mut first_call,
        "",
    );
    drop(resident);
    ms_row(
        "isolate + context + hello module ready, with no other isolate alive (V8 rebuilds its read-only heap)",
        &mut isolate_starts(&hello, &host, 200),
        "",
    );
    let resident = Runtime::new(&hello, host.clone(), RuntimeOptions::default()).unwrap();

    // Cold start: a never-run 100 KB bundle to its first response.
    let mut samples = Vec::new();
    for n in 0..100 {
        let bundle = big_bundle(n);
        let t = Instant::now();
        let mut rt = Runtime::new(&bundle, host.clone(), RuntimeOptions::default()).unwrap();
        let resp = rt.call(request()).unwrap();
        samples.push(t.elapsed());
        assert_eq!(resp.body, format!("cold {n}").as_bytes());
        drop(rt);
    }
    ms_row(
        "cold start: 100 KB bundle, new isolate → first response",
        &mut samples,
        "≤ 5 ms p50, ≤ 15 ms p99",
    );
    if let Some(hono) = hono_bundle() {
        let size = hono.size() / 1024;
        let mut samples = Vec::new();
        for _ in 0..100 {
            let t = Instant::now();
            let mut rt = Runtime::new(&hono, host.clone(), RuntimeOptions::default()).unwrap();
            let resp = rt.call(request()).unwrap();
            samples.push(t.elapsed());
            assert_eq!(resp.body, b"Hello Hono!");
        }
        ms_row(
            &format!("cold start: Hono app bundled by esbuild ({size} KB), new isolate → first response"),
            &mut samples,
            "",
        );
    }

    // Warm: Request in → Response out on a warm isolate.
    let mut rt = Runtime::new(&hello, host.clone(), RuntimeOptions::default()).unwrap();
    for _ in 0..20_000 {
        call(&mut rt);
    }
    let mut samples = Vec::with_capacity(100_000);
    let t = Instant::now();
    for _ in 0..100_000 {
        samples.push(call(&mut rt));
    }
    let mean = t.elapsed() / 100_000;
    let us = |d: Duration| format!("{:.2} µs", d.as_secs_f64() * 1e6);
    println!(
        "| warm call: Request in → Response out (mean {}) | {} | {} | {} | ≤ 3 µs p50 |",
        us(mean),
        us(percentile(&mut samples, 0.5)),
        us(percentile(&mut samples, 0.9)),
        us(percentile(&mut samples, 0.99))
    );
    drop(rt);

    // Heap per idle isolate (hello module loaded, after a full GC).
    let before = rss_kb();
    let mut runtimes = Vec::new();
    let mut heap = 0usize;
    for _ in 0..100 {
        let mut rt = Runtime::new(&hello, host.clone(), RuntimeOptions::default()).unwrap();
        rt.call(request()).unwrap();
        rt.collect_garbage();
        heap += rt.heap_used();
        runtimes.push(rt);
    }
    let after = rss_kb();
    println!(
        "| V8 heap per idle isolate (used, after GC; 100 isolates) | {:.2} MB | | | ≤ 3 MB |",
        heap as f64 / 100.0 / 1e6
    );
    println!(
        "| process RSS per idle isolate (100 isolates) | {:.2} MB | | | |",
        (after.saturating_sub(before)) as f64 / 100.0 / 1024.0
    );
    // Drop in reverse order of creation is not required, but tidy.
    while runtimes.pop().is_some() {}
    drop(resident);
}
