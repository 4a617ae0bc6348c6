//! Isolate density: memory per idle deployment with 1,000 deployments
//! loaded on one node, with and without a memory budget, and requests per
//! second through the isolate pool with 1 and 1,000 deployments loaded
//! (round robin over all of them: under the budget most requests re-create
//! an evicted isolate). Prints a Markdown table.
//!
//! Each scenario runs in a fresh process (this binary re-runs itself), so
//! one scenario's freed memory does not flatter the next one's RSS.
//!
//! Run: `cargo bench -p outpost-node --bench density`

use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use outpost_js::{Body, Bundle, HttpRequest, Runtime, RuntimeOptions, StdHost};
use outpost_node::host::LogSink;
use outpost_node::worker::{self, DispatchError, PoolLimits, WorkerConfig, WorkerHandle};

const DEPLOYMENTS: usize = 1000;
const THREADS: usize = 2;
const BUDGET: usize = 64 << 20;
/// Requests in flight while measuring throughput.
const CONCURRENCY: usize = 32;
const MEASURE: Duration = Duration::from_secs(3);
const SCENARIO_VAR: &str = "OUTPOST_DENSITY_SCENARIO";

fn config() -> WorkerConfig {
    WorkerConfig {
        log_sink: LogSink::Tracing,
        runtime: RuntimeOptions::default(),
        outbound: Default::default(),
    }
}

fn handler(name: &str) -> Arc<Bundle> {
    Arc::new(Bundle::single(
        "h.js",
        format!("const NAME = {name:?};\nexport default {{ fetch() {{ return new Response(NAME); }} }};"),
    ))
}

