//! Every metric the node records, in one place. Names are prefixed
//! `outpost_`; `/metrics` on the admin listener serves them (Prometheus
//! text format).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Requests answered, by status class (`2xx`, `4xx`, …).
pub const REQUESTS: &str = "outpost_requests_total";
/// Time from request head to response head, seconds.
pub const REQUEST_DURATION: &str = "outpost_request_duration_seconds";
/// Requests refused before reaching an isolate, by reason.
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

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process) and returns the
/// handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ])
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); then ours
            // renders nothing, which is harmless.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Handles resolved once: recording is then an atomic add, with no
/// registry lookup on the request path.
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
/// `no_route`, `too_large`, `backed_off`).
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
