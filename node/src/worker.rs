//! The isolate pool: worker threads, each owning V8 isolates (one per
//! deployment it serves) and a single-threaded tokio runtime driving their
//! event loops. Other threads talk to a worker only through its bounded job
//! channel.
//!
//! A deployment starts on one thread; when every thread it is on has
//! [`SPREAD_AT`] requests in flight it spreads to another, which loads it
//! on demand. A full job queue, or a deployment over its in-flight cap,
//! answers `503` with `Retry-After` instead of queueing without bound.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::Poll;

use futures::channel::oneshot;
use outpost_js::{Bundle, HttpRequest, HttpResponse, Limit, Runtime, RuntimeOptions};
use tokio::sync::mpsc;

use crate::host::{LogSink, NodeHost};

/// In-flight requests on every thread of a deployment before it spreads to
/// one more thread.
pub const SPREAD_AT: usize = 4;

/// Work for an isolate thread.
enum Job {
    /// Run a request; load the deployment first if this thread lacks it.
    Request {
        slot: Arc<Slot>,
        request: HttpRequest,
        reply: oneshot::Sender<HttpResponse>,
    },
    /// Start (or replace) a deployment's isolate. The old isolate finishes
    /// its in-flight requests before it is dropped.
    Load {
        key: Arc<str>,
        bundle: Arc<Bundle>,
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// Make sure the deployment's isolate exists (cold-start hiding).
    Prewarm { slot: Arc<Slot> },
    /// Drop a deployment's isolate once its requests are done.
    Unload { key: Arc<str> },
    /// Run a task on this thread (accept loops: connections accepted here
    /// dispatch to this thread's isolates without a thread hop).
    Spawn(SpawnFn),
}

/// Makes a task to run on an isolate thread.
type SpawnFn = Box<dyn FnOnce() -> futures::future::LocalBoxFuture<'static, ()> + Send>;

/// The worker a thread runs, for dispatching without a thread hop.
struct Local {
    /// Which pool (compared, never dereferenced).
    pool: *const Pool,
    index: usize,
    worker: Rc<RefCell<Worker>>,
    /// Wakes the worker's loop so it polls isolates that got new work.
    waker: Rc<RefCell<Option<std::task::Waker>>>,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// The thread for a request: the one it arrived on when the deployment is
/// there and not busy; else the least busy of the deployment's threads;
/// when all of those are busy, one more thread (preferably `here`).
fn pick_thread(slot: &Slot, here: Option<usize>, pool_threads: usize) -> usize {
    let mut threads = slot.threads.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(h) = here
        && threads.contains(&h)
        && slot.inflight[h].load(Ordering::Relaxed) < SPREAD_AT
    {
        return h;
    }
    let (best, load) = threads
        .iter()
        .map(|&t| (t, slot.inflight[t].load(Ordering::Relaxed)))
        .min_by_key(|&(_, n)| n)
        .expect("a deployment is on at least one thread");
    if load >= SPREAD_AT && threads.len() < pool_threads {
        let next = here
            .filter(|h| !threads.contains(h))
            .or_else(|| {
                (0..pool_threads)
                    .map(|i| (threads[0] + i) % pool_threads)
                    .find(|t| !threads.contains(t))
            })
            .expect("a free thread");
        threads.push(next);
        return next;
    }
    best
}

/// A deployment as the pool knows it.
struct Slot {
    key: Arc<str>,
    bundle: RwLock<Arc<Bundle>>,
    /// Threads it is on, in the order it spread to them.
    threads: Mutex<Vec<usize>>,
    /// Requests in flight, per thread.
    inflight: Box<[AtomicUsize]>,
}

impl Slot {
    fn total_inflight(&self) -> usize {
        self.inflight.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }
}

/// Why a request could not be handed to an isolate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DispatchError {
    /// The deployment is not loaded in this pool.
    #[error("deployment is not loaded on this node")]
    NotLoaded,
    /// Queues are full: try again shortly.
    #[error("the node is saturated")]
    Busy,
    /// The worker thread has exited.
    #[error("the isolate worker is not running")]
    Gone,
}

/// Decrements a deployment's in-flight count when the response head has
/// arrived (or the request was abandoned).
pub struct InflightGuard {
    slot: Arc<Slot>,
    thread: usize,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.slot.inflight[self.thread].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Settings of the pool.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Where handler logs go.
    pub log_sink: LogSink,
    /// Isolate options (heap limit, …).
    pub runtime: RuntimeOptions,
}

/// Pool sizing and queue bounds.
#[derive(Clone, Debug)]
pub struct PoolLimits {
    /// Jobs waiting per worker thread before new requests get 503.
    pub queue_per_thread: usize,
    /// Requests in flight per deployment before new ones get 503.
    pub inflight_per_deployment: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            queue_per_thread: 1024,
            inflight_per_deployment: 4096,
        }
    }
}

