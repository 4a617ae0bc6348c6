//! [`Runtime::call`]: a request run to completion on the calling thread,
//! for tests, tools and benchmarks.

use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::oneshot;

use super::Runtime;
use crate::host::{Body, HttpRequest};

/// A response with its whole body read, from [`Runtime::call`].
#[derive(Debug)]
pub struct FullResponse {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl FullResponse {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Runtime {
    /// Dispatches `request` and drives the event loop on this thread until
    /// the whole response body has arrived. For tests, tools and benchmarks;
    /// the node drives runtimes asynchronously instead.
    pub fn call(&mut self, request: HttpRequest) -> Result<FullResponse, String> {
        use futures::FutureExt;
        let (tx, mut rx) = oneshot::channel();
        self.dispatch(request, tx);
        // An idle event loop may still be waiting on V8 itself (an async
        // WebAssembly compile), so idleness only fails the call after a
        // grace period without any progress.
        let mut stall = Stall::default();
        let response = futures::executor::block_on(futures::future::poll_fn(|cx| {
            if let Poll::Ready(r) = rx.poll_unpin(cx) {
                return Poll::Ready(r.ok());
            }
            match self.poll_event_loop(cx) {
                Poll::Ready(()) if stall.expired(cx) => Poll::Ready(None),
                _ => Poll::Pending,
            }
        }))
        .ok_or_else(|| "the handler never produced a response".to_string())?;
        let body = match response.body {
            Body::Empty => Vec::new(),
            Body::Full(b) => b.to_vec(),
            Body::Stream(mut stream) => {
                let mut out = Vec::new();
                let mut stall = Stall::default();
                futures::executor::block_on(futures::future::poll_fn(|cx| {
                    loop {
                        match stream.poll_next_unpin(cx) {
                            Poll::Ready(Some(Ok(chunk))) => out.extend_from_slice(&chunk),
                            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                            Poll::Ready(None) => return Poll::Ready(Ok(())),
                            Poll::Pending => {
                                return match self.poll_event_loop(cx) {
                                    Poll::Ready(()) if stall.expired(cx) => {
                                        Poll::Ready(Err("the body stream stalled".to_string()))
                                    }
                                    _ => Poll::Pending,
                                };
                            }
                        }
                    }
                }))?;
                out
            }
        };
        Ok(FullResponse {
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
        })
    }
}

/// Gives an idle event loop a grace period (waking the task when it ends)
/// before [`Runtime::call`] declares it stuck.
#[derive(Default)]
struct Stall {
    flag: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Stall {
    const GRACE: Duration = Duration::from_secs(5);

    fn expired(&mut self, cx: &mut TaskContext<'_>) -> bool {
        match &self.flag {
            Some(f) => f.load(std::sync::atomic::Ordering::Acquire),
            None => {
                let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let (f, waker) = (flag.clone(), cx.waker().clone());
                std::thread::spawn(move || {
                    std::thread::sleep(Self::GRACE);
                    f.store(true, std::sync::atomic::Ordering::Release);
                    waker.wake();
                });
                self.flag = Some(flag);
                false
            }
        }
    }
}
