//! One isolate thread: the deployments' isolates it owns (live ones, and
//! replaced ones finishing their requests), started on demand, evicted
//! least recently used under the pool's memory budget, and polled only when
//! woken; and the loop that takes jobs from other threads.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use foldhash::{HashMap, HashSet};
use outpost_js::{Bundle, HttpRequest, HttpResponse, Limit, Runtime, RuntimeOptions};
use tokio::sync::mpsc;
use tokio::sync::oneshot;

use super::ready::{IsolateId, IsolateWaker};
use super::{Code, Job, LOCAL, Local, Pool, Shared, Slot, WorkerConfig, memory};
use crate::host::NodeHost;

/// One isolate on a worker thread.
struct Isolate {
    rt: Runtime,
    slot: Arc<Slot>,
    waker: Arc<IsolateWaker>,
    /// `waker` as a [`Waker`], to poll the runtime with.
    task_waker: Waker,
    /// Its heap as last measured, counted in the pool's total.
    bytes: usize,
    /// When it was last measured (ns since the pool's epoch, coarse).
    measured_at: u64,
    /// When it last got a request (µs since the pool's epoch; kept only
    /// under a budget): its place in [`Worker::lru`] while live.
    used: u64,
    /// Replaced, unloaded or stopped: no longer the deployment's isolate
    /// here, finishing its requests.
    retiring: bool,
}

impl Isolate {
    /// No open request and nothing pending: it can go without anyone
    /// noticing.
    fn idle(&self) -> bool {
        self.rt.open_requests() == 0 && !self.rt.has_work()
    }
}

/// What one isolate thread owns: its isolates, their recency, and which
/// deployments it evicted.
pub(super) struct Worker {
    config: WorkerConfig,
    index: usize,
    shared: Arc<Shared>,
    /// Live and retiring isolates.
    isolates: HashMap<IsolateId, Isolate>,
    /// The deployment's live isolate on this thread.
    live: HashMap<Arc<str>, IsolateId>,
    /// Live isolates by last use, least recent first (kept under a budget).
    lru: BTreeSet<(u64, IsolateId)>,
    /// Deployments whose isolate here was evicted: their next start is a
    /// re-creation.
    evicted: HashSet<Arc<str>>,
    next_id: IsolateId,
    /// The ids of the isolates to poll this turn.
    woken: Vec<IsolateId>,
}

impl Worker {
    pub(super) fn new(config: WorkerConfig, index: usize, shared: Arc<Shared>) -> Self {
        Worker {
            config,
            index,
            shared,
            isolates: HashMap::default(),
            live: HashMap::default(),
            lru: BTreeSet::new(),
            evicted: HashSet::default(),
            next_id: 0,
            woken: Vec::new(),
        }
    }

    fn start(&self, key: &str, bundle: &Bundle, options: RuntimeOptions) -> Result<Runtime, String> {
        let host = Rc::new(NodeHost::new(
            key,
            self.config.log_sink.clone(),
            self.config.outbound.clone(),
        ));
        Runtime::new(bundle, host, options).map_err(|e| e.to_string())
    }

    /// Starts an isolate of `slot` from `code`, after making room for it
    /// under the budget; it becomes the deployment's live isolate here.
    /// `recreated`: an isolate of the deployment was evicted from this
    /// thread, and this start counts as a re-creation.
    fn launch(&mut self, slot: &Arc<Slot>, code: &Code, recreated: bool) -> Result<IsolateId, String> {
        self.make_room(self.shared.memory.expected_start(), None);
        let rt = self.start(&slot.key, &code.bundle, code.options.clone())?;
        // Counted before `install` shows the isolate as warm, so whoever
        // sees it warm also sees it counted.
        if recreated {
            self.shared.memory.recreations.fetch_add(1, Ordering::Relaxed);
            crate::metrics::record_isolate_recreated();
        }
        Ok(self.install(slot.clone(), rt))
    }