struct Pool {
    threads: Vec<mpsc::Sender<Job>>,
    deployments: RwLock<HashMap<Arc<str>, Arc<Slot>>>,
    limits: PoolLimits,
    next_home: AtomicUsize,
}

/// A handle to the isolate pool; cheap to clone.
#[derive(Clone)]
pub struct WorkerHandle {
    pool: Arc<Pool>,
}

impl WorkerHandle {
    fn slot(&self, key: &str) -> Option<Arc<Slot>> {
        self.pool
            .deployments
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Loads `bundle` as `deployment` (or replaces its code) and waits for
    /// the outcome: `Err` with the load error (file:line:col) leaves the
    /// previous version serving. Requests already running finish on the
    /// version they started on.
    pub async fn load(&self, deployment: Arc<str>, bundle: Arc<Bundle>) -> Result<(), String> {
        let existing = self.slot(&deployment);
        let threads = match &existing {
            Some(slot) => slot.threads.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => vec![self.pool.next_home.fetch_add(1, Ordering::Relaxed) % self.pool.threads.len()],
        };
        // Validate on the first thread, then swap on the others.
        let (reply, rx) = oneshot::channel();
        let first = threads[0];
        self.pool.threads[first]
            .send(Job::Load {
                key: deployment.clone(),
                bundle: bundle.clone(),
                reply: Some(reply),
            })
            .await
            .map_err(|_| DispatchError::Gone.to_string())?;
        rx.await.unwrap_or_else(|_| Err(DispatchError::Gone.to_string()))?;
        for &t in &threads[1..] {
            let _ = self.pool.threads[t]
                .send(Job::Load {
                    key: deployment.clone(),
                    bundle: bundle.clone(),
                    reply: None,
                })
                .await;
        }
        match existing {
            Some(slot) => *slot.bundle.write().unwrap_or_else(|e| e.into_inner()) = bundle,
            None => {
                let slot = Arc::new(Slot {
                    key: deployment.clone(),
                    bundle: RwLock::new(bundle),
                    threads: Mutex::new(threads),
                    inflight: (0..self.pool.threads.len()).map(|_| AtomicUsize::new(0)).collect(),
                });
                self.pool
                    .deployments
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(deployment, slot);
            }
        }
        Ok(())
    }

    /// Removes a deployment; its isolates go once their requests are done.
    pub fn unload(&self, deployment: &str) {
        let slot = self
            .pool
            .deployments
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(deployment);
        if let Some(slot) = slot {
            for &t in slot.threads.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                let _ = self.pool.threads[t].try_send(Job::Unload { key: slot.key.clone() });
            }
        }
    }

    /// Whether `deployment` is loaded.
    pub fn has(&self, deployment: &str) -> bool {
        self.slot(deployment).is_some()
    }

    /// Starts the deployment's isolate on its first thread if it is not
    /// running (a no-op when it is). Used when a TLS ClientHello names the
    /// deployment's host, before its HTTP request arrives.
    pub fn prewarm(&self, deployment: &str) {
        if let Some(slot) = self.slot(deployment) {
            let t = slot.threads.lock().unwrap_or_else(|e| e.into_inner())[0];
            let _ = self.pool.threads[t].try_send(Job::Prewarm { slot });
        }
    }
    /// Hands `request` to an isolate of `deployment`. A request accepted on
    /// an isolate thread the deployment runs on stays there (no thread hop);
    /// otherwise it goes to the least busy thread the deployment is on,
    /// spreading to one more thread when all of those are busy.
    pub fn dispatch(
        &self,
        deployment: &str,
        request: HttpRequest,
    ) -> Result<(oneshot::Receiver<HttpResponse>, InflightGuard), DispatchError> {
        let slot = self.slot(deployment).ok_or(DispatchError::NotLoaded)?;
        if slot.total_inflight() >= self.pool.limits.inflight_per_deployment {
            return Err(DispatchError::Busy);
        }
        let here = LOCAL.with(|l| {
            l.borrow()
                .as_ref()
                .filter(|l| std::ptr::eq(l.pool, Arc::as_ptr(&self.pool)))
                .map(|l| l.index)
        });
        let thread = pick_thread(&slot, here, self.pool.threads.len());
        slot.inflight[thread].fetch_add(1, Ordering::Relaxed);
        let guard = InflightGuard {
            slot: slot.clone(),
            thread,
        };
        let (reply, rx) = oneshot::channel();
        if here == Some(thread) {
            LOCAL.with(|l| {
                let l = l.borrow();
                let l = l.as_ref().expect("checked above");
                let has_work = l.worker.borrow_mut().request(&slot, request, reply);
                if has_work && let Some(w) = l.waker.borrow().as_ref() {
                    w.wake_by_ref();
                }
            });
            return Ok((rx, guard));
        }
        match self.pool.threads[thread].try_send(Job::Request { slot, request, reply }) {
            Ok(()) => Ok((rx, guard)),
            Err(mpsc::error::TrySendError::Full(_)) => Err(DispatchError::Busy),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(DispatchError::Gone),
        }
    }

