//! The admin listener: `/metrics` (Prometheus), `/healthz` (the process is
//! up), `/readyz` (the node serves traffic), on an address of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Whether the node is ready for traffic; flipped by whoever starts it.
#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the node ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether it is.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

fn respond(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .expect("static response")
}

/// Serves the admin endpoints on `listener` until `shutdown` flips.
pub async fn serve(listener: TcpListener, ready: Readiness, mut shutdown: watch::Receiver<bool>) {
    let metrics = crate::metrics::install();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let resp = match req.uri().path() {
                    "/metrics" => respond(200, "text/plain; version=0.0.4", metrics.render()),
                    "/healthz" => respond(200, "text/plain", "ok\n"),
                    "/readyz" if ready.get() => respond(200, "text/plain", "ready\n"),
                    "/readyz" => respond(503, "text/plain", "not ready\n"),
                    _ => respond(404, "text/plain", "not found\n"),
                };
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
