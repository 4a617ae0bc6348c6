//! A [`Runtime`]: one isolate with one context running one deployment's
//! handler. It lives and dies on the thread that made it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use foldhash::HashMap;
use futures::stream::FuturesUnordered;
use futures::{Future, StreamExt};
use tokio::sync::oneshot;

use crate::bundle::Bundle;
use crate::error::{JsError, LoadError};
use crate::host::{Body, FetchError, Host, HttpRequest, HttpResponse, LocalFuture, LogLevel};
use crate::limits::{Limit, Meter};
use crate::ops::ResourceTable;
use crate::{ext, module_loader, snapshot};

mod call;
mod context;
mod metering;
mod responses;

pub use call::FullResponse;
pub(crate) use context::{ContextError, current as current_request};
use metering::nonzero_or;
pub(crate) use responses::{ResponseSlot, Responses};

/// Settings of one runtime: the limits its requests run under.
///
/// A request over its CPU or heap limit stops the whole isolate: every
/// request open on it answers `503` (a body already streaming fails) and the
/// runtime reports itself [poisoned](Runtime::is_poisoned). A request over
/// its wall-clock limit answers `503` alone, unless its JS is running at
/// that moment.
///
/// The CPU and wall-clock limits cover a request until its response head
/// has gone. A streamed body then flows for as long as the client reads it
/// (as on Workers, where wall time is unlimited while the client stays
/// connected); each entry into JS, streaming included, may still use at
/// most `cpu_limit`.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Maximum V8 heap for the isolate, in bytes (0: 128 MiB).
    pub max_heap_bytes: usize,
    /// CPU time a request's JS may use before its response head (zero:
    /// 50 ms). Time spent waiting — timers, outbound fetches, body reads —
    /// does not count; JS that runs while several requests are unanswered
    /// counts for each of them.
    pub cpu_limit: Duration,
    /// How long a request may wait for its response head (zero: 30 s).
    pub wall_limit: Duration,
    /// Outbound fetches one request may make (zero: 50).
    pub subrequest_limit: u32,
    /// CPU time evaluating the bundle's modules may take (zero: 400 ms).
    pub startup_cpu_limit: Duration,
}

impl RuntimeOptions {
    /// Heap limit when `max_heap_bytes` is 0.
    pub const DEFAULT_MAX_HEAP_BYTES: usize = 128 << 20;
    /// CPU limit when `cpu_limit` is zero.
    pub const DEFAULT_CPU_LIMIT: Duration = Duration::from_millis(50);
    /// Wall-clock limit when `wall_limit` is zero.
    pub const DEFAULT_WALL_LIMIT: Duration = Duration::from_secs(30);
    /// Subrequest limit when `subrequest_limit` is zero.
    pub const DEFAULT_SUBREQUEST_LIMIT: u32 = 50;
    /// Startup CPU limit when `startup_cpu_limit` is zero.
    pub const DEFAULT_STARTUP_CPU_LIMIT: Duration = Duration::from_millis(400);
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            max_heap_bytes: 0,
            cpu_limit: Self::DEFAULT_CPU_LIMIT,
            wall_limit: Self::DEFAULT_WALL_LIMIT,
            subrequest_limit: Self::DEFAULT_SUBREQUEST_LIMIT,
            startup_cpu_limit: Self::DEFAULT_STARTUP_CPU_LIMIT,
        }
    }
}

/// What one open request has used.
pub(super) struct Usage {
    /// When it was dispatched.
    started: Instant,
    /// `Runtime::cpu_total` when it arrived: every slice that runs while a
    /// request is open counts for it.
    cpu_base: Duration,
}

/// Capacity of a streamed response's chunk channel before JS waits.
pub(crate) const RESPONSE_CHUNKS_IN_FLIGHT: usize = 8;

/// The result of an async host call, turned into a JS value when it lands.
pub(crate) enum AsyncResult {
    /// Outbound fetch finished: the response, and the URL it came from
    /// when redirects were followed.
    Fetch(crate::host::FetchResult),
    /// A streamed response's channel has room again (or the client left).
    ResponseReady(bool),
    /// A body chunk for JS (request bodies, fetch responses), `None` at end.
    Chunk(Result<Option<Bytes>, String>),
}

pub(crate) struct State {
    pub(crate) host: Rc<dyn Host>,
    tasks: std::sync::Arc<crate::platform::TaskQueue>,
    pub(crate) resources: ResourceTable,
    pub(crate) time_origin: Instant,
    pub(crate) responses: Responses,
    next_request: u32,
    pub(crate) timers: BTreeMap<(Instant, u32), ()>,
    pub(crate) timer_deadlines: HashMap<u32, Instant>,
    sleep: Option<(Instant, LocalFuture<()>)>,
    pending: FuturesUnordered<LocalFuture<(u32, AsyncResult)>>,
    promises: HashMap<u32, v8::Global<v8::PromiseResolver>>,
    pub(crate) next_promise: u32,
    /// Native body streams JS reads with `op_body_read`; reads of one
    /// stream are served in order (the lock), even when several are pending.
    pub(crate) body_streams: HashMap<u32, SharedStream>,
    pub(crate) unhandled: Vec<(v8::Global<v8::Promise>, v8::Global<v8::Value>)>,
    /// Open request contexts (see `context`).
    pub(crate) contexts: context::Contexts,
    /// The request each request-owned timer belongs to.
    pub(crate) timer_owner: HashMap<u32, u32>,
    /// Outbound fetches a request may make.
    pub(crate) subrequest_limit: u32,
    /// Response header strings recognised without reading them.
    pub(crate) known_headers: crate::ext::base::KnownHeaders,
}

impl State {
    /// Drops every V8 handle and pending host call the state holds.
    fn release_handles(&mut self) {
        self.promises.clear();
        self.unhandled.clear();
        self.pending = FuturesUnordered::new();
        self.resources = ResourceTable::default();
        self.body_streams.clear();
        self.sleep = None;
        self.known_headers = Default::default();
    }

    /// Keeps a native body stream for JS to read with `op_body_read`;
    /// returns its id.
    pub(crate) fn add_body_stream(&mut self, stream: crate::host::BodyStream) -> u32 {
        self.next_promise = self.next_promise.wrapping_add(1);
        let id = self.next_promise;
        self.body_streams.insert(id, Rc::new(futures::lock::Mutex::new(stream)));
        id
    }

