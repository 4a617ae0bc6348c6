//! Backing off a deployment whose isolates keep getting stopped by a limit
//! (an endless loop, a heap that keeps filling up).
//!
//! [`STRIKES`] stops within [`WINDOW`] back the deployment off for
//! [`FIRST_PERIOD`]: its requests answer `503` with `Retry-After` and run
//! no JS. When the period ends it gets another chance; a stop before it has
//! been quiet for [`QUIET`] backs it off again for twice as long, up to
//! [`MAX_PERIOD`]. [`QUIET`] without a stop forgets its record.
//!
//! A deployment stopped by a limit within [`QUIET`] is an *offender*: the
//! pool runs its requests on the quarantine thread, which serves no
//! connections, so its next endless loop stalls no thread its neighbours'
//! connections are served on.
//!
//! Times are milliseconds since the pool started, passed in, so the policy
//! is tested without clocks. Checking whether a deployment is backed off is
//! one atomic load while it is not.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Stops within [`WINDOW`] that back a deployment off.
pub const STRIKES: usize = 3;
/// The window [`STRIKES`] are counted in.
pub const WINDOW: Duration = Duration::from_secs(10);
/// The first backoff's length; each next one doubles.
pub const FIRST_PERIOD: Duration = Duration::from_secs(1);
/// The longest backoff.
pub const MAX_PERIOD: Duration = Duration::from_secs(60);
/// Time without a stop, counted from the end of the last backoff, after
/// which a deployment's record is forgotten.
pub const QUIET: Duration = Duration::from_secs(60);

/// A backoff that just began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BackedOff {
    /// How long it lasts.
    pub period: Duration,
    /// Backoffs in a row, this one included.
    pub level: u32,
}

#[derive(Default)]
struct Record {
    /// Recent stops (ms), within [`WINDOW`].
    stops: VecDeque<u64>,
    /// Backoffs so far without a quiet period in between.
    level: u32,
    /// The last stop or the end of the last backoff, whichever is later.
    last: u64,
}

/// A deployment's limit stops and backoff.
#[derive(Default)]
pub(super) struct Backoff {
    /// When the current backoff ends (ms since the pool started); 0: none.
    until: AtomicU64,
    /// When a limit last stopped it (ms since the pool started, at least
    /// 1); 0: never, or not since its record was cleared.
    last_stop: AtomicU64,
    record: Mutex<Record>,
}

impl Backoff {
    /// How long the deployment stays backed off, or `None` when it is not.
    /// `now` is read only while a backoff is set.
    pub(super) fn remaining(&self, now: impl FnOnce() -> u64) -> Option<Duration> {
        let until = self.until.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let now = now();
        if now >= until {
            // Over: the next check is a plain load again.
            let _ = self
                .until
                .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed);
            return None;
        }
        Some(Duration::from_millis(until - now))
    }

    /// Forgets the record and ends a backoff (a new version was deployed).
    pub(super) fn clear(&self) {
        *self.record.lock().unwrap_or_else(|e| e.into_inner()) = Record::default();
        self.until.store(0, Ordering::Relaxed);
        self.last_stop.store(0, Ordering::Relaxed);
    }

    /// Whether a limit stopped the deployment less than [`QUIET`] ago. One
    /// atomic load while it has not; `now` is read only when it has.
    pub(super) fn is_offender(&self, now: impl FnOnce() -> u64) -> bool {
        let last = self.last_stop.load(Ordering::Relaxed);
        last != 0 && now().saturating_sub(last) < QUIET.as_millis() as u64
    }

    /// A limit stopped one of the deployment's isolates at `now`; returns
    /// the backoff this begins, if it begins one.
    pub(super) fn record_stop(&self, now: u64) -> Option<BackedOff> {
        self.last_stop.store(now.max(1), Ordering::Relaxed);
        let mut r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        let until = self.until.load(Ordering::Relaxed);
        if until != 0 && now < until {
            // A request that was already running when the backoff began.
            return None;
        }
        if now.saturating_sub(r.last) >= QUIET.as_millis() as u64 {
            r.level = 0;
            r.stops.clear();
        }
        r.last = now;
        let window = WINDOW.as_millis() as u64;
        while r.stops.front().is_some_and(|&t| now.saturating_sub(t) >= window) {
            r.stops.pop_front();
        }
        r.stops.push_back(now);
        // After a backoff, one more stop before a quiet period is enough.
        if r.stops.len() < STRIKES && r.level == 0 {
            return None;
        }
        let period = FIRST_PERIOD.saturating_mul(1 << r.level.min(16)).min(MAX_PERIOD);
        r.level += 1;
        r.stops.clear();
        let end = now + period.as_millis() as u64;
        r.last = end;
        self.until.store(end.max(1), Ordering::Relaxed);
        Some(BackedOff { period, level: r.level })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    #[test]
    fn three_stops_within_the_window_back_off_for_a_second() {
        let b = Backoff::default();
        assert_eq!(b.record_stop(0), None);
        assert_eq!(b.record_stop(4 * S), None);
        assert_eq!(b.remaining(|| 5 * S), None);
        let got = b.record_stop(9 * S).expect("backed off");
        assert_eq!(got.period, Duration::from_secs(1));
        assert_eq!(b.remaining(|| 9 * S + 400), Some(Duration::from_millis(600)));
        assert_eq!(b.remaining(|| 10 * S), None, "another chance after the period");
    }

    #[test]
    fn stops_spread_wider_than_the_window_do_not() {
        let b = Backoff::default();
        for i in 0..10 {
            assert_eq!(b.record_stop(i * 6 * S), None, "stop {i}");
        }
    }

    #[test]
    fn repeat_offenders_back_off_longer_up_to_the_maximum() {
        let b = Backoff::default();
        let mut now = 0;
        b.record_stop(now);
        b.record_stop(now);
        let mut period = b.record_stop(now).unwrap().period;
        let mut seen = vec![period.as_secs()];
        for _ in 0..8 {
            // Runs again as soon as it may, and is stopped again at once.
            now += period.as_millis() as u64;
            assert_eq!(b.remaining(|| now), None);
            period = b.record_stop(now).expect("one more stop is enough").period;
            seen.push(period.as_secs());
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn stops_while_backed_off_do_not_extend_it() {
        let b = Backoff::default();
        for _ in 0..3 {
            b.record_stop(0);
        }
        assert_eq!(b.record_stop(500), None);
        assert_eq!(b.remaining(|| 999), Some(Duration::from_millis(1)));
    }

    #[test]
    fn a_stopped_deployment_is_an_offender_until_a_quiet_period_passes() {
        let b = Backoff::default();
        assert!(!b.is_offender(|| unreachable!("no clock read for a deployment never stopped")));
        b.record_stop(5 * S);
        assert!(b.is_offender(|| 5 * S + 1));
        assert!(b.is_offender(|| 5 * S + QUIET.as_millis() as u64 - 1));
        assert!(!b.is_offender(|| 5 * S + QUIET.as_millis() as u64));
        b.record_stop(100 * S);
        b.clear();
        assert!(!b.is_offender(|| 100 * S));
    }

    #[test]
    fn a_quiet_period_forgets_the_record() {
        let b = Backoff::default();
        for _ in 0..3 {
            b.record_stop(0);
        }
        let end = S;
        // Quiet for a minute after the backoff ended: a single stop is no
        // longer enough, and the next backoff starts at one second again.
        let later = end + QUIET.as_millis() as u64;
        assert_eq!(b.record_stop(later), None);
        assert_eq!(b.record_stop(later + 1), None);
        assert_eq!(b.record_stop(later + 2).unwrap().period, Duration::from_secs(1));
    }
}
