// fetch(): outbound requests through the host (the node's HTTP client).
// https://fetch.spec.whatwg.org/#fetch-method

const fetchInternals = internals.fetch;

async function fetch(input, init = undefined) {
  const request = new Request(input, init);
  const url = request.url;
  if (url.startsWith("data:") && internals.dataUrl?.process) {
    const parsed = internals.dataUrl.process(url);
    if (parsed === null) throw new TypeError("Failed to fetch: invalid data: URL");
    return new Response(parsed.body, { headers: { "content-type": parsed.mimeType } });
  }
  const signal = request.signal;
  if (signal.aborted) throw signal.reason;
  const state = fetchInternals.requestBody(request);
  let body = null;
  if (state.source !== null) body = await fetchInternals.consumeBytes(state);
  const pending = ops.op_fetch(request.method, url, fetchInternals.requestHeaderFlat(request), body);
  const parts = await (signal === null
    ? pending
    : new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener("abort", onAbort, { once: true });
        pending.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
      }));
  return fetchInternals.responseFromNative(parts, url);
}

internals.defineGlobal("fetch", fetch);