fn request(name: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: format!("http://{name}.localhost/"),
        headers: [("host", format!("{name}.localhost"))].into(),
        body: Body::Empty,
    }
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// One request, answered and checked.
async fn call(pool: &WorkerHandle, name: &str) {
    loop {
        match pool.dispatch(name, request(name)) {
            Ok((rx, _guard)) => {
                let resp = rx.await.expect("answered");
                if resp.status != 200 {
                    let body = match resp.body {
                        Body::Full(b) => String::from_utf8_lossy(&b).into_owned(),
                        _ => String::new(),
                    };
                    panic!("{name}: status {} {body:?}", resp.status);
                }
                return;
            }
            Err(DispatchError::Busy) => tokio::task::yield_now().await,
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

/// Requests per second over `MEASURE`, `CONCURRENCY` in flight, the
/// deployments taken round robin from `names`.
async fn throughput(pool: &WorkerHandle, names: &[String]) -> f64 {
    let mut next = 0;
    let mut pending = FuturesUnordered::new();
    let start = Instant::now();
    let mut done = 0u64;
    loop {
        while pending.len() < CONCURRENCY && start.elapsed() < MEASURE {
            let name = names[next % names.len()].clone();
            next += 1;
            let pool = pool.clone();
            pending.push(async move { call(&pool, &name).await });
        }
        if pending.next().await.is_none() {
            break;
        }
        done += 1;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

/// Loads `count` deployments (each answers one request, so it is fully
/// started and idle after) and reports what the process holds.
async fn load(pool: &WorkerHandle, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("d{i}")).collect();
    for name in &names {
        pool.load(name.as_str().into(), handler(name)).await.expect("loads");
        call(pool, name).await;
    }
    names
}

/// Runs one scenario in this process; prints `key=value` lines.
async fn scenario(which: &str) {
    let budget = match which {
        "budget" => Some(BUDGET),
        _ => None,
    };
    let limits = PoolLimits {
        isolate_memory_budget: budget,
        ..Default::default()
    };
    let (pool, _joins) = worker::spawn_pool(THREADS, config(), limits).expect("pool");
    // V8, the snapshot and one isolate per thread, before counting.
    let warm = load(&pool, 1).await;
    call(&pool, &warm[0]).await;
    let base = rss_bytes();
    match which {
        "one" => {
            let rps = throughput(&pool, &warm).await;
            println!("rps_one={rps:.0}");
        }
        _ => {
            pool.unload(&warm[0]);
            let names = load(&pool, DEPLOYMENTS).await;
            let stats = pool.stats();
            let rss = rss_bytes();
            println!("rss={rss}");
            println!("rss_delta={}", rss.saturating_sub(base));
            println!("heap={}", stats.heap_bytes);
            println!("live={}", stats.live_isolates);
            let rps_one = throughput(&pool, &names[..1]).await;
            println!("rps_one={rps_one:.0}");
            let before = pool.stats();
            let rps_all = throughput(&pool, &names).await;
            let after = pool.stats();
            println!("rps_all={rps_all:.0}");
            println!("recreations={}", after.recreations - before.recreations);
            println!("evictions={}", after.evictions);
            println!("rss_after={}", rss_bytes());
        }
    }
}

/// What one `Runtime::heap_used` costs (the pool measures an isolate after
/// it starts and when it goes idle, at most every 250 ms).
fn heap_measure_cost() -> Duration {
    let bundle = Bundle::single("h.js", "export default { fetch() { return new Response('x'); } };");
    let mut rt = Runtime::new(&bundle, Rc::new(StdHost), RuntimeOptions::default()).expect("starts");
    let n = 20_000;
    let start = Instant::now();
    let mut sum = 0usize;
    for _ in 0..n {
        sum = sum.wrapping_add(rt.heap_used());
    }
    assert!(sum > 0);
    start.elapsed() / n
}

fn run_child(which: &str) -> std::collections::HashMap<String, f64> {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env(SCENARIO_VAR, which)
        .output()
        .expect("runs the scenario");
    assert!(
        out.status.success(),
        "scenario {which} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

fn main() {
    if let Ok(which) = std::env::var(SCENARIO_VAR) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(scenario(&which));
        return;
    }
    let one = run_child("one");
    let unlimited = run_child("unlimited");
    let budget = run_child("budget");
    let cost = heap_measure_cost();

    let mib = |b: f64| format!("{:.1} MiB", b / (1 << 20) as f64);
    let per = |b: f64| format!("{:.2} MB", b / 1e6 / DEPLOYMENTS as f64);
    let rps = |r: f64| format!("{r:.0}");
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| process RSS with {DEPLOYMENTS} idle deployments, no budget (growth over one deployment) | {} ({}) |",
        mib(unlimited["rss"]),
        mib(unlimited["rss_delta"])
    );
    println!(
        "| RSS per idle deployment, no budget | {} |",
        per(unlimited["rss_delta"])
    );
    println!(
        "| V8 heap used, summed over the {} live isolates, no budget | {} ({} per deployment) |",
        unlimited["live"],
        mib(unlimited["heap"]),
        per(unlimited["heap"])
    );
    println!(
        "| process RSS with {DEPLOYMENTS} deployments, {} budget (growth) | {} ({}) |",
        mib(BUDGET as f64),
        mib(budget["rss"]),
        mib(budget["rss_delta"])
    );
    println!(
        "| V8 heap used under the {} budget ({} live isolates) | {} |",
        mib(BUDGET as f64),
        budget["live"],
        mib(budget["heap"])
    );
    println!("| req/s to one deployment, 1 loaded | {} |", rps(one["rps_one"]));
    println!(
        "| req/s to one deployment, {DEPLOYMENTS} loaded | {} |",
        rps(unlimited["rps_one"])
    );
    println!(
        "| req/s round robin over {DEPLOYMENTS}, no budget | {} |",
        rps(unlimited["rps_all"])
    );
    println!(
        "| req/s round robin over {DEPLOYMENTS}, {} budget ({} re-creations, RSS after {}) | {} |",
        mib(BUDGET as f64),
        budget["recreations"],
        mib(budget["rss_after"]),
        rps(budget["rps_all"])
    );
    println!(
        "| `Runtime::heap_used` (one heap measurement) | {:.2} µs |",
        cost.as_secs_f64() * 1e6
    );
    println!();
    println!(
        "In-process, release build, {THREADS} isolate threads, {CONCURRENCY} requests in flight from one driver thread \
         on the same machine, {} s per throughput row; a scenario per process.",
        MEASURE.as_secs()
    );
}
