//! Ingress: listeners that turn network requests into runtime requests and
//! runtime responses back into bytes on the wire.

pub mod h1;

use std::sync::Arc;

use bytes::Bytes;
use futures::channel::oneshot;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use outpost_js::{Body, HttpRequest, HttpResponse};

use crate::router::Router;
use crate::worker::Job;

/// Limits applied to every request.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_request_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_request_body: 100 * 1024 * 1024 }
    }
}

/// The response body type every listener writes.
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// What a listener needs to serve requests.
pub struct Service {
    /// Host → deployment.
    pub router: Arc<Router>,
    /// Request limits.
    pub limits: Limits,
}

fn plain(status: u16, text: &'static str) -> http::Response<ResponseBody> {
    to_hyper(HttpResponse::text(status, text))
}

/// Converts a runtime response into a hyper response, streaming its body.
pub fn to_hyper(resp: HttpResponse) -> http::Response<ResponseBody> {
    let mut builder = http::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        match (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(v)) {
            (Ok(k), Ok(v)) => builder = builder.header(k, v),
            _ => tracing::debug!(header = %k, "dropping a header that is not valid HTTP"),
        }
    }
    let body: ResponseBody = match resp.body {
        Body::Empty => Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync(),
        Body::Full(b) => Full::new(b).map_err(|never| match never {}).boxed_unsync(),
        Body::Stream(rx) => {
            use futures::StreamExt;
            let frames = rx.map(|chunk| chunk.map(Frame::data).map_err(std::io::Error::other));
            StreamBody::new(frames).boxed_unsync()
        }
    };
    builder.body(body).unwrap_or_else(|_| plain(500, "Internal Server Error\n"))
}

impl Service {
    /// Serves one request: route, hand to the isolate, wait for the answer.
    pub async fn handle(
        &self,
        req: http::Request<hyper::body::Incoming>,
        scheme: &str,
    ) -> http::Response<ResponseBody> {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        let Some(host) = host else {
            return plain(400, "missing Host header\n");
        };
        let path = req.uri().path().to_string();
        let Some(target) = self.router.resolve(&host, &path) else {
            return plain(404, "no deployment serves this host\n");
        };
        let path_and_query = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let url = format!("{scheme}://{host}{path_and_query}");
        let method = req.method().as_str().to_string();
        let mut headers = Vec::with_capacity(req.headers().len());
        for (k, v) in req.headers() {
            headers.push((k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()));
        }
        let has_body = req.method() != http::Method::GET && req.method() != http::Method::HEAD;
        let body = if has_body {
            let limited = http_body_util::Limited::new(req.into_body(), self.limits.max_request_body);
            match limited.collect().await {
                Ok(c) => {
                    let b = c.to_bytes();
                    if b.is_empty() { Body::Empty } else { Body::Full(b) }
                }
                Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                    return plain(413, "request body too large\n");
                }
                Err(_) => return plain(400, "could not read the request body\n"),
            }
        } else {
            Body::Empty
        };
        let request = HttpRequest { method, url, headers, body };
        let (reply, rx) = oneshot::channel();
        if !target.worker.send(Job::Request { deployment: target.deployment.clone(), request, reply }) {
            return plain(503, "the isolate worker is not running\n");
        }
        match rx.await {
            Ok(resp) => to_hyper(resp),
            Err(_) => plain(500, "Internal Server Error\n"),
        }
    }
}
