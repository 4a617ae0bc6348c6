//! Per-request limits: CPU time, heap and wall-clock time.
//!
//! Each isolate has a [`Meter`] shared with one watchdog thread per process.
//! While JS runs on an isolate (a *slice*: a dispatch, a timer, a landed
//! host call and the promise continuations it triggers) the meter holds the
//! slice's start and how much CPU it may use — the least any unanswered
//! request has left, and never more than one request's limit. A slice's time
//! is charged to every request still waiting for its response head. The
//! isolate thread reads only the monotonic clock (vDSO, no syscall) at a
//! slice's start and end: most slices last microseconds. The watchdog ticks
//! every [`TICK`] while JS is active; the first time it sees a slice still
//! running it reads that thread's CPU clock, and from then on charges the
//! slice by CPU time, calling `terminate_execution` on an isolate over
//! budget or past a request's wall-clock deadline. The heap limit's near-limit
//! callback grants headroom (the process never aborts) and asks the
//! watchdog to terminate. A terminated runtime answers its open requests
//! with 503 and reports itself poisoned; its owner replaces it.
//!
//! The watchdog also wakes an event loop whose requests are merely waiting
//! when their wall-clock deadline passes, so the runtime answers them.

use std::ffi::c_void;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::Waker;
use std::thread::Thread;
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;

/// How often the watchdog looks at a slice of JS it has already seen
/// running: from then on it is charged by the thread's CPU clock, and
/// stopped at most this long past its budget.
const TICK: Duration = Duration::from_millis(1);

/// How often the watchdog looks while JS runs in short slices, as handlers'
/// do (microseconds each): a slice still running at the next look is seen
/// for the first time at most this long after it began, or by its budget
/// when that is shorter. Looking every [`TICK`] instead would interrupt
/// the isolate threads a thousand times a second.
const LOOK: Duration = Duration::from_millis(5);

/// Heap granted past the limit while termination lands, at least.
const MIN_HEADROOM: usize = 16 << 20;

/// Which limit stopped a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The request's JS used more CPU time than `RuntimeOptions::cpu_limit`.
    Cpu,
    /// The isolate's heap reached `RuntimeOptions::max_heap_bytes`.
    Memory,
    /// The request was still open after `RuntimeOptions::wall_limit`.
    WallClock,
    /// The request called `fetch()` more than
    /// `RuntimeOptions::subrequest_limit` times (that call throws; the
    /// request goes on).
    Subrequests,
}

impl Limit {
    /// `cpu`, `memory` or `wall-clock`, as logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Cpu => "cpu",
            Limit::Memory => "memory",
            Limit::WallClock => "wall-clock",
            Limit::Subrequests => "subrequests",
        }
    }

    /// The body of the 503 the runtime answers with.
    pub(crate) fn response_body(self) -> &'static str {
        match self {
            Limit::Cpu => "outpost: cpu limit exceeded",
            Limit::Memory => "outpost: memory limit exceeded",
            Limit::WallClock => "outpost: wall-clock limit exceeded",
            Limit::Subrequests => "outpost: subrequest limit exceeded",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} limit exceeded", self.as_str())
    }
}

/// JS running on the isolate now.
struct Slice {
    /// When the slice began.
    cpu_start: Instant,
    /// The thread's CPU clock when the watchdog first saw this slice
    /// running, and what it charged the slice for the time before; from
    /// then on the slice is charged by CPU.
    cpu_seen: Option<(Duration, Duration)>,
    /// CPU the slice may use before the isolate is terminated.
    cpu_budget: Duration,
    /// The earliest wall-clock deadline of the requests open now.
    wall_deadline: Option<Instant>,
}

impl Slice {
    /// What the slice has used by the time its thread's CPU clock reads
    /// `cpu_now`, once the watchdog has seen it: what it was charged before
    /// that, plus the thread's CPU time since.
    fn cpu_used(&self, cpu_now: Option<Duration>) -> Option<Duration> {
        let (cpu0, before) = self.cpu_seen?;
        Some(cpu_now?.saturating_sub(cpu0) + before)
    }
}