    /// Runs a task made by `make` on every isolate thread (accept loops).
    /// Returns a receiver per thread that completes when its task ends.
    pub fn spawn_on_each<F, Fut>(&self, make: F) -> Vec<oneshot::Receiver<()>>
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        let make = Arc::new(make);
        let mut done = Vec::new();
        for (i, tx) in self.pool.threads.iter().enumerate() {
            let (finished, rx) = oneshot::channel();
            let make = make.clone();
            let task: SpawnFn = Box::new(move || {
                Box::pin(async move {
                    make(i).await;
                    let _ = finished.send(());
                })
            });
            if tx.try_send(Job::Spawn(task)).is_ok() {
                done.push(rx);
            }
        }
        done
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.threads.len()
    }

    /// The threads `deployment` runs on.
    pub fn threads_of(&self, deployment: &str) -> Vec<usize> {
        self.slot(deployment)
            .map(|s| s.threads.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }
}

/// Starts a pool of `threads` isolate threads (`outpost-isolate-N`).
pub fn spawn_pool(
    threads: usize,
    config: WorkerConfig,
    limits: PoolLimits,
) -> std::io::Result<(WorkerHandle, Vec<std::thread::JoinHandle<()>>)> {
    let n = threads.max(1);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel(limits.queue_per_thread.max(1))).unzip();
    let pool = Arc::new(Pool {
        threads: senders,
        deployments: RwLock::default(),
        limits,
        next_home: AtomicUsize::new(0),
    });
    let mut joins = Vec::new();
    for (i, rx) in receivers.into_iter().enumerate() {
        let config = config.clone();
        // Identifies the pool on its threads; compared, never dereferenced.
        let pool_id = Arc::as_ptr(&pool) as usize;
        let join = std::thread::Builder::new()
            .name(format!("outpost-isolate-{i}"))
            .stack_size(8 << 20)
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("worker tokio runtime");
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, run(Worker::new(config), pool_id as *const Pool, i, rx));
            })?;
        joins.push(join);
    }
    Ok((WorkerHandle { pool }, joins))
}

/// Starts a pool with one isolate thread.
pub fn spawn(_name: String, config: WorkerConfig) -> std::io::Result<(WorkerHandle, std::thread::JoinHandle<()>)> {
    let (handle, mut joins) = spawn_pool(1, config, PoolLimits::default())?;
    Ok((handle, joins.remove(0)))
}

struct Worker {
    config: WorkerConfig,
    live: HashMap<Arc<str>, Runtime>,
    /// Replaced isolates finishing their in-flight requests.
    retiring: Vec<Runtime>,
}

impl Worker {
    fn new(config: WorkerConfig) -> Self {
        Worker {
            config,
            live: HashMap::new(),
            retiring: Vec::new(),
        }
    }

    fn start(&self, key: &str, bundle: &Bundle) -> Result<Runtime, String> {
        let host = Rc::new(NodeHost::new(key, self.config.log_sink.clone()));
        Runtime::new(bundle, host, self.config.runtime.clone()).map_err(|e| e.to_string())
    }

    /// The deployment's runtime on this thread, started on demand — and
    /// started afresh when a limit stopped the previous one.
    fn runtime_for(&mut self, slot: &Slot) -> Option<&mut Runtime> {
        if let Some(limit) = self.live.get(&slot.key).and_then(Runtime::poisoned_by) {
            self.live.remove(&slot.key);
            stopped_by_limit(&slot.key, limit);
        }
        if !self.live.contains_key(&slot.key) {
            let bundle = slot.bundle.read().unwrap_or_else(|e| e.into_inner()).clone();
            match self.start(&slot.key, &bundle) {
                Ok(rt) => {
                    self.live.insert(slot.key.clone(), rt);
                }
                Err(e) => {
                    tracing::error!(deployment = %slot.key, error = %e, "isolate failed to start");
                    return None;
                }
            }
        }
        self.live.get_mut(&slot.key)
    }