    /// Makes `rt` the deployment's live isolate here (the one it replaces
    /// retires), counts its heap, and evicts others if that went over the
    /// budget.
    fn install(&mut self, slot: Arc<Slot>, mut rt: Runtime) -> IsolateId {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(&old) = self.live.get(&slot.key) {
            self.retire(old);
        }
        let bytes = rt.heap_used();
        self.shared.memory.started(bytes);
        let used = self.last_use_now();
        if self.shared.memory.limited() {
            self.lru.insert((used, id));
        }
        slot.warm.fetch_add(1, Ordering::Release);
        self.live.insert(slot.key.clone(), id);
        let (waker, task_waker) = IsolateWaker::new(id, self.shared.threads[self.index].ready.clone());
        self.isolates.insert(
            id,
            Isolate {
                rt,
                slot,
                waker,
                task_waker,
                bytes,
                measured_at: self.shared.coarse_now(),
                used,
                retiring: false,
            },
        );
        self.make_room(0, Some(id));
        id
    }

    /// Now, as an LRU stamp; 0 without a budget (no order is kept then).
    fn last_use_now(&self) -> u64 {
        if self.shared.memory.limited() {
            self.shared.now_us()
        } else {
            0
        }
    }

    /// Takes isolate `id` out of the live set (it stays counted until it is
    /// dropped).
    fn unlive(&mut self, id: IsolateId) {
        let Some(iso) = self.isolates.get_mut(&id) else { return };
        if iso.retiring {
            return;
        }
        iso.retiring = true;
        if self.live.get(&iso.slot.key) == Some(&id) {
            self.live.remove(&iso.slot.key);
        }
        self.lru.remove(&(iso.used, id));
        iso.slot.warm.fetch_sub(1, Ordering::Relaxed);
        self.shared.memory.left_live();
    }

    /// Retires isolate `id`: it goes once its requests have answered.
    fn retire(&mut self, id: IsolateId) {
        self.unlive(id);
        if let Some(iso) = self.isolates.get(&id) {
            // Polled once more, so an idle one goes at once.
            iso.waker.mark();
        }
    }

    /// Drops isolate `id` now.
    fn discard(&mut self, id: IsolateId) {
        self.unlive(id);
        if let Some(iso) = self.isolates.remove(&id) {
            self.shared.memory.dropped(iso.bytes);
        }
    }

    /// Evicts idle isolate `id` to free memory; its deployment's next
    /// request here starts it again.
    fn evict(&mut self, id: IsolateId) {
        let Some(iso) = self.isolates.get(&id) else { return };
        let key = iso.slot.key.clone();
        tracing::debug!(deployment = %key, heap = iso.bytes, "isolate evicted to stay under the memory budget");
        self.discard(id);
        self.evicted.insert(key);
        self.shared.memory.evictions.fetch_add(1, Ordering::Relaxed);
        crate::metrics::record_isolate_evicted();
    }

    /// The least recently used idle live isolate other than `keep`.
    fn oldest_idle(&self, keep: Option<IsolateId>) -> Option<(u64, IsolateId)> {
        self.lru
            .iter()
            .copied()
            .find(|&(_, id)| Some(id) != keep && self.isolates.get(&id).is_some_and(Isolate::idle))
    }

    /// Evicts least-recently-used idle isolates until `need` more bytes fit
    /// the budget: this thread's own at once; when another thread holds an
    /// older one, that thread is asked to evict on its next turn and this
    /// one goes ahead (the total may pass the budget by about one isolate
    /// until then). `keep` is not evicted.
    fn make_room(&mut self, need: usize, keep: Option<IsolateId>) {
        if self.shared.memory.fits(need) {
            return;
        }
        let shared = self.shared.clone();
        while !shared.memory.fits(need) {
            let mine = self.oldest_idle(keep);
            match (mine, shared.oldest_elsewhere(self.index)) {
                (Some((used, _)), Some((theirs, t))) if theirs < used => return shared.ask_to_reclaim(t),
                (Some((_, id)), _) => self.evict(id),
                (None, Some((_, t))) => return shared.ask_to_reclaim(t),
                (None, None) => return,
            }
        }
    }

    /// Another thread asked: evicts this thread's least recently used idle
    /// isolates until the pool fits its budget.
    fn reclaim(&mut self) {
        while !self.shared.memory.fits(0) {
            match self.oldest_idle(None) {
                Some((_, id)) => self.evict(id),
                None => break,
            }
        }
    }

