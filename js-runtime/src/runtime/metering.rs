//! How a runtime meters its JS against the request limits, and what it
//! does when one is exceeded (see `crate::limits` for the watchdog).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{ResponseSlot, Runtime, Usage};
use crate::host::{HttpResponse, LogLevel};
use crate::limits::Limit;

impl Runtime {
    /// Whether a limit stopped this runtime's isolate. Its open requests
    /// have answered 503; it runs no more JS and should be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The limit that stopped this runtime's isolate, if one did.
    pub fn poisoned_by(&self) -> Option<Limit> {
        self.poisoned
    }

    /// JS is about to run: the watchdog may stop it once it has used what
    /// the open request with the least CPU left has left, or once an open
    /// request's wall-clock time is up. Returns the slice's start.
    pub(super) fn begin_js(&mut self, now: Instant) -> Instant {
        // A request whose time ran out while no JS ran is answered alone,
        // not by stopping the JS about to run.
        self.answer_expired(now);
        let budget = self.cpu_limit.saturating_sub(self.most_cpu_used());
        self.meter.begin(now, budget, self.next_wall)
    }

    /// The `usage` key of request `id` dispatched in this id epoch.
    pub(super) fn usage_key(&self, id: u32) -> u64 {
        usage_key(self.id_epoch, id)
    }

    /// CPU time the open request that has used the most has used: the
    /// oldest, since every slice counts for every open request.
    fn most_cpu_used(&self) -> Duration {
        self.usage
            .first()
            .map_or(Duration::ZERO, |u| self.cpu_total.saturating_sub(u.cpu_base))
    }

    /// JS has returned: charges its CPU time to every open request and
    /// answers them all when a limit stopped the isolate. Returns the clock
    /// reading that ended the slice.
    pub(super) fn end_js(&mut self, slice: Instant) -> Instant {
        let (used, tripped, ended) = self.meter.end(slice);
        self.cpu_total += used;
        self.forget_closed_requests();
        if let Some(limit) = tripped {
            self.poison(limit);
        } else if self.most_cpu_used() > self.cpu_limit {
            // Over budget by less than the watchdog's tick.
            let _ = self.meter.trip(Limit::Cpu);
            self.poison(Limit::Cpu);
        } else {
            self.publish_wall_deadline();
        }
        ended
    }

    /// Tells the watchdog the earliest wall-clock deadline of the requests
    /// still open, when it changed: it wakes the event loop then. Called
    /// once no JS runs; while JS runs, its slice carries the deadline (see
    /// [`Runtime::begin_js`]). A request answered within the JS it was
    /// dispatched to thus never reaches the watchdog's lock.
    fn publish_wall_deadline(&mut self) {
        if self.next_wall != self.published_wall {
            self.published_wall = self.next_wall;
            self.meter.set_wall_deadline(self.next_wall);
        }
    }

    /// Drops the usage of requests whose response head has gone (the
    /// limits cover a request until then), and notes the next wall-clock
    /// deadline.
    pub(super) fn forget_closed_requests(&mut self) {
        let epoch = self.id_epoch;
        for id in self.state.borrow_mut().responses.drain_answered() {
            // From this epoch, or from the last one when ids just wrapped.
            if self.usage.remove(usage_key(epoch, id)).is_none() && epoch > 0 {
                self.usage.remove(usage_key(epoch - 1, id));
            }
        }
        // Requests arrive in order, so the oldest has the earliest deadline.
        self.next_wall = self.usage.first().map(|u| u.started + self.wall_limit);
    }

