//! Isolate density and neighbour protection: a thousand deployments on a
//! two-thread pool under a memory budget that fits a few dozen isolates,
//! served over a real HTTP/1.1 listener; and a deployment that loops forever
//! backed off while its neighbour on the same thread keeps answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use outpost_js::{Body, Bundle, HttpRequest, RuntimeOptions};
use outpost_node::host::LogSink;
use outpost_node::ingress::{IngressConfig, Limits, Service};
use outpost_node::router::{Router, Target};
use outpost_node::worker::{self, BACKED_OFF_BODY, PoolLimits, WorkerConfig, WorkerHandle};
use tokio::sync::watch;

const PATIENCE: Duration = Duration::from_secs(20);

fn config() -> WorkerConfig {
    WorkerConfig {
        log_sink: LogSink::Tracing,
        runtime: RuntimeOptions::default(),
        outbound: Default::default(),
    }
}

/// A handler answering `body`, with a little module state of its own so
/// each deployment's code differs.
fn handler(body: &str) -> Arc<Bundle> {
    Arc::new(Bundle::single(
        "h.js",
        format!(
            "const NAME = {body:?}; let served = 0;\nexport default {{ fetch() {{ served++; return new Response(NAME); }} }};"
        ),
    ))
}

/// A plain HTTP/1.1 listener on 127.0.0.1:0 serving `router`, and a
/// keep-alive client connection to it.
struct Front {
    port: u16,
    client: SendRequest<Full<Bytes>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A response as the client saw it.
struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl Front {
    async fn start(router: Arc<Router>) -> Front {
        let service = Arc::new(Service {
            router,
            limits: Limits::default(),
        });
        // One keep-alive connection carries every request.
        let config = IngressConfig {
            max_requests_per_connection: 0,
            ..Default::default()
        };
        let listener = outpost_node::ingress::bind_plain("127.0.0.1:0".parse().unwrap(), config)
            .await
            .expect("bind");
        let addr = listener.local_addr();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(listener.serve(service, rx));
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (client, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        Front {
            port: addr.port(),
            client,
            stop,
            task,
        }
    }

    /// `GET /` on `<deployment>.localhost`.
    async fn get(&mut self, deployment: &str) -> Reply {
        self.client.ready().await.expect("the connection stays open");
        let request = http::Request::get("/")
            .header("host", format!("{deployment}.localhost:{}", self.port))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = self.client.send_request(request).await.expect("a response");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let body = resp.into_body().collect().await.expect("a body").to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn stop(self) {
        drop(self.client);
        let _ = self.stop.send(true);
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the listener drains")
            .expect("the listener does not panic");
    }
}

fn route(router: &Router, pool: &WorkerHandle, name: &str) {
    router.set(name, &[], Target::new(name.into(), pool.clone()));
}

/// Requests deployments other than `except`, round robin from `*next`,
/// until `except` has been evicted everywhere.
async fn until_evicted(front: &mut Front, pool: &WorkerHandle, except: &str, names: &[String], next: &mut usize) {
    let start = Instant::now();
    while pool.is_warm(except) {
        assert!(start.elapsed() < PATIENCE, "{except} is never evicted");
        let name = &names[*next % names.len()];
        *next += 1;
        if name != except {
            assert_eq!(front.get(name).await.body, *name);
        }
    }
}

const BUDGET: usize = 40 << 20;
const DEPLOYMENTS: usize = 1000;

/// The budget rule: sampled after each answered request, the pool's total
/// heap never exceeds the budget by more than one isolate (the largest one
/// measured). A thread that needs room while another thread holds the
/// least recently used isolate starts its own at once and lets the other
/// evict on its next turn, so the total may pass the budget by one isolate
/// until then; idle isolates are otherwise evicted before a start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_deployments_share_a_small_memory_budget() {
    let limits = PoolLimits {
        isolate_memory_budget: Some(BUDGET),
        ..Default::default()
    };
    let (pool, _joins) = worker::spawn_pool(2, config(), limits).expect("pool");
    let router = Arc::new(Router::new("localhost"));
    let names: Vec<String> = (0..DEPLOYMENTS).map(|i| format!("d{i}")).collect();
    // Loading validates each version by starting it: evictions begin here.
    let loads = futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let pool = pool.clone();
            async move { pool.load(name.as_str().into(), handler(&name)).await.map(|()| name) }
        })
        .buffer_unordered(8);
    let loaded: Vec<String> = loads.map(|r| r.expect("every handler loads")).collect().await;
    assert_eq!(loaded.len(), DEPLOYMENTS);
    for name in &names {
        route(&router, &pool, name);
    }
    let after_load = pool.stats();
    assert!(
        after_load.evictions > 0,
        "loading a thousand isolates evicts: {after_load:?}"
    );
    assert!(after_load.live_isolates < DEPLOYMENTS / 4, "{after_load:?}");

