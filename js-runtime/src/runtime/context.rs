//! Request contexts: which request a piece of JS runs on behalf of, and
//! what that request may still do.
//!
//! Every request gets a context when it is dispatched. Its id travels with
//! the JS it starts through V8's continuation-preserved embedder data: set
//! while the handler is called, carried by V8 into every promise reaction
//! attached meanwhile, and restored by the runtime when one of the
//! request's timers fires. Outbound `fetch()` counts against the context's
//! subrequest limit.
//!
//! A context ends once its response is complete and its `waitUntil()`
//! promises have settled (or [`WAIT_UNTIL_LIMIT`] after the response,
//! whichever is first). Its pending timers are then cancelled, and work
//! still carrying its id may not start timers or subrequests: a finished
//! request leaves nothing running in the isolate.

use std::time::{Duration, Instant};

use foldhash::HashMap;

use super::{Runtime, State};
use crate::host::HeaderList;

/// How long `waitUntil()` work may go on after the response, as on Workers.
pub(crate) const WAIT_UNTIL_LIMIT: Duration = Duration::from_secs(30);

/// What one request has started and may still do.
#[derive(Default)]
pub(crate) struct RequestContext {
    /// Outbound fetches so far.
    subrequests: u32,
    /// Its timers not yet fired or cancelled.
    timers: Vec<u32>,
    /// `waitUntil()` promises not yet settled.
    waiting: u32,
    /// When its response completed.
    answered_at: Option<Instant>,
    /// The request's headers until JS first reads them
    /// (`op_request_headers`); a handler that never does costs no string.
    headers: Option<HeaderList>,
}

/// Why JS may not start a subrequest or timer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ContextError {
    /// Outside any request (module evaluation).
    NoRequest,
    /// The request has finished.
    Finished,
    /// Over the subrequest limit.
    TooManySubrequests(u32),
}

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContextError::NoRequest => f.write_str("fetch() is only allowed while handling a request"),
            ContextError::Finished => f.write_str("the request this work belongs to has already finished"),
            ContextError::TooManySubrequests(n) => {
                write!(f, "too many subrequests: a request may make at most {n}")
            }
        }
    }
}

/// The request the running JS works for, if any.
pub(crate) fn current(scope: &mut v8::PinScope) -> Option<u32> {
    let data = scope.get_continuation_preserved_embedder_data();
    if data.is_uint32() {
        data.uint32_value(scope)
    } else {
        None
    }
}

/// Marks the JS about to run as working for `request` (`None`: no request).
pub(crate) fn enter(scope: &mut v8::PinScope, request: Option<u32>) {
    let value: v8::Local<v8::Value> = match request {
        Some(id) => v8::Integer::new_from_unsigned(scope, id).into(),
        None => v8::undefined(scope).into(),
    };
    scope.set_continuation_preserved_embedder_data(value);
}

impl State {
    /// Request `request`'s headers, the first time JS asks; `None` after
    /// that, or once its context has ended.
    pub(crate) fn take_request_headers(&mut self, request: u32) -> Option<HeaderList> {
        self.contexts.map.get_mut(&request)?.headers.take()
    }

    /// Counts one outbound fetch of the running JS's request.
    pub(crate) fn count_subrequest(&mut self, request: Option<u32>) -> Result<(), ContextError> {
        let limit = self.subrequest_limit;
        let ctx = self.context_of(request)?;
        if ctx.subrequests >= limit {
            return Err(ContextError::TooManySubrequests(limit));
        }
        ctx.subrequests += 1;
        Ok(())
    }