    /// Registers an async op: returns the promise JS awaits.
    pub(crate) fn spawn<'s>(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        fut: impl Future<Output = AsyncResult> + 'static,
    ) -> v8::Local<'s, v8::Promise> {
        let resolver = v8::PromiseResolver::new(scope).unwrap();
        let promise = resolver.get_promise(scope);
        self.next_promise = self.next_promise.wrapping_add(1);
        let id = self.next_promise;
        self.promises.insert(id, v8::Global::new(scope, resolver));
        self.pending.push(Box::pin(async move { (id, fut.await) }));
        promise
    }
}

pub(crate) type SharedStream = Rc<futures::lock::Mutex<crate::host::BodyStream>>;

struct Hooks {
    dispatch: v8::Global<v8::Function>,
    fire_timer: v8::Global<v8::Function>,
    /// `abortRequest(id)`: the client went away before the response head.
    abort_request: v8::Global<v8::Function>,
    /// The [`METHODS`] as internalized strings, made once per isolate.
    methods: Vec<v8::Global<v8::String>>,
}

/// Request methods whose JS string is made once per isolate, not per
/// request (and which [`standard_method`] names without an allocation).
const METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// `method` as a constant when it is a standard one: an
/// [`HttpRequest::method`](crate::HttpRequest::method) that needs no
/// allocation, and whose JS string the isolate already has.
pub fn standard_method(method: &str) -> Option<&'static str> {
    METHODS.iter().find(|m| **m == method).copied()
}

/// Enters an isolate for the guard's lifetime, or longer.
///
/// A thread may own many isolates and drop them in any order, and V8
/// requires the entered isolates of a thread to nest. Entering and leaving
/// costs a few hundred instructions, so an isolate used while no other is
/// in use stays entered after its guard goes ("resident") until another
/// isolate needs the thread or it is disposed; a guard taken while another
/// is alive nests as V8 expects.
struct Entered {
    /// The isolate to exit on drop: `None` when it stays resident.
    nested: Option<*const v8::Isolate>,
}

thread_local! {
    /// The isolate this thread left entered, if any.
    static RESIDENT: Cell<Option<v8::UnsafeRawIsolatePtr>> = const { Cell::new(None) };
    /// Live `Entered` guards on this thread.
    static GUARDS: Cell<u32> = const { Cell::new(0) };
}

/// Whether `isolate` is this thread's resident one.
fn is_resident(isolate: &v8::Isolate) -> bool {
    let this = crate::platform::key(isolate);
    RESIDENT
        .get()
        .is_some_and(|r| crate::platform::isolate_address(r) == this)
}

impl Entered {
    fn new(isolate: &v8::Isolate) -> Self {
        let guards = GUARDS.replace(GUARDS.get() + 1);
        if guards > 0 {
            // SAFETY: the isolate is alive and owned by this thread; the
            // guard exits it before the runtime that owns it goes, and
            // guards nest.
            unsafe { isolate.enter() };
            return Entered {
                nested: Some(isolate as *const v8::Isolate),
            };
        }
        if !is_resident(isolate) {
            if let Some(resident) = RESIDENT.take() {
                // SAFETY: no guard is alive, so the resident isolate is the
                // innermost entered one; it is still alive, since disposal
                // takes it off (`enter_for_disposal`).
                unsafe { v8::Isolate::from_raw_isolate_ptr(resident).exit() };
            }
            // SAFETY: as above; it stays entered until another isolate
            // needs the thread or it is disposed.
            unsafe { isolate.enter() };
            // SAFETY: reading the address of a live isolate.
            RESIDENT.set(Some(unsafe { isolate.as_raw_isolate_ptr() }));
        }
        Entered { nested: None }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        GUARDS.set(GUARDS.get() - 1);
        if let Some(isolate) = self.nested {
            // SAFETY: the isolate entered in `new` is still alive (the
            // guard never outlives its runtime) and is the current one
            // again, since guards nest.
            unsafe { (*isolate).exit() };
        }
    }
}

/// Makes `isolate` the current one so that it can be dropped (V8 requires
/// it; the drop exits it again), taking it off the thread if it was
/// resident.
fn enter_for_disposal(isolate: &v8::Isolate) {
    if GUARDS.get() == 0 && is_resident(isolate) {
        // Already entered, and innermost.
        RESIDENT.set(None);
        return;
    }
    // SAFETY: entering a live isolate owned by this thread.
    unsafe { isolate.enter() };
}

/// Drops an isolate that is not in use.
fn dispose_isolate(isolate: v8::OwnedIsolate) {
    enter_for_disposal(&isolate);
    drop(isolate);
}

/// Checks that `bundle` would load — every module compiles, every import
/// resolves and links — without running any of its code (no top-level
/// code, no handler). Errors carry `file:line:col`.
pub fn validate(bundle: &Bundle) -> Result<(), LoadError> {
    crate::platform::init();
    let mut isolate = v8::Isolate::new(v8::CreateParams::default().heap_limits(0, 256 << 20));
    let result = {
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        context.set_allow_generation_from_strings(false);
        let scope = &mut v8::ContextScope::new(scope, context);
        module_loader::check(scope, bundle)
    };
    drop(isolate);
    result
}

/// One isolate running one deployment's handler.
///
/// `dispatch` starts a request and returns where its response will arrive;
/// `poll_event_loop` must then be polled (by the node's worker thread) until
/// it is idle, so timers, async host calls and promises make progress.
pub struct Runtime {
    // Fields drop in order: V8 handles before the isolate, the isolate
    // before the meter its heap callback points to.
    hooks: Hooks,
    context: v8::Global<v8::Context>,
    state: Rc<RefCell<State>>,
    isolate: v8::OwnedIsolate,
    meter: Arc<Meter>,
    cpu_limit: Duration,
    wall_limit: Duration,
    /// Requests whose response head has not gone yet, oldest first, keyed
    /// by `id_epoch << 32 | id`.
    usage: metering::OpenRequests,
    /// How many times request ids have wrapped.
    id_epoch: u64,
    /// CPU time of all JS that ran on the isolate; a request has used what
    /// this grew by since it arrived.
    cpu_total: Duration,
    /// The earliest wall-clock deadline of an open request.
    next_wall: Option<Instant>,
    /// The deadline the watchdog last heard of (see
    /// [`Runtime::publish_wall_deadline`]).
    published_wall: Option<Instant>,
    /// Requests answered for their wall-clock limit whose signals the
    /// event loop has yet to abort.
    expired: Vec<u32>,
    /// The limit that stopped the isolate; no JS runs on it again.
    poisoned: Option<Limit>,
}

