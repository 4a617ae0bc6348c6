//! Plain-TCP serving for callers that hold a bound `TcpListener` (the
//! accept loops on isolate threads). It speaks HTTP/1.1 and HTTP/2 with
//! prior knowledge (see [`super::listener`]).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::listener::PlainListener;
use super::{IngressConfig, Service};

/// Accepts connections on `listener` under `config` (validated by the
/// caller) until `shutdown` turns true, then lets open connections finish
/// their current request.
pub async fn serve(
    listener: TcpListener,
    config: IngressConfig,
    service: Arc<Service>,
    shutdown: watch::Receiver<bool>,
) {
    match PlainListener::from_tcp(listener, config) {
        Ok(plain) => plain.serve(service, shutdown).await,
        Err(e) => tracing::error!(error = %e, "cannot serve on this listener"),
    }
}