    /// Records that timer `timer` belongs to `request`.
    pub(crate) fn own_timer(&mut self, request: Option<u32>, timer: u32) -> Result<(), ContextError> {
        match self.context_of(request) {
            Ok(ctx) => {
                ctx.timers.push(timer);
                self.timer_owner.insert(timer, request.expect("a context has an id"));
                Ok(())
            }
            // Module code may set timers; they belong to no request.
            Err(ContextError::NoRequest) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A timer fired or was cancelled: it no longer keeps its request's
    /// context. Returns the request it belonged to.
    pub(crate) fn disown_timer(&mut self, timer: u32) -> Option<u32> {
        let owner = self.timer_owner.remove(&timer)?;
        if let Some(ctx) = self.contexts.map.get_mut(&owner) {
            ctx.timers.retain(|&t| t != timer);
        }
        Some(owner)
    }

    /// `waitUntil()` began (`+1`) or settled (`-1`) for `request`.
    pub(crate) fn wait_until(&mut self, request: u32, delta: i32) {
        if let Some(ctx) = self.contexts.map.get_mut(&request) {
            ctx.waiting = ctx.waiting.saturating_add_signed(delta);
            if ctx.waiting == 0 && ctx.answered_at.is_some() {
                self.contexts.settled.push(request);
            }
        }
    }

    fn context_of(&mut self, request: Option<u32>) -> Result<&mut RequestContext, ContextError> {
        let id = request.ok_or(ContextError::NoRequest)?;
        self.contexts.map.get_mut(&id).ok_or(ContextError::Finished)
    }

    /// Ends the contexts whose work is done — their response ended and
    /// their `waitUntil()` promises settled, or [`WAIT_UNTIL_LIMIT`] passed —
    /// and returns the timers to cancel.
    pub(crate) fn finished_contexts(&mut self) -> Vec<u32> {
        // The clock is read only for contexts still waiting on `waitUntil()`
        // work: most requests end with their response.
        let host = &self.host;
        let mut now = None;
        let mut clock = || *now.get_or_insert_with(|| host.now());
        // `settled` collects every context to end, and keeps its room.
        let mut ended = std::mem::take(&mut self.contexts.settled);
        for id in self.responses.drain_ended() {
            let Some(ctx) = self.contexts.map.get_mut(&id) else {
                continue;
            };
            if ctx.waiting == 0 {
                ended.push(id);
            } else {
                ctx.answered_at = Some(clock());
                self.contexts.lingering.push(id);
            }
        }
        if !self.contexts.lingering.is_empty() {
            let now = clock();
            let map = &self.contexts.map;
            self.contexts.lingering.retain(|id| match map.get(id) {
                Some(ctx)
                    if ctx
                        .answered_at
                        .is_some_and(|at| now.duration_since(at) >= WAIT_UNTIL_LIMIT) =>
                {
                    ended.push(*id);
                    false
                }
                Some(_) => true,
                None => false,
            });
        }
        let mut timers = Vec::new();
        for id in ended.drain(..) {
            if let Some(ctx) = self.contexts.map.remove(&id) {
                for t in ctx.timers {
                    self.timer_owner.remove(&t);
                    if let Some(at) = self.timer_deadlines.remove(&t) {
                        self.timers.remove(&(at, t));
                    }
                    timers.push(t);
                }
            }
        }
        self.contexts.settled = ended;
        timers
    }
}

/// The open request contexts.
#[derive(Default)]
pub(crate) struct Contexts {
    /// By request id.
    map: HashMap<u32, RequestContext>,
    /// Answered, with `waitUntil()` work still pending.
    lingering: Vec<u32>,
    /// Answered, and their `waitUntil()` work just settled.
    settled: Vec<u32>,
}

impl Runtime {
    /// Opens request `id`'s context.
    pub(super) fn open_context(&mut self, id: u32, headers: HeaderList) {
        let ctx = RequestContext {
            headers: Some(headers),
            ..RequestContext::default()
        };
        self.state.borrow_mut().contexts.map.insert(id, ctx);
    }

    /// Ends finished contexts and drops their timers' callbacks in JS.
    pub(super) fn end_finished_contexts(&mut self) {
        let timers = {
            let mut st = self.state.borrow_mut();
            if !st.responses.has_ended() && st.contexts.settled.is_empty() && st.contexts.lingering.is_empty() {
                return;
            }
            st.finished_contexts()
        };
        for t in timers {
            self.drop_timer(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use tokio::sync::oneshot;

    use crate::{
        Body, Bundle, FetchError, HeaderList, Host, HttpRequest, HttpResponse, LocalFuture, LogLevel, Runtime,
        RuntimeOptions, StdHost,
    };

    /// Answers every outbound fetch with `200 sub`, after a short sleep.
    struct FetchHost(StdHost);

    impl Host for FetchHost {
        fn log(&self, level: LogLevel, message: &str) {
            self.0.log(level, message)
        }
        fn sleep_until(&self, deadline: Instant) -> LocalFuture<()> {
            self.0.sleep_until(deadline)
        }
        fn fetch(&self, _request: HttpRequest) -> LocalFuture<Result<HttpResponse, FetchError>> {
            let sleep = self.0.sleep_until(Instant::now() + std::time::Duration::from_millis(1));
            Box::pin(async move {
                sleep.await;
                Ok(HttpResponse {
                    status: 200,
                    headers: http::HeaderMap::new(),
                    body: Body::Full(bytes::Bytes::from_static(b"sub")),
                })
            })
        }
    }

    fn runtime(code: &str, subrequest_limit: u32) -> Runtime {
        let options = RuntimeOptions {
            subrequest_limit,
            ..Default::default()
        };
        Runtime::new(&Bundle::single("main.js", code), Rc::new(FetchHost(StdHost)), options).expect("loads")
    }

    fn get(path: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: format!("http://context.test{path}"),
            headers: HeaderList::default(),
            body: Body::Empty,
        }
    }

    fn text(rt: &mut Runtime, path: &str) -> String {
        rt.call(get(path)).expect("a response").text()
    }

    /// Polls the event loop once: whether it is idle afterwards.
    fn idle_after_poll(rt: &mut Runtime) -> bool {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        rt.poll_event_loop(&mut cx).is_ready() && !rt.has_work()
    }

    /// Keeps the requests it gets; `/later` reads the kept ones' headers.
    const KEEPS_REQUESTS: &str = "const kept = {}; \
        const read = (r) => { try { return r.headers.get('x-a'); } \
          catch (e) { return e.constructor.name + ': ' + e.message; } }; \
        export default { fetch(req, env, ctx) { \
          const path = new URL(req.url).pathname; \
          if (path === '/later') return new Response([kept.inWait, read(kept.waiting), read(kept.unread)].join('|')); \
          kept[path.slice(1)] = req; \
          if (path === '/waiting') ctx.waitUntil(new Promise((r) => setTimeout(r, 5)).then(() => { kept.inWait = read(req); })); \
          return new Response('kept'); } };";

    #[test]
    fn request_headers_last_as_long_as_their_context() {
        let mut rt = runtime(KEEPS_REQUESTS, 50);
        let with_header = |path: &str, value: &str| HttpRequest {
            headers: [("x-a", value)].into_iter().collect(),
            ..get(path)
        };
        assert_eq!(rt.call(with_header("/unread", "two")).unwrap().text(), "kept");
        assert_eq!(rt.call(with_header("/waiting", "one")).unwrap().text(), "kept");
        // The waitUntil() work reads its request's headers after the
        // response; then both contexts are over.
        futures::executor::block_on(futures::future::poll_fn(|cx| rt.poll_event_loop(cx)));
        assert_eq!(
            text(&mut rt, "/later"),
            "one|one|TypeError: Failed to read the request's headers: \
             the request has ended and they were never read"
        );
    }

    const FETCH_N: &str = "export default { async fetch(req) { \
        const n = Number(new URL(req.url).searchParams.get('n')); const out = []; \
        for (let i = 0; i < n; i++) { \
          try { out.push(await (await fetch('http://upstream.test/')).text()); } \
          catch (e) { out.push(e.constructor.name + ': ' + e.message); } \
          await new Promise((r) => setTimeout(r, 1)); \
        } \
        return new Response(out.join('|')); } };";

    #[test]
    fn a_request_over_its_subrequest_limit_gets_a_type_error() {
        let mut rt = runtime(FETCH_N, 3);
        let body = text(&mut rt, "/?n=4");
        let parts: Vec<&str> = body.split('|').collect();
        assert_eq!(parts[..3], ["sub", "sub", "sub"], "{body}");
        assert!(
            parts[3].starts_with("TypeError")
                && parts[3].contains("too many subrequests: a request may make at most 3"),
            "{body}"
        );
        // The next request has its own budget.
        assert_eq!(text(&mut rt, "/?n=3"), "sub|sub|sub");
    }

    #[test]
    fn concurrent_requests_are_counted_apart() {
        let mut rt = runtime(FETCH_N, 3);
        let (tx1, mut rx1) = oneshot::channel();
        let (tx2, mut rx2) = oneshot::channel();
        rt.dispatch(get("/?n=3"), tx1);
        rt.dispatch(get("/?n=3"), tx2);
        let (mut a, mut b) = (None, None);
        futures::executor::block_on(futures::future::poll_fn(|cx| {
            use futures::FutureExt;
            let _ = rt.poll_event_loop(cx);
            if a.is_none()
                && let Poll::Ready(r) = rx1.poll_unpin(cx)
            {
                a = Some(r.expect("answered"));
            }
            if b.is_none()
                && let Poll::Ready(r) = rx2.poll_unpin(cx)
            {
                b = Some(r.expect("answered"));
            }
            if a.is_some() && b.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        for resp in [a.unwrap(), b.unwrap()] {
            let Body::Full(bytes) = resp.body else {
                panic!("a full body")
            };
            assert_eq!(&bytes[..], b"sub|sub|sub");
        }
    }

    #[test]
    fn timers_of_a_finished_request_are_cancelled() {
        let code = "globalThis.ticks = 0; export default { fetch(req) { \
            if (new URL(req.url).pathname === '/start') { \
              setInterval(() => globalThis.ticks++, 1); \
              setTimeout(() => { globalThis.late = true; }, 5); \
              return new Response('started'); } \
            return new Response(String(globalThis.ticks) + ' ' + String(globalThis.late)); } };";
        let mut rt = runtime(code, 0);
        assert_eq!(text(&mut rt, "/start"), "started");
        assert!(
            idle_after_poll(&mut rt),
            "an interval of a finished request keeps the isolate busy"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(text(&mut rt, "/read"), "0 undefined");
    }

    #[test]
    fn wait_until_keeps_the_request_alive_until_it_settles() {
        let code = "export default { fetch(req, env, ctx) { \
            if (new URL(req.url).pathname === '/start') { \
              ctx.waitUntil(new Promise((r) => setTimeout(async () => { \
                globalThis.sub = await (await fetch('http://upstream.test/')).text(); r(); }, 10))); \
              return new Response('started'); } \
            return new Response(String(globalThis.sub)); } };";
        let mut rt = runtime(code, 0);
        assert_eq!(text(&mut rt, "/start"), "started");
        futures::executor::block_on(rt.run_event_loop());
        assert_eq!(text(&mut rt, "/read"), "sub");
        assert!(idle_after_poll(&mut rt));
    }

    #[test]
    fn work_of_a_finished_request_cannot_start_subrequests_or_timers() {
        let code = "export default { async fetch(req) { \
            if (new URL(req.url).pathname === '/first') { \
              new Promise((r) => { globalThis.release = r; }).then(async () => { \
                setTimeout(() => { globalThis.timerRan = true; }, 0); \
                try { await fetch('http://upstream.test/'); globalThis.err = 'fetched'; } \
                catch (e) { globalThis.err = e.message; } }); \
              return new Response('first'); } \
            globalThis.release(); \
            await new Promise((r) => setTimeout(r, 5)); \
            return new Response(globalThis.err + ' / ' + String(globalThis.timerRan)); } };";
        let mut rt = runtime(code, 0);
        assert_eq!(text(&mut rt, "/first"), "first");
        assert_eq!(
            text(&mut rt, "/second"),
            "the request this work belongs to has already finished / undefined"
        );
    }

    #[test]
    fn module_code_may_not_fetch() {
        let code = "const early = fetch('http://upstream.test/').then(() => 'fetched', (e) => e.message); \
            export default { async fetch() { return new Response(await early); } };";
        let mut rt = runtime(code, 0);
        assert_eq!(text(&mut rt, "/"), "fetch() is only allowed while handling a request");
    }
}
