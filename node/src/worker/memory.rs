//! The pool's memory budget: the V8 heap of every isolate, as last
//! measured, summed over all worker threads.
//!
//! Each thread adds what it measures of its own isolates (after a start,
//! and when an isolate goes idle at most every [`MEASURE_EVERY`]) and
//! subtracts what it drops. A thread about to start an isolate that would
//! take the total over the budget evicts least-recently-used idle isolates:
//! its own at once, or — when another thread holds the oldest — it asks that
//! thread, which evicts on its next turn (an isolate is only ever touched by
//! its own thread). Each thread publishes when its least recently used idle
//! isolate last served, so the oldest can be found across threads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How often an isolate's heap is measured again, at most (when it goes
/// idle). Measuring asks V8 for its heap statistics: see the density
/// benchmark for what that costs.
pub(super) const MEASURE_EVERY: Duration = Duration::from_millis(250);

/// A snapshot of the pool's isolates and what they use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// The memory budget, if there is one.
    pub budget: Option<usize>,
    /// V8 heap in use by the pool's isolates, summed from their last
    /// measurements (retiring isolates included until they go).
    pub heap_bytes: usize,
    /// Isolates running (one per deployment per thread it is warm on).
    pub live_isolates: usize,
    /// The largest heap measured of one isolate so far.
    pub largest_isolate: usize,
    /// Isolates evicted to stay under the budget so far.
    pub evictions: u64,
    /// Isolates started again for a request after they had been evicted.
    pub recreations: u64,
    /// Times a deployment was backed off after repeated limit stops.
    pub backoffs: u64,
}

/// The pool-wide accounting every worker thread shares.
pub(super) struct Budget {
    /// Bytes; 0 when unlimited.
    limit: usize,
    total: AtomicUsize,
    live: AtomicUsize,
    largest: AtomicUsize,
    /// Heap of the last isolate measured right after it started: what the
    /// next start is expected to take.
    fresh: AtomicUsize,
    pub(super) evictions: AtomicU64,
    pub(super) recreations: AtomicU64,
    pub(super) backoffs: AtomicU64,
}

impl Budget {
    /// A budget of `limit` bytes (`None` or 0: unlimited).
    pub(super) fn new(limit: Option<usize>) -> Self {
        Budget {
            limit: limit.unwrap_or(0),
            total: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            largest: AtomicUsize::new(0),
            fresh: AtomicUsize::new(0),
            evictions: AtomicU64::new(0),
            recreations: AtomicU64::new(0),
            backoffs: AtomicU64::new(0),
        }
    }

    /// Whether there is a budget to keep.
    pub(super) fn limited(&self) -> bool {
        self.limit > 0
    }

    /// Whether `extra` more bytes still fit.
    pub(super) fn fits(&self, extra: usize) -> bool {
        !self.limited() || self.total.load(Ordering::Relaxed).saturating_add(extra) <= self.limit
    }

    /// What a new isolate is expected to take.
    pub(super) fn expected_start(&self) -> usize {
        self.fresh.load(Ordering::Relaxed)
    }

    /// A new isolate measured `bytes` right after it started.
    pub(super) fn started(&self, bytes: usize) {
        self.fresh.store(bytes, Ordering::Relaxed);
        self.live.fetch_add(1, Ordering::Relaxed);
        self.remeasured(0, bytes);
    }

    /// An isolate that was counted as `old` bytes now measures `new`.
    pub(super) fn remeasured(&self, old: usize, new: usize) {
        if new >= old {
            self.total.fetch_add(new - old, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(old - new, Ordering::Relaxed);
        }
        self.largest.fetch_max(new, Ordering::Relaxed);
        self.publish();
    }

    /// An isolate left the live set (it retires, or goes); its heap stays
    /// counted until it is [dropped](Self::dropped).
    pub(super) fn left_live(&self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// An isolate counted as `bytes` was dropped.
    pub(super) fn dropped(&self, bytes: usize) {
        self.total.fetch_sub(bytes, Ordering::Relaxed);
        self.publish();
    }

    fn publish(&self) {
        crate::metrics::record_isolates(self.live.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed));
    }

    /// The numbers as they are now.
    pub(super) fn stats(&self) -> PoolStats {
        PoolStats {
            budget: self.limited().then_some(self.limit),
            heap_bytes: self.total.load(Ordering::Relaxed),
            live_isolates: self.live.load(Ordering::Relaxed),
            largest_isolate: self.largest.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            recreations: self.recreations.load(Ordering::Relaxed),
            backoffs: self.backoffs.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_starts_measurements_and_drops() {
        let b = Budget::new(Some(10 << 20));
        assert!(b.fits(10 << 20));
        b.started(3 << 20);
        b.started(4 << 20);
        assert_eq!(b.expected_start(), 4 << 20);
        assert!(b.fits(3 << 20));
        assert!(!b.fits((3 << 20) + 1));
        b.remeasured(3 << 20, 5 << 20);
        b.left_live();
        b.dropped(4 << 20);
        let s = b.stats();
        assert_eq!(
            (s.heap_bytes, s.live_isolates, s.largest_isolate),
            (5 << 20, 1, 5 << 20)
        );
        assert!(Budget::new(None).fits(usize::MAX));
        assert!(Budget::new(Some(0)).stats().budget.is_none());
    }
}