impl Runtime {
    /// Starts an isolate from the snapshot, loads `bundle`'s modules,
    /// evaluates the main one and finds its fetch handler.
    pub fn new(bundle: &Bundle, host: Rc<dyn Host>, options: RuntimeOptions) -> Result<Self, LoadError> {
        crate::platform::init();
        let max_heap = match options.max_heap_bytes {
            0 => RuntimeOptions::DEFAULT_MAX_HEAP_BYTES,
            n => n,
        };
        let params = v8::CreateParams::default()
            .snapshot_blob(v8::StartupData::from(snapshot::blob()))
            .external_references(snapshot::external_references())
            .heap_limits(0, max_heap);
        let mut isolate = v8::Isolate::new(params);
        // SAFETY: `Isolate::new` entered the isolate on this thread; it is
        // re-entered by an `Entered` guard whenever it is used.
        unsafe { isolate.exit() };
        let setup = Entered::new(&isolate);
        let meter = Meter::new(&isolate);
        isolate.add_near_heap_limit_callback(crate::limits::near_heap_limit, Arc::as_ptr(&meter) as *mut _);
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_promise_reject_callback(promise_reject_callback);
        let now = host.now();
        let tasks = crate::platform::register(&isolate);
        let state = Rc::new(RefCell::new(State {
            host,
            tasks,
            resources: ResourceTable::default(),
            time_origin: now,
            responses: Responses::default(),
            next_request: 0,
            timers: BTreeMap::new(),
            timer_deadlines: HashMap::default(),
            sleep: None,
            pending: FuturesUnordered::new(),
            promises: HashMap::default(),
            next_promise: 0,
            body_streams: HashMap::default(),
            unhandled: Vec::new(),
            contexts: context::Contexts::default(),
            timer_owner: HashMap::default(),
            subrequest_limit: match options.subrequest_limit {
                0 => RuntimeOptions::DEFAULT_SUBREQUEST_LIMIT,
                n => n,
            },
            known_headers: Default::default(),
        }));
        isolate.set_slot(state.clone());

        // Evaluating the modules is not a request's, but it is metered too:
        // a top-level endless loop must not hold the thread.
        let startup = meter.begin(
            Instant::now(),
            nonzero_or(options.startup_cpu_limit, RuntimeOptions::DEFAULT_STARTUP_CPU_LIMIT),
            None,
        );
        let made = {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            // As on Workers: `eval` and `new Function` throw an EvalError.
            context.set_allow_generation_from_strings(false);
            let scope = &mut v8::ContextScope::new(scope, context);
            let internals = scope
                .get_context_data_from_snapshot_once::<v8::Object>(snapshot::INTERNALS_INDEX)
                .expect("snapshot lacks internals");
            state.borrow_mut().known_headers = ext::base::KnownHeaders::new(scope);
            let loaded = bootstrap(scope, internals, bundle).and_then(|hooks| {
                let namespace = module_loader::load(scope, bundle)?;
                set_handler(scope, internals, namespace, &bundle.main)?;
                Ok(hooks)
            });
            loaded.map(|hooks| (v8::Global::new(scope, context), hooks))
        };
        let (_, tripped, _) = meter.end(startup);
        let made = match tripped {
            Some(limit) => {
                drop(made);
                Err(LoadError::Limit(limit))
            }
            None => made,
        };
        drop(setup);
        let (context, hooks) = match made {
            Ok(m) => m,
            Err(e) => {
                state.borrow_mut().release_handles();
                crate::platform::unregister(&isolate);
                dispose_isolate(isolate);
                return Err(e);
            }
        };
        let mut runtime = Runtime {
            hooks,
            context,
            state,
            isolate,
            meter,
            cpu_limit: nonzero_or(options.cpu_limit, RuntimeOptions::DEFAULT_CPU_LIMIT),
            wall_limit: nonzero_or(options.wall_limit, RuntimeOptions::DEFAULT_WALL_LIMIT),
            usage: metering::OpenRequests::default(),
            id_epoch: 0,
            cpu_total: Duration::ZERO,
            next_wall: None,
            published_wall: None,
            expired: Vec::new(),
            poisoned: None,
        };
        runtime.report_unhandled();
        Ok(runtime)
    }

    /// Hands a request to the handler. The response is sent on `reply` once
    /// the handler has produced status and headers; its body may still be
    /// streaming. A handler that fails answers 500 (the error is logged).
    pub fn dispatch(&mut self, request: HttpRequest, reply: oneshot::Sender<HttpResponse>) {
        self.dispatch_at(request, reply, Instant::now());
    }

