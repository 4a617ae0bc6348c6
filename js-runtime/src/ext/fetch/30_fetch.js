// fetch(): https://fetch.spec.whatwg.org/#fetch-method
//
// data: URLs are answered here; http(s) requests go to the host through
// op_fetch(method, url, headerFlat, body, redirect, id) -> [status,
// headerFlat, body]. The host follows redirects as `redirect` says; when it
// did, the header list ends with the pair [":url", finalUrl].
//
// The request body goes as bytes when it is bytes, a string or a Blob; a
// native body stream (a handler forwarding its request's body) is handed to
// the host as is; a ReadableStream is sent as it is read: op_fetch gets
// `true`, then each chunk goes through op_fetch_body_chunk(id, chunk) and
// the end through op_fetch_body_end(id, error?). op_fetch_abort(id) stops
// the fetch (connecting, sending, or streaming the response body) and
// drops its connection. A fetch the host fails rejects with the host's
// TypeError (the node's read "fetch failed: <reason>").

const fetchInternals = internals.fetch;
const { webidl } = fetchInternals;

const PromiseReject = Promise.reject.bind(Promise);

// Names the fetches of this isolate for the ops above.
let lastFetchId = 0;

function networkError(message) {
  return new TypeError(`fetch failed: ${message}`);
}

function withoutFragment(url) {
  const hash = url.indexOf("#");
  return hash === -1 ? url : url.slice(0, hash);
}

/** Sends a ReadableStream request body chunk by chunk; stops when the fetch no longer reads it. */
function pumpUpload(id, stream) {
  return internals.streams.sendToHost(stream, "request body", {
    send: (chunk) => ops.op_fetch_body_chunk(id, chunk),
    end: () => ops.op_fetch_body_end(id),
    fail: (e) => ops.op_fetch_body_end(id, String(e?.message ?? e)),
    stopMessage: "The fetch no longer reads the body",
    stopped: () => {},
  });
}

function fetch(input, init = undefined) {
  let request;
  try {
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'fetch'");
    request = new Request(input, init);
  } catch (e) {
    return PromiseReject(e);
  }
  // The signal the request follows (its own would be a dependent copy).
  const signal = fetchInternals.requestAbortSource(request);
  const dom = internals.dom;
  if (signal !== null && dom.signalAborted(signal)) {
    fetchInternals.abortBody(fetchInternals.requestBody(request), dom.signalReason(signal));
    return PromiseReject(dom.signalReason(signal));
  }
  const url = request.url;
  const responseUrl = withoutFragment(url);
  const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
  if (scheme === "data:") {
    const parsed = internals.dataUrl.process(url);
    if (parsed === null) return PromiseReject(networkError("invalid data: URL"));
    const response = fetchInternals.responseFromBytes(200, ["content-type", parsed.mimeType], parsed.body, responseUrl);
    // An abort from now on makes the body fail, as for any response.
    if (signal !== null) dom.addAbortAlgorithm(signal, (reason) => fetchInternals.abortBody(fetchInternals.responseBody(response), reason));
    return Promise.resolve(response);
  }
  if (scheme !== "http:" && scheme !== "https:") {
    return PromiseReject(networkError(`the URL scheme "${scheme.slice(0, -1)}" is not supported`));
  }
  lastFetchId = lastFetchId >= 0x7fffffff ? 1 : lastFetchId + 1;
  const id = lastFetchId;
  return new Promise((resolve, reject) => {
    let settled = false;
    let started = false;
    let response = null;
    const onAbort = (reason) => {
      // The host stops whatever it is doing and drops the connection.
      if (started) ops.op_fetch_abort(id);
      if (response !== null) {
        // The response arrived: its body fails from now on.
        fetchInternals.abortBody(fetchInternals.responseBody(response), reason);
        return;
      }
      if (!settled) {
        settled = true;
        reject(reason);
      }
    };
    if (signal !== null) dom.addAbortAlgorithm(signal, onAbort);
    const state = fetchInternals.requestBody(request);
    // What op_fetch gets as the body, and a stream to send as it is read.
    let upload = null;
    let bodyPromise;
    if (state.source === null) {
      bodyPromise = Promise.resolve(null);
    } else if (state.stream === null && state.source instanceof fetchInternals.NativeBody) {
      state.used = true;
      bodyPromise = Promise.resolve(state.source.id);
    } else if (fetchInternals.bodyIsStream(state)) {
      upload = fetchInternals.bodyStream(state);
      bodyPromise = Promise.resolve(true);
    } else {
      bodyPromise = fetchInternals.consumeBytes(state);
    }
    bodyPromise
      .then((body) => {
        if (settled) {
          if (typeof body === "number") ops.op_body_cancel(body);
          if (upload !== null) upload.cancel(signal === null ? undefined : dom.signalReason(signal)).catch(() => {});
          return undefined;
        }
        const headers = fetchInternals.requestHeaderFlat(request);
        const redirect = fetchInternals.requestRedirect(request);
        let pending;
        try {
          pending = ops.op_fetch(request.method, responseUrl, headers, body, redirect, id);
        } catch (e) {
          // Refused before it started (e.g. the subrequest limit): the body goes unsent.
          if (typeof body === "number") ops.op_body_cancel(body);
          if (upload !== null) upload.cancel(e).catch(() => {});
          throw e;
        }
        started = true;
        if (upload !== null) pumpUpload(id, upload);
        return pending.then(
          (parts) => {
            if (settled) {
              // Aborted meanwhile: drop the body stream.
              if (typeof parts[2] === "number") ops.op_body_cancel(parts[2]);
              return;
            }
            settled = true;
            const flat = parts[1];
            let finalUrl = responseUrl;
            let redirected = false;
            if (flat.length >= 2 && flat[flat.length - 2] === ":url") {
              finalUrl = flat[flat.length - 1];
              redirected = true;
              flat.length -= 2;
            }
            response = fetchInternals.responseFromNative(parts, finalUrl);
            if (redirected) fetchInternals.setResponseUrl(response, finalUrl, true);
            resolve(response);
          },
        );
      })
      .catch((e) => {
        if (settled) return;
        settled = true;
        if (signal !== null) dom.removeAbortAlgorithm(signal, onAbort);
        reject(e instanceof TypeError ? e : networkError(String(e?.message ?? e)));
      });
  });
}

internals.defineGlobal("fetch", fetch);
