//! Bodies of outbound `fetch()`: the request body hyper sends (whole, or
//! streamed as the handler produces it) and the task that streams a
//! response body to the handler as it arrives.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use outpost_js::BodyStream;

use super::Abort;
use super::connect::Checkin;

/// A request body for hyper.
pub(crate) enum OutBody {
    /// Sent whole (`None` once sent, or for no body).
    Full(Option<Bytes>),
    /// Sent as the handler's stream yields it.
    Stream(BodyStream),
}

impl OutBody {
    pub(crate) fn empty() -> Self {
        OutBody::Full(None)
    }
}

/// Why a streamed request body ended early.
#[derive(Debug, thiserror::Error)]
#[error("request body: {0}")]
pub(crate) struct UploadError(String);

impl HttpBody for OutBody {
    type Data = Bytes;
    type Error = UploadError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, UploadError>>> {
        match &mut *self {
            OutBody::Full(bytes) => Poll::Ready(bytes.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            OutBody::Stream(rx) => match rx.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(UploadError(e)))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, OutBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OutBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            OutBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// Capacity of a response body's chunk channel before the pump waits for
/// the handler to read.
const RESPONSE_CHUNKS_IN_FLIGHT: usize = 8;

/// How often a pump waiting on the server checks that the handler still
/// wants the body (a body the handler cancelled while no read was pending
/// is noticed no later than this).
const READER_CHECK: Duration = Duration::from_millis(500);

/// Streams `body` to the handler through the returned channel as frames
/// arrive. It stops — dropping the connection — when `abort` completes or
/// the handler drops the stream; a body read to its end gives the
/// connection back through `checkin`.
pub(crate) fn stream_response(mut body: Incoming, abort: Abort, checkin: Option<Checkin>) -> BodyStream {
    let (mut tx, rx) = mpsc::channel(RESPONSE_CHUNKS_IN_FLIGHT);
    tokio::task::spawn_local(async move {
        let mut abort = abort;
        let mut gone = Box::pin(reader_gone(tx.clone()));
        let complete = loop {
            let next = tokio::select! {
                frame = body.frame() => frame,
                _ = &mut abort => break false,
                _ = &mut gone => break false,
            };
            let item = match next {
                None => break true,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => Ok(data),
                    // Trailers: not exposed.
                    Err(_) => continue,
                },
                Some(Err(e)) => Err(format!("fetch failed: response body: {}", super::error_chain(&e))),
            };
            let failed = item.is_err();
            let sent = tokio::select! {
                sent = tx.send(item) => sent.is_ok(),
                _ = &mut abort => false,
            };
            if !sent || failed {
                break false;
            }
        };
        // The watcher's sender too: the stream ends once every sender is gone.
        drop(gone);
        drop(body);
        // Pooled before the handler sees the end, so that its next fetch
        // to the same origin finds the connection.
        if complete && let Some(checkin) = checkin {
            checkin.give_back().await;
        }
        drop(tx);
    });
    rx
}

/// Completes once the handler has dropped its end of the body stream.
async fn reader_gone(tx: mpsc::Sender<Result<Bytes, String>>) {
    let mut tick = tokio::time::interval(READER_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
    }
}