    /// [`dispatch`](Self::dispatch) with the clock read by the caller just
    /// before (`now`, at most microseconds ago): the request's wall-clock
    /// time, and the CPU time charged for the slice it starts, count from
    /// then. One clock reading fewer per request.
    ///
    /// Returns the clock reading taken when the handler's JS returned (its
    /// slice ended), after whatever `reply` got from it by then: a caller
    /// that finds the response there can time the request with it instead
    /// of reading the clock again. `None` when no JS ran (the isolate was
    /// stopped by a limit before).
    pub fn dispatch_at(
        &mut self,
        request: HttpRequest,
        reply: oneshot::Sender<HttpResponse>,
        now: Instant,
    ) -> Option<Instant> {
        if let Some(limit) = self.poisoned {
            let _ = reply.send(HttpResponse::limit_exceeded(limit));
            return None;
        }
        let tx = reply;
        let id = {
            let mut st = self.state.borrow_mut();
            st.next_request = st.next_request.wrapping_add(1);
            if st.next_request == 0 {
                // Ids wrap; usage stays ordered by arrival.
                st.next_request = 1;
                self.id_epoch += 1;
            }
            let id = st.next_request;
            st.responses.open(id, tx);
            id
        };
        // One clock reading serves the request's start and its slice's.
        self.usage.push(
            self.usage_key(id),
            Usage {
                started: now,
                cpu_base: self.cpu_total,
            },
        );
        // The watchdog's wall-clock deadline now covers this request too. It
        // is the oldest open request's (`forget_closed_requests` at the end
        // of every slice keeps it so), or this one's when none was open.
        self.next_wall.get_or_insert(now + self.wall_limit);
        let HttpRequest {
            method,
            url,
            headers,
            body,
        } = request;
        self.open_context(id, headers);
        let _entered = Entered::new(&self.isolate);
        let slice = self.begin_js(now);
        {
            v8::scope_with_context!(scope, &mut self.isolate, &self.context);
            let dispatch = v8::Local::new(scope, &self.hooks.dispatch);
            let id_v = v8::Integer::new_from_unsigned(scope, id).into();
            let method_v = match METHODS.iter().position(|m| *m == method) {
                Some(i) => v8::Local::new(scope, &self.hooks.methods[i]).into(),
                None => crate::ops::js_string(scope, &method).into(),
            };
            let url_v = crate::ops::js_string(scope, &url).into();
            let body_v = body_to_js(scope, &self.state, body);
            let undefined = v8::undefined(scope).into();
            context::enter(scope, Some(id));
            v8::tc_scope!(let tc, scope);
            let result = dispatch.call(tc, undefined, &[id_v, method_v, url_v, body_v]);
            if tc.has_terminated() {
                // A limit stopped it; `end_js` answers.
            } else {
                if result.is_none() {
                    let err = js_error_from_try_catch(tc);
                    self.state.borrow().host.log(
                        LogLevel::Error,
                        &format!("Uncaught {}", err.stack.unwrap_or(err.message)),
                    );
                    respond_internal_error(&self.state, id);
                }
                tc.perform_microtask_checkpoint();
            }
            context::enter(tc, None);
        }
        let ended = self.end_js(slice);
        self.report_unhandled();
        self.end_finished_contexts();
        Some(ended)
    }