/// The earlier of two optional times (either when only one is there).
fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Default)]
struct MeterState {
    slice: Option<Slice>,
    /// Earliest wall-clock deadline of open requests: the watchdog wakes the
    /// event loop then.
    wall_deadline: Option<Instant>,
    /// The limit that stopped the isolate.
    tripped: Option<Limit>,
    /// Tripped on the isolate's own thread (heap callback): the watchdog
    /// still has to terminate it.
    terminate: bool,
    /// Slices begun so far: while this changes the watchdog keeps looking
    /// instead of being woken per slice.
    slices: u64,
}

/// An isolate's limits as its thread, the watchdog and the heap callback
/// share them.
pub(crate) struct Meter {
    handle: v8::IsolateHandle,
    /// The CPU clock of the thread the isolate lives on.
    clock: libc::clockid_t,
    state: Mutex<MeterState>,
    /// The event loop to wake when a wall-clock deadline passes.
    waker: AtomicWaker,
}

impl Meter {
    /// A meter for `isolate`, which lives on the calling thread, watched by
    /// the process's watchdog from now on.
    pub(crate) fn new(isolate: &v8::Isolate) -> Arc<Meter> {
        let meter = Arc::new(Meter {
            handle: isolate.thread_safe_handle(),
            clock: current_thread_clock(),
            state: Mutex::default(),
            waker: AtomicWaker::new(),
        });
        watchdog()
            .meters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&meter));
        meter
    }

    fn lock(&self) -> MutexGuard<'_, MeterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// JS is about to run, `now`: it may use `cpu_budget` of CPU and run
    /// until `wall_deadline`. Returns when it began, for [`Meter::end`].
    pub(crate) fn begin(&self, now: Instant, cpu_budget: Duration, wall_deadline: Option<Instant>) -> Instant {
        // Slices are timed by the monotonic clock (vDSO, no syscall); the
        // thread's CPU clock is read by the watchdog for slices that run
        // long.
        {
            let mut st = self.lock();
            st.slice = Some(Slice {
                cpu_start: now,
                cpu_seen: None,
                cpu_budget,
                wall_deadline,
            });
            st.slices = st.slices.wrapping_add(1);
        }
        // After the lock: a watchdog going to sleep either finds this slice
        // when it looks again under the lock, or set `asleep` before that
        // look, which the release of the lock then makes visible here.
        let dog = watchdog();
        if cpu_budget < LOOK {
            // Due before the watchdog's next look (a request near the end
            // of its CPU time): it looks at once, then every tick.
            dog.thread.unpark();
        } else {
            // While JS keeps running the watchdog looks on its own; it is
            // woken only from its idle sleep, not on every entry into JS.
            dog.wake_if_asleep();
        }
        now
    }

    /// JS has returned: the time used since [`Meter::begin`]. A slice the
    /// watchdog saw running is charged what it charged it before that plus
    /// its thread's CPU time since, when that is less than the time that
    /// passed (the thread waited for a core): a long slice is charged CPU,
    /// not a busy machine's delays. Short slices, the common case, cost no
    /// CPU-clock read.
    /// Also returns the limit that stopped the isolate, if one did (read
    /// under the same lock).
    pub(crate) fn end(&self, cpu_start: Instant) -> (Duration, Option<Limit>) {
        let (slice, tripped) = {
            let mut st = self.lock();
            (st.slice.take(), st.tripped)
        };
        let elapsed = cpu_start.elapsed();
        // Only a slice the watchdog saw costs a CPU-clock read.
        let seen = slice.filter(|s| s.cpu_seen.is_some());
        let used = match seen.and_then(|s| s.cpu_used(thread_cpu(self.clock))) {
            Some(cpu) => elapsed.min(cpu),
            None => elapsed,
        };
        (used, tripped)
    }

    /// The limit that stopped the isolate, if one did.
    pub(crate) fn tripped(&self) -> Option<Limit> {
        self.lock().tripped
    }

    /// Records that `limit` stopped the isolate (JS of its is not running).
    pub(crate) fn trip(&self, limit: Limit) {
        self.lock().tripped.get_or_insert(limit);
    }

    /// When the earliest open request's wall-clock time runs out.
    pub(crate) fn set_wall_deadline(&self, at: Option<Instant>) {
        let earlier = {
            let mut st = self.lock();
            let earlier = at.is_some_and(|at| st.wall_deadline.is_none_or(|d| at < d));
            st.wall_deadline = at;
            earlier
        };
        if earlier {
            watchdog().wake_if_asleep();
        }
    }

    /// The event loop to wake when a deadline passes.
    pub(crate) fn register_waker(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    /// The watchdog's look at this isolate.
    fn check(&self, now: Instant, clocks: &mut ThreadClocks) -> Look {
        let (cpu_now, cpu_before) = clocks.read(self.clock);
        let mut terminate = false;
        let mut wake = false;
        let mut look_in = None;
        let mut next = None;
        let (running, slices) = {
            let mut st = self.lock();
            if st.tripped.is_none()
                && let Some(slice) = &mut st.slice
            {
                // Until the watchdog first sees the slice, it is charged the
                // time since it began, or the CPU its thread used since the
                // look before (which did not see it running) when that is
                // less, as on a loaded machine; from then on, the thread's
                // CPU time.
                let first_look = slice.cpu_seen.is_none();
                let used = match slice.cpu_seen {
                    None => {
                        let elapsed = Instant::now().saturating_duration_since(slice.cpu_start);
                        let before = match (cpu_now, cpu_before) {
                            (Some(now), Some(before)) => elapsed.min(now.saturating_sub(before)),
                            _ => elapsed,
                        };
                        slice.cpu_seen = cpu_now.map(|cpu| (cpu, before));
                        Some(before)
                    }
                    Some(_) => slice.cpu_used(cpu_now),
                };
                if used.is_some_and(|u| u > slice.cpu_budget) {
                    st.tripped = Some(Limit::Cpu);
                    terminate = true;
                } else if slice.wall_deadline.is_some_and(|d| d <= now) {
                    st.tripped = Some(Limit::WallClock);
                    terminate = true;
                } else {
                    // Seen for the first time: look again by its budget (at
                    // most a look away; most slices have ended by then);
                    // seen again: every tick, on its CPU time.
                    let left = slice.cpu_budget.saturating_sub(used.unwrap_or_default());
                    look_in = Some(if first_look { TICK.max(left).min(LOOK) } else { TICK });
                }
            }
            if std::mem::take(&mut st.terminate) {
                terminate = true;
            }
            match st.wall_deadline {
                Some(d) if d <= now => {
                    st.wall_deadline = None;
                    wake = true;
                }
                d => next = d,
            }
            (st.slice.is_some(), st.slices)
        };
        // Outside the lock: the isolate thread may be waiting for it.
        if terminate {
            self.handle.terminate_execution();
            wake = true;
        }
        if wake {
            self.waker.wake();
        }
        Look {
            look_in,
            next,
            running,
            slices,
        }
    }

    /// Whether JS runs on the isolate now.
    fn running(&self) -> bool {
        self.lock().slice.is_some()
    }
}

