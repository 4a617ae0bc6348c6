//! Native ops of the runtime core: logging, the clock, timers, answering
//! requests (whole or streamed), reading native body streams, outbound
//! fetch. The JS side is `00_internals.js` … `99_handler.js` beside this.

use bytes::Bytes;
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use crate::host::{Body, HeaderList, HttpRequest, HttpResponse, LogLevel};
use crate::runtime::{AsyncResult, RESPONSE_CHUNKS_IN_FLIGHT, ResponseSlot, respond_internal_error};

pub(crate) fn op_log(scope: &mut v8::PinScope, args: v8::FunctionCallbackArguments, _rv: v8::ReturnValue<v8::Value>) {
    let level = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(1);
    let text = crate::ops::to_string(scope, args.get(1));
    let state = crate::ops::state(scope);
    let host = state.borrow().host.clone();
    host.log(LogLevel::from_u32(level), &text);
}

pub(crate) fn op_now(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let state = crate::ops::state(scope);
    let st = state.borrow();
    let ms = st.host.now().saturating_duration_since(st.time_origin).as_secs_f64() * 1000.0;
    rv.set_double(ms);
}

pub(crate) fn op_time_origin(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let state = crate::ops::state(scope);
    let st = state.borrow();
    let since_origin = st.host.now().saturating_duration_since(st.time_origin);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(since_origin);
    rv.set_double(wall.as_secs_f64() * 1000.0);
}

/// `op_timer_start(id, ms)`: schedules timer `id` for the running JS's
/// request; `false` when that request has finished (the timer never fires).
pub(crate) fn op_timer_start(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let ms = args.get(1).number_value(scope).unwrap_or(0.0);
    let ms = if ms.is_finite() && ms > 0.0 {
        ms.min(2_147_483_647.0)
    } else {
        0.0
    };
    let request = crate::runtime::current_request(scope);
    let state = crate::ops::state(scope);
    let mut st = state.borrow_mut();
    if st.own_timer(request, id).is_err() {
        rv.set_bool(false);
        return;
    }
    let at = st.host.now() + Duration::from_secs_f64(ms / 1000.0);
    st.timers.insert((at, id), ());
    st.timer_deadlines.insert(id, at);
    rv.set_bool(true);
}

pub(crate) fn op_timer_cancel(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let state = crate::ops::state(scope);
    let mut st = state.borrow_mut();
    if let Some(at) = st.timer_deadlines.remove(&id) {
        st.timers.remove(&(at, id));
    }
    st.disown_timer(id);
}

/// `op_wait_until(requestId, delta)`: a `waitUntil()` promise of the
/// request began (`1`) or settled (`-1`).
pub(crate) fn op_wait_until(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let delta = if args.get(1).int32_value(scope).unwrap_or(0) < 0 {
        -1
    } else {
        1
    };
    crate::ops::state(scope).borrow_mut().wait_until(id, delta);
}

/// Response header names and values the glue (and often handlers) pass as
/// string literals, which V8 keeps once per isolate (internalized): such a
/// string is recognised by identity, without reading or checking it again.
#[derive(Default)]
pub(crate) struct KnownHeaders {
    names: Vec<(v8::Global<v8::String>, http::HeaderName)>,
    values: Vec<(v8::Global<v8::String>, http::HeaderValue)>,
}

impl KnownHeaders {
    pub(crate) fn new(scope: &mut v8::PinScope) -> Self {
        use http::header;
        let mut intern = |s: &str| crate::ops::intern(scope, s);
        let names = [
            header::CONTENT_TYPE,
            header::CACHE_CONTROL,
            header::LOCATION,
            header::SET_COOKIE,
        ]
        .into_iter()
        .map(|n| (intern(n.as_str()), n))
        .collect();
        // The types the glue gives string, JSON and form bodies.
        let values = [
            "text/plain;charset=UTF-8",
            "application/json",
            "application/x-www-form-urlencoded;charset=UTF-8",
        ]
        .into_iter()
        .map(|v| (intern(v), http::HeaderValue::from_static(v)))
        .collect();
        KnownHeaders { names, values }
    }

    fn name(&self, s: v8::Local<v8::Value>) -> Option<http::HeaderName> {
        let s = v8::Local::<v8::String>::try_from(s).ok()?;
        self.names.iter().find(|(g, _)| *g == s).map(|(_, n)| n.clone())
    }

    fn value(&self, s: v8::Local<v8::Value>) -> Option<http::HeaderValue> {
        let s = v8::Local::<v8::String>::try_from(s).ok()?;
        self.values.iter().find(|(g, _)| *g == s).map(|(_, v)| v.clone())
    }
}

