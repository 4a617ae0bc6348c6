//! What the runtime asks of its host: the clock, timers, logging and
//! outbound fetch. The node implements [`Host`] on top of tokio; tests can
//! use [`StdHost`] or a fake of their own.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};

/// Severity of a line a handler logged through `console`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// `console.debug`
    Debug,
    /// `console.log`, `console.info`
    Info,
    /// `console.warn`
    Warn,
    /// `console.error`, uncaught exceptions
    Error,
}

impl LogLevel {
    pub(crate) fn from_u32(n: u32) -> Self {
        match n {
            0 => LogLevel::Debug,
            1 => LogLevel::Info,
            2 => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }

    /// The lower-case name, as printed in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A stream of body chunks; an `Err` ends it abnormally.
pub type BodyStream = mpsc::Receiver<Result<Bytes, String>>;

/// A request or response body.
#[derive(Debug, Default)]
pub enum Body {
    /// No body at all.
    #[default]
    Empty,
    /// The whole body, already in memory.
    Full(Bytes),
    /// A body that arrives in chunks.
    Stream(BodyStream),
}

/// An HTTP request as the runtime sees it: for `fetch` handlers (incoming)
/// and for outbound `fetch()` (outgoing).
#[derive(Debug)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `GET` (borrowed for the standard ones).
    pub method: std::borrow::Cow<'static, str>,
    /// The absolute URL, e.g. `http://hello.localhost:8787/path?q`.
    pub url: String,
    /// Header names and values, in arrival order.
    pub headers: HeaderList,
    /// The body.
    pub body: Body,
}

/// A request's header list, in order, held as one string of `name:value`
/// lines. That string crosses into V8 as it is, and JS splits it only when
/// a handler reads the headers, so a request costs one allocation for all
/// its headers.
///
/// A name holds no `:`, and neither holds a line break: [`HeaderList::push`]
/// turns any into spaces, so one entry can never read as two.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    block: String,
}

impl HeaderList {
    /// An empty list with room for `bytes` bytes of names and values.
    pub fn with_capacity(bytes: usize) -> Self {
        HeaderList {
            block: String::with_capacity(bytes),
        }
    }

    /// Appends one header.
    pub fn push(&mut self, name: &str, value: &str) {
        let name = clean(name, |b| matches!(b, b':' | b'\r' | b'\n'));
        let value = clean(value, |b| matches!(b, b'\r' | b'\n'));
        self.push_clean(&name, &value);
    }

    /// Appends a name and value that hold no line break and, in the name,
    /// no `:` (the caller knows).
    fn push_clean(&mut self, name: &str, value: &str) {
        if !self.block.is_empty() {
            self.block.push('\n');
        }
        self.block.push_str(name);
        self.block.push(':');
        self.block.push_str(value);
    }

    /// The headers, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let lines = (!self.block.is_empty()).then(|| self.block.split('\n'));
        lines
            .into_iter()
            .flatten()
            .map(|line| line.split_once(':').unwrap_or((line, "")))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        if self.block.is_empty() {
            0
        } else {
            self.block.bytes().filter(|&b| b == b'\n').count() + 1
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// The first value of `name` (compared ASCII case-insensitively).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Keeps only the headers for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let mut kept = HeaderList::with_capacity(self.block.len());
        for (k, v) in self.iter().filter(|(k, v)| keep(k, v)) {
            kept.push(k, v);
        }
        *self = kept;
    }

    /// The `name:value` lines, joined by `\n`.
    pub fn as_block(&self) -> &str {
        &self.block
    }
}