/// What the watchdog's look at one isolate found.
struct Look {
    /// How soon to look again while its JS runs.
    look_in: Option<Duration>,
    /// The next wall-clock deadline to wake up for.
    next: Option<Instant>,
    /// JS was running.
    running: bool,
    /// Slices begun on it so far.
    slices: u64,
}

/// V8's near-heap-limit callback: the isolate is out of heap. Grants
/// headroom so V8 does not abort the process, and asks the watchdog to
/// terminate the isolate.
///
/// # Safety
///
/// `data` is the isolate's [`Meter`], alive as long as the isolate.
pub(crate) unsafe extern "C" fn near_heap_limit(data: *mut c_void, current: usize, initial: usize) -> usize {
    // SAFETY: the runtime registers its meter, which it drops only after
    // the isolate.
    let meter = unsafe { &*(data as *const Meter) };
    {
        let mut st = meter.lock();
        if st.tripped.is_none() {
            st.tripped = Some(Limit::Memory);
            st.terminate = true;
        }
    }
    watchdog().thread.unpark();
    current.saturating_add(initial.max(MIN_HEADROOM))
}

/// The process's watchdog thread and the isolates it watches. Entering
/// and leaving JS touch only the isolate's own meter: the watchdog learns
/// of slices by looking at the meters, and keeps looking for a while after
/// the last one began instead of being woken per slice.
struct Watchdog {
    meters: Mutex<Vec<Weak<Meter>>>,
    /// The watchdog sleeps until woken or until a wall-clock deadline.
    asleep: AtomicBool,
    thread: Thread,
}

