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
/// `no_route`, `too_large`).
pub fn record_rejected(reason: &'static str) {
    metrics::counter!(REJECTED, "reason" => reason).increment(1);
}

/// Records an isolate a limit stopped.
pub fn record_isolate_stopped(limit: &'static str) {
    metrics::counter!(ISOLATES_STOPPED, "limit" => limit).increment(1);
}