    /// Answers the requests open past their wall-clock limit with 503; the
    /// event loop aborts their signals next. Their isolate goes on serving.
    pub(super) fn answer_expired(&mut self, now: Instant) {
        if self.next_wall.is_none_or(|at| at > now) {
            return;
        }
        let expired: Vec<u32> = self
            .usage
            .iter()
            .take_while(|(_, u)| u.started + self.wall_limit <= now)
            .map(|(key, _)| key as u32)
            .collect();
        for &id in &expired {
            let slot = self.state.borrow_mut().responses.take(id);
            answer_limit(slot, Limit::WallClock);
        }
        if !expired.is_empty() {
            self.log_limit(Limit::WallClock, expired.len());
        }
        self.forget_closed_requests();
        self.publish_wall_deadline();
        self.expired.extend(expired);
    }

    /// A limit stopped the isolate: every open request answers 503, and no
    /// JS runs on it again.
    pub(super) fn poison(&mut self, limit: Limit) {
        if self.poisoned.is_some() {
            return;
        }
        self.poisoned = Some(limit);
        let slots = self.state.borrow_mut().responses.drain();
        self.log_limit(limit, slots.len());
        for slot in slots {
            answer_limit(Some(slot), limit);
        }
        self.usage.clear();
        self.expired.clear();
        self.next_wall = None;
        self.published_wall = None;
        self.meter.set_wall_deadline(None);
        let mut st = self.state.borrow_mut();
        st.timers.clear();
        st.timer_deadlines.clear();
        st.release_handles();
    }

    pub(super) fn log_limit(&self, limit: Limit, requests: usize) {
        let stopped = if limit == Limit::WallClock && self.poisoned.is_none() {
            "request stopped"
        } else {
            "isolate stopped"
        };
        tracing::warn!(limit = limit.as_str(), requests, "{stopped}: {limit}");
        let st = self.state.borrow();
        st.host.log(LogLevel::Error, &format!("outpost: {limit}; {stopped}"));
        for _ in 0..requests.max(1) {
            st.host.limit_exceeded(limit);
        }
    }
}

/// `value`, or `default` when it is zero.
pub(super) fn nonzero_or(value: Duration, default: Duration) -> Duration {
    if value.is_zero() { default } else { value }
}

/// Answers a request `limit` stopped: 503 before the head, a failed body
/// after it.
fn answer_limit(slot: Option<ResponseSlot>, limit: Limit) {
    match slot {
        Some(ResponseSlot::Head(tx)) => {
            let _ = tx.send(HttpResponse::limit_exceeded(limit));
        }
        Some(ResponseSlot::Streaming(mut tx)) => {
            let _ = tx.try_send(Err(limit.response_body().to_string()));
        }
        None => {}
    }
}

/// The `usage` key of request `id` dispatched in id epoch `epoch`.
fn usage_key(epoch: u64, id: u32) -> u64 {
    epoch << 32 | u64::from(id)
}

/// The requests whose response head has not gone yet, with what each has
/// used, oldest first, keyed by `id_epoch << 32 | id`. Requests arrive in
/// key order and mostly leave in it, so a ring buffer holds them: no
/// allocation per request once it has grown, and the oldest (the first to
/// run out of time or CPU) at the front.
#[derive(Default)]
pub(super) struct OpenRequests {
    queue: VecDeque<(u64, Usage)>,
}

impl OpenRequests {
    /// Adds the newest request; `key` is above every key held.
    pub(super) fn push(&mut self, key: u64, usage: Usage) {
        debug_assert!(self.queue.back().is_none_or(|(last, _)| *last < key));
        self.queue.push_back((key, usage));
    }

    /// Removes request `key`.
    pub(super) fn remove(&mut self, key: u64) -> Option<Usage> {
        if self.queue.front().is_some_and(|(k, _)| *k == key) {
            return self.queue.pop_front().map(|(_, u)| u);
        }
        let at = self.queue.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        self.queue.remove(at).map(|(_, u)| u)
    }

    /// The oldest request's usage.
    pub(super) fn first(&self) -> Option<&Usage> {
        self.queue.front().map(|(_, u)| u)
    }

    /// Oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &Usage)> {
        self.queue.iter().map(|(k, u)| (*k, u))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
    }
}