/// `op_respond(id, status, body, name1, value1, name2, value2, …)`: body is
/// null, a string, bytes, or `true` for a body that follows through
/// `op_response_chunk`. The headers come as arguments (JS spreads its flat
/// list), which read straight off the call, where elements of an array
/// would each take a property lookup.
pub(crate) fn op_respond(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let status = crate::ops::u32_arg(scope, args.get(1)).unwrap_or(200) as u16;
    let body_v = args.get(2);
    let pairs = (args.length().max(3) - 3) / 2;
    let mut headers = http::HeaderMap::with_capacity(pairs as usize);
    let state = crate::ops::state(scope);
    for i in 0..pairs {
        let (k, v) = (args.get(3 + 2 * i), args.get(4 + 2 * i));
        let (known_name, known_value) = {
            let st = state.borrow();
            (st.known_headers.name(k), st.known_headers.value(v))
        };
        let name = known_name.map_or_else(
            || crate::ops::with_string_bytes(scope, k, http::HeaderName::from_bytes),
            Ok,
        );
        let value = known_value.map_or_else(
            || crate::ops::with_string_bytes(scope, v, http::HeaderValue::from_bytes),
            Ok,
        );
        match (name, value) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            // `Headers` lets through only valid names and values.
            _ => tracing::debug!("dropping a response header that is not valid HTTP"),
        }
    }
    let Some(tx) = state.borrow_mut().responses.take_head(id) else {
        return;
    };
    let body = if body_v.is_true() {
        let (chunk_tx, chunk_rx) = mpsc::channel(RESPONSE_CHUNKS_IN_FLIGHT);
        state.borrow_mut().responses.stream(id, chunk_tx);
        Body::Stream(chunk_rx)
    } else if body_v.is_null_or_undefined() {
        Body::Empty
    } else if body_v.is_string() {
        Body::Full(crate::ops::string_bytes(scope, body_v))
    } else {
        match crate::ops::to_bytes(body_v) {
            Some(b) => Body::Full(Bytes::from(b)),
            None => Body::Empty,
        }
    };
    if !matches!(body, Body::Stream(_)) {
        state.borrow_mut().responses.end(id);
    }
    let _ = tx.send(HttpResponse { status, headers, body });
}

/// `op_respond_error(id)`: the handler failed before answering; the caller
/// has logged why.
pub(crate) fn op_respond_error(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let state = crate::ops::state(scope);
    respond_internal_error(&state, id);
}

/// `op_response_chunk(id, bytes)`: `1` when the chunk was queued, `-1`
/// when the client is gone, or — when the channel is full — a promise that
/// resolves `true` once this chunk has been queued (`false`: client gone).
/// JS awaits it before the next chunk, so chunks stay in order.
pub(crate) fn op_response_chunk(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let chunk = if args.get(1).is_string() {
        crate::ops::string_bytes(scope, args.get(1))
    } else {
        Bytes::from(crate::ops::to_bytes(args.get(1)).unwrap_or_default())
    };
    let state = crate::ops::state(scope);
    let mut st = state.borrow_mut();
    let full = match st.responses.get_mut(id) {
        Some(ResponseSlot::Streaming(tx)) => match tx.try_send(Ok(chunk)) {
            Ok(()) => return rv.set_int32(1),
            // A clone of the sender owns a slot of its own: wait for it,
            // then send through it.
            Err(e) if e.is_full() => Some((tx.clone(), e.into_inner())),
            Err(_) => None,
        },
        _ => None,
    };
    let Some((mut tx, item)) = full else {
        st.responses.take(id);
        return rv.set_int32(-1);
    };
    let promise = st.spawn(scope, async move {
        use futures::SinkExt;
        AsyncResult::ResponseReady(tx.send(item).await.is_ok())
    });
    rv.set(promise.into());
}

/// `op_response_end(id, error?)`: the streamed body is complete (or failed).
pub(crate) fn op_response_end(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let error = args.get(1);
    let state = crate::ops::state(scope);
    let slot = state.borrow_mut().responses.take(id);
    if let Some(ResponseSlot::Streaming(mut tx)) = slot
        && !error.is_null_or_undefined()
    {
        let msg = crate::ops::to_string(scope, error);
        let _ = tx.try_send(Err(msg));
    }
}