    /// Runs whatever is ready: landed async calls, due timers, microtasks;
    /// answers requests past their wall-clock limit. `Ready` when nothing is
    /// left to wait for (no open requests, timers or pending host calls) or
    /// when a limit stopped the isolate; `Pending` with the waker registered
    /// otherwise.
    pub fn poll_event_loop(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.poisoned.is_some() {
            return Poll::Ready(());
        }
        self.meter.register_waker(cx.waker());
        if let Some(limit) = self.meter.tripped() {
            // The heap filled up outside a request's JS.
            self.poison(limit);
            return Poll::Ready(());
        }
        let _entered = Entered::new(&self.isolate);
        loop {
            let mut progressed = false;
            // Requests past their wall-clock limit: answer them, then abort
            // their signals so their handlers can stop.
            self.answer_expired(Instant::now());
            let expired = std::mem::take(&mut self.expired);
            if !expired.is_empty() {
                progressed = true;
                let hook = self.hooks.abort_request.clone();
                for id in expired {
                    self.call_hook(&hook, id);
                    if self.poisoned.is_some() {
                        return Poll::Ready(());
                    }
                }
            }
            // Landed async ops.
            loop {
                // The set is taken out while polled: host futures may touch
                // the state (a body stream puts itself back).
                let mut pending = std::mem::take(&mut self.state.borrow_mut().pending);
                let next = if pending.is_empty() {
                    None
                } else {
                    match pending.poll_next_unpin(cx) {
                        Poll::Ready(Some(done)) => Some(done),
                        _ => None,
                    }
                };
                {
                    let mut st = self.state.borrow_mut();
                    let added = std::mem::replace(&mut st.pending, pending);
                    st.pending.extend(added);
                }
                let Some((id, result)) = next else { break };
                progressed = true;
                self.complete(id, result);
                if self.poisoned.is_some() {
                    return Poll::Ready(());
                }
            }
            // Foreground tasks V8 posted (async WebAssembly compiles,
            // FinalizationRegistry callbacks, …).
            let tasks = self.state.borrow().tasks.clone();
            tasks.waker.register(cx.waker());
            if tasks.has_tasks() {
                let slice = self.begin_js(Instant::now());
                if tasks.run_due() > 0 {
                    progressed = true;
                    v8::scope_with_context!(scope, &mut self.isolate, &self.context);
                    scope.perform_microtask_checkpoint();
                }
                self.end_js(slice);
                if self.poisoned.is_some() {
                    return Poll::Ready(());
                }
            }
            // Clients that left before their response head: abort the
            // request's signal so the handler can stop.
            let gone: Vec<u32> = {
                let mut st = self.state.borrow_mut();
                let mut gone = Vec::new();
                for (id, slot) in st.responses.iter_mut() {
                    let left = match slot {
                        ResponseSlot::Head(tx) => tx.poll_closed(cx).is_ready(),
                        ResponseSlot::Streaming(tx) => tx.is_closed(),
                    };
                    if left {
                        gone.push(*id);
                    }
                }
                for &id in &gone {
                    st.responses.take(id);
                }
                gone
            };
            if !gone.is_empty() {
                progressed = true;
                let hook = self.hooks.abort_request.clone();
                for id in gone {
                    self.call_hook(&hook, id);
                    if self.poisoned.is_some() {
                        return Poll::Ready(());
                    }
                }
            }
            // Due timers.
            let now = self.state.borrow().host.now();
            loop {
                let due = {
                    let mut st = self.state.borrow_mut();
                    match st.timers.first_key_value() {
                        Some((&(at, id), _)) if at <= now => {
                            st.timers.remove(&(at, id));
                            st.timer_deadlines.remove(&id);
                            Some(id)
                        }
                        _ => None,
                    }
                };
                let Some(id) = due else { break };
                progressed = true;
                self.fire_timer(id);
                if self.poisoned.is_some() {
                    return Poll::Ready(());
                }
            }
            // Requests that have finished: cancel what they left behind.
            let timers = self.state.borrow().timers.len();
            self.end_finished_contexts();
            progressed |= self.state.borrow().timers.len() != timers;
            if progressed {
                self.report_unhandled();
                if self.poisoned.is_some() {
                    return Poll::Ready(());
                }
                continue;
            }
            // Nothing ran: arm the sleep for the next timer.
            let mut st = self.state.borrow_mut();
            let next_deadline = st.timers.first_key_value().map(|(&(at, _), _)| at);
            match next_deadline {
                Some(at) => {
                    if st.sleep.as_ref().map(|(d, _)| *d) != Some(at) {
                        let fut = st.host.sleep_until(at);
                        st.sleep = Some((at, fut));
                    }
                    let (_, fut) = st.sleep.as_mut().unwrap();
                    if fut.as_mut().poll(cx).is_ready() {
                        st.sleep = None;
                        drop(st);
                        continue;
                    }
                    return Poll::Pending;
                }
                None => {
                    st.sleep = None;
                    // Unanswered requests wait for their handler or for
                    // their wall-clock limit (the watchdog wakes this loop).
                    if st.pending.is_empty() && self.usage.is_empty() {
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Drives the event loop until idle.
    pub async fn run_event_loop(&mut self) {
        futures::future::poll_fn(|cx| self.poll_event_loop(cx)).await
    }

    /// Whether the event loop has anything to run or wait for (open
    /// requests, timers, pending host calls, V8 tasks): a host polls it
    /// again only then.
    pub fn has_work(&self) -> bool {
        if self.poisoned.is_some() {
            return false;
        }
        let st = self.state.borrow();
        !st.responses.is_empty()
            || !st.timers.is_empty()
            || !st.pending.is_empty()
            || !st.unhandled.is_empty()
            || !self.expired.is_empty()
    }

    /// Requests whose handler has not answered (or finished streaming) yet.
    pub fn open_requests(&self) -> usize {
        self.state.borrow().responses.len()
    }

    /// Bytes of V8 heap in use.
    pub fn heap_used(&mut self) -> usize {
        let _entered = Entered::new(&self.isolate);
        let s = self.isolate.get_heap_statistics();
        s.used_heap_size()
    }

    /// Runs a full garbage collection (benchmarks and memory accounting).
    pub fn collect_garbage(&mut self) {
        let _entered = Entered::new(&self.isolate);
        self.isolate.low_memory_notification();
    }

    fn complete(&mut self, id: u32, result: AsyncResult) {
        let resolver = self.state.borrow_mut().promises.remove(&id);
        let Some(resolver) = resolver else { return };
        let slice = self.begin_js(Instant::now());
        {
            v8::scope_with_context!(scope, &mut self.isolate, &self.context);
            let resolver = v8::Local::new(scope, resolver);
            match async_result_to_js(scope, result) {
                Ok(v) => resolver.resolve(scope, v),
                Err(e) => resolver.reject(scope, e),
            };
            scope.perform_microtask_checkpoint();
        }
        self.end_js(slice);
    }

    /// Runs timer `id`'s callback on behalf of the request that set it.
    fn fire_timer(&mut self, id: u32) {
        let owner = self.state.borrow_mut().disown_timer(id);
        let f = self.hooks.fire_timer.clone();
        self.call_hook_for(&f, id, true, owner);
    }

    /// Forgets timer `id`'s callback without running it (its request has
    /// finished).
    fn drop_timer(&mut self, id: u32) {
        let f = self.hooks.fire_timer.clone();
        self.call_hook_for(&f, id, false, None);
    }

    /// Calls a bootstrap hook with a request id, on that request's behalf.
    fn call_hook(&mut self, hook: &v8::Global<v8::Function>, id: u32) {
        self.call_hook_for(hook, id, true, Some(id));
    }

    /// Calls a bootstrap hook `(id, flag)` with the JS it runs working for
    /// `request`; logs what it throws.
    fn call_hook_for(&mut self, hook: &v8::Global<v8::Function>, id: u32, flag: bool, request: Option<u32>) {
        let slice = self.begin_js(Instant::now());
        {
            v8::scope_with_context!(scope, &mut self.isolate, &self.context);
            let f = v8::Local::new(scope, hook);
            let id_v = v8::Integer::new_from_unsigned(scope, id).into();
            let flag_v = v8::Boolean::new(scope, flag).into();
            let undefined = v8::undefined(scope).into();
            context::enter(scope, request);
            v8::tc_scope!(let tc, scope);
            if f.call(tc, undefined, &[id_v, flag_v]).is_none() && !tc.has_terminated() {
                let err = js_error_from_try_catch(tc);
                self.state.borrow().host.log(
                    LogLevel::Error,
                    &format!("Uncaught {}", err.stack.unwrap_or(err.message)),
                );
            }
            if !tc.has_terminated() {
                tc.perform_microtask_checkpoint();
            }
            context::enter(tc, None);
        }
        self.end_js(slice);
    }

    fn report_unhandled(&mut self) {
        if self.poisoned.is_some() {
            return;
        }
        let unhandled = std::mem::take(&mut self.state.borrow_mut().unhandled);
        if unhandled.is_empty() {
            return;
        }
        let _entered = Entered::new(&self.isolate);
        // Describing a value may run its `toJSON`.
        let slice = self.begin_js(Instant::now());
        {
            v8::scope_with_context!(scope, &mut self.isolate, &self.context);
            for (_promise, reason) in unhandled {
                let reason = v8::Local::new(scope, reason);
                let text = describe_exception(scope, reason);
                self.state
                    .borrow()
                    .host
                    .log(LogLevel::Error, &format!("Uncaught (in promise) {text}"));
            }
        }
        self.end_js(slice);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // V8 handles held in the state must go before the isolate does.
        self.state.borrow_mut().release_handles();
        crate::platform::unregister(&self.isolate);
        // The isolate's own drop requires it to be the entered one; it
        // exits it again.
        enter_for_disposal(&self.isolate);
    }
}

pub(crate) fn respond_internal_error(state: &Rc<RefCell<State>>, id: u32) {
    let slot = state.borrow_mut().responses.take(id);
    match slot {
        Some(ResponseSlot::Head(tx)) => {
            let _ = tx.send(HttpResponse::text(500, "Internal Server Error\n"));
        }
        Some(ResponseSlot::Streaming(mut tx)) => {
            let _ = tx.try_send(Err("handler failed".into()));
        }
        None => {}
    }
}

fn async_result_to_js<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    result: AsyncResult,
) -> Result<v8::Local<'s, v8::Value>, v8::Local<'s, v8::Value>> {
    match result {
        AsyncResult::ResponseReady(ok) => Ok(v8::Boolean::new(scope, ok).into()),
        AsyncResult::Chunk(Ok(Some(bytes))) => Ok(crate::ops::uint8_array(scope, bytes.to_vec()).into()),
        AsyncResult::Chunk(Ok(None)) => Ok(v8::null(scope).into()),
        AsyncResult::Chunk(Err(e)) | AsyncResult::Fetch(Err(FetchError(e))) => {
            let msg = crate::ops::js_string(scope, &e);
            Err(v8::Exception::type_error(scope, msg))
        }
        AsyncResult::Fetch(Ok((resp, final_url))) => {
            // [status, headersFlat, body (string | Uint8Array | stream id | null, see `whole_body`)];
            // the header list ends with [":url", url] after redirects.
            let status = v8::Integer::new(scope, resp.status as i32).into();
            let mut flat: Vec<v8::Local<v8::Value>> = Vec::with_capacity(resp.headers.len() * 2 + 2);
            for (k, v) in &resp.headers {
                flat.push(crate::ops::js_string(scope, k.as_str()).into());
                flat.push(crate::ops::js_string(scope, &String::from_utf8_lossy(v.as_bytes())).into());
            }
            if let Some(url) = final_url {
                flat.push(crate::ops::js_string(scope, crate::ext::base::FINAL_URL_PAIR).into());
                flat.push(crate::ops::js_string(scope, &url).into());
            }
            let headers = v8::Array::new_with_elements(scope, &flat).into();
            let body = body_to_js(scope, &crate::ops::state(scope), resp.body);
            Ok(v8::Array::new_with_elements(scope, &[status, headers, body]).into())
        }
    }
}

/// A body as JS's `bodyFromNative` takes it: `null`, the whole body (see
/// [`crate::ops::whole_body`]), or the id of a native stream kept in
/// `state` for `op_body_read`.
fn body_to_js<'s>(scope: &mut v8::PinScope<'s, '_>, state: &RefCell<State>, body: Body) -> v8::Local<'s, v8::Value> {
    match body {
        Body::Empty => v8::null(scope).into(),
        Body::Full(bytes) => crate::ops::whole_body(scope, &bytes),
        Body::Stream(stream) => {
            let sid = state.borrow_mut().add_body_stream(stream);
            v8::Integer::new_from_unsigned(scope, sid).into()
        }
    }
}

/// Evaluates the bootstrap: env, and the hooks the runtime calls.
fn bootstrap(scope: &mut v8::PinScope, internals: v8::Local<v8::Object>, bundle: &Bundle) -> Result<Hooks, LoadError> {
    let key = v8::String::new(scope, "bootstrap").unwrap();
    let f: v8::Local<v8::Function> = internals
        .get(scope, key.into())
        .unwrap()
        .try_into()
        .expect("internals.bootstrap");
    let env = v8::Object::new(scope);
    for (name, value) in &bundle.vars {
        let json = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
        let json = v8::String::new(scope, &json).unwrap();
        let v = v8::json::parse(scope, json).ok_or_else(|| LoadError::Json {
            file: "vars".into(),
            message: format!("var {name}"),
        })?;
        let k = v8::String::new(scope, name).unwrap();
        env.set(scope, k.into(), v);
    }
    for (name, value) in &bundle.secrets {
        let k = v8::String::new(scope, name).unwrap();
        let v = v8::String::new(scope, value).unwrap();
        env.set(scope, k.into(), v.into());
    }
    let undefined = v8::undefined(scope).into();
    let hooks: v8::Local<v8::Object> = f.call(scope, undefined, &[env.into()]).unwrap().try_into().unwrap();
    let get = |scope: &mut v8::PinScope, name: &str| -> v8::Global<v8::Function> {
        let k = v8::String::new(scope, name).unwrap();
        let f: v8::Local<v8::Function> = hooks.get(scope, k.into()).unwrap().try_into().unwrap();
        v8::Global::new(scope, f)
    };
    let methods = METHODS.iter().map(|m| crate::ops::intern(scope, m)).collect();
    Ok(Hooks {
        dispatch: get(scope, "dispatch"),
        fire_timer: get(scope, "fireTimer"),
        abort_request: get(scope, "abortRequest"),
        methods,
    })
}

fn set_handler(
    scope: &mut v8::PinScope,
    internals: v8::Local<v8::Object>,
    namespace: v8::Local<v8::Object>,
    main: &str,
) -> Result<(), LoadError> {
    let key = v8::String::new(scope, "setHandler").unwrap();
    let f: v8::Local<v8::Function> = internals.get(scope, key.into()).unwrap().try_into().unwrap();
    let undefined = v8::undefined(scope).into();
    let ok = f.call(scope, undefined, &[namespace.into()]).unwrap();
    if ok.is_true() {
        Ok(())
    } else {
        Err(LoadError::NoHandler(main.to_string()))
    }
}

/// The exception caught by `tc` as a [`JsError`] with its location.
pub(crate) fn js_error_from_try_catch(tc: &mut v8::PinnedRef<'_, v8::TryCatch<v8::HandleScope>>) -> JsError {
    let exception = tc.exception();
    let message = tc.message();
    let stack = tc.stack_trace().map(|s| s.to_rust_string_lossy(tc));
    let text = match exception {
        Some(e) => describe_exception(tc, e),
        None => "execution terminated".to_string(),
    };
    match message {
        Some(m) => {
            let file = m
                .get_script_resource_name(tc)
                .map(|n| n.to_rust_string_lossy(tc))
                .unwrap_or_default();
            let line = m.get_line_number(tc).unwrap_or(0);
            let column = m.get_start_column() + 1;
            JsError {
                message: text,
                file,
                line,
                column,
                stack,
            }
        }
        None => JsError {
            message: text,
            file: String::new(),
            line: 0,
            column: 0,
            stack,
        },
    }
}

/// `String(e)` for errors ("TypeError: x"), JSON-ish text for other values.
pub(crate) fn describe_exception(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> String {
    if value.is_object()
        && !value.is_native_error()
        && let Some(json) = v8::json::stringify(scope, value)
    {
        return json.to_rust_string_lossy(scope);
    }
    if value.is_native_error() {
        let obj: v8::Local<v8::Object> = value.try_into().unwrap();
        let key = v8::String::new(scope, "stack").unwrap();
        if let Some(stack) = obj.get(scope, key.into()).filter(|s| s.is_string()) {
            return stack.to_rust_string_lossy(scope);
        }
    }
    value.to_rust_string_lossy(scope)
}

extern "C" fn promise_reject_callback(msg: v8::PromiseRejectMessage) {
    v8::callback_scope!(unsafe scope, &msg);
    let state = crate::ops::state(scope);
    let promise = msg.get_promise();
    match msg.get_event() {
        v8::PromiseRejectEvent::PromiseRejectWithNoHandler => {
            let reason = msg.get_value().unwrap_or_else(|| v8::undefined(scope).into());
            let p = v8::Global::new(scope, promise);
            let r = v8::Global::new(scope, reason);
            state.borrow_mut().unhandled.push((p, r));
        }
        v8::PromiseRejectEvent::PromiseHandlerAddedAfterReject => {
            let mut st = state.borrow_mut();
            st.unhandled.retain(|(p, _)| *p != promise);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use crate::{Body, Bundle, HeaderList, HttpRequest, Runtime, RuntimeOptions, StdHost};

    fn runtime(name: &str) -> Runtime {
        runtime_of(&format!(
            "export default {{ fetch() {{ return new Response({name:?}); }} }};"
        ))
    }

    fn runtime_of(code: &str) -> Runtime {
        Runtime::new(
            &Bundle::single("main.js", code),
            Rc::new(StdHost),
            RuntimeOptions::default(),
        )
        .expect("the module loads")
    }

    fn get() -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: "http://isolates.test/".into(),
            headers: HeaderList::default(),
            body: Body::Empty,
        }
    }

    fn answer(rt: &mut Runtime) -> String {
        rt.call(get()).expect("answered").text()
    }

    /// A string body is sent as UTF-8 with lone surrogates as U+FFFD, as
    /// USVString conversion and then encoding would give, whether the string
    /// goes out as it is or through the body's stream.
    #[test]
    fn lone_surrogates_in_a_string_body_are_sent_as_replacement_characters() {
        for code in [
            r#"export default { fetch() { return new Response("a\ud800b\udc00"); } };"#,
            r#"export default { fetch() { const r = new Response("a\ud800b\udc00"); r.body; return r; } };"#,
        ] {
            let response = runtime_of(code).call(get()).expect("answered");
            assert_eq!(response.body, "a\u{fffd}b\u{fffd}".as_bytes(), "{code}");
        }
    }

    thread_local! {
        /// The use-counted V8 features this thread's isolates hit.
        static FEATURES: std::cell::RefCell<Vec<v8::UseCounterFeature>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Keeps what V8 counts. A builtin written in V8's own assembler (most
    /// of them) counts its use with a call into V8's C++ runtime every
    /// time, from JIT-compiled code too. `ArrayBuffer#transfer`, which byte
    /// streams need, is written in C++ and counts in place, at no cost.
    unsafe extern "C" fn note_feature(_: &mut v8::Isolate, feature: v8::UseCounterFeature) {
        if feature != v8::UseCounterFeature::kArrayBufferTransfer {
            FEATURES.with_borrow_mut(|f| f.push(feature));
        }
    }

    /// A request path that uses a counted feature (String#isWellFormed for
    /// every string body, Promise.withResolvers for every stream read, say)
    /// pays for a C++ runtime call each time. The handlers `make bench`
    /// measures, and a few other common paths, use none once warm.
    #[test]
    fn warm_requests_use_no_use_counted_feature() {
        let post = |body: &'static [u8]| {
            let mut headers = HeaderList::default();
            headers.push("content-type", "application/json");
            HttpRequest {
                method: "POST".into(),
                url: "http://isolates.test/a/b?c=d".into(),
                headers,
                body: Body::Full(bytes::Bytes::from_static(body)),
            }
        };
        for code in [
            include_str!("../../bench/peers/handlers/hello.js"),
            include_str!("../../bench/peers/handlers/json.js"),
            include_str!("../../bench/peers/handlers/stream.js"),
            "export default { async fetch(r) { return new Response(await r.text(), { headers: r.headers }); } };",
            "export default { fetch(r) { const u = new URL(r.url); return new Response(u.pathname + u.search); } };",
            "export default { async fetch(r) {
                const bytes = new TextEncoder().encode(r.headers.get('content-type') + crypto.randomUUID());
                const q = new URLSearchParams(new URL(r.url).search);
                const digest = await crypto.subtle.digest('SHA-256', bytes);
                await new Promise((resolve) => setTimeout(resolve, 0));
                return new Response(new TextDecoder().decode(bytes) + q.get('c') + digest.byteLength);
            } };",
            "export default { async fetch(r) {
                let n = 0;
                for await (const chunk of r.body) n += chunk.byteLength;
                return new Response(new Blob([String(n)]).stream());
            } };",
        ] {
            let mut rt = runtime_of(code);
            rt.isolate.set_use_counter_callback(note_feature);
            for _ in 0..200 {
                assert_eq!(
                    rt.call(post(br#"{"a":[1,2,3]}"#)).expect("answered").status,
                    200,
                    "{code}"
                );
            }
            FEATURES.with_borrow_mut(Vec::clear);
            for _ in 0..100 {
                rt.call(post(br#"{"a":[1,2,3]}"#)).expect("answered");
            }
            let hit = FEATURES.take();
            assert!(
                hit.is_empty(),
                "{code}\n: 100 requests hit {:?}",
                &hit[..hit.len().min(3)]
            );
        }
    }

    /// An isolate stays entered between uses; other isolates of the same
    /// thread still take turns, start, and go in any order.
    #[test]
    fn isolates_of_one_thread_take_turns_and_go_in_any_order() {
        let mut a = runtime("a");
        let mut b = runtime("b");
        assert_eq!(answer(&mut a), "a");
        assert_eq!(answer(&mut b), "b");
        assert_eq!(answer(&mut a), "a");
        // Made while `a` stays entered.
        let mut c = runtime("c");
        assert_eq!(answer(&mut b), "b");
        // `b` is the entered one; `a` goes from under it.
        drop(a);
        assert_eq!(answer(&mut c), "c");
        assert_eq!(answer(&mut b), "b");
        // The entered one goes.
        drop(b);
        let mut d = runtime("d");
        assert_eq!(answer(&mut c), "c");
        assert_eq!(answer(&mut d), "d");
        drop(d);
        assert_eq!(answer(&mut c), "c");
        drop(c);
        let mut e = runtime("e");
        assert_eq!(answer(&mut e), "e");
    }

    fn bytecode_size(rt: &mut Runtime) -> usize {
        let _entered = super::Entered::new(&rt.isolate);
        rt.isolate
            .get_heap_code_and_metadata_statistics()
            .expect("code statistics")
            .bytecode_and_metadata_size()
    }

    /// The request path's glue comes compiled in the snapshot
    /// (`Glue::eager`): a new isolate's first request compiles its
    /// handler's own functions and no glue.
    #[test]
    fn a_first_request_compiles_only_the_handler() {
        let code = "export default { async fetch(request) {
            const url = new URL(request.url);
            const body = await request.json();
            return Response.json({ path: url.pathname, type: request.headers.get('content-type'), body },
                { headers: new Headers({ 'x-seen': '1' }) });
        } };";
        let mut rt = Runtime::new(
            &Bundle::single("main.js", code),
            Rc::new(StdHost),
            RuntimeOptions::default(),
        )
        .expect("the module loads");
        let before = bytecode_size(&mut rt);
        let request = HttpRequest {
            method: "POST".into(),
            url: "http://eager.test/a/b?q=1".into(),
            headers: [("content-type", "application/json")].into(),
            body: Body::Full(bytes::Bytes::from_static(b"[1,2]")),
        };
        let response = rt.call(request).expect("answered");
        assert_eq!(
            response.text(),
            r#"{"path":"/a/b","type":"application/json","body":[1,2]}"#
        );
        let grown = bytecode_size(&mut rt) - before;
        assert!(grown < 1_000, "the first request compiled {grown} bytes of bytecode");
    }

    /// How much `measure` grows over `n` requests answered `ok` by `rt`.
    fn growth_over_requests(rt: &mut Runtime, n: usize, measure: fn(&mut Runtime) -> u64) -> u64 {
        let before = measure(rt);
        for _ in 0..n {
            assert_eq!(answer(rt), "ok");
        }
        measure(rt).saturating_sub(before)
    }

    /// Bytes V8 allocates per request to `code` in the steady state: the
    /// least over five runs of 2,000 requests, after 10,000. V8 compiles
    /// hot functions on its own schedule, and a run in which it does
    /// allocates their code and feedback too (up to 1,500 bytes more per
    /// request over 1,000 requests).
    fn allocated_per_request(code: &str) -> u64 {
        let allocated = |rt: &mut Runtime| {
            let _entered = super::Entered::new(&rt.isolate);
            rt.isolate.get_heap_statistics().total_allocated_bytes()
        };
        let mut rt = runtime_of(code);
        let n = 2_000;
        growth_over_requests(&mut rt, 10_000, allocated);
        (0..5)
            .map(|_| growth_over_requests(&mut rt, n, allocated) / n as u64)
            .min()
            .expect("five runs")
    }

    /// A handler that returns a promise costs the runtime little V8 heap
    /// beyond one that answers at once: the promise's reactions and an
    /// entry in the in-flight map, about 300 bytes here (300–370 over
    /// runs). This bounds that cost; it does not pin the in-flight map's
    /// kept entry, whose 120 bytes (V8 shrinking the emptied map after
    /// every request, see 99_handler.js) are within the spread between
    /// runs of the same code.
    #[test]
    fn answering_a_promise_allocates_little_more_than_answering_at_once() {
        let at_once = allocated_per_request("export default { fetch() { return new Response('ok'); } };");
        let promised = allocated_per_request("export default { async fetch() { return new Response('ok'); } };");
        let extra = promised.saturating_sub(at_once);
        assert!(
            extra < 450,
            "a promised answer allocated {extra} bytes more per request ({promised} against {at_once})"
        );
    }

    /// The glue's source stays in the binary (see `ext::glue_source`): an
    /// isolate's source strings point at it, so its heap holds no copy of
    /// the ~400 KB. An idle isolate uses about 0.9 MB of V8 heap here, and
    /// used 1.3 MB when the snapshot held the text (the threshold depends
    /// on V8's version).
    #[test]
    fn an_isolate_holds_no_copy_of_the_glue_source() {
        let glue: usize = crate::ext::js_sources().map(|g| g.source.len()).sum();
        assert!(glue > 300_000, "the glue is {glue} bytes");
        let mut rt = runtime("ok");
        rt.collect_garbage();
        let used = rt.heap_used();
        assert!(used < 1_100_000, "an idle isolate uses {used} bytes of V8 heap");
    }

    fn old_space_used(rt: &mut Runtime) -> u64 {
        let _entered = super::Entered::new(&rt.isolate);
        (0..rt.isolate.number_of_heap_spaces())
            .filter_map(|i| rt.isolate.get_heap_space_statistics(i))
            .find(|s| s.space_name().to_bytes() == b"old_space")
            .expect("an old space")
            .space_used_size() as u64
    }

    /// How many bytes the old generation grows by over `n` requests to a
    /// handler that awaits `what`, after a warm-up.
    fn old_generation_growth(what: &str, n: usize) -> u64 {
        let mut rt = runtime_of(&format!(
            "export default {{ async fetch() {{ await {what}; return new Response('ok'); }} }};"
        ));
        for _ in 0..n / 10 {
            assert_eq!(answer(&mut rt), "ok");
        }
        growth_over_requests(&mut rt, n, old_space_used)
    }

    /// What the runtime keeps per open request or timer lives in the young
    /// generation and dies there: answering requests whose handler awaits
    /// a promise or a timer does not grow the old generation, so it needs
    /// no full GC.
    #[test]
    fn requests_that_await_leave_the_old_generation_alone() {
        let grown = old_generation_growth("null", 20_000);
        assert!(
            grown < 256 << 10,
            "the old generation grew by {grown} bytes over 20,000 requests"
        );
        let grown = old_generation_growth("new Promise((resolve) => setTimeout(resolve, 0))", 2_000);
        assert!(
            grown < 256 << 10,
            "the old generation grew by {grown} bytes over 2,000 requests with a timer"
        );
    }
}
