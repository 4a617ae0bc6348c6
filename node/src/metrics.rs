//! Every metric the node records, in one place. Names are prefixed
//! `outpost_`; `/metrics` on the admin listener serves them (Prometheus
//! text format).
//!
//! Counters and gauges are the Prometheus exporter's, but for the
//! counters every request adds to ([`SHARDED_COUNTERS`]), which are
//! [`ShardedCounter`]s. Histograms are [`FixedHistogram`]s: the exporter's
//! keep every recorded value until the next render or upkeep, a node nobody
//! scrapes would keep them all, and the request path would write a new
//! value to memory per request. A fixed-bucket histogram counts the value
//! into its bucket as it is recorded, in memory that never grows.
//!
//! Both keep their counts in per-thread shards ([`Writer`]): a thread that
//! has a shard of its own adds to it with a plain load and store, no
//! locked instruction, and no other core writes that cache line.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use indexmap::IndexMap;
use metrics::{Key, KeyName, Metadata, SharedString, Unit};
use metrics_exporter_prometheus::{LabelSet, PrometheusBuilder, PrometheusHandle, PrometheusRecorder, formatting};

/// Requests answered, by status class (`2xx`, `4xx`, …).
pub const REQUESTS: &str = "outpost_requests_total";
/// Time from request head to response head, seconds.
pub const REQUEST_DURATION: &str = "outpost_request_duration_seconds";
/// Requests refused before reaching an isolate, and responses cut off
/// over their size limit, by reason.
pub const REJECTED: &str = "outpost_requests_rejected_total";
/// Isolates stopped by a limit (`cpu`, `memory`, `wall-clock`) and replaced.
pub const ISOLATES_STOPPED: &str = "outpost_isolates_stopped_total";
/// Idle isolates evicted to keep the pool under its memory budget.
pub const ISOLATES_EVICTED: &str = "outpost_isolates_evicted_total";
/// Isolates started again for a request after they had been evicted.
pub const ISOLATES_RECREATED: &str = "outpost_isolates_recreated_total";
/// Isolates running now (one per deployment per thread it is warm on).
pub const ISOLATES_LIVE: &str = "outpost_isolates_live";
/// V8 heap in use by all isolates, bytes, summed from their last
/// measurements.
pub const ISOLATE_HEAP: &str = "outpost_isolate_heap_bytes";
/// Deployments backed off after repeated limit stops (once per backoff).
pub const DEPLOYMENTS_BACKED_OFF: &str = "outpost_deployments_backed_off_total";
/// Requests that met a limit, by limit (`cpu`, `memory`, `wall-clock`,
/// `subrequests`) and deployment.
pub const LIMITS_EXCEEDED: &str = "outpost_limits_exceeded_total";

/// Upper bounds of every histogram's buckets (seconds, for durations); a
/// last bucket takes the values above them all (`le="+Inf"`).
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Counters every request adds to: [`ShardedCounter`]s, not the
/// exporter's (which take two locked instructions per increment, on a
/// cache line every thread writes).
const SHARDED_COUNTERS: [&str; 1] = [REQUESTS];

/// Shards per sharded counter or histogram: the first `SHARDS - 1` threads
/// that record get one each; threads after them share the last.
const SHARDS: usize = 16;

/// How the calling thread adds to sharded counts.
#[derive(Clone, Copy, Debug)]
enum Writer {
    /// Into shard `i`, which no other thread writes.
    Sole(usize),
    /// Into the last shard, with other threads.
    Shared,
}

impl Writer {
    /// The calling thread's (fixed for its lifetime, the same for every
    /// counter and histogram).
    fn current() -> Writer {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static WRITER: Writer = match NEXT.fetch_add(1, Ordering::Relaxed) {
                i if i < SHARDS - 1 => Writer::Sole(i),
                _ => Writer::Shared,
            };
        }
        WRITER.with(|w| *w)
    }

    fn shard(self) -> usize {
        match self {
            Writer::Sole(i) => i,
            Writer::Shared => SHARDS - 1,
        }
    }

    /// Replaces `cell`, a value in this writer's shard, with `f` of it.
    fn update(self, cell: &AtomicU64, f: impl Fn(u64) -> u64) {
        match self {
            // No other thread writes it: readers see the old or the new
            // value, never a torn one.
            Writer::Sole(_) => cell.store(f(cell.load(Ordering::Relaxed)), Ordering::Relaxed),
            Writer::Shared => {
                let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(f(v)));
            }
        }
    }
}

/// One shard's counts: per bucket (not cumulative), and the sum of the
/// values, as `f64` bits. Aligned so that no two shards share a cache line.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum: AtomicU64,
}