    /// Dispatches a request; whether the isolate now has work for the loop.
    fn request(&mut self, slot: &Slot, request: HttpRequest, reply: oneshot::Sender<HttpResponse>) -> bool {
        match self.runtime_for(slot) {
            Some(rt) => {
                rt.dispatch(request, reply);
                rt.has_work()
            }
            None => {
                let _ = reply.send(HttpResponse::text(500, "Internal Server Error\n"));
                false
            }
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Request { slot, request, reply } => {
                self.request(&slot, request, reply);
            }
            Job::Spawn(make) => {
                tokio::task::spawn_local(make());
            }
            Job::Prewarm { slot } => {
                let _ = self.runtime_for(&slot);
            }
            Job::Load { key, bundle, reply } => {
                let result = self.start(&key, &bundle).map(|rt| {
                    if let Some(old) = self.live.insert(key, rt) {
                        self.retiring.push(old);
                    }
                });
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Job::Unload { key } => {
                if let Some(old) = self.live.remove(&key) {
                    self.retiring.push(old);
                }
            }
        }
    }

    fn poll_isolates(&mut self, cx: &mut std::task::Context<'_>) {
        // An isolate a limit stopped has answered its requests with 503; it
        // goes now, and the deployment's next request starts a fresh one.
        self.live.retain(|key, rt| {
            let _ = rt.poll_event_loop(cx);
            match rt.poisoned_by() {
                Some(limit) => {
                    stopped_by_limit(key, limit);
                    false
                }
                None => true,
            }
        });
        // A replaced isolate goes once its requests have answered in full
        // (or nothing is left for it to do).
        self.retiring.retain_mut(|rt| {
            let idle = rt.poll_event_loop(cx).is_ready();
            !idle && rt.open_requests() > 0
        });
    }
}

/// Logs and counts an isolate a limit stopped; it is dropped, and the
/// deployment's next request on this thread starts a fresh one.
fn stopped_by_limit(deployment: &str, limit: Limit) {
    tracing::warn!(
        deployment,
        limit = limit.as_str(),
        "isolate stopped by a limit; replacing it"
    );
    crate::metrics::record_isolate_stopped(limit.as_str());
}

/// A worker thread's loop: jobs from other threads, and the event loops of
/// its isolates (which requests dispatched on this thread also feed).
async fn run(worker: Worker, pool: *const Pool, index: usize, mut rx: mpsc::Receiver<Job>) {
    let worker = Rc::new(RefCell::new(worker));
    let waker: Rc<RefCell<Option<std::task::Waker>>> = Rc::default();
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            pool,
            index,
            worker: worker.clone(),
            waker: waker.clone(),
        })
    });
    std::future::poll_fn(|cx| {
        if waker.borrow().as_ref().is_none_or(|w| !w.will_wake(cx.waker())) {
            *waker.borrow_mut() = Some(cx.waker().clone());
        }
        loop {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(job)) => worker.borrow_mut().handle(job),
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        worker.borrow_mut().poll_isolates(cx);
        Poll::Pending
    })
    .await;
    // The isolates are dropped here, on their own thread.
    LOCAL.with(|l| l.borrow_mut().take());
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_js::Body;

    fn request() -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: "http://t.localhost/".into(),
            headers: vec![],
            body: Body::Empty,
        }
    }

    fn text(resp: HttpResponse) -> String {
        match resp.body {
            Body::Full(b) => String::from_utf8_lossy(&b).into_owned(),
            Body::Empty => String::new(),
            Body::Stream(_) => panic!("unexpected stream"),
        }
    }

    fn config() -> WorkerConfig {
        WorkerConfig {
            log_sink: LogSink::Tracing,
            runtime: RuntimeOptions::default(),
        }
    }

    const SLOW: &str = "export default { async fetch() { await new Promise(r => setTimeout(r, 100)); return new Response('slow'); } };";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_deployment_spreads_to_more_threads() {
        let (pool, _joins) = spawn_pool(2, config(), PoolLimits::default()).unwrap();
        let key: Arc<str> = "slow".into();
        pool.load(key.clone(), Arc::new(Bundle::single("s.js", SLOW)))
            .await
            .unwrap();
        assert_eq!(pool.threads_of(&key).len(), 1);
        let mut pending = Vec::new();
        for _ in 0..(SPREAD_AT * 2 + 1) {
            pending.push(pool.dispatch(&key, request()).unwrap());
        }
        assert_eq!(pool.threads_of(&key).len(), 2, "spread to the second thread");
        for (rx, guard) in pending {
            assert_eq!(text(rx.await.unwrap()), "slow");
            drop(guard);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saturation_answers_busy_instead_of_queueing() {
        let limits = PoolLimits {
            queue_per_thread: 64,
            inflight_per_deployment: 3,
        };
        let (pool, _joins) = spawn_pool(1, config(), limits).unwrap();
        let key: Arc<str> = "slow".into();
        pool.load(key.clone(), Arc::new(Bundle::single("s.js", SLOW)))
            .await
            .unwrap();
        let held: Vec<_> = (0..3).map(|_| pool.dispatch(&key, request()).unwrap()).collect();
        assert_eq!(pool.dispatch(&key, request()).err(), Some(DispatchError::Busy));
        for (rx, guard) in held {
            rx.await.unwrap();
            drop(guard);
        }
        assert!(pool.dispatch(&key, request()).is_ok(), "accepts again once drained");
        assert_eq!(
            pool.dispatch("missing", request()).err(),
            Some(DispatchError::NotLoaded)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn swapping_under_load_fails_no_request() {
        let (pool, _joins) = spawn_pool(2, config(), PoolLimits::default()).unwrap();
        let key: Arc<str> = "app".into();
        let version = |v: u32| {
            Arc::new(Bundle::single(
                "a.js",
                format!(
                    "export default {{ async fetch() {{ await new Promise(r => setTimeout(r, 2)); return new Response('v{v}'); }} }};"
                ),
            ))
        };
        pool.load(key.clone(), version(0)).await.unwrap();
        let load = {
            let pool = pool.clone();
            let key = key.clone();
            tokio::spawn(async move {
                for v in 1..=5 {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    pool.load(key.clone(), version(v)).await.unwrap();
                }
            })
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut total = 0;
        while !load.is_finished() || total < 50 {
            let batch: Vec<_> = (0..4)
                .map(|_| pool.dispatch(&key, request()).expect("dispatched"))
                .collect();
            for (rx, _guard) in batch {
                let resp = rx.await.expect("answered");
                assert_eq!(resp.status, 200);
                seen.insert(text(resp));
                total += 1;
            }
        }
        load.await.unwrap();
        let (rx, _g) = pool.dispatch(&key, request()).unwrap();
        assert_eq!(text(rx.await.unwrap()), "v5");
        assert!(seen.len() >= 2, "requests ran on several versions: {seen:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_isolate_stopped_by_a_limit_is_replaced() {
        let (pool, _joins) = spawn_pool(1, config(), PoolLimits::default()).unwrap();
        let key: Arc<str> = "spin".into();
        let code = "let served = 0;\n\
            export default { fetch(req) { \
                served++; \
                if (new URL(req.url).pathname === '/spin') for (;;) {} \
                return new Response('served ' + served); } };";
        pool.load(key.clone(), Arc::new(Bundle::single("s.js", code)))
            .await
            .unwrap();
        let (rx, _g) = pool.dispatch(&key, request()).unwrap();
        assert_eq!(text(rx.await.unwrap()), "served 1");
        let mut spin = request();
        spin.url = "http://t.localhost/spin".into();
        let (rx, _g) = pool.dispatch(&key, spin).unwrap();
        let resp = rx.await.unwrap();
        assert_eq!(resp.status, 503);
        assert_eq!(text(resp), "outpost: cpu limit exceeded");
        // A fresh isolate (its module state starts over) serves the next one.
        let (rx, _g) = pool.dispatch(&key, request()).unwrap();
        assert_eq!(text(rx.await.unwrap()), "served 1");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_version_leaves_the_old_one_serving() {
        let (pool, _joins) = spawn_pool(1, config(), PoolLimits::default()).unwrap();
        let key: Arc<str> = "app".into();
        pool.load(
            key.clone(),
            Arc::new(Bundle::single(
                "a.js",
                "export default { fetch() { return new Response('good'); } };",
            )),
        )
        .await
        .unwrap();
        let err = pool
            .load(key.clone(), Arc::new(Bundle::single("a.js", "export default {")))
            .await
            .unwrap_err();
        assert!(err.contains("a.js:1:"), "{err}");
        let (rx, _g) = pool.dispatch(&key, request()).unwrap();
        assert_eq!(text(rx.await.unwrap()), "good");
    }
}