/// `op_body_read(streamId)`: a promise of the next chunk of a native body
/// stream (`Uint8Array`), or `null` at its end.
pub(crate) fn op_body_read(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let state = crate::ops::state(scope);
    let mut st = state.borrow_mut();
    let stream = st.body_streams.get(&id).cloned();
    let owner = state.clone();
    let promise = st.spawn(scope, async move {
        let Some(stream) = stream else {
            return AsyncResult::Chunk(Ok(None));
        };
        let next = stream.lock().await.next().await;
        let result = match next {
            Some(Ok(bytes)) => return AsyncResult::Chunk(Ok(Some(bytes))),
            Some(Err(e)) => Err(e),
            None => Ok(None),
        };
        // Ended: forget it (the pending-op set is not borrowed while polled).
        owner.borrow_mut().body_streams.remove(&id);
        AsyncResult::Chunk(result)
    });
    rv.set(promise.into());
}

/// `op_request_headers(requestId)`: the header list of a request from the
/// network as one block of `name:value` lines (see `headerFlat` in
/// 21_request.js), the first time its JS asks; `undefined` after that or
/// once the request's context has ended.
pub(crate) fn op_request_headers(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let Some(id) = crate::ops::u32_arg(scope, args.get(0)) else {
        return;
    };
    let state = crate::ops::state(scope);
    let headers = state.borrow_mut().take_request_headers(id);
    if let Some(headers) = headers {
        rv.set(crate::ops::js_string(scope, headers.as_block()).into());
    }
}

/// `op_body_cancel(streamId)`: drops a native body stream.
pub(crate) fn op_body_cancel(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let state = crate::ops::state(scope);
    state.borrow_mut().body_streams.remove(&id);
}

/// Capacity of a streamed outbound request body's chunk channel before JS
/// waits.
const FETCH_BODY_CHUNKS_IN_FLIGHT: usize = 8;

/// What the runtime keeps of one outbound fetch, by the id JS gave it.
struct FetchSlot {
    /// Dropping it tells the host to stop (`op_fetch_abort`); it reports
    /// canceled once the host is done with the fetch.
    abort: oneshot::Sender<()>,
    /// Where `op_fetch_body_chunk` sends a streamed request body.
    upload: Option<mpsc::Sender<Result<Bytes, String>>>,
}

impl FetchSlot {
    /// The host is done with it and no upload is open: nothing to keep.
    fn finished(&self) -> bool {
        self.abort.is_canceled() && self.upload.as_ref().is_none_or(|u| u.is_closed())
    }
}

/// The isolate's open outbound fetches (an isolate slot, dropped with it).
#[derive(Clone, Default)]
struct Fetches(Rc<RefCell<HashMap<u32, FetchSlot>>>);

fn fetches(isolate: &mut v8::Isolate) -> Fetches {
    if let Some(f) = isolate.get_slot::<Fetches>() {
        return f.clone();
    }
    let f = Fetches::default();
    isolate.set_slot(f.clone());
    f
}

/// The name of the pair that `op_fetch` appends to a response's header
/// list when redirects were followed; its value is the final URL. No real
/// header name starts with a colon.
pub(crate) const FINAL_URL_PAIR: &str = ":url";

/// `op_fetch(method, url, headersFlat, body, redirect, id)`: outbound fetch
/// through the host; a promise of `[status, headersFlat, body]`, rejected
/// with a `TypeError` carrying the host's reason.
///
/// `body` is null, bytes, the id of a native body stream (handed to the
/// host as is), or `true` for a body JS streams with
/// `op_fetch_body_chunk(id, …)` / `op_fetch_body_end(id)`. `redirect` is
/// the request's redirect mode. `id` names the fetch for those ops and for
/// `op_fetch_abort(id)`. When the host followed redirects, the header list
/// ends with the pair `":url", finalUrl`.
pub(crate) fn op_fetch(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    // Counted against the subrequest limit of the request this JS works for.
    let request = crate::runtime::current_request(scope);
    let counted = crate::ops::state(scope).borrow_mut().count_subrequest(request);
    if let Err(e) = counted {
        if matches!(e, crate::runtime::ContextError::TooManySubrequests(_)) {
            crate::ops::state(scope)
                .borrow()
                .host
                .limit_exceeded(crate::Limit::Subrequests);
        }
        crate::ops::throw_type_error(scope, &e.to_string());
        return;
    }
    let method = crate::ops::to_string(scope, args.get(0));
    let url = crate::ops::to_string(scope, args.get(1));
    let headers = headers_from_flat(scope, args.get(2));
    let body_v = args.get(3);
    let redirect = crate::ops::to_string(scope, args.get(4));
    let id = crate::ops::u32_arg(scope, args.get(5)).unwrap_or(0);
    let state = crate::ops::state(scope);
    let mut upload = None;
    let body = if body_v.is_true() {
        let (tx, rx) = mpsc::channel(FETCH_BODY_CHUNKS_IN_FLIGHT);
        upload = Some(tx);
        Body::Stream(rx)
    } else if body_v.is_number() {
        let sid = body_v.uint32_value(scope).unwrap_or(0);
        let shared = state.borrow_mut().body_streams.remove(&sid);
        match shared.and_then(|s| Rc::try_unwrap(s).ok()) {
            Some(stream) => Body::Stream(stream.into_inner()),
            None => {
                crate::ops::throw_type_error(scope, "The request body is already being read.");
                return;
            }
        }
    } else {
        match crate::ops::to_bytes(body_v) {
            Some(b) => Body::Full(Bytes::from(b)),
            None => Body::Empty,
        }
    };
    let (abort_tx, abort_rx) = oneshot::channel();
    {
        let table = fetches(scope);
        let mut table = table.0.borrow_mut();
        table.retain(|_, slot| !slot.finished());
        table.insert(
            id,
            FetchSlot {
                abort: abort_tx,
                upload,
            },
        );
    }
    let mut st = state.borrow_mut();
    let fut = st.host.fetch_with(
        HttpRequest {
            method: method.into(),
            url,
            headers,
            body,
        },
        &redirect,
        abort_rx,
    );
    let promise = st.spawn(scope, async move { AsyncResult::Fetch(fut.await) });
    rv.set(promise.into());
}