impl Watchdog {
    /// The meters of the isolates alive now.
    fn meters(&self) -> Vec<Arc<Meter>> {
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        meters.retain(|m| m.strong_count() > 0);
        meters.iter().filter_map(Weak::upgrade).collect()
    }

    fn wake_if_asleep(&self) {
        // A load first: the swap is a locked write, and the watchdog is
        // rarely asleep while JS runs.
        if self.asleep.load(Ordering::SeqCst) && self.asleep.swap(false, Ordering::SeqCst) {
            self.thread.unpark();
        }
    }
}

/// How long the watchdog keeps ticking after the last entry into JS before
/// it sleeps until woken.
const IDLE_GRACE: Duration = Duration::from_millis(200);

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(|| {
        let thread = std::thread::Builder::new()
            .name("outpost-watchdog".into())
            .spawn(|| watch(watchdog()))
            .expect("spawning the limits watchdog thread");
        Watchdog {
            meters: Mutex::default(),
            asleep: AtomicBool::new(false),
            thread: thread.thread().clone(),
        }
    })
}

/// The CPU clocks of the isolates' threads, read once per look, and as
/// they read at the look before.
#[derive(Default)]
struct ThreadClocks {
    now: Vec<(libc::clockid_t, Option<Duration>)>,
    before: Vec<(libc::clockid_t, Option<Duration>)>,
}

impl ThreadClocks {
    fn next_look(&mut self) {
        std::mem::swap(&mut self.now, &mut self.before);
        self.now.clear();
    }

    /// `clock` at this look, and at the look before.
    fn read(&mut self, clock: libc::clockid_t) -> (Option<Duration>, Option<Duration>) {
        let now = match self.now.iter().find(|(c, _)| *c == clock) {
            Some(&(_, cpu)) => cpu,
            None => {
                let cpu = thread_cpu(clock);
                self.now.push((clock, cpu));
                cpu
            }
        };
        let before = self.before.iter().find(|(c, _)| *c == clock).and_then(|&(_, cpu)| cpu);
        (now, before)
    }
}

fn watch(dog: &Watchdog) -> ! {
    let mut last_activity = u64::MAX;
    let mut active_until = Instant::now();
    let mut clocks = ThreadClocks::default();
    loop {
        clocks.next_look();
        let now = Instant::now();
        let mut look_in: Option<Duration> = None;
        let mut next: Option<Instant> = None;
        let mut running = false;
        // Slices begun on the isolates alive: a change (new slices, or an
        // isolate gone) is activity.
        let mut activity = 0u64;
        for meter in dog.meters() {
            let look = meter.check(now, &mut clocks);
            look_in = earliest(look_in, look.look_in);
            next = earliest(next, look.next);
            running |= look.running;
            activity = activity.wrapping_add(look.slices);
        }
        if activity != last_activity {
            last_activity = activity;
            active_until = now + IDLE_GRACE;
        }
        if let Some(look_in) = look_in {
            std::thread::park_timeout(look_in);
            continue;
        }
        if running || now < active_until {
            std::thread::park_timeout(LOOK);
            continue;
        }
        // Idle: sleep until a deadline or until JS runs again. `asleep` is
        // set before the meters are looked at again, each under its lock:
        // a slice that began before that look is seen, and one that began
        // after it sees `asleep` and unparks (see `Meter::begin`).
        dog.asleep.store(true, Ordering::SeqCst);
        if dog.meters().iter().any(|m| m.running()) {
            dog.asleep.store(false, Ordering::SeqCst);
            continue;
        }
        match next {
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            None => std::thread::park(),
        }
        dog.asleep.store(false, Ordering::SeqCst);
    }
}

