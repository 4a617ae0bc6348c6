//! One V8 platform per process, initialised on first use, whose foreground
//! tasks (async WebAssembly compilation results, GC follow-ups, Atomics
//! waits) are queued per isolate and run by that isolate's event loop on
//! its own thread.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;

static INIT: Once = Once::new();

/// Foreground tasks V8 posted for one isolate.
#[derive(Default)]
pub(crate) struct TaskQueue {
    tasks: Mutex<Vec<(Option<Instant>, v8::Task)>>,
    pub(crate) waker: AtomicWaker,
}

impl TaskQueue {
    fn push(&self, due: Option<Instant>, task: v8::Task) {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push((due, task));
        self.waker.wake();
    }

    /// Whether any task is queued, due or not.
    pub(crate) fn has_tasks(&self) -> bool {
        !self.tasks.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Runs the tasks that are due, on the isolate's thread. Returns how
    /// many ran.
    pub(crate) fn run_due(&self) -> usize {
        let now = Instant::now();
        let due: Vec<v8::Task> = {
            let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            if tasks.is_empty() {
                return 0;
            }
            let (run, keep): (Vec<_>, Vec<_>) = tasks.drain(..).partition(|(at, _)| at.is_none_or(|at| at <= now));
            *tasks = keep;
            run.into_iter().map(|(_, t)| t).collect()
        };
        let n = due.len();
        for task in due {
            task.run();
        }
        n
    }
}

/// Isolate pointer → its task queue.
static QUEUES: LazyLock<Mutex<HashMap<usize, Arc<TaskQueue>>>> = LazyLock::new(Default::default);

/// [`isolate_address`] of a live isolate.
pub(crate) fn key(isolate: &v8::Isolate) -> usize {
    // SAFETY: reading the address of a live isolate.
    isolate_address(unsafe { isolate.as_raw_isolate_ptr() })
}

/// An isolate's identity: the address of V8's isolate (the pointer V8
/// passes to the platform), which stays put while the `OwnedIsolate` that
/// holds it moves.
pub(crate) fn isolate_address(isolate: v8::UnsafeRawIsolatePtr) -> usize {
    // SAFETY: `UnsafeRawIsolatePtr` is a `repr(transparent)` raw pointer.
    unsafe { std::mem::transmute::<v8::UnsafeRawIsolatePtr, *mut std::ffi::c_void>(isolate) as usize }
}

/// Registers `isolate` so the tasks V8 posts for it are queued.
pub(crate) fn register(isolate: &v8::Isolate) -> Arc<TaskQueue> {
    let q = Arc::new(TaskQueue::default());
    QUEUES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key(isolate), q.clone());
    q
}

/// Forgets `isolate`'s queue (before the isolate is disposed).
pub(crate) fn unregister(isolate: &v8::Isolate) {
    QUEUES.lock().unwrap_or_else(|e| e.into_inner()).remove(&key(isolate));
}

struct Platform;

impl Platform {
    fn post(isolate: *mut std::ffi::c_void, due: Option<Instant>, task: v8::Task) {
        let q = QUEUES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(isolate as usize))
            .cloned();
        // A task for an isolate that is not (or no longer) registered — the
        // snapshot creator, or one being disposed — is dropped unrun.
        if let Some(q) = q {
            q.push(due, task);
        }
    }
}

impl v8::PlatformImpl for Platform {
    fn post_task(&self, isolate: *mut std::ffi::c_void, task: v8::Task) {
        Platform::post(isolate, None, task);
    }
    fn post_non_nestable_task(&self, isolate: *mut std::ffi::c_void, task: v8::Task) {
        Platform::post(isolate, None, task);
    }
    fn post_delayed_task(&self, isolate: *mut std::ffi::c_void, task: v8::Task, delay: f64) {
        Platform::post(
            isolate,
            Some(Instant::now() + Duration::from_secs_f64(delay.max(0.0))),
            task,
        );
    }
    fn post_non_nestable_delayed_task(&self, isolate: *mut std::ffi::c_void, task: v8::Task, delay: f64) {
        Platform::post(
            isolate,
            Some(Instant::now() + Duration::from_secs_f64(delay.max(0.0))),
            task,
        );
    }
    fn post_idle_task(&self, _isolate: *mut std::ffi::c_void, _task: v8::IdleTask) {
        // Idle tasks are optional work; none are run.
    }
}

/// Sets V8 flags for the whole process, written as on V8's command line
/// (`--expose-gc --perf-basic-prof`). Must come before the first [`init`];
/// `--stack-size` is [`init`]'s own. Fails on any word V8 does not
/// recognise.
pub fn set_v8_flags(flags: &str) -> Result<(), String> {
    if INIT.is_completed() {
        return Err("V8 is already initialised".into());
    }
    let mut args = vec!["outpost".to_string()];
    args.extend(flags.split_whitespace().map(str::to_string));
    let unknown = v8::V8::set_flags_from_command_line(args);
    match unknown.get(1..) {
        Some(rest) if !rest.is_empty() => Err(format!("V8 does not recognise {}", rest.join(" "))),
        _ => Ok(()),
    }
}

/// Initialises V8 once for the whole process: ICU data (without it `Intl`
/// hangs), flags, the platform. Safe to call from any thread, any number of
/// times; every [`crate::Runtime`] constructor calls it.
pub fn init() {
    INIT.call_once(|| {
        // The V8 archive carries no ICU data; give it ICU 78's full set.
        v8::icu::set_common_data_78(deno_core_icudata::ICU_DATA).expect("ICU data rejected");
        // Leave room below the worker threads' 8 MiB stacks for Rust frames.
        v8::V8::set_flags_from_string("--stack-size=984");
        // Unprotected: isolates are created on worker threads, not on the
        // thread that initialised V8.
        let platform = v8::new_custom_platform(0, false, true, Platform).make_shared();
        v8::V8::initialize_platform(platform);
        v8::V8::initialize();
    });
}
