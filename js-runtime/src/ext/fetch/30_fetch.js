// fetch(): https://fetch.spec.whatwg.org/#fetch-method
//
// data: URLs are answered here; http(s) requests go to the host through
// op_fetch(method, url, headerFlat, bodyBytesOrNull) → [status, headerFlat,
// body]. A request body is read whole before it is sent (no streaming
// upload), and redirects are the host's business.

const fetchInternals = internals.fetch;
const { webidl } = fetchInternals;

const PromiseReject = Promise.reject.bind(Promise);

function networkError(message) {
  return new TypeError(`fetch failed: ${message}`);
}

function withoutFragment(url) {
  const hash = url.indexOf("#");
  return hash === -1 ? url : url.slice(0, hash);
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
  return new Promise((resolve, reject) => {
    let settled = false;
    let response = null;
    const onAbort = (reason) => {
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
    const bodyPromise = state.source === null ? Promise.resolve(null) : fetchInternals.consumeBytes(state);
    bodyPromise
      .then((body) => {
        if (settled) return undefined;
        const headers = fetchInternals.requestHeaderFlat(request);
        return ops.op_fetch(request.method, responseUrl, headers, body).then((parts) => {
          if (settled) {
            // Aborted meanwhile: drop the body stream.
            if (typeof parts[2] === "number") ops.op_body_cancel(parts[2]);
            return;
          }
          settled = true;
          response = fetchInternals.responseFromNative(parts, responseUrl);
          resolve(response);
        });
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
