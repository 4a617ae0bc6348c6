// The body mixin shared by Request and Response:
// https://fetch.spec.whatwg.org/#body-mixin
//
// A body keeps its source as given (string, bytes, a ReadableStream, or the
// id of a native stream) and only builds a ReadableStream when JS asks for
// `.body`, so `new Response("hi")` costs no stream at all.

const fetchInternals = internals.fetch;

class BodyState {
  constructor(source, contentType) {
    // null | string | Uint8Array | ReadableStream | { native: id }
    this.source = source;
    this.contentType = contentType;
    this.stream = null;
    this.used = false;
  }
}
fetchInternals.BodyState = BodyState;

function utf8Encode(s) {
  return new TextEncoder().encode(s);
}
function utf8Decode(bytes) {
  return new TextDecoder().decode(bytes);
}

// https://fetch.spec.whatwg.org/#concept-bodyinit-extract
fetchInternals.extractBody = function extractBody(init) {
  if (init === null || init === undefined) return new BodyState(null, null);
  if (typeof init === "string") return new BodyState(init, "text/plain;charset=UTF-8");
  if (ArrayBuffer.isView(init)) {
    return new BodyState(new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), null);
  }
  if (init instanceof ArrayBuffer) return new BodyState(new Uint8Array(init.slice(0)), null);
  if (typeof globalThis.URLSearchParams === "function" && init instanceof globalThis.URLSearchParams) {
    return new BodyState(init.toString(), "application/x-www-form-urlencoded;charset=UTF-8");
  }
  if (internals.streams?.isReadableStream?.(init)) {
    if (internals.streams.isDisturbed(init) || internals.streams.isLocked(init)) {
      throw new TypeError("The body stream is locked or has already been read");
    }
    return new BodyState(init, null);
  }
  const extra = fetchInternals.extractExtra?.(init);
  if (extra) return new BodyState(extra.source, extra.contentType);
  return new BodyState(String(init), "text/plain;charset=UTF-8");
};

// A ReadableStream for the body, made on first use.
fetchInternals.bodyStream = function bodyStream(state) {
  if (state.source === null) return null;
  if (state.stream !== null) return state.stream;
  const src = state.source;
  const streams = internals.streams;
  if (streams?.isReadableStream?.(src)) {
    state.stream = src;
  } else if (typeof src === "object" && src !== null && "native" in src) {
    const id = src.native;
    state.stream = streams.fromPull({
      async pull(controller) {
        const chunk = await ops.op_body_read(id);
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      cancel() {
        ops.op_body_cancel(id);
      },
    });
  } else {
    state.stream = streams.fromBytes(typeof src === "string" ? utf8Encode(src) : src);
  }
  return state.stream;
};

fetchInternals.bodyUsed = function bodyUsed(state) {
  if (state.used) return true;
  return state.stream !== null && internals.streams.isDisturbed(state.stream);
};

async function readNative(id) {
  const chunks = [];
  let total = 0;
  for (;;) {
    const chunk = await ops.op_body_read(id);
    if (chunk === null) break;
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

function markUsed(state) {
  if (fetchInternals.bodyUsed(state)) {
    return new TypeError("Body has already been used. It can only be used once; use tee() or clone() first.");
  }
  if (state.stream !== null && internals.streams.isLocked(state.stream)) {
    return new TypeError("The body stream is locked");
  }
  state.used = true;
  return null;
}

// Consumes the body as bytes or (fast path) as the string it was made from.
async function consume(state, wantString) {
  const err = markUsed(state);
  if (err) throw err;
  const src = state.source;
  if (src === null) return wantString ? "" : new Uint8Array(0);
  if (state.stream === null) {
    if (typeof src === "string") return wantString ? src : utf8Encode(src);
    if (src instanceof Uint8Array) return wantString ? utf8Decode(src) : src;
    if (typeof src === "object" && "native" in src) {
      const bytes = await readNative(src.native);
      return wantString ? utf8Decode(bytes) : bytes;
    }
  }
  const bytes = await internals.streams.readAll(fetchInternals.bodyStream(state));
  return wantString ? utf8Decode(bytes) : bytes;
}

fetchInternals.consumeText = (state) => consume(state, true);
fetchInternals.consumeBytes = (state) => consume(state, false);

// Splits a body in two for clone(): https://fetch.spec.whatwg.org/#concept-body-clone
fetchInternals.cloneBody = function cloneBody(state) {
  if (fetchInternals.bodyUsed(state)) throw new TypeError("Body has already been used");
  const src = state.source;
  if (src === null || typeof src === "string" || src instanceof Uint8Array) {
    return new BodyState(src, state.contentType);
  }
  const [a, b] = internals.streams.tee(fetchInternals.bodyStream(state));
  state.stream = a;
  state.source = a;
  return new BodyState(b, state.contentType);
};

// Installs text/json/arrayBuffer/bytes/blob/formData, body and bodyUsed on
// a class whose instances answer `getState(this)`.
fetchInternals.mixinBody = function mixinBody(proto, getState, getHeaders) {
  const methods = {
    get body() {
      return fetchInternals.bodyStream(getState(this));
    },
    get bodyUsed() {
      return fetchInternals.bodyUsed(getState(this));
    },
    async text() {
      return consume(getState(this), true);
    },
    async json() {
      return JSON.parse(await consume(getState(this), true));
    },
    async arrayBuffer() {
      const b = await consume(getState(this), false);
      return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : b.slice().buffer;
    },
    async bytes() {
      return consume(getState(this), false);
    },
    async blob() {
      const state = getState(this);
      const bytes = await consume(state, false);
      const type = getHeaders(this).get("content-type") ?? "";
      return new Blob([bytes], { type });
    },
    async formData() {
      const state = getState(this);
      const type = getHeaders(this).get("content-type") ?? "";
      const bytes = await consume(state, false);
      if (typeof fetchInternals.parseFormData !== "function") {
        throw new TypeError("formData() is not supported");
      }
      return fetchInternals.parseFormData(bytes, type);
    },
  };
  for (const key of Object.getOwnPropertyNames(methods)) {
    const desc = Object.getOwnPropertyDescriptor(methods, key);
    desc.enumerable = true;
    Object.defineProperty(proto, key, desc);
  }
};