/// `s` with every byte `bad` picks (all ASCII) replaced by a space; `s`
/// itself, uncopied, in the common case of none.
fn clean(s: &str, bad: impl Fn(u8) -> bool + Copy) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(bad) {
        s.chars()
            .map(|c| if c.is_ascii() && bad(c as u8) { ' ' } else { c })
            .collect()
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

impl HeaderList {
    /// The headers of a request head as an HTTP/1 parser read them off the
    /// wire, in arrival order, with room for `bytes` bytes. The parser has
    /// checked that every name is a token and no value holds a line break;
    /// names are lower-cased here, and values that are not UTF-8 read with
    /// U+FFFD.
    pub fn from_wire<'a>(headers: impl IntoIterator<Item = (&'a [u8], &'a [u8])>, bytes: usize) -> Self {
        let mut block = Vec::with_capacity(bytes);
        for (k, v) in headers {
            debug_assert!(!k.iter().any(|b| matches!(b, b':' | b'\r' | b'\n')) && !v.contains(&b'\n'));
            if !block.is_empty() {
                block.push(b'\n');
            }
            let name = block.len()..block.len() + k.len();
            block.extend_from_slice(k);
            block[name].make_ascii_lowercase();
            block.push(b':');
            block.extend_from_slice(v);
        }
        Self::from_block(block)
    }

    /// A block whose names and separators are ASCII: one check for all of
    /// it, and decoding it lossily replaces only what is not UTF-8 in the
    /// values.
    fn from_block(block: Vec<u8>) -> Self {
        let block = String::from_utf8(block).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        HeaderList { block }
    }
}

impl From<&http::HeaderMap> for HeaderList {
    /// The headers of a request off the wire. Their names are tokens and
    /// their values hold no line breaks (`http` checks both), so they go in
    /// as they are; values that are not UTF-8 read with U+FFFD.
    fn from(map: &http::HeaderMap) -> Self {
        let mut block = Vec::with_capacity(map.len() * 48);
        for (k, v) in map {
            if !block.is_empty() {
                block.push(b'\n');
            }
            block.extend_from_slice(k.as_str().as_bytes());
            block.push(b':');
            block.extend_from_slice(v.as_bytes());
        }
        Self::from_block(block)
    }
}

impl std::fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for HeaderList {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut list = HeaderList::default();
        for (k, v) in iter {
            list.push(k.as_ref(), v.as_ref());
        }
        list
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for HeaderList {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// An HTTP response produced by a handler, or received by outbound `fetch()`.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// The headers, as they go on the wire.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Body,
}

impl HttpResponse {
    /// A plain-text response, as the runtime answers on its own behalf.
    pub fn text(status: u16, body: &'static str) -> Self {
        let mut headers = http::HeaderMap::with_capacity(1);
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
        HttpResponse {
            status,
            headers,
            body: Body::Full(Bytes::from_static(body.as_bytes())),
        }
    }

    /// The `503` a request gets when `limit` stopped it, e.g. body
    /// `outpost: cpu limit exceeded`.
    pub fn limit_exceeded(limit: crate::Limit) -> Self {
        Self::text(503, limit.response_body())
    }
}

/// Why an outbound `fetch()` failed; surfaces in JS as a `TypeError`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// A boxed future that stays on the isolate's thread.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// What [`Host::fetch_with`] resolves with: the response and, when redirects
/// were followed, the URL of the final one.
pub type FetchResult = Result<(HttpResponse, Option<String>), FetchError>;

/// Capabilities the embedding node gives a runtime.
pub trait Host {
    /// A line logged by the handler (`console.*`, uncaught errors).
    fn log(&self, level: LogLevel, message: &str);

    /// A future that completes at `deadline` (timers).
    fn sleep_until(&self, deadline: Instant) -> LocalFuture<()>;

    /// Outbound `fetch()`. By default outbound requests are refused.
    fn fetch(&self, request: HttpRequest) -> LocalFuture<Result<HttpResponse, FetchError>> {
        let _ = request;
        Box::pin(async { Err(FetchError("outbound fetch is not available on this host".into())) })
    }

