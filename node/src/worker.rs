//! The isolate pool: worker threads, each owning V8 isolates (one per
//! deployment it serves) and a single-threaded tokio runtime driving their
//! event loops. Other threads talk to a worker only through its bounded job
//! channel, and through the pool-wide accounting beside it.
//!
//! A deployment starts on one thread; when every thread it is on has
//! [`SPREAD_AT`] requests in flight, or has been busy with one piece of work
//! for longer than [`STALLED_AFTER`] (a neighbour spinning until its CPU
//! limit), it spreads to another, which loads it on demand. A full job
//! queue, or a deployment over its in-flight cap, answers `503` with
//! `Retry-After` instead of queueing without bound.
//!
//! Density: a thread polls only the isolates that were woken or got a
//! request (each has its own waker, see `ready`), so idle isolates cost it
//! nothing. Under a memory budget ([`PoolLimits::isolate_memory_budget`])
//! idle isolates are evicted least recently used first (see `memory`); the
//! deployment stays loaded, and its next request (or a TLS ClientHello
//! naming it, through [`WorkerHandle::prewarm`]) starts an isolate again
//! from its current version.
//!
//! Neighbour protection: a deployment whose isolates a limit stops
//! [`backoff::STRIKES`] times within [`backoff::WINDOW`] is backed off: its
//! requests answer `503` with `Retry-After` without running JS, for a period
//! that doubles while it keeps offending (see [`backoff`]). From its first
//! stop until a quiet period passes, its requests run on the quarantine
//! thread, which serves no connections, wherever they arrive.

pub mod backoff;
mod memory;
mod ready;
mod thread;

use foldhash::HashMap;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use outpost_js::{Body, Bundle, HttpRequest, HttpResponse, RuntimeOptions};
use tokio::sync::mpsc;
use tokio::sync::oneshot;

use crate::host::LogSink;
use crate::local_copy::LocalCopy;
pub use memory::PoolStats;
use ready::ReadyQueue;
use thread::{Worker, run};

/// In-flight requests on every thread of a deployment before it spreads to
/// one more thread.
pub const SPREAD_AT: usize = 4;

/// How long one piece of a thread's work (a job such as a request or an
/// isolate start, or a turn of one isolate's event loop) may last before
/// the thread counts as busy for every deployment on it, so their requests
/// spread to other threads.
pub const STALLED_AFTER: Duration = Duration::from_millis(10);

/// The body of the `503` a backed-off deployment's requests get.
pub const BACKED_OFF_BODY: &str = "outpost: deployment backed off after repeated limit violations";

