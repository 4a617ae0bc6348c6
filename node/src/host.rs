//! The node's implementation of the runtime's [`Host`]: tokio timers,
//! logging to the console or `tracing`, and outbound `fetch()` over hyper.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use outpost_js::{Body, FetchError, Host, HttpRequest, HttpResponse, LocalFuture, LogLevel};

/// Where handler log lines go.
#[derive(Clone)]
pub enum LogSink {
    /// Print to stdout/stderr with the deployment's name (`outpost dev`).
    Console,
    /// Emit `tracing` events.
    Tracing,
}

/// Host capabilities for one deployment's isolates.
pub struct NodeHost {
    deployment: Arc<str>,
    sink: LogSink,
}

impl NodeHost {
    /// A host for `deployment` logging to `sink`.
    pub fn new(deployment: &str, sink: LogSink) -> Self {
        NodeHost {
            deployment: deployment.into(),
            sink,
        }
    }
}

impl Host for NodeHost {
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
        Box::pin(outbound_fetch(request))
    }
}

/// Outbound HTTP/1.1 over plain TCP (`http:` URLs).
async fn outbound_fetch(request: HttpRequest) -> Result<HttpResponse, FetchError> {
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|e| FetchError(format!("invalid URL {}: {e}", request.url)))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(FetchError(format!(
                "fetch: the {other}: scheme is not supported by this node yet"
            )));
        }
        None => return Err(FetchError("fetch: URL has no scheme".into())),
    }
    let host = uri
        .host()
        .ok_or_else(|| FetchError("fetch: URL has no host".into()))?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| FetchError(format!("fetch {}: {e}", request.url)))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| FetchError(format!("fetch {}: {e}", request.url)))?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut builder = http::Request::builder().method(request.method.as_str()).uri(path);
    let mut has_host = false;
    for (k, v) in &request.headers {
        has_host |= k.eq_ignore_ascii_case("host");
        builder = builder.header(k.as_str(), v.as_str());
    }
    if !has_host {
        let authority = uri.authority().map(|a| a.as_str().to_string()).unwrap_or(host);
        builder = builder.header("host", authority);
    }
    let body = match request.body {
        Body::Full(b) => b,
        _ => Bytes::new(),
    };
    let req = builder
        .body(Full::new(body))
        .map_err(|e| FetchError(format!("fetch: {e}")))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| FetchError(format!("fetch {}: {e}", request.url)))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| FetchError(format!("fetch {}: {e}", request.url)))?
        .to_bytes();
    Ok(HttpResponse {
        status,
        headers,
        body: Body::Full(bytes),
    })
}
