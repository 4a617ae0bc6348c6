//! Which isolates of a worker thread have something to do.
//!
//! Every isolate gets its own [`Waker`]: timers, landed host calls, body
//! streams and the limits watchdog wake that one, which puts the isolate's
//! id on its thread's [`ReadyQueue`] and wakes the thread's loop. The loop
//! then polls only the isolates on the queue, so a thread holding a
//! thousand idle isolates does no work for them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use futures::task::{ArcWake, AtomicWaker};

/// Identifies an isolate on its thread (live or retiring).
pub(super) type IsolateId = u64;

/// A worker thread's queue of isolates to poll, and its loop's waker.
#[derive(Default)]
pub(super) struct ReadyQueue {
    ids: Mutex<Vec<IsolateId>>,
    /// The thread's loop.
    loop_waker: AtomicWaker,
}

impl ReadyQueue {
    /// The loop is about to look at the queue: wake it when it changes.
    pub(super) fn register(&self, waker: &Waker) {
        self.loop_waker.register(waker);
    }

    /// Wakes the thread's loop (a message for it is waiting elsewhere).
    pub(super) fn wake_loop(&self) {
        self.loop_waker.wake();
    }

    /// Moves the queued ids into `into` (which is cleared first).
    pub(super) fn take(&self, into: &mut Vec<IsolateId>) {
        into.clear();
        std::mem::swap(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()), into);
    }

    fn push(&self, id: IsolateId) {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        self.loop_waker.wake();
    }
}

/// The waker of one isolate: queues it (once) and wakes its thread's loop.
/// Safe to call from any thread.
pub(super) struct IsolateWaker {
    id: IsolateId,
    queued: AtomicBool,
    queue: Arc<ReadyQueue>,
}

impl IsolateWaker {
    /// A waker for isolate `id` feeding `queue`, and the [`Waker`] made of it.
    pub(super) fn new(id: IsolateId, queue: Arc<ReadyQueue>) -> (Arc<IsolateWaker>, Waker) {
        let me = Arc::new(IsolateWaker {
            id,
            queued: AtomicBool::new(false),
            queue,
        });
        let waker = futures::task::waker(me.clone());
        (me, waker)
    }

    /// The loop is about to poll the isolate: a wake from now on queues it
    /// again.
    pub(super) fn clear(&self) {
        self.queued.store(false, Ordering::Release);
    }

    /// Queues the isolate for the next turn of its thread's loop.
    pub(super) fn mark(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.push(self.id);
        }
    }
}

impl ArcWake for IsolateWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.mark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_queues_an_isolate_once_until_polled() {
        let queue = Arc::new(ReadyQueue::default());
        let (a, waker_a) = IsolateWaker::new(1, queue.clone());
        let (_b, waker_b) = IsolateWaker::new(2, queue.clone());
        waker_a.wake_by_ref();
        waker_a.wake_by_ref();
        waker_b.wake_by_ref();
        let mut ids = Vec::new();
        queue.take(&mut ids);
        assert_eq!(ids, [1, 2]);
        // Still marked: not polled yet.
        waker_a.wake_by_ref();
        queue.take(&mut ids);
        assert!(ids.is_empty());
        a.clear();
        waker_a.wake_by_ref();
        queue.take(&mut ids);
        assert_eq!(ids, [1]);
    }
}