/// A counter kept in per-thread shards: adding to it is a plain load and
/// store for the first threads that do, with no cache line shared between
/// cores; reading it sums the shards.
#[derive(Default)]
pub struct ShardedCounter {
    shards: [PaddedCount; SHARDS],
    /// The highest value it was set to (`absolute`), if it is above the
    /// shards' sum.
    floor: AtomicU64,
}

/// One shard of a [`ShardedCounter`], alone on its cache line.
#[repr(align(128))]
#[derive(Default)]
struct PaddedCount(AtomicU64);

impl ShardedCounter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        let writer = Writer::current();
        writer.update(&self.shards[writer.shard()].0, |c| c.wrapping_add(n));
    }

    /// The count: what every thread has added so far.
    pub fn value(&self) -> u64 {
        let sum = self.shards.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
        self.floor.load(Ordering::Relaxed).max(sum)
    }
}

impl std::fmt::Debug for ShardedCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value().fmt(f)
    }
}

impl metrics::CounterFn for ShardedCounter {
    fn increment(&self, value: u64) {
        self.add(value);
    }

    fn absolute(&self, value: u64) {
        self.floor.fetch_max(value, Ordering::Relaxed);
    }
}

/// A Prometheus histogram with fixed buckets ([`BUCKETS`]).
#[derive(Default)]
pub struct FixedHistogram {
    shards: [Shard; SHARDS],
}

impl FixedHistogram {
    /// Counts per bucket (not cumulative), and the sum, over all shards.
    fn snapshot(&self) -> ([u64; BUCKETS.len() + 1], f64) {
        let mut counts = [0; BUCKETS.len() + 1];
        let mut sum = 0.0;
        for shard in &self.shards {
            for (total, count) in counts.iter_mut().zip(&shard.counts) {
                *total += count.load(Ordering::Relaxed);
            }
            sum += f64::from_bits(shard.sum.load(Ordering::Relaxed));
        }
        (counts, sum)
    }
}

impl metrics::HistogramFn for FixedHistogram {
    fn record(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        let writer = Writer::current();
        let shard = &self.shards[writer.shard()];
        // The first bucket whose bound is at least the value (`le`).
        let bucket = BUCKETS.partition_point(|&bound| bound < value);
        writer.update(&shard.counts[bucket], |c| c + 1);
        writer.update(&shard.sum, |bits| (f64::from_bits(bits) + value).to_bits());
    }
}

/// The metrics of one kind registered so far, by key, and their
/// descriptions.
struct Registry<T> {
    by_key: Mutex<Vec<(Key, Arc<T>)>>,
    help: Mutex<Vec<(KeyName, SharedString)>>,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            by_key: Mutex::default(),
            help: Mutex::default(),
        }
    }
}

impl<T: Default> Registry<T> {
    fn get_or_create(&self, key: &Key) -> Arc<T> {
        let mut by_key = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, m)) = by_key.iter().find(|(k, _)| k == key) {
            return m.clone();
        }
        let m = Arc::new(T::default());
        by_key.push((key.clone(), m.clone()));
        m
    }

    fn describe(&self, key: KeyName, description: SharedString) {
        let mut help = self.help.lock().unwrap_or_else(|e| e.into_inner());
        help.retain(|(name, _)| *name != key);
        help.push((key, description));
    }

    /// Appends every metric to `out` in the Prometheus text format, of
    /// TYPE `kind`; `samples` writes one metric's lines, given its name
    /// and labels.
    fn render(&self, out: &mut String, kind: &str, samples: impl Fn(&mut String, &str, &LabelSet, &T)) {
        let mut by_key: Vec<(Key, Arc<T>)> = self.by_key.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // By name, then labels: a name's series together, under one TYPE line.
        by_key.sort_by(|(a, _), (b, _)| a.cmp(b));
        let help = self.help.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut last_name = None;
        for (key, m) in &by_key {
            let name = formatting::sanitize_metric_name(key.name());
            if last_name.as_ref() != Some(&name) {
                if let Some((_, text)) = help.iter().find(|(n, _)| n.as_str() == key.name()) {
                    formatting::write_help_line(out, &name, None, None, text);
                }
                formatting::write_type_line(out, &name, None, None, kind);
                last_name = Some(name.clone());
            }
            let labels = LabelSet::from_key_and_global(key, &IndexMap::new());
            samples(out, &name, &labels, m);
        }
    }
}

/// Writes a histogram's sample lines.
fn histogram_samples(out: &mut String, name: &str, labels: &LabelSet, h: &FixedHistogram) {
    let (counts, sum) = h.snapshot();
    let mut cumulative = 0;
    for (i, count) in counts.iter().enumerate() {
        cumulative += count;
        let bound = BUCKETS.get(i).map_or_else(|| "+Inf".to_string(), f64::to_string);
        formatting::write_metric_line(out, name, Some("bucket"), labels, Some(("le", bound)), cumulative, None);
    }
    formatting::write_metric_line::<&str, _>(out, name, Some("sum"), labels, None, sum, None);
    formatting::write_metric_line::<&str, _>(out, name, Some("count"), labels, None, cumulative, None);
}

