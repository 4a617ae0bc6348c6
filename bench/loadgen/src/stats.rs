//! The request schedule and the latency percentiles.

/// When each request is due: request `i` at `i / rate` seconds after the start.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    rate: f64,
    total: u64,
}

impl Schedule {
    /// `rate` requests per second for `duration` seconds: `floor(rate × duration)` requests.
    pub fn new(rate: f64, duration: f64) -> Schedule {
        assert!(rate.is_finite() && rate > 0.0, "rate must be positive");
        assert!(duration.is_finite() && duration >= 0.0, "duration must be non-negative");
        // Truncated: the requests whose due time i / rate falls before `duration`.
        let total = (rate * duration) as u64;
        Schedule { rate, total }
    }

    /// How many requests the schedule holds.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Nanoseconds from the start until request `i` is due. Non-decreasing in `i`.
    pub fn due_ns(&self, i: u64) -> u64 {
        (i as f64 * 1e9 / self.rate).round() as u64
    }

    /// Nanoseconds from the start to the end of the schedule (when request `total` would be due).
    pub fn end_ns(&self) -> u64 {
        self.due_ns(self.total)
    }
}

/// The `p`th percentile of ascending `sorted` values: the value at 0-based rank
/// `round(p / 100 × n + 0.5) − 1`, rounding half to even, clamped to the values; 0 when empty.
/// (The definition of the Python loader this one replaced, `int(round(...))`, so that results
/// stay comparable with earlier reports.)
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let rank = (p / 100.0 * n as f64 + 0.5).round_ties_even() as i64 - 1;
    let k = rank.clamp(0, n as i64 - 1) as usize;
    sorted[k]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_the_python_definition() {
        // Expected values computed with the old Python loader's percentile() on [1, ..., n]
        // (round() rounds half to even: n = 4, p = 50 gives 2.5 → 2 → the 2nd value).
        let cases: &[(u64, f64, u64)] = &[
            (1, 50.0, 1),
            (1, 99.9, 1),
            (2, 50.0, 2),
            (3, 50.0, 2),
            (4, 50.0, 2),
            (4, 90.0, 4),
            (10, 50.0, 6),
            (10, 90.0, 10),
            (10, 99.0, 10),
            (100, 50.0, 50),
            (100, 90.0, 90),
            (100, 99.0, 100),
            (100, 99.9, 100),
            (1000, 99.9, 1000),
            (1000, 99.0, 990),
            (1001, 50.0, 501),
            (1001, 99.9, 1000),
            (7, 0.0, 1),
            (7, 100.0, 7),
        ];
        for &(n, p, want) in cases {
            let v: Vec<u64> = (1..=n).collect();
            assert_eq!(percentile(&v, p), want, "n={n} p={p}");
        }
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn schedule_is_evenly_spaced_and_truncated() {
        let s = Schedule::new(42_000.0, 10.0);
        assert_eq!(s.total(), 420_000);
        assert_eq!(s.due_ns(0), 0);
        assert_eq!(s.due_ns(42_000), 1_000_000_000);
        assert_eq!(s.end_ns(), 10_000_000_000);
        // Spacing is 1/rate (23.8 µs) to within rounding, never decreasing.
        let mut prev = 0;
        for i in 1..50_000 {
            let d = s.due_ns(i);
            assert!(
                d >= prev && (23_809..=23_810).contains(&(d - prev)),
                "i={i}: {prev} → {d}"
            );
            prev = d;
        }
        assert_eq!(Schedule::new(3.0, 0.5).total(), 1);
        assert_eq!(Schedule::new(0.1, 30.0).total(), 3);
        assert_eq!(Schedule::new(1000.0, 0.0).total(), 0);
        assert_eq!(Schedule::new(2.5, 1.0).due_ns(1), 400_000_000);
    }
}
