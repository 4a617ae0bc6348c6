//! A coarse monotonic clock, for timeouts of milliseconds and more that are
//! stamped on every request (idle and header-read timeouts, the isolate
//! pool's periodic memory check).
//!
//! The kernel's `CLOCK_MONOTONIC_COARSE` is the monotonic clock as of the
//! last scheduler tick: reading it copies a value the kernel keeps, where
//! the precise clock reads the CPU's time-stamp counter (a few times
//! dearer, and dearer still in some virtual machines).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Nanoseconds on the coarse clock since some fixed point in the past.
fn raw_nanos() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out pointer; the clock exists on Linux 2.6.32+.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// The coarse clock's step (one scheduler tick, typically 1–4 ms).
pub fn resolution() -> Duration {
    static RESOLUTION: OnceLock<Duration> = OnceLock::new();
    *RESOLUTION.get_or_init(|| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: as in `raw_nanos`.
        let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        if rc == 0 {
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        } else {
            Duration::from_millis(10)
        }
    })
}

/// A point on the precise clock that coarse readings are measured from.
#[derive(Clone, Copy, Debug)]
pub struct CoarseClock {
    base: Instant,
    base_raw: u64,
    /// Added to every reading, so that none is earlier than the precise
    /// clock would say: a deadline from it never passes early.
    round_up: u64,
}

impl CoarseClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        // The coarse reading first: it is then no later than `base`.
        let base_raw = raw_nanos();
        CoarseClock {
            base: Instant::now(),
            base_raw,
            round_up: u64::try_from(resolution().as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// Nanoseconds since the clock's zero: at least the true time elapsed,
    /// and at most two of the coarse clock's steps more.
    pub fn now(&self) -> u64 {
        raw_nanos().saturating_sub(self.base_raw).saturating_add(self.round_up)
    }

    /// The precise instant `nanos` after the clock's zero.
    pub fn instant(&self, nanos: u64) -> Instant {
        self.base + Duration::from_nanos(nanos)
    }

    /// Nanoseconds from the clock's zero to `at` (0 for an earlier one).
    pub fn nanos_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading is never behind the precise clock, and not far ahead.
    #[test]
    fn readings_bracket_the_precise_clock() {
        let clock = CoarseClock::new();
        let slack = 2 * resolution() + Duration::from_millis(2);
        for _ in 0..50 {
            let before = Instant::now();
            let stamp = clock.now();
            let at = clock.instant(stamp);
            assert!(at >= before, "coarse reading {at:?} is before {before:?}");
            assert!(at <= Instant::now() + slack, "coarse reading {at:?} is too far ahead");
            std::thread::sleep(Duration::from_micros(700));
        }
    }
}
