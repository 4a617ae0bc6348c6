//! The node's implementation of the runtime's [`Host`]: tokio timers,
//! logging to the console or `tracing`, and outbound `fetch()` through the
//! node's guarded HTTP client ([`crate::outbound`]).

use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures::channel::oneshot;
use outpost_js::{FetchError, FetchResult, Host, HttpRequest, HttpResponse, LocalFuture, LogLevel};

use crate::outbound::{Client, Outbound, RedirectMode};

/// Where handler log lines go.
#[derive(Clone)]
pub enum LogSink {
    /// Print to stdout/stderr with the deployment's name (`outpost dev`).
    Console,
    /// Emit `tracing` events.
    Tracing,
}

/// Host capabilities for one deployment's isolate.
pub struct NodeHost {
    deployment: Arc<str>,
    sink: LogSink,
    outbound: Arc<Outbound>,
    /// The isolate's HTTP client, made on its first fetch.
    client: OnceCell<Result<Rc<Client>, String>>,
}

impl NodeHost {
    /// A host for `deployment` logging to `sink` and fetching through
    /// `outbound`.
    pub fn new(deployment: &str, sink: LogSink, outbound: Arc<Outbound>) -> Self {
        NodeHost {
            deployment: deployment.into(),
            sink,
            outbound,
            client: OnceCell::new(),
        }
    }

    fn client(&self) -> Result<Rc<Client>, FetchError> {
        self.client
            .get_or_init(|| self.outbound.client().map(Rc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|e| FetchError(format!("fetch failed: {e}")))
    }
}

impl Host for NodeHost {
    fn limit_exceeded(&self, limit: outpost_js::Limit) {
        crate::metrics::record_limit_exceeded(limit.as_str(), &self.deployment);
    }

    fn log(&self, level: LogLevel, message: &str) {
        match self.sink {
            LogSink::Console => match level {
                LogLevel::Warn | LogLevel::Error => eprintln!("[{}] {message}", self.deployment),
                _ => println!("[{}] {message}", self.deployment),
            },
            LogSink::Tracing => match level {
                LogLevel::Debug => tracing::debug!(deployment = %self.deployment, "{message}"),
                LogLevel::Info => tracing::info!(deployment = %self.deployment, "{message}"),
                LogLevel::Warn => tracing::warn!(deployment = %self.deployment, "{message}"),
                LogLevel::Error => tracing::error!(deployment = %self.deployment, "{message}"),
            },
        }
    }

    fn sleep_until(&self, deadline: Instant) -> LocalFuture<()> {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn fetch(&self, request: HttpRequest) -> LocalFuture<Result<HttpResponse, FetchError>> {
        let fetched = self.outbound_fetch(request, RedirectMode::Follow, None);
        Box::pin(async move { fetched.await.map(|(response, _)| response) })
    }

    fn fetch_with(
        &self,
        request: HttpRequest,
        redirect: &str,
        abort: oneshot::Receiver<()>,
    ) -> LocalFuture<FetchResult> {
        let mode = RedirectMode::parse(redirect).unwrap_or_default();
        self.outbound_fetch(request, mode, Some(abort))
    }
}

impl NodeHost {
    fn outbound_fetch(
        &self,
        request: HttpRequest,
        mode: RedirectMode,
        abort: Option<oneshot::Receiver<()>>,
    ) -> LocalFuture<FetchResult> {
        let client = self.client();
        let deployment = self.deployment.clone();
        Box::pin(async move {
            let client = client?;
            client.fetch(request, mode, abort).await.map_err(|e| {
                if let crate::outbound::OutboundError::Refused { ip, reason, .. } = &e {
                    // The address and why, never the URL (it may carry secrets).
                    tracing::debug!(deployment = %deployment, %ip, reason, "outbound fetch refused");
                }
                FetchError(format!("fetch failed: {e}"))
            })
        })
    }
}
