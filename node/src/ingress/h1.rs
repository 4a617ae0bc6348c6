//! Plain-TCP serving with default limits, kept for callers that hold a
//! bound `TcpListener`. It now speaks HTTP/1.1 and HTTP/2 with prior
//! knowledge (see [`super::listener`]).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::listener::PlainListener;
use super::{IngressConfig, Service};

/// Accepts connections on `listener` until `shutdown` turns true, then lets
/// open connections finish their current request.
pub async fn serve(listener: TcpListener, service: Arc<Service>, shutdown: watch::Receiver<bool>) {
    let plain =
        PlainListener::from_tcp(listener, IngressConfig::default()).expect("the default ingress config is valid");
    plain.serve(service, shutdown).await;
}