/// The node's recorder: gauges and most counters go to the Prometheus
/// exporter's recorder; [`SHARDED_COUNTERS`] are [`ShardedCounter`]s and
/// histograms [`FixedHistogram`]s.
struct NodeRecorder {
    prometheus: PrometheusRecorder,
    own: Arc<OwnMetrics>,
}

/// The metrics the node keeps itself, and renders after the exporter's.
#[derive(Default)]
struct OwnMetrics {
    counters: Registry<ShardedCounter>,
    histograms: Registry<FixedHistogram>,
}

impl OwnMetrics {
    fn render(&self, out: &mut String) {
        self.counters.render(out, "counter", |out, name, labels, c| {
            formatting::write_metric_line::<&str, _>(out, name, None, labels, None, c.value(), None);
        });
        self.histograms.render(out, "histogram", histogram_samples);
    }
}

impl metrics::Recorder for NodeRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        if SHARDED_COUNTERS.contains(&key.as_str()) {
            self.own.counters.describe(key, description);
        } else {
            self.prometheus.describe_counter(key, unit, description);
        }
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.own.histograms.describe(key, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Counter {
        if SHARDED_COUNTERS.contains(&key.name()) {
            metrics::Counter::from_arc(self.own.counters.get_or_create(key))
        } else {
            self.prometheus.register_counter(key, metadata)
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> metrics::Gauge {
        self.prometheus.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::from_arc(self.own.histograms.get_or_create(key))
    }
}

/// Renders the node's metrics.
#[derive(Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
    own: Arc<OwnMetrics>,
}

impl MetricsHandle {
    /// Every metric, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = self.prometheus.render();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        self.own.render(&mut out);
        out
    }
}

fn recorder() -> (NodeRecorder, MetricsHandle) {
    let prometheus = PrometheusBuilder::new().build_recorder();
    let own = Arc::new(OwnMetrics::default());
    let handle = MetricsHandle {
        prometheus: prometheus.handle(),
        own: own.clone(),
    };
    (NodeRecorder { prometheus, own }, handle)
}

static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();