/// The CPU clock of the calling thread, readable from other threads.
fn current_thread_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self` is always valid; `clock` is a valid out pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if rc == 0 {
        clock
    } else {
        // Unreachable on Linux; fall back to a clock that reads as CPU time
        // of whichever thread reads it, so limits are merely not enforced.
        libc::CLOCK_THREAD_CPUTIME_ID
    }
}

/// CPU time of `clock`, or `None` when it cannot be read (its thread is
/// gone).
fn thread_cpu(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out pointer; a stale clock id only fails.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use crate::{Body, Bundle, FullResponse, HeaderList, HttpRequest, Runtime, RuntimeOptions, StdHost};

    fn get() -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: "http://limits.test/".into(),
            headers: HeaderList::default(),
            body: Body::Empty,
        }
    }

    /// Limits small enough for tests; CPU generous enough for a loaded machine.
    fn options() -> RuntimeOptions {
        RuntimeOptions {
            max_heap_bytes: 0,
            cpu_limit: Duration::from_millis(30),
            wall_limit: Duration::from_secs(10),
            ..Default::default()
        }
    }

    fn runtime(code: &str, options: RuntimeOptions) -> Runtime {
        Runtime::new(&Bundle::single("main.js", code), Rc::new(StdHost), options).expect("the module loads")
    }

    fn call(rt: &mut Runtime) -> FullResponse {
        rt.call(get()).expect("a response")
    }

    const HELLO: &str = "export default { fetch() { return new Response('hello'); } };";

    /// Replaces a poisoned runtime, as the node's worker does.
    fn replace_if_poisoned(rt: &mut Runtime, code: &str, options: RuntimeOptions) {
        if rt.is_poisoned() {
            *rt = runtime(code, options);
        }
    }

    #[test]
    fn a_busy_loop_answers_503_and_a_fresh_runtime_serves_the_next_request() {
        let code = "export default { fetch(req) { \
            if (new URL(req.url).pathname === '/') for (;;) {} \
            return new Response('fine'); } };";
        let mut rt = runtime(code, options());
        let started = Instant::now();
        let resp = call(&mut rt);
        assert_eq!(resp.status, 503);
        assert_eq!(resp.text(), "outpost: cpu limit exceeded");
        assert!(started.elapsed() < Duration::from_secs(5), "stopped promptly");
        assert!(rt.is_poisoned());
        assert_eq!(rt.poisoned_by(), Some(super::Limit::Cpu));
        // A poisoned runtime answers without running JS.
        let mut req = get();
        req.url = "http://limits.test/ok".into();
        assert_eq!(rt.call(req).unwrap().status, 503);
        replace_if_poisoned(&mut rt, code, options());
        let mut req = get();
        req.url = "http://limits.test/ok".into();
        let resp = rt.call(req).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "fine"));
    }

    /// Blocks in every `console.log`, as a thread descheduled in the middle
    /// of JS would: time passes, no CPU is used.
    struct StallingHost(StdHost);

    impl crate::Host for StallingHost {
        fn log(&self, _level: crate::LogLevel, _message: &str) {
            std::thread::sleep(Duration::from_millis(120));
        }
        fn sleep_until(&self, deadline: Instant) -> crate::LocalFuture<()> {
            self.0.sleep_until(deadline)
        }
    }

    #[test]
    fn time_a_slice_waits_without_using_cpu_is_not_charged_as_cpu() {
        // The request stays open after the stalled slice (it waits for a
        // timer), so what that slice is charged counts against it.
        let code = "export default { async fetch() { console.log('stall'); \
            await new Promise((r) => setTimeout(r, 1)); return new Response('fine'); } };";
        let mut rt = Runtime::new(
            &Bundle::single("main.js", code),
            Rc::new(StallingHost(StdHost)),
            options(),
        )
        .expect("the module loads");
        let started = Instant::now();
        let resp = call(&mut rt);
        assert!(
            started.elapsed() > options().cpu_limit,
            "the slice outlasted the CPU limit"
        );
        assert_eq!((resp.status, resp.text().as_str()), (200, "fine"));
        assert!(!rt.is_poisoned());
    }

    /// Run alone in a process of its own (this test binary again), where no
    /// other test keeps the watchdog awake: JS that starts while it sleeps
    /// must wake it, or a busy loop would run forever.
    #[test]
    fn a_busy_loop_that_starts_while_the_watchdog_sleeps_is_stopped() {
        const CHILD: &str = "OUTPOST_WATCHDOG_ALONE";
        if std::env::var_os(CHILD).is_none() {
            let name = "limits::tests::a_busy_loop_that_starts_while_the_watchdog_sleeps_is_stopped";
            let mut child = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--nocapture", "--test-threads=1"])
                .env(CHILD, "1")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("the test binary runs again");
            let deadline = Instant::now() + Duration::from_secs(60);
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if Instant::now() > deadline {
                    child.kill().unwrap();
                    child.wait().unwrap();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(
                status.is_some_and(|s| s.success()),
                "the test alone in its process: {status:?} (None: the busy loop was never stopped)"
            );
            return;
        }
        let code = "export default { fetch(req) { \
            if (new URL(req.url).pathname === '/') for (;;) {} \
            return new Response('fine'); } };";
        let mut rt = runtime(code, options());
        let mut warm = get();
        warm.url = "http://limits.test/ok".into();
        assert_eq!(rt.call(warm).unwrap().status, 200);
        // Idle for the grace period: the watchdog goes to sleep.
        let waited = Instant::now();
        while !super::watchdog().asleep.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(waited.elapsed() < Duration::from_secs(30), "the watchdog never slept");
            std::thread::sleep(Duration::from_millis(1));
        }
        let resp = call(&mut rt);
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (503, "outpost: cpu limit exceeded")
        );
    }

    #[test]
    fn a_neighbour_on_the_same_thread_is_unharmed() {
        let mut good = runtime(HELLO, options());
        let mut bad = runtime("export default { fetch() { for (;;) {} } };", options());
        assert_eq!(call(&mut bad).status, 503);
        assert!(!good.is_poisoned());
        let resp = call(&mut good);
        assert_eq!((resp.status, resp.text().as_str()), (200, "hello"));
    }

    #[test]
    fn a_promise_chain_loop_is_stopped() {
        let microtasks = "export default { async fetch() { for (;;) await null; } };";
        let resp = call(&mut runtime(microtasks, options()));
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (503, "outpost: cpu limit exceeded")
        );

        let chained = "function spin() { return Promise.resolve().then(spin); }\n\
            export default { fetch() { spin(); return new Promise(() => {}); } };";
        let resp = call(&mut runtime(chained, options()));
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (503, "outpost: cpu limit exceeded")
        );
    }

    #[test]
    fn cpu_adds_up_over_timer_callbacks() {
        // Each callback is short; together they exceed the budget.
        let code = "export default { fetch() { return new Promise(() => { \
            const tick = () => { const end = Date.now() + 2; while (Date.now() < end) {} setTimeout(tick, 0); }; \
            tick(); }); } };";
        let resp = call(&mut runtime(code, options()));
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (503, "outpost: cpu limit exceeded")
        );
    }

    #[test]
    fn a_memory_bomb_answers_503_and_the_process_lives() {
        let options = RuntimeOptions {
            max_heap_bytes: 32 << 20,
            cpu_limit: Duration::from_secs(20),
            ..options()
        };
        let code = "export default { fetch() { const a = []; for (;;) a.push(new Array(1e6).fill(1)); } };";
        let mut rt = runtime(code, options.clone());
        let resp = call(&mut rt);
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (503, "outpost: memory limit exceeded")
        );
        assert!(rt.is_poisoned());
        drop(rt);
        let resp = call(&mut runtime(HELLO, options));
        assert_eq!((resp.status, resp.text().as_str()), (200, "hello"));
    }

    #[test]
    fn deep_recursion_is_a_range_error_the_handler_catches() {
        let code = "function down(n) { return down(n + 1) + 1; }\n\
            export default { fetch() { \
                try { down(0); return new Response('no'); } \
                catch (e) { return new Response(e.constructor.name); } } };";
        let mut rt = runtime(code, RuntimeOptions::default());
        let resp = call(&mut rt);
        assert_eq!((resp.status, resp.text().as_str()), (200, "RangeError"));
        assert!(!rt.is_poisoned());
    }

    #[test]
    fn a_request_that_never_settles_hits_the_wall_clock_limit() {
        let options = RuntimeOptions {
            wall_limit: Duration::from_millis(150),
            ..options()
        };
        let code = "export default { fetch(req) { \
            if (new URL(req.url).pathname === '/') return new Promise(() => {}); \
            return new Response('fine'); } };";
        let mut rt = runtime(code, options);
        let started = Instant::now();
        let resp = call(&mut rt);
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (503, "outpost: wall-clock limit exceeded")
        );
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "answered before the stall grace"
        );
        // Merely waiting: the isolate goes on serving.
        assert!(!rt.is_poisoned());
        let mut req = get();
        req.url = "http://limits.test/ok".into();
        assert_eq!(rt.call(req).unwrap().text(), "fine");
    }

    #[test]
    fn an_expired_request_does_not_stop_its_neighbour() {
        let options = RuntimeOptions {
            wall_limit: Duration::from_millis(100),
            ..options()
        };
        let code = "export default { fetch(req) { \
            if (new URL(req.url).pathname === '/') return new Promise(() => {}); \
            return new Response('fine'); } };";
        let mut rt = runtime(code, options);
        let (tx, mut waiting) = tokio::sync::oneshot::channel();
        rt.dispatch(get(), tx);
        // Its deadline passes while nobody polls the event loop.
        std::thread::sleep(Duration::from_millis(150));
        let mut req = get();
        req.url = "http://limits.test/ok".into();
        let resp = rt.call(req).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "fine"));
        let expired = waiting.try_recv().expect("answered");
        assert_eq!(expired.status, 503);
        match expired.body {
            crate::Body::Full(b) => assert_eq!(&b[..], b"outpost: wall-clock limit exceeded"),
            other => panic!("unexpected body {other:?}"),
        }
        assert!(!rt.is_poisoned());
    }

    #[test]
    fn a_streamed_body_may_outlive_the_wall_clock_limit() {
        let options = RuntimeOptions {
            wall_limit: Duration::from_millis(100),
            ..options()
        };
        let code = "export default { fetch() { \
            let n = 0; \
            const body = new ReadableStream({ async pull(c) { \
                await new Promise(r => setTimeout(r, 50)); \
                if (++n > 4) c.close(); else c.enqueue(new TextEncoder().encode(String(n))); } }); \
            return new Response(body); } };";
        let resp = call(&mut runtime(code, options));
        assert_eq!((resp.status, resp.text().as_str()), (200, "1234"));
    }

    #[test]
    fn busy_js_past_the_wall_clock_limit_is_terminated() {
        let options = RuntimeOptions {
            cpu_limit: Duration::from_secs(20),
            wall_limit: Duration::from_millis(100),
            ..options()
        };
        let mut rt = runtime("export default { fetch() { for (;;) {} } };", options);
        let resp = call(&mut rt);
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (503, "outpost: wall-clock limit exceeded")
        );
        assert!(rt.is_poisoned());
    }

    #[test]
    fn an_endless_top_level_loop_fails_the_load() {
        let code = "for (;;) {}\nexport default { fetch() { return new Response('no'); } };";
        let err = Runtime::new(&Bundle::single("main.js", code), Rc::new(StdHost), options())
            .err()
            .expect("the load fails");
        assert!(matches!(err, crate::LoadError::Limit(super::Limit::Cpu)), "{err}");
    }

    #[test]
    fn code_generation_from_strings_is_an_eval_error() {
        let code = "export default { fetch() { \
            const out = []; \
            try { eval('1'); out.push('eval ran'); } catch (e) { out.push(e.constructor.name); } \
            try { new Function('return 1')(); out.push('Function ran'); } catch (e) { out.push(e.constructor.name); } \
            return new Response(out.join(' ')); } };";
        let resp = call(&mut runtime(code, options()));
        assert_eq!((resp.status, resp.text().as_str()), (200, "EvalError EvalError"));
    }
}