/// Work for an isolate thread.
enum Job {
    /// Run a request; load the deployment first if this thread lacks it.
    Request {
        slot: Arc<Slot>,
        request: HttpRequest,
        reply: oneshot::Sender<HttpResponse>,
    },
    /// Start a deployment's isolate from `code`, replacing the one running
    /// here (which finishes its in-flight requests before it is dropped).
    /// With a `reply` this validates a new version, which becomes the
    /// deployment's code once its isolate has started; without one, only an
    /// isolate already running here is replaced.
    Load {
        slot: Arc<Slot>,
        code: Arc<Code>,
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
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// What the pool's handle and its threads share. Threads hold no sender of
/// the job channels, so dropping the last handle ends them.
struct Shared {
    /// Time zero of the pool's clocks (LRU stamps, turns, backoffs, memory
    /// checks), the epoch below.
    clock: outpost_js::clock::CoarseClock,
    memory: memory::Budget,
    /// Every thread: the serving ones, then the quarantine thread.
    threads: Box<[ThreadState]>,
    /// Threads that accept connections and serve deployments; the one
    /// after them is the quarantine thread, where offenders run.
    serving: usize,
}

/// What other threads see of a worker thread.
struct ThreadState {
    /// Its isolates to poll; wakes its loop.
    ready: Arc<ReadyQueue>,
    /// Asked to evict idle isolates until the pool fits its budget.
    reclaim: AtomicBool,
    /// When its current piece of work began (µs since the epoch, plus
    /// one); 0 while it waits.
    busy_since: AtomicU64,
    /// When its least recently used idle isolate last got a request (µs
    /// since the epoch); `u64::MAX` when it has none. Kept under a budget.
    oldest_use: AtomicU64,
}

impl Shared {
    /// `serving` threads plus the quarantine thread.
    fn new(serving: usize, budget: Option<usize>) -> Self {
        Shared {
            clock: outpost_js::clock::CoarseClock::new(),
            memory: memory::Budget::new(budget),
            serving,
            threads: (0..=serving)
                .map(|_| ThreadState {
                    ready: Arc::default(),
                    reclaim: AtomicBool::new(false),
                    busy_since: AtomicU64::new(0),
                    oldest_use: AtomicU64::new(u64::MAX),
                })
                .collect(),
        }
    }

    fn now_us(&self) -> u64 {
        self.clock.nanos_at(Instant::now()) / 1_000
    }

    fn now_ms(&self) -> u64 {
        self.clock.nanos_at(Instant::now()) / 1_000_000
    }

    /// Nanoseconds since the epoch on the coarse clock, for checks made
    /// after every request that need no more than milliseconds.
    fn coarse_now(&self) -> u64 {
        self.clock.now()
    }

    /// Whether thread `t` has been on one piece of work for longer than
    /// [`STALLED_AFTER`]. The clock is read (into `now`) only when the
    /// thread is busy at all.
    fn stalled(&self, t: usize, now: &mut Option<u64>) -> bool {
        let began = self.threads[t].busy_since.load(Ordering::Relaxed);
        if began == 0 {
            return false;
        }
        let now = *now.get_or_insert_with(|| self.now_us());
        now.saturating_sub(began - 1) > STALLED_AFTER.as_micros() as u64
    }

    /// The thread other than `me`, and not already asked to reclaim, whose
    /// least recently used idle isolate is the oldest: (its last use, thread).
    fn oldest_elsewhere(&self, me: usize) -> Option<(u64, usize)> {
        self.threads
            .iter()
            .enumerate()
            .filter(|&(t, s)| t != me && !s.reclaim.load(Ordering::Relaxed))
            .map(|(t, s)| (s.oldest_use.load(Ordering::Relaxed), t))
            .filter(|&(used, _)| used != u64::MAX)
            .min()
    }

    /// Asks thread `t` to evict idle isolates on its next turn.
    fn ask_to_reclaim(&self, t: usize) {
        let state = &self.threads[t];
        if !state.reclaim.swap(true, Ordering::AcqRel) {
            state.ready.wake_loop();
        }
    }
}

/// The thread for a request: the one it arrived on when the deployment is
/// there and not busy; else the least busy of the deployment's threads (a
/// stalled thread counts as busy); when all of those are busy, one more
/// thread (preferably `here`, else one that is not stalled).
fn pick_thread(slot: &Slot, here: Option<usize>, shared: &Shared) -> usize {
    // The common case, without the lock: the deployment is on the thread
    // the request arrived on, that thread is not busy with it, and no limit
    // stopped it lately (an offender runs on the quarantine thread, below,
    // even where it still has an isolate).
    if let Some(h) = here
        && slot.on[h].load(Ordering::Acquire)
        && slot.inflight[h].load(Ordering::Relaxed) < SPREAD_AT
        && !slot.backoff.is_offender(|| shared.now_ms())
    {
        return h;
    }
    let pool_threads = shared.serving;
    let quarantine = shared.serving;
    let mut threads = slot.threads.lock().unwrap_or_else(|e| e.into_inner());
    let mut now = None;
    if slot.backoff.is_offender(|| shared.now_ms()) {
        // A deployment a limit stopped lately runs on the quarantine thread,
        // which accepts no connections: its next endless loop stalls no
        // thread that serves its neighbours.
        if !threads.contains(&quarantine) {
            slot.spread_to(&mut threads, quarantine);
        }
        return quarantine;
    }
    let (best, load) = threads
        .iter()
        .filter(|&&t| t != quarantine)
        .map(|&t| {
            let mut load = slot.inflight[t].load(Ordering::Relaxed);
            if shared.stalled(t, &mut now) {
                load += SPREAD_AT;
            }
            (t, load)
        })
        .min_by_key(|&(_, n)| n)
        .expect("a deployment is on at least one thread");
    let spread_over = threads.iter().filter(|&&t| t != quarantine).count();
    if load >= SPREAD_AT && spread_over < pool_threads {
        let first = threads[0];
        let free = |t: &usize| !threads.contains(t);
        let others = || (0..pool_threads).map(|i| (first + i) % pool_threads).filter(free);
        let next = here
            .filter(free)
            .or_else(|| others().find(|&t| !shared.stalled(t, &mut now)))
            .or_else(|| others().next())
            .expect("a free thread");
        slot.spread_to(&mut threads, next);
        return next;
    }
    best
}

/// A version of a deployment: its code and the limits its isolates run
/// under.
struct Code {
    bundle: Arc<Bundle>,
    options: RuntimeOptions,
}

/// A deployment as the pool knows it.
struct Slot {
    key: Arc<str>,
    /// The version isolates start from.
    code: RwLock<Arc<Code>>,
    /// Threads it is on, in the order it spread to them. It only grows.
    threads: Mutex<Vec<usize>>,
    /// Per thread, whether it is in `threads`: read without the lock.
    on: Box<[AtomicBool]>,
    /// Requests in flight, per thread.
    inflight: Box<[AtomicUsize]>,
    /// Threads it has a live isolate on now.
    warm: AtomicUsize,
    /// Its limit stops, and whether it is backed off.
    backoff: backoff::Backoff,
}

impl Slot {
    fn new(key: Arc<str>, code: Arc<Code>, home: usize, pool_threads: usize) -> Self {
        Slot {
            key,
            code: RwLock::new(code),
            threads: Mutex::new(vec![home]),
            on: (0..pool_threads).map(|t| AtomicBool::new(t == home)).collect(),
            inflight: (0..pool_threads).map(|_| AtomicUsize::new(0)).collect(),
            warm: AtomicUsize::new(0),
            backoff: backoff::Backoff::default(),
        }
    }

    /// Adds thread `t` to `threads` (the locked list).
    fn spread_to(&self, threads: &mut Vec<usize>, t: usize) {
        threads.push(t);
        self.on[t].store(true, Ordering::Release);
    }

    fn total_inflight(&self) -> usize {
        self.inflight.iter().map(|n| n.load(Ordering::Relaxed)).sum()
    }

    fn code(&self) -> Arc<Code> {
        self.code.read().unwrap_or_else(|e| e.into_inner()).clone()
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
    /// The deployment and thread counted; `None` when the request was
    /// answered without reaching a thread.
    held: Option<(Arc<Slot>, usize)>,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if let Some((slot, thread)) = &self.held {
            slot.inflight[*thread].fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The `503` a backed-off deployment's requests get, with `Retry-After` in
/// whole seconds (rounded up).
fn backed_off_response(remaining: Duration) -> HttpResponse {
    let seconds = remaining.as_millis().div_ceil(1000).max(1);
    HttpResponse {
        status: 503,
        headers: http::HeaderMap::from_iter([
            (
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain;charset=UTF-8"),
            ),
            (http::header::RETRY_AFTER, http::HeaderValue::from(seconds as u64)),
        ]),
        body: Body::Full(Bytes::from_static(BACKED_OFF_BODY.as_bytes())),
    }
}

/// Settings of the pool.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Where handler logs go.
    pub log_sink: LogSink,
    /// Isolate options (heap limit, …).
    pub runtime: RuntimeOptions,
    /// Outbound `fetch()`: address policy, DNS, TLS roots, timeouts.
    pub outbound: Arc<crate::outbound::Outbound>,
}

/// Pool sizing, queue bounds and the memory budget.
#[derive(Clone, Debug)]
pub struct PoolLimits {
    /// Jobs waiting per worker thread before new requests get 503.
    pub queue_per_thread: usize,
    /// Requests in flight per deployment before new ones get 503.
    pub inflight_per_deployment: usize,
    /// V8 heap all isolates of the pool may use together, in bytes (`None`
    /// or 0: unlimited). Idle isolates are evicted, least recently used
    /// first, to stay under it; busy ones are not, so the total can pass it
    /// while every isolate is serving.
    pub isolate_memory_budget: Option<usize>,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            queue_per_thread: 1024,
            inflight_per_deployment: 4096,
            isolate_memory_budget: None,
        }
    }
}

/// A request handed to an isolate by [`WorkerHandle::dispatch_cached`].
pub struct Dispatched {
    /// Where its response head comes from.
    pub reply: oneshot::Receiver<HttpResponse>,
    /// Counts it in flight on its deployment until dropped.
    pub inflight: InflightGuard,
    /// When the handler's JS returned, if it ran on this thread during the
    /// dispatch: a response already in `reply` was ready by then, so this
    /// reading times it (no need to read the clock again).
    pub ran_until: Option<Instant>,
}

/// The deployments loaded, by key.
type Deployments = HashMap<Arc<str>, Arc<Slot>>;

/// A connection's copy of a pool's deployments (see [`LocalCopy`]), for
/// [`WorkerHandle::dispatch_cached`].
#[derive(Default)]
pub struct SlotCache(LocalCopy<Deployments>);

struct Pool {
    threads: Vec<mpsc::Sender<Job>>,
    /// Read on every request without a lock; deploys swap in a new map.
    deployments: Arc<ArcSwap<Deployments>>,
    limits: PoolLimits,
    /// Limits of deployments loaded without their own.
    default_options: RuntimeOptions,
    next_home: AtomicUsize,
    shared: Arc<Shared>,
}

/// A handle to the isolate pool; cheap to clone.
#[derive(Clone)]
pub struct WorkerHandle {
    pool: Arc<Pool>,
}

impl WorkerHandle {
    fn slot(&self, key: &str) -> Option<Arc<Slot>> {
        self.pool.deployments.load().get(key).cloned()
    }

    /// Loads `bundle` as `deployment` (or replaces its code) and waits for
    /// the outcome: `Err` with the load error (file:line:col) leaves the
    /// previous version serving. Requests already running finish on the
    /// version they started on.
    pub async fn load(&self, deployment: Arc<str>, bundle: Arc<Bundle>) -> Result<(), String> {
        let options = self.pool.default_options.clone();
        self.load_with(deployment, bundle, options).await
    }

    /// [`load`](Self::load) with the deployment's own limits: every isolate
    /// started for it (first start, spreading, re-creation after an
    /// eviction or a limit stop) uses `options`.
    ///
    /// The new version is validated by starting its isolate on the
    /// deployment's first thread (evicting idle isolates if the memory
    /// budget needs it); a version that starts clears a backoff.
    pub async fn load_with(
        &self,
        deployment: Arc<str>,
        bundle: Arc<Bundle>,
        options: RuntimeOptions,
    ) -> Result<(), String> {
        let code = Arc::new(Code { bundle, options });
        let existing = self.slot(&deployment);
        let slot = match &existing {
            Some(slot) => slot.clone(),
            None => {
                let serving = self.pool.shared.serving;
                let home = self.pool.next_home.fetch_add(1, Ordering::Relaxed) % serving;
                Arc::new(Slot::new(
                    deployment.clone(),
                    code.clone(),
                    home,
                    self.pool.threads.len(),
                ))
            }
        };
        let threads = slot.threads.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Validate on the first thread (which makes it the deployment's
        // version), then swap on the others.
        let (reply, rx) = oneshot::channel();
        self.pool.threads[threads[0]]
            .send(Job::Load {
                slot: slot.clone(),
                code: code.clone(),
                reply: Some(reply),
            })
            .await
            .map_err(|_| DispatchError::Gone.to_string())?;
        rx.await.unwrap_or_else(|_| Err(DispatchError::Gone.to_string()))?;
        for &t in &threads[1..] {
            let _ = self.pool.threads[t]
                .send(Job::Load {
                    slot: slot.clone(),
                    code: code.clone(),
                    reply: None,
                })
                .await;
        }
        if existing.is_none() {
            self.pool.deployments.rcu(|map| {
                let mut map = HashMap::clone(map);
                map.insert(deployment.clone(), slot.clone());
                map
            });
        }
        Ok(())
    }

    /// Removes a deployment; its isolates go once their requests are done.
    pub fn unload(&self, deployment: &str) {
        let mut slot = None;
        self.pool.deployments.rcu(|map| {
            let mut map = HashMap::clone(map);
            slot = map.remove(deployment);
            map
        });
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

    /// Whether `deployment` has a live isolate on some thread now (false
    /// once it has been evicted everywhere; its next request starts one).
    pub fn is_warm(&self, deployment: &str) -> bool {
        self.slot(deployment)
            .is_some_and(|s| s.warm.load(Ordering::Acquire) > 0)
    }

    /// Starts the deployment's isolate on its first thread if it is not
    /// running (a no-op when it is, or while the deployment is backed off).
    /// Used when a TLS ClientHello names the deployment's host, before its
    /// HTTP request arrives.
    pub fn prewarm(&self, deployment: &str) {
        if let Some(slot) = self.slot(deployment) {
            if slot.backoff.remaining(|| self.pool.shared.now_ms()).is_some() {
                return;
            }
            let t = slot.threads.lock().unwrap_or_else(|e| e.into_inner())[0];
            let _ = self.pool.threads[t].try_send(Job::Prewarm { slot });
        }
    }

    /// Hands `request` to an isolate of `deployment`. A request accepted on
    /// an isolate thread the deployment runs on stays there (no thread hop);
    /// otherwise it goes to the least busy thread the deployment is on,
    /// spreading to one more thread when all of those are busy. A backed-off
    /// deployment's request is answered `503` here, without reaching JS.
    pub fn dispatch(
        &self,
        deployment: &str,
        request: HttpRequest,
    ) -> Result<(oneshot::Receiver<HttpResponse>, InflightGuard), DispatchError> {
        let slot = self.slot(deployment).ok_or(DispatchError::NotLoaded)?;
        self.dispatch_to(&slot, request, None).map(|d| (d.reply, d.inflight))
    }

    /// [`dispatch`](Self::dispatch) of a request that arrived at `arrived`
    /// (a clock reading taken just before: when the request stays on this
    /// thread, its isolate uses it instead of taking another), with the
    /// deployment looked up in a connection's copy of the pool's
    /// deployments.
    pub fn dispatch_cached(
        &self,
        cache: &mut SlotCache,
        deployment: &str,
        request: HttpRequest,
        arrived: Instant,
    ) -> Result<Dispatched, DispatchError> {
        let deployments = cache.0.load(&self.pool.deployments);
        let slot = deployments.get(deployment).ok_or(DispatchError::NotLoaded)?;
        self.dispatch_to(slot, request, Some(arrived))
    }

    fn dispatch_to(
        &self,
        slot: &Arc<Slot>,
        request: HttpRequest,
        arrived: Option<Instant>,
    ) -> Result<Dispatched, DispatchError> {
        let shared = &self.pool.shared;
        if let Some(remaining) = slot.backoff.remaining(|| shared.now_ms()) {
            crate::metrics::record_rejected("backed_off");
            let (reply, rx) = oneshot::channel();
            let _ = reply.send(backed_off_response(remaining));
            return Ok(Dispatched {
                reply: rx,
                inflight: InflightGuard { held: None },
                ran_until: None,
            });
        }
        if slot.total_inflight() >= self.pool.limits.inflight_per_deployment {
            return Err(DispatchError::Busy);
        }
        let here = LOCAL.with(|l| {
            l.borrow()
                .as_ref()
                .filter(|l| std::ptr::eq(l.pool, Arc::as_ptr(&self.pool)))
                .map(|l| l.index)
        });
        let thread = pick_thread(slot, here, shared);
        slot.inflight[thread].fetch_add(1, Ordering::Relaxed);
        let guard = InflightGuard {
            held: Some((slot.clone(), thread)),
        };
        let (reply, rx) = oneshot::channel();
        let mut dispatched = Dispatched {
            reply: rx,
            inflight: guard,
            ran_until: None,
        };
        if here == Some(thread) {
            dispatched.ran_until = LOCAL.with(|l| {
                let l = l.borrow();
                let l = l.as_ref().expect("checked above");
                l.worker.borrow_mut().request(slot, request, reply, arrived)
            });
            return Ok(dispatched);
        }
        let slot = slot.clone();
        match self.pool.threads[thread].try_send(Job::Request { slot, request, reply }) {
            Ok(()) => Ok(dispatched),
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
        for (i, tx) in self.pool.threads.iter().enumerate().take(self.pool.shared.serving) {
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

    /// Number of serving threads (the quarantine thread not counted).
    pub fn threads(&self) -> usize {
        self.pool.shared.serving
    }

    /// The threads `deployment` runs on.
    pub fn threads_of(&self, deployment: &str) -> Vec<usize> {
        self.slot(deployment)
            .map(|s| s.threads.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }

    /// The pool's isolates and what they use, evictions, re-creations and
    /// backoffs so far.
    pub fn stats(&self) -> PoolStats {
        self.pool.shared.memory.stats()
    }
}

/// Starts a pool of `threads` serving isolate threads (`outpost-isolate-N`)
/// and the quarantine thread (`outpost-isolate-q`), where deployments a
/// limit stopped lately run. Connections are accepted on serving threads
/// only ([`WorkerHandle::spawn_on_each`]).
pub fn spawn_pool(
    threads: usize,
    config: WorkerConfig,
    limits: PoolLimits,
) -> std::io::Result<(WorkerHandle, Vec<std::thread::JoinHandle<()>>)> {
    let n = threads.max(1);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..=n).map(|_| mpsc::channel(limits.queue_per_thread.max(1))).unzip();
    let shared = Arc::new(Shared::new(n, limits.isolate_memory_budget.filter(|&b| b > 0)));
    let pool = Arc::new(Pool {
        threads: senders,
        deployments: Arc::default(),
        limits,
        default_options: config.runtime.clone(),
        next_home: AtomicUsize::new(0),
        shared: shared.clone(),
    });
    let mut joins = Vec::new();
    for (i, rx) in receivers.into_iter().enumerate() {
        let config = config.clone();
        let shared = shared.clone();
        // Identifies the pool on its threads; compared, never dereferenced.
        let pool_id = Arc::as_ptr(&pool) as usize;
        let join = std::thread::Builder::new()
            .name(if i == n {
                "outpost-isolate-q".into()
            } else {
                format!("outpost-isolate-{i}")
            })
            .stack_size(8 << 20)
            .spawn(move || {
                if i == n {
                    // Offenders get what CPU the serving threads leave.
                    demote_this_thread();
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("worker tokio runtime");
                let local = tokio::task::LocalSet::new();
                let worker = Worker::new(config, i, shared);
                local.block_on(&rt, run(worker, pool_id as *const Pool, i, rx));
            })?;
        joins.push(join);
    }
    Ok((WorkerHandle { pool }, joins))
}

/// Lowers this thread to the lowest scheduling priority (nice 19), so the
/// quarantine thread's endless loops take CPU only when the serving
/// threads leave it.
fn demote_this_thread() {
    if let Err(e) = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min) {
        tracing::warn!(error = %e, "cannot lower the quarantine thread's priority");
    }
}

/// Starts a pool with one serving isolate thread; the join handle is the
/// serving thread's (the quarantine thread ends with it, once the last
/// handle is dropped).
pub fn spawn(_name: String, config: WorkerConfig) -> std::io::Result<(WorkerHandle, std::thread::JoinHandle<()>)> {
    let (handle, mut joins) = spawn_pool(1, config, PoolLimits::default())?;
    Ok((handle, joins.remove(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use outpost_js::Body;

    fn request() -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: "http://t.localhost/".into(),
            headers: outpost_js::HeaderList::default(),
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
            outbound: Default::default(),
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

    /// A pool with one serving thread, and `spin` (an endless loop that a
    /// 20 ms CPU limit stops) loaded on it.
    async fn pool_with_spin() -> (WorkerHandle, Vec<std::thread::JoinHandle<()>>, Arc<str>) {
        let (pool, joins) = spawn_pool(1, config(), PoolLimits::default()).unwrap();
        let spin: Arc<str> = "spin".into();
        let options = RuntimeOptions {
            cpu_limit: std::time::Duration::from_millis(20),
            ..RuntimeOptions::default()
        };
        pool.load_with(
            spin.clone(),
            Arc::new(Bundle::single("s.js", "export default { fetch() { for (;;) {} } };")),
            options,
        )
        .await
        .unwrap();
        (pool, joins, spin)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deployment_a_limit_stopped_moves_to_the_quarantine_thread() {
        let (pool, _joins, spin) = pool_with_spin().await;
        let hello: Arc<str> = "hello".into();
        pool.load(
            hello.clone(),
            Arc::new(Bundle::single(
                "h.js",
                "export default { fetch() { return new Response('hi'); } };",
            )),
        )
        .await
        .unwrap();
        assert_eq!(pool.threads(), 1);
        assert_eq!(pool.threads_of(&spin), vec![0]);
        // The first stop happens on the serving thread; once the pool has
        // recorded it, the deployment's requests go to the quarantine thread.
        let mut moved = false;
        for _ in 0..50 {
            let (rx, _guard) = pool.dispatch(&spin, request()).unwrap();
            let resp = rx.await.unwrap();
            assert_eq!(resp.status, 503);
            if pool.threads_of(&spin).contains(&1) {
                moved = true;
                break;
            }
        }
        assert!(moved, "still on {:?}", pool.threads_of(&spin));
        assert_eq!(pool.threads_of(&hello), vec![0], "the neighbour stays on its thread");
        let (rx, _guard) = pool.dispatch(&hello, request()).unwrap();
        assert_eq!(text(rx.await.unwrap()), "hi");
    }

    /// An offender's requests go to the quarantine thread even when they
    /// arrive on a thread it is on, where they would otherwise run in
    /// place: its endless loop stalls none of the connections that thread
    /// serves.
    /// Runs `f` on the pool's one serving thread, as a connection accepted
    /// there runs, and returns its result.
    async fn on_the_serving_thread<F, Fut, T>(pool: &WorkerHandle, f: F) -> T
    where
        F: FnOnce(WorkerHandle) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = Mutex::new(Some((f, tx)));
        let handle = pool.clone();
        let done = pool.spawn_on_each(move |_| {
            let (handle, job) = (handle.clone(), job.lock().unwrap().take());
            async move {
                if let Some((f, tx)) = job {
                    let _ = tx.send(f(handle).await);
                }
            }
        });
        assert_eq!(done.len(), 1, "one serving thread");
        rx.await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_offender_arriving_on_its_own_thread_runs_on_the_quarantine_thread() {
        let (pool, _joins, spin) = pool_with_spin().await;
        // Stopped once, on its thread: an offender from now on.
        let (rx, _guard) = pool.dispatch(&spin, request()).unwrap();
        assert_eq!(rx.await.unwrap().status, 503);
        assert_eq!(pool.threads_of(&spin), vec![0]);
        // The next request arrives on thread 0. Run in place, it would be
        // answered (503, after its CPU limit) by the time `dispatch`
        // returns; sent to the quarantine thread, it is still running.
        let (answered, status) = on_the_serving_thread(&pool, |handle| async move {
            let (mut reply, _guard) = handle.dispatch("spin", request()).unwrap();
            match reply.try_recv() {
                Ok(resp) => (true, resp.status),
                Err(_) => (false, reply.await.map(|r| r.status).unwrap_or(0)),
            }
        })
        .await;
        assert!(!answered, "the offender ran on the thread its request arrived on");
        assert_eq!(status, 503);
        assert!(pool.threads_of(&spin).contains(&1), "on {:?}", pool.threads_of(&spin));
    }

    /// A request that arrives on its isolate's thread with the ingress's
    /// clock reading, when the isolate has to be started for it first
    /// (here it was evicted): its time counts from after the start, whose
    /// top level takes twice the request's wall-clock limit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starting_an_isolate_for_a_request_is_not_charged_to_it() {
        let limits = PoolLimits {
            isolate_memory_budget: Some(1),
            ..Default::default()
        };
        let (pool, _joins) = spawn_pool(1, config(), limits).unwrap();
        let wall_limit = std::time::Duration::from_millis(300);
        let slow_start = format!(
            "const end = Date.now() + {}; while (Date.now() < end) {{}}\n\
             export default {{ async fetch() {{ await new Promise(r => setTimeout(r, 1)); return new Response('up'); }} }};",
            2 * wall_limit.as_millis()
        );
        let options = RuntimeOptions {
            wall_limit,
            startup_cpu_limit: std::time::Duration::from_secs(5),
            ..RuntimeOptions::default()
        };
        pool.load_with("slow".into(), Arc::new(Bundle::single("s.js", slow_start)), options)
            .await
            .unwrap();
        let hi = "export default { fetch() { return new Response('hi'); } };";
        pool.load("other".into(), Arc::new(Bundle::single("o.js", hi)))
            .await
            .unwrap();
        assert!(!pool.is_warm("slow"), "starting the other isolate evicted it");
        let answered = on_the_serving_thread(&pool, |handle| async move {
            let arrived = Instant::now();
            let dispatched = handle
                .dispatch_cached(&mut SlotCache::default(), "slow", request(), arrived)
                .unwrap();
            let resp = dispatched.reply.await.unwrap();
            (resp.status, text(resp))
        })
        .await;
        assert_eq!(answered, (200, "up".to_string()));
        assert!(pool.is_warm("slow"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saturation_answers_busy_instead_of_queueing() {
        let limits = PoolLimits {
            queue_per_thread: 64,
            inflight_per_deployment: 3,
            ..Default::default()
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

    /// A one-thread pool serving `spin`: `/spin` loops until the CPU limit
    /// stops it, any other path answers how many requests this isolate
    /// has served.
    async fn spin_pool() -> (WorkerHandle, Vec<std::thread::JoinHandle<()>>, Arc<str>) {
        let (pool, joins) = spawn_pool(1, config(), PoolLimits::default()).unwrap();
        let key: Arc<str> = "spin".into();
        let code = "let served = 0;\n\
            export default { fetch(req) { \
                served++; \
                if (new URL(req.url).pathname === '/spin') for (;;) {} \
                return new Response('served ' + served); } };";
        pool.load(key.clone(), Arc::new(Bundle::single("s.js", code)))
            .await
            .unwrap();
        (pool, joins, key)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_isolate_stopped_by_a_limit_is_replaced() {
        let (pool, _joins, key) = spin_pool().await;
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

    /// Requests queued behind one that a limit stops are served by a fresh
    /// isolate, not answered 503 with the offender.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_behind_one_a_limit_stops_go_to_a_fresh_isolate() {
        let (pool, _joins, key) = spin_pool().await;
        let mut spin = request();
        spin.url = "http://t.localhost/spin".into();
        let (stopped, _g1) = pool.dispatch(&key, spin).unwrap();
        let (first, _g2) = pool.dispatch(&key, request()).unwrap();
        let (second, _g3) = pool.dispatch(&key, request()).unwrap();
        let resp = stopped.await.unwrap();
        assert_eq!((resp.status, text(resp).as_str()), (503, "outpost: cpu limit exceeded"));
        // A fresh isolate (its module state starts over) served them.
        assert_eq!(text(first.await.unwrap()), "served 1");
        assert_eq!(text(second.await.unwrap()), "served 2");
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