    /// Re-measures idle isolate `id` when its last measure is old enough,
    /// and evicts others if the pool went over its budget. `at`: a clock
    /// reading taken just before, if there is one.
    fn went_idle(&mut self, id: IsolateId, at: Option<Instant>) {
        let Some(iso) = self.isolates.get_mut(&id) else { return };
        let now = at.map_or_else(|| self.shared.coarse_now(), |at| self.shared.clock.nanos_at(at));
        if Duration::from_nanos(now.saturating_sub(iso.measured_at)) < memory::MEASURE_EVERY {
            return;
        }
        let bytes = iso.rt.heap_used();
        self.shared.memory.remeasured(iso.bytes, bytes);
        iso.bytes = bytes;
        iso.measured_at = now;
        self.make_room(0, None);
    }

    /// The deployment's live isolate on this thread, started on demand — and
    /// started afresh when a limit stopped the previous one; `true` with it
    /// when it was started now.
    fn runtime_for(&mut self, slot: &Arc<Slot>) -> Option<(IsolateId, bool)> {
        if let Some(&id) = self.live.get(&slot.key) {
            match self.isolates.get(&id).and_then(|iso| iso.rt.poisoned_by()) {
                None => return Some((id, false)),
                Some(limit) => {
                    self.stopped(slot, limit);
                    self.discard(id);
                }
            }
        }
        let recreated = self.evicted.remove(&slot.key);
        match self.launch(slot, &slot.code(), recreated) {
            Ok(id) => Some((id, true)),
            Err(e) => {
                tracing::error!(deployment = %slot.key, error = %e, "isolate failed to start");
                None
            }
        }
    }

    /// Dispatches a request to the deployment's isolate here (started if
    /// needed) and queues the isolate for polling if it has work left.
    /// `arrived`: when the request reached this thread, if the caller read
    /// the clock just before (see [`Runtime::dispatch_at`]). It is not used
    /// when the isolate had to be started first: the request's time starts
    /// after that. Returns when the request's JS returned, as
    /// [`Runtime::dispatch_at`] does.
    pub(super) fn request(
        &mut self,
        slot: &Arc<Slot>,
        request: HttpRequest,
        reply: oneshot::Sender<HttpResponse>,
        arrived: Option<Instant>,
    ) -> Option<Instant> {
        let Some((id, started)) = self.runtime_for(slot) else {
            let _ = reply.send(HttpResponse::text(500, "Internal Server Error\n"));
            return None;
        };
        let used = self.last_use_now();
        let iso = self.isolates.get_mut(&id).expect("runtime_for returns a live isolate");
        if self.shared.memory.limited() {
            self.lru.remove(&(iso.used, id));
            iso.used = used;
            self.lru.insert((used, id));
        }
        let arrived = arrived.filter(|_| !started).unwrap_or_else(Instant::now);
        let ended = iso.rt.dispatch_at(request, reply, arrived);
        if let Some(limit) = iso.rt.poisoned_by() {
            // Counted before the isolate is dropped: the client already has
            // its 503 and may be asking again.
            self.stopped(slot, limit);
            self.discard(id);
        } else if iso.rt.has_work() {
            iso.waker.mark();
        } else {
            self.went_idle(id, ended);
        }
        ended
    }

    /// Polls isolate `id`'s event loop; drops it if a limit stopped it, or
    /// if it is retiring and done.
    fn poll_isolate(&mut self, id: IsolateId) {
        let Some(iso) = self.isolates.get_mut(&id) else { return };
        iso.waker.clear();
        let mut cx = Context::from_waker(&iso.task_waker);
        let idle = iso.rt.poll_event_loop(&mut cx).is_ready();
        if let Some(limit) = iso.rt.poisoned_by() {
            // It has answered its requests with 503; it goes now, and the
            // deployment's next request starts a fresh one.
            let slot = iso.slot.clone();
            self.stopped(&slot, limit);
            self.discard(id);
        } else if iso.retiring {
            // A replaced isolate goes once its requests have answered in
            // full (or nothing is left for it to do).
            if idle || iso.rt.open_requests() == 0 {
                self.discard(id);
            }
        } else if idle {
            self.went_idle(id, None);
        }
    }

