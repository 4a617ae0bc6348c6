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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
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

/// The earlier of two optional times (either when only one is there).
fn earliest<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`Meter::state`]: JS is running (a slice).
const RUNNING: u64 = 1;
/// [`Meter::state`]: the limit that stopped the isolate, if one did.
const TRIPPED: u64 = 0b110;
/// [`Meter::state`]: the slice number counts in units of this.
const SLICE: u64 = 0b1000;

/// `limit` as the [`TRIPPED`] bits; `None` for a limit the meter does not
/// enforce.
fn tripped_bits(limit: Limit) -> Option<u64> {
    match limit {
        Limit::Cpu => Some(0b010),
        Limit::Memory => Some(0b100),
        Limit::WallClock => Some(0b110),
        Limit::Subrequests => None,
    }
}

/// The limit [`Meter::state`] says stopped the isolate.
fn tripped_of(state: u64) -> Option<Limit> {
    match state & TRIPPED {
        0b010 => Some(Limit::Cpu),
        0b100 => Some(Limit::Memory),
        0b110 => Some(Limit::WallClock),
        _ => None,
    }
}

/// `d` in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// An isolate's limits as its thread, the watchdog and the heap callback
/// share them.
///
/// Entering and leaving JS take one locked instruction each, on this
/// meter's `state`: the isolate's thread is the only one to write it but
/// for the watchdog tripping a running slice, which it does with a
/// compare-exchange that fails once the slice has ended. The slice's start,
/// budget and deadline are written before `state` says it runs; the
/// watchdog reads them between two reads of `state` and ignores what it
/// read if the slice changed meanwhile.
pub(crate) struct Meter {
    handle: v8::IsolateHandle,
    /// The CPU clock of the thread the isolate lives on.
    clock: libc::clockid_t,
    /// Times below are in nanoseconds since this.
    base: Instant,
    /// [`RUNNING`], [`TRIPPED`] and the slice's number (in [`SLICE`]s).
    state: AtomicU64,
    /// The running slice's start, the CPU it may use, and the earliest
    /// wall-clock deadline of the requests open (`u64::MAX`: none).
    start: AtomicU64,
    budget: AtomicU64,
    deadline: AtomicU64,
    /// The slice (its `state` without the flags) the watchdog first saw
    /// running, the thread's CPU clock then, and what it charged the slice
    /// for the time before; from then on the slice is charged by CPU.
    seen: AtomicU64,
    seen_cpu: AtomicU64,
    seen_before: AtomicU64,
    /// Tripped on the isolate's own thread (heap callback): the watchdog
    /// still has to terminate it.
    terminate: AtomicBool,
    /// Earliest wall-clock deadline of open requests: the watchdog wakes the
    /// event loop then.
    wall_deadline: Mutex<Option<Instant>>,
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
            base: Instant::now(),
            state: AtomicU64::new(0),
            start: AtomicU64::new(0),
            budget: AtomicU64::new(0),
            deadline: AtomicU64::new(u64::MAX),
            // No slice has this number (they are multiples of `SLICE`).
            seen: AtomicU64::new(u64::MAX),
            seen_cpu: AtomicU64::new(0),
            seen_before: AtomicU64::new(0),
            terminate: AtomicBool::new(false),
            wall_deadline: Mutex::default(),
            waker: AtomicWaker::new(),
        });
        watchdog()
            .meters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&meter));
        meter
    }

    fn ns(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.base))
    }

    /// JS is about to run, `now`: it may use `cpu_budget` of CPU and run
    /// until `wall_deadline`. Returns when it began, for [`Meter::end`].
    pub(crate) fn begin(&self, now: Instant, cpu_budget: Duration, wall_deadline: Option<Instant>) -> Instant {
        // Slices are timed by the monotonic clock (vDSO, no syscall); the
        // thread's CPU clock is read by the watchdog for slices that run
        // long.
        self.start.store(self.ns(now), Ordering::Relaxed);
        self.budget.store(nanos(cpu_budget), Ordering::Relaxed);
        self.deadline
            .store(wall_deadline.map_or(u64::MAX, |d| self.ns(d)), Ordering::Relaxed);
        // No slice runs, so the watchdog does not write `state` now.
        let state = self.state.load(Ordering::Relaxed);
        let next = (state & !(SLICE - 1)).wrapping_add(SLICE) | (state & TRIPPED) | RUNNING;
        // SeqCst, and a swap: this store comes before the read of `asleep`
        // below, as the watchdog's store of `asleep` comes before its last
        // look at the meters — either it sees this slice, or this sees it
        // asleep and wakes it.
        self.state.swap(next, Ordering::SeqCst);
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
    /// in the same instruction that ends the slice), and the clock reading
    /// that ended the slice.
    pub(crate) fn end(&self, cpu_start: Instant) -> (Duration, Option<Limit>, Instant) {
        let state = self.state.fetch_sub(RUNNING, Ordering::AcqRel);
        debug_assert!(state & RUNNING != 0, "a slice was running");
        let ended = Instant::now();
        let elapsed = ended.saturating_duration_since(cpu_start);
        // Only a slice the watchdog saw costs a CPU-clock read.
        let used = if self.seen.load(Ordering::Acquire) == state & !(SLICE - 1) {
            match thread_cpu(self.clock) {
                Some(cpu) => elapsed.min(self.used_since_seen(cpu)),
                None => elapsed,
            }
        } else {
            elapsed
        };
        (used, tripped_of(state), ended)
    }

    /// What a slice the watchdog has seen has used by the time its thread's
    /// CPU clock reads `cpu_now`: what it was charged before that, plus the
    /// thread's CPU time since.
    fn used_since_seen(&self, cpu_now: Duration) -> Duration {
        let cpu0 = Duration::from_nanos(self.seen_cpu.load(Ordering::Relaxed));
        cpu_now.saturating_sub(cpu0) + Duration::from_nanos(self.seen_before.load(Ordering::Relaxed))
    }

    /// The limit that stopped the isolate, if one did.
    pub(crate) fn tripped(&self) -> Option<Limit> {
        tripped_of(self.state.load(Ordering::Acquire))
    }

    /// Records that `limit` stopped the isolate, unless one did already;
    /// whether this did.
    pub(crate) fn trip(&self, limit: Limit) -> bool {
        let Some(bits) = tripped_bits(limit) else {
            return false;
        };
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & TRIPPED == 0).then_some(s | bits)
            })
            .is_ok()
    }

    /// When the earliest open request's wall-clock time runs out.
    pub(crate) fn set_wall_deadline(&self, at: Option<Instant>) {
        let earlier = {
            let mut wall = self.wall_deadline.lock().unwrap_or_else(|e| e.into_inner());
            let earlier = at.is_some_and(|at| wall.is_none_or(|d| at < d));
            *wall = at;
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
        let mut terminate = self.terminate.load(Ordering::Acquire) && self.terminate.swap(false, Ordering::AcqRel);
        let mut wake = false;
        let mut look_in = None;
        let state = self.state.load(Ordering::Acquire);
        if state & RUNNING != 0 && tripped_of(state).is_none() {
            let start = self.start.load(Ordering::Relaxed);
            let budget = Duration::from_nanos(self.budget.load(Ordering::Relaxed));
            let deadline = self.deadline.load(Ordering::Relaxed);
            std::sync::atomic::fence(Ordering::Acquire);
            if self.state.load(Ordering::Relaxed) != state {
                // It ended (and maybe another began) while being read: the
                // next look sees the one running then.
                look_in = Some(TICK);
            } else {
                let slice = state & !(SLICE - 1);
                let now_ns = self.ns(now);
                // Until the watchdog first sees the slice, it is charged the
                // time since it began, or the CPU its thread used since the
                // look before (which did not see it running) when that is
                // less, as on a loaded machine; from then on, the thread's
                // CPU time.
                let first_look = self.seen.load(Ordering::Relaxed) != slice;
                let used = if first_look {
                    let elapsed = Duration::from_nanos(self.ns(Instant::now()).saturating_sub(start));
                    let before = match (cpu_now, cpu_before) {
                        (Some(now), Some(before)) => elapsed.min(now.saturating_sub(before)),
                        _ => elapsed,
                    };
                    if let Some(cpu) = cpu_now {
                        self.seen_cpu.store(nanos(cpu), Ordering::Relaxed);
                        self.seen_before.store(nanos(before), Ordering::Relaxed);
                        self.seen.store(slice, Ordering::Release);
                    }
                    Some(before)
                } else {
                    cpu_now.map(|cpu| self.used_since_seen(cpu))
                };
                let trip = if used.is_some_and(|u| u > budget) {
                    Some(Limit::Cpu)
                } else if deadline <= now_ns {
                    Some(Limit::WallClock)
                } else {
                    None
                };
                match trip {
                    // Only while this slice still runs: once it has ended,
                    // it has been charged, and the next one has a budget
                    // of its own.
                    Some(limit) => {
                        let bits = tripped_bits(limit).expect("the meter enforces it");
                        if self
                            .state
                            .compare_exchange(state, state | bits, Ordering::AcqRel, Ordering::Relaxed)
                            .is_ok()
                        {
                            terminate = true;
                        }
                    }
                    None => {
                        // Seen for the first time: look again by its budget
                        // (at most a look away; most slices have ended by
                        // then); seen again: every tick, on its CPU time.
                        let left = budget.saturating_sub(used.unwrap_or_default());
                        look_in = Some(if first_look { TICK.max(left).min(LOOK) } else { TICK });
                    }
                }
            }
        }
        let next = {
            let mut wall = self.wall_deadline.lock().unwrap_or_else(|e| e.into_inner());
            match *wall {
                Some(d) if d <= now => {
                    *wall = None;
                    wake = true;
                    None
                }
                d => d,
            }
        };
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
            running: state & RUNNING != 0,
            slices: state / SLICE,
        }
    }

    /// Whether JS runs on the isolate now.
    fn running(&self) -> bool {
        self.state.load(Ordering::SeqCst) & RUNNING != 0
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
    if meter.trip(Limit::Memory) {
        meter.terminate.store(true, Ordering::Release);
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
        // set (SeqCst) before each meter's state is read again (SeqCst): a
        // slice that began before that read is seen, and one that began
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