    let mut front = Front::start(router.clone()).await;
    for name in &names {
        let reply = front.get(name).await;
        assert_eq!((reply.status, reply.body.as_str()), (200, name.as_str()));
        let s = pool.stats();
        assert!(
            s.heap_bytes <= BUDGET + s.largest_isolate,
            "over the budget by more than one isolate after {name}: {s:?}"
        );
    }
    let s = pool.stats();
    assert!(s.largest_isolate > 0 && s.largest_isolate < BUDGET / 8, "{s:?}");
    assert!(
        s.recreations >= (DEPLOYMENTS / 2) as u64,
        "most deployments were started again after an eviction: {s:?}"
    );

    // An evicted deployment answers again, from a new isolate.
    let mut next = 0;
    until_evicted(&mut front, &pool, "d0", &names, &mut next).await;
    assert_eq!(front.get("d0").await.body, "d0");
    assert!(pool.is_warm("d0"), "d0 runs again");

    // A new version of an evicted deployment is the one started again.
    until_evicted(&mut front, &pool, "d1", &names, &mut next).await;
    pool.load("d1".into(), handler("d1 v2")).await.expect("v2 loads");
    assert_eq!(front.get("d1").await.body, "d1 v2");
    until_evicted(&mut front, &pool, "d1", &names, &mut next).await;
    assert_eq!(front.get("d1").await.body, "d1 v2", "re-created from the new version");
    // A broken version is still refused at load time, and the good one stays.
    let err = pool
        .load("d1".into(), Arc::new(Bundle::single("h.js", "export default {")))
        .await
        .expect_err("a broken bundle is refused");
    assert!(err.contains("h.js:1:"), "{err}");
    assert_eq!(front.get("d1").await.body, "d1 v2");