/// `op_fetch_body_chunk(id, bytes)`: the next chunk of fetch `id`'s
/// streamed request body. `1` when queued, `-1` when the host no longer
/// reads it (the fetch failed or was aborted), or — when the channel is
/// full — a promise that resolves `true` once the chunk is queued
/// (`false`: no longer read). JS awaits it before the next chunk.
pub(crate) fn op_fetch_body_chunk(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let chunk = Bytes::from(crate::ops::to_bytes(args.get(1)).unwrap_or_default());
    let table = fetches(scope);
    let mut table = table.0.borrow_mut();
    let Some(slot) = table.get_mut(&id) else {
        return rv.set_int32(-1);
    };
    let full = match slot.upload.as_mut().map(|tx| tx.try_send(Ok(chunk))) {
        Some(Ok(())) => return rv.set_int32(1),
        // A clone of the sender owns a slot of its own: wait for it.
        Some(Err(e)) if e.is_full() => slot.upload.clone().map(|tx| (tx, e.into_inner())),
        _ => None,
    };
    let Some((mut tx, item)) = full else {
        slot.upload = None;
        return rv.set_int32(-1);
    };
    drop(table);
    let state = crate::ops::state(scope);
    let promise = state.borrow_mut().spawn(scope, async move {
        use futures::SinkExt;
        AsyncResult::ResponseReady(tx.send(item).await.is_ok())
    });
    rv.set(promise.into());
}

/// `op_fetch_body_end(id, error?)`: fetch `id`'s streamed request body is
/// complete, or failed with `error` (then the fetch fails too).
pub(crate) fn op_fetch_body_end(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let error = args.get(1);
    let message = (!error.is_null_or_undefined()).then(|| crate::ops::to_string(scope, error));
    let table = fetches(scope);
    let mut table = table.0.borrow_mut();
    let Some(slot) = table.get_mut(&id) else { return };
    let upload = slot.upload.take();
    if let (Some(mut tx), Some(message)) = (upload, message)
        && tx.try_send(Err(message)).is_err()
    {
        // No room to say so: a body that merely ended would read as
        // complete, so stop the whole fetch instead.
        table.remove(&id);
    }
}

/// `op_fetch_abort(id)`: the fetch's signal aborted. The host stops it and
/// drops its connection, whatever stage it is in.
pub(crate) fn op_fetch_abort(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = crate::ops::u32_arg(scope, args.get(0)).unwrap_or(0);
    let table = fetches(scope);
    let slot = table.0.borrow_mut().remove(&id);
    drop(slot);
}

/// The header list of a flat JS array `[name0, value0, name1, value1, …]`.
fn headers_from_flat(scope: &mut v8::PinScope, value: v8::Local<v8::Value>) -> HeaderList {
    let mut headers = HeaderList::default();
    let Ok(arr) = v8::Local::<v8::Array>::try_from(value) else {
        return headers;
    };
    let n = arr.length();
    let mut i = 0;
    while i + 1 < n {
        let (Some(k), Some(v)) = (arr.get_index(scope, i), arr.get_index(scope, i + 1)) else {
            break;
        };
        headers.push(&crate::ops::to_string(scope, k), &crate::ops::to_string(scope, v));
        i += 2;
    }
    headers
}
