// Handler dispatch: turns a native request into a `Request`, calls the
// module's `fetch(request, env, ctx)` (or the service-worker style "fetch"
// listeners) and hands the `Response` back to Rust, streaming its body when
// it is a stream.

let env = {};
let handler = null;
const fetchListeners = [];

class ExecutionContext {
  #passThrough = false;
  #id;
  constructor(key, id) {
    if (key !== internals) throw new TypeError("Illegal constructor");
    this.#id = id;
  }
  waitUntil(promise) {
    // The request's timers and subrequests stay allowed until the promise
    // settles (at most 30 s after the response); a rejection is logged, as
    // on Workers.
    const id = this.#id;
    ops.op_wait_until(id, 1);
    Promise.resolve(promise)
      .catch(internals.reportError)
      .finally(() => ops.op_wait_until(id, -1));
  }
  passThroughOnException() {
    // There is no origin behind an Outpost handler to pass through to: an
    // exception still answers 500. Recorded for logs.
    this.#passThrough = true;
  }
}
Object.defineProperty(ExecutionContext.prototype, Symbol.toStringTag, { value: "ExecutionContext", configurable: true });
internals.defineGlobal("ExecutionContext", ExecutionContext);

const EventBase = globalThis.Event ?? class Event {
  constructor(type) {
    this.type = String(type);
  }
};

class FetchEvent extends EventBase {
  #request;
  #respond;
  #ctx;
  constructor(type, init, key, respond, ctx) {
    super(type);
    if (key !== internals) throw new TypeError("Illegal constructor");
    this.#request = init.request;
    this.#respond = respond;
    this.#ctx = ctx;
  }
  get request() {
    return this.#request;
  }
  respondWith(response) {
    this.#respond(response);
  }
  waitUntil(promise) {
    this.#ctx.waitUntil(promise);
  }
  passThroughOnException() {
    this.#ctx.passThroughOnException();
  }
}
internals.defineGlobal("FetchEvent", FetchEvent);

const globalTarget = typeof globalThis.EventTarget === "function" ? new globalThis.EventTarget() : null;

internals.defineGlobal("addEventListener", function addEventListener(type, listener, options) {
  if (String(type) === "fetch") {
    if (typeof listener === "function" || (listener && typeof listener.handleEvent === "function")) {
      fetchListeners.push(listener);
    }
    return;
  }
  globalTarget?.addEventListener(type, listener, options);
});
internals.defineGlobal("removeEventListener", function removeEventListener(type, listener, options) {
  if (String(type) === "fetch") {
    const i = fetchListeners.indexOf(listener);
    if (i >= 0) fetchListeners.splice(i, 1);
    return;
  }
  globalTarget?.removeEventListener(type, listener, options);
});
internals.defineGlobal("dispatchEvent", function dispatchEvent(event) {
  return globalTarget ? globalTarget.dispatchEvent(event) : true;
});

function serviceWorkerHandler(request, ctx) {
  return new Promise((resolve, reject) => {
    let answered = false;
    const respond = (r) => {
      if (answered) throw new DOMException("respondWith() was already called", "InvalidStateError");
      answered = true;
      Promise.resolve(r).then(resolve, reject);
    };
    const event = new FetchEvent("fetch", { request }, internals, respond, ctx);
    for (const l of fetchListeners) {
      try {
        if (typeof l === "function") l.call(globalThis, event);
        else l.handleEvent(event);
      } catch (e) {
        if (!answered) {
          answered = true;
          reject(e);
        } else {
          internals.reportError(e);
        }
      }
    }
    if (!answered) reject(new TypeError("No fetch listener called respondWith()"));
  });
}

internals.setHandler = function setHandler(namespace) {
  const def = namespace.default;
  if (def !== null && (typeof def === "object" || typeof def === "function") && typeof def.fetch === "function") {
    handler = (request, ctx) => def.fetch(request, env, ctx);
    return true;
  }
  if (fetchListeners.length > 0) {
    handler = serviceWorkerHandler;
    return true;
  }
  return false;
};

// Requests whose handler has not finished answering, by id: the client
// may leave, and then their signal aborts. Ids start at 1; the entry for 0
// stays, so that the map is never emptied: V8 shrinks a Map whose last
// entry goes, allocating a new table, which would happen for every request
// whose handler returns a promise.
let inflight;
internals.onStart(() => {
  inflight = new Map([[0, undefined]]);
});

function abortRequest(id) {
  const request = inflight.get(id);
  inflight.delete(id);
  if (request !== undefined) {
    internals.fetch.abortRequest?.(request, new DOMException("The client disconnected", "AbortError"));
  }
}

function fail(id, err) {
  inflight.delete(id);
  internals.reportError(err);
  ops.op_respond_error(id);
}

// `open`: whether the request is in `inflight` (its handler returned a
// promise).
function respond(id, response, request, open) {
  try {
    respondOrThrow(id, response, request, open);
  } catch (e) {
    fail(id, e);
  }
}

function respondOrThrow(id, response, request, open) {
  const fetchInternals = internals.fetch;
  if (!fetchInternals.isResponse(response)) {
    const got = response === null ? "null" : typeof response === "object" ? (response.constructor?.name ?? "object") : typeof response;
    fail(id, new TypeError(`The handler returned ${got}, not a Response: return new Response(...) from fetch()`));
    return;
  }
  const status = fetchInternals.responseStatus(response);
  const headers = fetchInternals.responseHeaderList(response);
  const body = fetchInternals.responseBodyForNative(response);
  if (body !== null && typeof body === "object" && !ArrayBuffer.isView(body)) {
    ops.op_respond(id, status, true, ...headers);
    inflight.set(id, request);
    pump(id, body);
  } else {
    if (open) inflight.delete(id);
    // Most responses carry one header (their content-type), and a call
    // with a spread argument costs more than a plain one.
    if (headers.length === 2) ops.op_respond(id, status, body, headers[0], headers[1]);
    else ops.op_respond(id, status, body, ...headers);
  }
}

/** Sends a ReadableStream response body chunk by chunk; stops when the client goes away. */
function pump(id, stream) {
  return internals.streams.sendToHost(stream, "response body", {
    send: (chunk) => ops.op_response_chunk(id, chunk),
    end: () => {
      inflight.delete(id);
      ops.op_response_end(id);
    },
    fail: (e) => {
      inflight.delete(id);
      internals.reportError(e);
      ops.op_response_end(id, String(e));
    },
    stopMessage: "The client disconnected",
    stopped: () => abortRequest(id),
  });
}

function dispatch(id, method, url, body) {
  let result;
  let request;
  try {
    request = internals.fetch.createRequest(method, url, id, body);
    result = handler(request, new ExecutionContext(internals, id));
  } catch (e) {
    fail(id, e);
    return;
  }
  if (result !== null && typeof result === "object" && typeof result.then === "function") {
    // Only a request still open after this call can see its client leave.
    inflight.set(id, request);
    result.then((r) => respond(id, r, request, true), (e) => fail(id, e));
  } else {
    respond(id, result, request, false);
  }
}

internals.bootstrap = function bootstrap(envObject) {
  env = envObject;
  internals.start();
  return { dispatch, fireTimer: internals.fireTimer, abortRequest };
};