    // The ClientHello hook starts an evicted deployment's isolate ahead of
    // its request.
    until_evicted(&mut front, &pool, "d2", &names, &mut next).await;
    let before = pool.stats().recreations;
    router.prewarm("d2.localhost");
    let start = Instant::now();
    while !pool.is_warm("d2") {
        assert!(start.elapsed() < PATIENCE, "prewarm never started d2");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(pool.stats().recreations, before + 1, "prewarm re-created d2");
    assert_eq!(front.get("d2").await.body, "d2");
    front.stop().await;
}

/// Waits until the pool has backed deployments off `n` times. The isolate
/// answers 503 as a limit stops it, and its thread records the stop right
/// after: a client quick enough can ask again in between.
async fn backoffs_reach(pool: &WorkerHandle, n: u64) {
    let start = Instant::now();
    while pool.stats().backoffs < n {
        assert!(
            start.elapsed() < PATIENCE,
            "never backed off {n} times: {:?}",
            pool.stats()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(pool.stats().backoffs, n);
}

/// What one request to the well-behaved neighbour saw.
struct Sample {
    sent: Instant,
    answered: Instant,
    status: u16,
    body: String,
}

async fn dispatch(pool: &WorkerHandle, deployment: &str) -> (u16, String) {
    let request = HttpRequest {
        method: "GET".into(),
        url: format!("http://{deployment}.localhost/"),
        headers: outpost_js::HeaderList::default(),
        body: Body::Empty,
    };
    let (rx, _guard) = pool.dispatch(deployment, request).expect("dispatched");
    let resp = rx.await.expect("answered");
    let body = match resp.body {
        Body::Full(b) => String::from_utf8_lossy(&b).into_owned(),
        Body::Empty => String::new(),
        Body::Stream(_) => panic!("unexpected stream"),
    };
    (resp.status, body)
}

/// CPU a request of the spinning deployment may use.
const SPIN_CPU: Duration = Duration::from_millis(200);
/// Time between the neighbour's requests: fewer than `SPREAD_AT` of them
/// wait during one spin.
const NEIGHBOUR_PACE: Duration = Duration::from_millis(70);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_looping_forever_is_backed_off_and_its_neighbour_keeps_answering() {
    let (pool, _joins) = worker::spawn_pool(2, config(), PoolLimits::default()).expect("pool");
    let spin_limits = RuntimeOptions {
        cpu_limit: SPIN_CPU,
        ..RuntimeOptions::default()
    };
    pool.load_with(
        "spin".into(),
        Arc::new(Bundle::single(
            "s.js",
            "export default { fetch() { while (true) {} } };",
        )),
        spin_limits,
    )
    .await
    .expect("spin loads");
    // Homes go round robin: `calm` shares `spin`'s thread.
    pool.load("other".into(), handler("other")).await.unwrap();
    pool.load("calm".into(), handler("calm")).await.unwrap();
    assert_eq!(pool.threads_of("spin"), pool.threads_of("calm"));
    let router = Arc::new(Router::new("localhost"));
    for name in ["spin", "other", "calm"] {
        route(&router, &pool, name);
    }
    let mut front = Front::start(router).await;

    // The neighbour gets a request every NEIGHBOUR_PACE, each on its own
    // task: too few to pile up SPREAD_AT on the spinning thread, so only
    // the stalled-thread rule moves it.
    let done = Arc::new(AtomicBool::new(false));
    let neighbour = {
        let (pool, done) = (pool.clone(), done.clone());
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let pool = pool.clone();
                tasks.push(tokio::spawn(async move {
                    let sent = Instant::now();
                    let (status, body) = dispatch(&pool, "calm").await;
                    Sample {
                        sent,
                        answered: Instant::now(),
                        status,
                        body,
                    }
                }));
                tokio::time::sleep(NEIGHBOUR_PACE).await;
            }
            let mut samples = Vec::new();
            for t in tasks {
                samples.push(t.await.expect("a neighbour request task"));
            }
            samples
        })
    };

    // Three stops within the window...
    let mut spins = Vec::new();
    for _ in 0..3 {
        let sent = Instant::now();
        let reply = front.get("spin").await;
        spins.push((sent, Instant::now()));
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (503, "outpost: cpu limit exceeded")
        );
    }
    // ... back it off: answered at once, without running JS.
    backoffs_reach(&pool, 1).await;
    let reply = front.get("spin").await;
    assert_eq!((reply.status, reply.body.as_str()), (503, BACKED_OFF_BODY));
    assert_eq!(reply.headers["retry-after"], "1");
    // After the period it gets another chance, spends it, and is backed off
    // for twice as long.
    let start = Instant::now();
    let chance = loop {
        assert!(start.elapsed() < PATIENCE, "the backoff never ends");
        let sent = Instant::now();
        let reply = front.get("spin").await;
        if reply.body != BACKED_OFF_BODY {
            spins.push((sent, Instant::now()));
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "backed off for about a second"
    );
    assert_eq!(
        (chance.status, chance.body.as_str()),
        (503, "outpost: cpu limit exceeded")
    );
    backoffs_reach(&pool, 2).await;
    let reply = front.get("spin").await;
    assert_eq!((reply.status, reply.body.as_str()), (503, BACKED_OFF_BODY));
    assert_eq!(reply.headers["retry-after"], "2");
    // The other deployments never noticed.
    assert_eq!(front.get("other").await.body, "other");

    done.store(true, Ordering::Relaxed);
    let samples = neighbour.await.expect("the neighbour task");
    assert!(samples.len() > 10, "{} neighbour requests", samples.len());
    for s in &samples {
        assert_eq!((s.status, s.body.as_str()), (200, "calm"));
    }
    // While `spin` held their shared thread, `calm` was served on the other.
    let during: usize = spins
        .iter()
        .map(|&(from, to)| {
            let from = from + Duration::from_millis(25);
            samples.iter().filter(|s| s.sent >= from && s.answered <= to).count()
        })
        .sum();
    assert!(
        during >= 4,
        "{during} neighbour requests answered while the spinning handler ran"
    );
    assert!(pool.threads_of("calm").len() > 1, "calm spread off the stalled thread");
    front.stop().await;
}
