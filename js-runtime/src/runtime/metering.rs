//! How a runtime meters its JS against the request limits, and what it
//! does when one is exceeded (see `crate::limits` for the watchdog).

use std::time::{Duration, Instant};

use super::{ResponseSlot, Runtime};
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
    pub(super) fn begin_js(&mut self) -> Duration {
        // A request whose time ran out while no JS ran is answered alone,
        // not by stopping the JS about to run.
        self.answer_expired();
        let budget = self.cpu_limit.saturating_sub(self.most_cpu_used());
        self.meter.begin(budget, self.next_wall)
    }

    /// The `usage` key of request `id` dispatched in this id epoch.
    pub(super) fn usage_key(&self, id: u32) -> u64 {
        self.id_epoch << 32 | u64::from(id)
    }

    /// CPU time the open request that has used the most has used: the
    /// oldest, since every slice counts for every open request.
    fn most_cpu_used(&self) -> Duration {
        self.usage
            .first_key_value()
            .map_or(Duration::ZERO, |(_, u)| self.cpu_total.saturating_sub(u.cpu_base))
    }

    /// JS has returned: charges its CPU time to every open request and
    /// answers them all when a limit stopped the isolate.
    pub(super) fn end_js(&mut self, slice: Duration) {
        let used = self.meter.end(slice);
        self.cpu_total += used;
        self.forget_closed_requests();
        if let Some(limit) = self.meter.tripped() {
            self.poison(limit);
        } else if self.most_cpu_used() > self.cpu_limit {
            // Over budget by less than the watchdog's tick.
            self.meter.trip(Limit::Cpu);
            self.poison(Limit::Cpu);
        }
    }

    /// Drops the usage of requests whose response head has gone (the
    /// limits cover a request until then), and tells the watchdog the next
    /// wall-clock deadline.
    pub(super) fn forget_closed_requests(&mut self) {
        for id in self.state.borrow_mut().responses.take_answered() {
            // From this epoch, or from the last one when ids just wrapped.
            if self.usage.remove(&self.usage_key(id)).is_none() && self.id_epoch > 0 {
                self.usage.remove(&((self.id_epoch - 1) << 32 | u64::from(id)));
            }
        }
        // Requests arrive in order, so the oldest has the earliest deadline.
        let next = self.usage.first_key_value().map(|(_, u)| u.started + self.wall_limit);
        if next != self.next_wall {
            self.next_wall = next;
            self.meter.set_wall_deadline(next);
        }
    }

    /// Answers the requests open past their wall-clock limit with 503; the
    /// event loop aborts their signals next. Their isolate goes on serving.
    pub(super) fn answer_expired(&mut self) {
        let now = Instant::now();
        if self.next_wall.is_none_or(|at| at > now) {
            return;
        }
        let expired: Vec<u32> = self
            .usage
            .iter()
            .take_while(|(_, u)| u.started + self.wall_limit <= now)
            .map(|(key, _)| *key as u32)
            .collect();
        for &id in &expired {
            let slot = self.state.borrow_mut().responses.take(id);
            answer_limit(slot, Limit::WallClock);
        }
        if !expired.is_empty() {
            self.log_limit(Limit::WallClock, expired.len());
        }
        self.forget_closed_requests();
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