    /// Logs and counts an isolate of `slot` a limit stopped, and backs the
    /// deployment off when it keeps happening.
    fn stopped(&self, slot: &Slot, limit: Limit) {
        stopped_by_limit(&slot.key, limit);
        if let Some(b) = slot.backoff.record_stop(self.shared.now_ms()) {
            tracing::warn!(
                deployment = %slot.key,
                limit = limit.as_str(),
                seconds = b.period.as_secs(),
                in_a_row = b.level,
                "deployment backed off after repeated limit violations"
            );
            self.shared.memory.backoffs.fetch_add(1, Ordering::Relaxed);
            crate::metrics::record_backed_off();
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Request { slot, request, reply } => {
                let _ = self.request(&slot, request, reply, None);
            }
            Job::Spawn(make) => {
                tokio::task::spawn_local(make());
            }
            Job::Prewarm { slot } => {
                let _ = self.runtime_for(&slot);
            }
            Job::Load { slot, code, reply } => {
                let Some(reply) = reply else {
                    // Nothing to replace where it does not run: its next
                    // request here starts the new version.
                    if self.live.contains_key(&slot.key) {
                        let result = self.launch(&slot, &code, false);
                        if let Err(e) = result {
                            tracing::error!(deployment = %slot.key, error = %e, "isolate failed to start");
                        }
                    }
                    return;
                };
                let result = self.launch(&slot, &code, false).map(|_| {
                    *slot.code.write().unwrap_or_else(|e| e.into_inner()) = code;
                    slot.backoff.clear();
                });
                let _ = reply.send(result);
            }
            Job::Unload { key } => {
                if let Some(&id) = self.live.get(&key) {
                    self.retire(id);
                }
                self.evicted.remove(&key);
            }
        }
    }

    /// One turn of the thread's loop: evict if asked, take the jobs that
    /// arrived, poll the isolates that were woken.
    fn turn(&mut self, cx: &mut Context<'_>, rx: &mut mpsc::Receiver<Job>) -> Poll<()> {
        let me = &self.shared.threads[self.index];
        if me.reclaim.load(Ordering::Relaxed) && me.reclaim.swap(false, Ordering::AcqRel) {
            self.busy();
            self.reclaim();
        }
        loop {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(job)) => {
                    self.busy();
                    self.handle(job);
                }
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        let mut woken = std::mem::take(&mut self.woken);
        self.shared.threads[self.index].ready.take(&mut woken);
        for &id in &woken {
            self.busy();
            self.poll_isolate(id);
        }
        self.woken = woken;
        if self.shared.memory.limited() {
            // The oldest this thread could evict if asked (a busy isolate
            // at the front would make others wait on it in vain).
            let oldest = self.oldest_idle(None).map_or(u64::MAX, |(used, _)| used);
            self.shared.threads[self.index]
                .oldest_use
                .store(oldest, Ordering::Relaxed);
        }
        Poll::Pending
    }

    /// A piece of work begins: other threads may see how long it lasts.
    fn busy(&self) {
        self.shared.threads[self.index]
            .busy_since
            .store(self.shared.now_us() + 1, Ordering::Relaxed);
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
/// its isolates that were woken (which requests dispatched on this thread
/// also feed).
pub(super) async fn run(worker: Worker, pool: *const Pool, index: usize, mut rx: mpsc::Receiver<Job>) {
    let shared = worker.shared.clone();
    let worker = Rc::new(RefCell::new(worker));
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            pool,
            index,
            worker: worker.clone(),
        })
    });
    let me = &shared.threads[index];
    std::future::poll_fn(|cx| {
        me.ready.register(cx.waker());
        let done = worker.borrow_mut().turn(cx, &mut rx);
        me.busy_since.store(0, Ordering::Relaxed);
        done
    })
    .await;
    // The isolates are dropped here, on their own thread.
    LOCAL.with(|l| l.borrow_mut().take());
}