/// Installs the node's recorder (once per process) and returns the handle
/// that renders it.
pub fn install() -> MetricsHandle {
    HANDLE
        .get_or_init(|| {
            let (recorder, handle) = recorder();
            // Another recorder may already be installed (tests); then ours
            // renders nothing, which is harmless.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Handles resolved once: recording is then an add to the thread's shard,
/// with no registry lookup on the request path.
struct RequestMetrics {
    by_class: [metrics::Counter; 5],
    duration: metrics::Histogram,
}

static REQUEST_METRICS: OnceLock<RequestMetrics> = OnceLock::new();

/// Records one answered request.
pub fn record_request(status: u16, elapsed: Duration) {
    let m = REQUEST_METRICS.get_or_init(|| RequestMetrics {
        by_class: ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|class| metrics::counter!(REQUESTS, "status" => class)),
        duration: metrics::histogram!(REQUEST_DURATION),
    });
    let class = (status / 100).clamp(1, 5) as usize - 1;
    m.by_class[class].increment(1);
    m.duration.record(elapsed.as_secs_f64());
}

/// Records a request refused before dispatch (`busy`, `unavailable`,
/// `no_route`, `too_large`, `body_timeout`, `backed_off`), or a response
/// cut off over its deployment's size limit (`response_too_large`).
pub fn record_rejected(reason: &'static str) {
    metrics::counter!(REJECTED, "reason" => reason).increment(1);
}

/// Records a request of `deployment` that met `limit`.
pub fn record_limit_exceeded(limit: &'static str, deployment: &str) {
    metrics::counter!(LIMITS_EXCEEDED, "limit" => limit, "deployment" => deployment.to_string()).increment(1);
}

/// Records an isolate a limit stopped.
pub fn record_isolate_stopped(limit: &'static str) {
    metrics::counter!(ISOLATES_STOPPED, "limit" => limit).increment(1);
}

/// Handles of the isolate pool's metrics, resolved once.
struct PoolMetrics {
    evicted: metrics::Counter,
    recreated: metrics::Counter,
    backed_off: metrics::Counter,
    live: metrics::Gauge,
    heap: metrics::Gauge,
}

static POOL_METRICS: OnceLock<PoolMetrics> = OnceLock::new();

fn pool_metrics() -> &'static PoolMetrics {
    POOL_METRICS.get_or_init(|| PoolMetrics {
        evicted: metrics::counter!(ISOLATES_EVICTED),
        recreated: metrics::counter!(ISOLATES_RECREATED),
        backed_off: metrics::counter!(DEPLOYMENTS_BACKED_OFF),
        live: metrics::gauge!(ISOLATES_LIVE),
        heap: metrics::gauge!(ISOLATE_HEAP),
    })
}

/// Records an idle isolate evicted under the memory budget.
pub fn record_isolate_evicted() {
    pool_metrics().evicted.increment(1);
}

/// Records an evicted isolate started again for a request.
pub fn record_isolate_recreated() {
    pool_metrics().recreated.increment(1);
}

/// Records a deployment backed off after repeated limit stops.
pub fn record_backed_off() {
    pool_metrics().backed_off.increment(1);
}

/// Sets the isolates running and the heap they use (bytes).
pub fn record_isolates(live: usize, heap_bytes: usize) {
    let m = pool_metrics();
    m.live.set(live as f64);
    m.heap.set(heap_bytes as f64);
}

#[cfg(test)]
mod tests {
    use metrics::Recorder as _;

    use super::*;

    fn lines(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn histograms_count_values_into_cumulative_buckets() {
        let (recorder, handle) = recorder();
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        recorder.describe_histogram("t_seconds".into(), None, "a test histogram".into());
        let key = Key::from_parts("t_seconds", vec![metrics::Label::new("deployment", "a\"b")]);
        let h = recorder.register_histogram(&key, &meta);
        // On a bound counts in that bucket (`le`); above the last, in +Inf.
        for v in [0.0001, 0.0005, 0.003, 20.0, f64::NAN] {
            h.record(v);
        }
        // The same key is the same histogram.
        recorder.register_histogram(&key, &meta).record(0.003);
        recorder
            .register_counter(&Key::from_name("t_total"), &meta)
            .increment(3);

        let text = handle.render();
        assert!(text.contains("t_total 3\n"), "{text}");
        assert_eq!(
            lines(&text, "# "),
            [
                "# TYPE t_total counter",
                "# HELP t_seconds a test histogram",
                "# TYPE t_seconds histogram"
            ]
        );
        let expected: Vec<String> = [
            ("0.0005", 2),
            ("0.001", 2),
            ("0.0025", 2),
            ("0.005", 4),
            ("0.01", 4),
            ("0.025", 4),
            ("0.05", 4),
            ("0.1", 4),
            ("0.25", 4),
            ("0.5", 4),
            ("1", 4),
            ("2.5", 4),
            ("10", 4),
            ("+Inf", 5),
        ]
        .iter()
        .map(|(le, n)| format!("t_seconds_bucket{{deployment=\"a\\\"b\",le=\"{le}\"}} {n}"))
        .collect();
        assert_eq!(lines(&text, "t_seconds_bucket"), expected);
        assert_eq!(
            lines(&text, "t_seconds_count"),
            ["t_seconds_count{deployment=\"a\\\"b\"} 5"]
        );
        let sum = lines(&text, "t_seconds_sum{deployment=\"a\\\"b\"} ");
        let sum: f64 = sum[0].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((sum - 20.0066).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn threads_recording_at_once_lose_no_value() {
        const PER_THREAD: usize = 200_000;
        let (recorder, handle) = recorder();
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let h = recorder.register_histogram(&Key::from_name("t_seconds"), &meta);
        let key = Key::from_parts(REQUESTS, vec![metrics::Label::new("status", "2xx")]);
        let c = recorder.register_counter(&key, &meta);
        // More threads than shards: some share one. All at once, for long
        // enough that they overlap.
        let start = std::sync::Barrier::new(SHARDS + 3);
        std::thread::scope(|s| {
            for _ in 0..SHARDS + 3 {
                let (h, c, start) = (h.clone(), c.clone(), &start);
                s.spawn(move || {
                    start.wait();
                    for _ in 0..PER_THREAD {
                        h.record(0.25);
                        c.increment(1);
                    }
                });
            }
        });
        let text = handle.render();
        let n = (SHARDS + 3) * PER_THREAD;
        assert!(text.contains("# TYPE outpost_requests_total counter\n"), "{text}");
        assert!(
            text.contains(&format!("outpost_requests_total{{status=\"2xx\"}} {n}\n")),
            "{text}"
        );
        // Set higher than counted, it reads as set.
        c.absolute(n as u64 + 5);
        assert!(
            handle
                .render()
                .contains(&format!("outpost_requests_total{{status=\"2xx\"}} {}\n", n + 5)),
        );
        assert!(text.contains("t_seconds_bucket{le=\"0.1\"} 0\n"), "{text}");
        assert!(
            text.contains(&format!("t_seconds_bucket{{le=\"0.25\"}} {n}\n")),
            "{text}"
        );
        assert!(text.contains(&format!("t_seconds_count {n}\n")), "{text}");
        assert!(text.contains(&format!("t_seconds_sum {}\n", n as f64 * 0.25)), "{text}");
    }
}