    /// Outbound `fetch()` as the runtime calls it: with the request's
    /// redirect mode and a way to stop it.
    ///
    /// `redirect` is the request's `redirect` member: `"follow"` (follow up
    /// to the host's limit), `"error"` (a redirect is a network error) or
    /// `"manual"` (the redirect response is the answer). `abort` completes
    /// — with `Ok` or `Canceled` — when the handler aborts the fetch (its
    /// `AbortSignal`) or the runtime forgets it: the host then stops,
    /// dropping its connection, whether it is connecting, sending, waiting
    /// for the head or streaming the response body. A host drops `abort`
    /// once it is done with the fetch, body included.
    ///
    /// Resolves with the response and, when redirects were followed, the
    /// URL of the final one (`Response.url`; `Response.redirected` is then
    /// true). By default it calls [`Host::fetch`], follows nothing and
    /// cannot be stopped.
    fn fetch_with(
        &self,
        request: HttpRequest,
        redirect: &str,
        abort: oneshot::Receiver<()>,
    ) -> LocalFuture<FetchResult> {
        let _ = (redirect, abort);
        let response = self.fetch(request);
        Box::pin(async move { response.await.map(|r| (r, None)) })
    }

    /// A request met `limit` (the runtime has logged it and answered or
    /// thrown); for the host's metrics.
    fn limit_exceeded(&self, limit: crate::Limit) {
        let _ = limit;
    }

    /// The monotonic clock behind `performance.now()` and timers.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A host without an async runtime: logs to `tracing`, sleeps on a thread.
/// Good for tests and tools that drive the runtime with
/// `futures::executor::block_on`.
#[derive(Default)]
pub struct StdHost;

impl Host for StdHost {
    fn log(&self, level: LogLevel, message: &str) {
        match level {
            LogLevel::Debug => tracing::debug!(target: "handler", "{message}"),
            LogLevel::Info => tracing::info!(target: "handler", "{message}"),
            LogLevel::Warn => tracing::warn!(target: "handler", "{message}"),
            LogLevel::Error => tracing::error!(target: "handler", "{message}"),
        }
    }

    fn sleep_until(&self, deadline: Instant) -> LocalFuture<()> {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let wait = deadline.saturating_duration_since(Instant::now());
        std::thread::spawn(move || {
            std::thread::sleep(wait.max(Duration::from_micros(1)));
            let _ = tx.send(());
        });
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderList;

    #[test]
    fn a_header_list_keeps_order_colons_in_values_and_empty_values() {
        let mut list = HeaderList::default();
        assert!(list.is_empty());
        assert_eq!(list.iter().count(), 0);
        list.push("host", "a.test:8787");
        list.push("x-empty", "");
        list.push("x-colons", "a:b::c");
        assert_eq!(list.len(), 3);
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            [("host", "a.test:8787"), ("x-empty", ""), ("x-colons", "a:b::c")]
        );
        assert_eq!(list.as_block(), "host:a.test:8787\nx-empty:\nx-colons:a:b::c");
        assert_eq!(list.get("X-Colons"), Some("a:b::c"));
        assert_eq!(list.get("absent"), None);
    }

    #[test]
    fn a_header_map_off_the_wire_converts_in_order_with_non_utf8_values_replaced() {
        let mut map = http::HeaderMap::new();
        map.append("host", http::HeaderValue::from_static("a.test"));
        map.append("x-latin1", http::HeaderValue::from_bytes(b"caf\xe9").unwrap());
        map.append("x-two", http::HeaderValue::from_static("1"));
        map.append("x-two", http::HeaderValue::from_static("2"));
        let list = HeaderList::from(&map);
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            [
                ("host", "a.test"),
                ("x-latin1", "caf\u{fffd}"),
                ("x-two", "1"),
                ("x-two", "2")
            ]
        );
    }

    #[test]
    fn line_breaks_and_colons_in_names_cannot_forge_an_entry() {
        let mut list = HeaderList::default();
        list.push("x-a", "1\r\nx-forged:2");
        list.push("x:b", "3");
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            [("x-a", "1  x-forged:2"), ("x b", "3")]
        );
    }

    #[test]
    fn retain_keeps_the_rest_in_order() {
        let mut list = HeaderList::from([("a", "1"), ("content-type", "x"), ("b", "2"), ("Content-Length", "3")]);
        list.retain(|k, _| !k.to_ascii_lowercase().starts_with("content-"));
        assert_eq!(list.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        list.retain(|_, _| false);
        assert!(list.is_empty());
        assert_eq!(list.len(), 0);
    }
}
