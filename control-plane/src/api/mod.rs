//! The deploy API: HTTP/1.1 (plain on loopback, TLS elsewhere), JSON in
//! and out, bearer tokens.
//!
//! | method and path | does | scope |
//! |---|---|---|
//! | `GET /v1/cluster` | zone, bundle-signing public key, CA certificate | any API token |
//! | `GET /v1/deployments` | deployments and what each environment serves | admin: all; project: its own |
//! | `GET /v1/deployments/{name}` | one deployment | project |
//! | `DELETE /v1/deployments/{name}` | delete it with its versions and secrets | project |
//! | `POST /v1/deployments/{name}/versions?env=ENV` | upload a bundle: validate, store, activate in `ENV` (default `production`) | project |
//! | `GET /v1/deployments/{name}/versions` | its versions | project |
//! | `GET /v1/deployments/{name}/versions/{v}` | one version: files, manifest | project |
//! | `GET /v1/deployments/{name}/versions/{v}/bundle` | the archive bytes | project |
//! | `GET /v1/deployments/{name}/rollout?env=ENV&version=V&revision=R&wait_ms=MS` | which connected node serves `V` (default: what `ENV` serves), which failed and why; waits up to `MS` for a change | project |
//! | `POST /v1/deployments/{name}/rollback` | `{"env"?, "to"?}` | project |
//! | `POST /v1/deployments/{name}/promote` | `{"from", "to"?}` | project |
//! | `GET /v1/deployments/{name}/secrets` | secret names (never values) | project |
//! | `PUT /v1/deployments/{name}/secrets/{key}?env=ENV` | `{"value"}` | project |
//! | `DELETE /v1/deployments/{name}/secrets/{key}?env=ENV` | | project |
//! | `POST /v1/tokens` | `{"scope": "admin" \| "project", "project"?, "label"?}` → a new token, shown once | admin |
//! | `GET /v1/nodes` | the nodes seen since the control plane started: connection, revision, load, what they run | admin |
//!
//! "project" means an admin token or a token scoped to that deployment.
//! Errors are JSON (see [`error`]); every mutation is committed to the
//! store, and the desired state it leads to published to the nodes, before
//! the answer is sent.

pub mod error;
mod handlers;
pub mod nodes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

pub use error::ApiError;

use crate::desired::Publisher;
use crate::distribution::ClusterStatus;
use crate::identity::Identity;
use crate::store::Store;
use crate::validate::UploadLimits;

/// The API's settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The zone deployments answer under (`NAME.<zone>`).
    pub zone: String,
    /// Size limits of an uploaded bundle.
    pub upload: UploadLimits,
    /// Largest request body, in bytes (an upload's JSON escaping makes it
    /// larger than the bundle).
    pub max_body_bytes: usize,
    /// Largest secret value, in bytes.
    pub max_secret_bytes: usize,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// V8 module checks run at once (each is an isolate on a blocking thread).
    pub concurrent_validations: usize,
}

impl Default for ApiConfig {
    /// Zone `localhost`, default upload limits, 64 MiB bodies, 64 KiB
    /// secrets, 1,024 connections, 2 module checks at once.
    fn default() -> Self {
        ApiConfig {
            zone: "localhost".into(),
            upload: UploadLimits::default(),
            max_body_bytes: 64 * 1024 * 1024,
            max_secret_bytes: 64 * 1024,
            max_connections: 1024,
            concurrent_validations: 2,
        }
    }
}

/// What every request handler shares.
pub struct ApiState {
    store: Arc<dyn Store>,
    identity: Arc<Identity>,
    config: ApiConfig,
    validations: Semaphore,
    publisher: Arc<Publisher>,
    nodes: watch::Receiver<ClusterStatus>,
}

impl ApiState {
    /// State over `store` and `identity`; changes are published to the nodes through `publisher`,
    /// and what the nodes report comes from `nodes`.
    pub fn new(
        store: Arc<dyn Store>,
        identity: Arc<Identity>,
        config: ApiConfig,
        publisher: Arc<Publisher>,
        nodes: watch::Receiver<ClusterStatus>,
    ) -> Arc<ApiState> {
        let validations = Semaphore::new(config.concurrent_validations.max(1));
        Arc::new(ApiState {
            store,
            identity,
            config,
            validations,
            publisher,
            nodes,
        })
    }
}

/// Time a client has to send a request head, or to finish a TLS handshake.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may take to finish after `stop`.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the API on `listener` (TLS when `tls` is given) until `stop`
/// resolves, then lets in-flight requests finish (at most 30 s).
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<ApiState>,
    stop: impl Future<Output = ()>,
) {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(state.config.max_connections.max(1)));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        let shutdown = shutdown_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(TokioIo::new(tcp), state, shutdown).await,
                Some(acceptor) => match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve_connection(TokioIo::new(stream), state, shutdown).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    let _ = shutdown_tx.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!("API connections still open after the drain timeout; closing them");
    }
}

async fn serve_connection<IO>(io: TokioIo<IO>, state: Arc<ApiState>, mut shutdown: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "API connection ended with an error");
            }
            return;
        }
        _ = shutdown.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

async fn handle(state: Arc<ApiState>, req: http::Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = match handlers::route(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    tracing::debug!(%method, %path, status = response.status().as_u16(), "api request");
    response
}

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}
