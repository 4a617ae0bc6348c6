// The body mixin shared by Request and Response:
// https://fetch.spec.whatwg.org/#body-mixin
//
// A body keeps its source as given and builds a ReadableStream only when JS
// asks for `.body` (or the body must be teed), so `new Response("hi")` costs
// no stream at all. Sources:
//   null                 no body
//   string               the DOMString given; it becomes a USVString (lone
//                        surrogates as U+FFFD) only when read back as text,
//                        since UTF-8 encoding (utf8Encode, and Rust's for
//                        what it sends) replaces them the same way: a body
//                        that is only sent is never scanned.
//   Uint8Array           bytes the body owns (shared with clones: see `shared`)
//   Blob                 a Blob (also what a FormData body serializes to)
//   ReadableStream       a stream given by the user (or a tee branch)
//   NativeBody           a body stream owned by Rust, read with op_body_read

const fetchInternals = internals.fetch;
const { webidl } = fetchInternals;

const TypedArrayPrototypeSlice = Uint8Array.prototype.slice;
const JSONParse = JSON.parse;

/** A body stream owned by Rust: read with op_body_read(id), dropped with op_body_cancel(id). */
class NativeBody {
  constructor(id) {
    this.id = id;
  }
}

class BodyState {
  constructor(source, contentType) {
    this.source = source;
    // The Content-Type extraction gave ("type" in the spec), or null.
    this.contentType = contentType;
    // The ReadableStream, once made.
    this.stream = null;
    // Consumed without a stream being made (the stream would be disturbed).
    this.used = false;
    // A Uint8Array source also held by a clone: hand out copies.
    this.shared = false;
    // Set when a fetch() signal aborted after the response arrived.
    this.abortReason = undefined;
    // The stream's chunks come from user code (bytes read whole must be copied).
    this.userChunks = false;
    // A string source is known to be a USVString (decoded UTF-8, or
    // JSON.stringify's output): read back without the surrogate scan,
    // about 200 instructions per JSON echo.
    this.wellFormed = false;
  }
}

const NULL_BODY = () => new BodyState(null, null);
fetchInternals.BodyState = BodyState;
fetchInternals.NativeBody = NativeBody;
fetchInternals.nullBody = NULL_BODY;

/** A body over what Rust handed in: null, a string (a whole body that is UTF-8 text), a Uint8Array (adopted), or a native stream id. */
fetchInternals.bodyFromNative = function bodyFromNative(body) {
  if (body === null || body === undefined) return NULL_BODY();
  if (typeof body === "number") return new BodyState(new NativeBody(body), null);
  const state = new BodyState(body, null);
  state.wellFormed = true;
  return state;
};

function isStream(x) {
  return internals.streams.isReadableStream(x);
}

/**
 * https://fetch.spec.whatwg.org/#concept-bodyinit-extract: a BodyState and
 * its Content-Type. `keepalive` refuses streams.
 */
fetchInternals.extractBody = function extractBody(init, keepalive = false) {
  if (typeof init === "string") return new BodyState(init, "text/plain;charset=UTF-8");
  if (init !== null && typeof init === "object") {
    if (ArrayBuffer.isView(init) || webidl.isArrayBuffer(init)) {
      return new BodyState(webidl.copyBufferSource(init), null);
    }
    if (fetchInternals.isBlob(init)) {
      const type = fetchInternals.blobType(init);
      return new BodyState(init, type === "" ? null : type);
    }
    if (fetchInternals.isFormData(init)) {
      const { blob, contentType } = fetchInternals.serializeFormData(init);
      return new BodyState(blob, contentType);
    }
    if (init instanceof internals.url.URLSearchParams) {
      return new BodyState(init.toString(), "application/x-www-form-urlencoded;charset=UTF-8");
    }
    if (isStream(init)) {
      if (keepalive) throw new TypeError("A keepalive request cannot have a ReadableStream body.");
      if (internals.streams.isDisturbed(init) || internals.streams.isLocked(init)) {
        throw new TypeError("The ReadableStream body is locked or has already been read.");
      }
      const state = new BodyState(init, null);
      state.userChunks = true;
      return state;
    }
  }
  // WebIDL falls back to USVString for anything else (made one when read).
  return new BodyState(webidl.domString(init), "text/plain;charset=UTF-8");
};

/** True for a body whose source is a stream (the spec's "source is null"). */
fetchInternals.bodyIsStream = (state) =>
  state.source !== null && (state.source instanceof NativeBody || isStream(state.source));

function nativeStream(state, id) {
  return internals.streams.fromPull({
    async pull(controller) {
      const chunk = await ops.op_body_read(id);
      if (state.abortReason !== undefined) {
        ops.op_body_cancel(id);
        controller.error(state.abortReason);
      } else if (chunk === null) {
        controller.close();
      } else {
        controller.enqueue(chunk);
      }
    },
    cancel() {
      ops.op_body_cancel(id);
    },
  });
}

/** The body's ReadableStream, made on first use (null for no body). */
fetchInternals.bodyStream = function bodyStream(state) {
  if (state.stream !== null) return state.stream;
  const src = state.source;
  if (src === null) return null;
  const streams = internals.streams;
  let stream;
  if (state.used) {
    // Consumed already (through a fast path): a stream that is locked and
    // disturbed, as the spec's would be.
    stream = streams.fromBytes(new Uint8Array(0));
    streams.readAll(stream).catch(() => {});
  } else if (src instanceof NativeBody) {
    stream = nativeStream(state, src.id);
  } else if (isStream(src)) {
    stream = src;
  } else if (typeof src === "string") {
    stream = streams.fromBytes(fetchInternals.utf8Encode(src));
  } else if (fetchInternals.isBlob(src)) {
    stream = src.stream();
  } else {
    stream = streams.fromBytes(Reflect.apply(TypedArrayPrototypeSlice, src, []));
  }
  state.stream = stream;
  return stream;
};

/** "Disturbed": read from (or canceled). */
fetchInternals.bodyUsed = function bodyUsed(state) {
  if (state.used) return true;
  return state.stream !== null && internals.streams.isDisturbed(state.stream);
};

/** "Unusable": disturbed or locked. */
fetchInternals.bodyUnusable = function bodyUnusable(state) {
  if (state.source === null) return false;
  if (state.used) return true;
  const stream = state.stream;
  return stream !== null && (internals.streams.isDisturbed(stream) || internals.streams.isLocked(stream));
};

async function readNative(state, id) {
  const chunks = [];
  let total = 0;
  for (;;) {
    const chunk = await ops.op_body_read(id);
    if (state.abortReason !== undefined) {
      ops.op_body_cancel(id);
      throw state.abortReason;
    }
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

/**
 * Reads the whole body (the spec's "consume body" before its final step).
 * With `wantString` resolves with the UTF-8 decoded text, else with a
 * Uint8Array the caller may keep (and change).
 */
function consume(state, wantString) {
  if (fetchInternals.bodyUnusable(state)) {
    return Promise.reject(new TypeError("Body is unusable: it has already been read or its stream is locked."));
  }
  if (state.abortReason !== undefined) return Promise.reject(state.abortReason);
  const src = state.source;
  if (src === null) return Promise.resolve(wantString ? "" : new Uint8Array(0));
  if (state.stream === null) {
    // Fast paths: no stream is made.
    if (typeof src === "string") {
      if (wantString) return Promise.resolve(takeText(state));
      state.used = true;
      return Promise.resolve(fetchInternals.utf8Encode(src));
    }
    if (src instanceof Uint8Array) {
      state.used = true;
      if (wantString) return Promise.resolve(fetchInternals.utf8Decode(src));
      return Promise.resolve(state.shared ? Reflect.apply(TypedArrayPrototypeSlice, src, []) : src);
    }
    if (fetchInternals.isBlob(src)) {
      state.used = true;
      const bytes = fetchInternals.blobBytes(src);
      if (wantString) return Promise.resolve(fetchInternals.utf8Decode(bytes));
      // blobBytes returns the blob's own part when it has one: copy it then.
      const own = fetchInternals.blobParts(src).length === 1;
      return Promise.resolve(own ? Reflect.apply(TypedArrayPrototypeSlice, bytes, []) : bytes);
    }
    if (src instanceof NativeBody) {
      state.used = true;
      const read = readNative(state, src.id);
      return wantString ? read.then(fetchInternals.utf8Decode) : read;
    }
  }
  const all = internals.streams.readAll(fetchInternals.bodyStream(state));
  if (wantString) return all.then(fetchInternals.utf8Decode);
  // A single chunk comes back as is: copy it if user code may still hold it.
  return state.userChunks ? all.then((b) => Reflect.apply(TypedArrayPrototypeSlice, b, [])) : all;
}

/**
 * The whole body as text, taken at once, when it is a usable string that
 * no stream has been made for; else undefined (and the body is left alone).
 */
function takeText(state) {
  const src = state.source;
  if (typeof src !== "string" || state.stream !== null || state.abortReason !== undefined) return undefined;
  if (fetchInternals.bodyUnusable(state)) return undefined;
  state.used = true;
  // Encoding then decoding would drop a leading BOM and replace lone
  // surrogates.
  const text = state.wellFormed ? src : webidl.usvString(src);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

fetchInternals.consumeBytes = (state) => consume(state, false);
fetchInternals.consumeText = (state) => consume(state, true);

/**
 * Clones a body (https://fetch.spec.whatwg.org/#concept-body-clone): the
 * original keeps one branch, the returned BodyState gets the other. Sources
 * that can be read twice are shared without a stream.
 */
fetchInternals.cloneBody = function cloneBody(state) {
  const src = state.source;
  if (src === null) return NULL_BODY();
  if (state.stream === null && !(src instanceof NativeBody) && !isStream(src)) {
    if (src instanceof Uint8Array) state.shared = true;
    const copy = new BodyState(src, state.contentType);
    copy.shared = state.shared;
    copy.wellFormed = state.wellFormed;
    return copy;
  }
  const [a, b] = internals.streams.tee(fetchInternals.bodyStream(state));
  state.stream = a;
  state.source = a;
  const copy = new BodyState(b, state.contentType);
  copy.stream = b;
  copy.userChunks = state.userChunks;
  return copy;
};

/**
 * Moves `state`'s body into a new BodyState (new Request(request)): the old
 * one reads as used afterwards.
 */
fetchInternals.takeBody = function takeBody(state) {
  const taken = new BodyState(state.source, state.contentType);
  taken.stream = state.stream;
  taken.shared = state.shared;
  taken.userChunks = state.userChunks;
  if (state.source !== null) {
    state.used = true;
    state.stream = null;
  }
  return taken;
};

/** Makes the body of a fetch() response fail with `reason` (its signal aborted). */
fetchInternals.abortBody = function abortBody(state, reason) {
  if (state.source === null || state.abortReason !== undefined) return;
  state.abortReason = reason;
  if (state.stream !== null) {
    internals.streams.error(state.stream, reason);
  } else if (state.source instanceof NativeBody) {
    ops.op_body_cancel(state.source.id);
  }
};

/** The MIME type of a body: https://fetch.spec.whatwg.org/#concept-body-mime-type */
function bodyMimeType(headers) {
  const value = fetchInternals.headersGet(headers, "content-type");
  if (value === null) return null;
  return fetchInternals.extractMimeType(value);
}

/** https://fetch.spec.whatwg.org/#concept-header-extract-mime-type over a combined header value. */
fetchInternals.extractMimeType = function extractMimeType(combined) {
  let charset = null;
  let essence = null;
  let mimeType = null;
  for (const value of splitHeaderValues(combined)) {
    const parsed = internals.mime.parse(value);
    if (parsed === null || parsed.essence === "*/*") continue;
    mimeType = parsed;
    if (parsed.essence !== essence) {
      charset = parsed.params.has("charset") ? parsed.params.get("charset") : null;
      essence = parsed.essence;
    } else if (!parsed.params.has("charset") && charset !== null) {
      parsed.params.set("charset", charset);
    }
  }
  return mimeType;
};

const TAB_OR_SPACE_EDGES = /^[\t ]+|[\t ]+$/g;

// https://fetch.spec.whatwg.org/#header-value-get-decode-and-split
function splitHeaderValues(input) {
  const values = [];
  let pos = 0;
  for (;;) {
    let value = "";
    for (;;) {
      let end = pos;
      while (end < input.length && input[end] !== '"' && input[end] !== ",") end++;
      value += input.slice(pos, end);
      pos = end;
      if (pos < input.length && input[pos] === '"') {
        // An HTTP quoted string, kept as written.
        const start = pos;
        pos++;
        while (pos < input.length) {
          const c = input[pos];
          pos++;
          if (c === "\\") {
            if (pos < input.length) pos++;
          } else if (c === '"') {
            break;
          }
        }
        value += input.slice(start, pos);
        if (pos < input.length) continue;
      } else if (pos < input.length) {
        pos++; // the ","
      }
      break;
    }
    values.push(value.replace(TAB_OR_SPACE_EDGES, ""));
    if (pos >= input.length) return values;
  }
}
fetchInternals.splitHeaderValues = splitHeaderValues;

/**
 * Installs the body members on a prototype. `getState(obj)` returns the
 * BodyState and brand-checks (throws TypeError); `getHeaders(obj)` the
 * Headers (for the MIME type).
 */
fetchInternals.mixinBody = function mixinBody(proto, getState, getHeaders, iface) {
  const check = (obj, member) => {
    try {
      return getState(obj);
    } catch {
      throw new TypeError(`Failed to execute '${member}' on '${iface}': Illegal invocation`);
    }
  };
  const members = {
    get body() {
      return fetchInternals.bodyStream(check(this, "body"));
    },
    get bodyUsed() {
      return fetchInternals.bodyUsed(check(this, "bodyUsed"));
    },
    arrayBuffer() {
      let state;
      try {
        state = check(this, "arrayBuffer");
      } catch (e) {
        return Promise.reject(e);
      }
      return consume(state, false).then((b) =>
        b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b.buffer : Reflect.apply(TypedArrayPrototypeSlice, b, []).buffer,
      );
    },
    blob() {
      let state;
      try {
        state = check(this, "blob");
      } catch (e) {
        return Promise.reject(e);
      }
      const headers = getHeaders(this);
      return consume(state, false).then((bytes) => {
        const mime = bodyMimeType(headers);
        return fetchInternals.blobFromParts([bytes], mime === null ? "" : internals.mime.serialize(mime));
      });
    },
    bytes() {
      let state;
      try {
        state = check(this, "bytes");
      } catch (e) {
        return Promise.reject(e);
      }
      return consume(state, false);
    },
    formData() {
      let state;
      try {
        state = check(this, "formData");
      } catch (e) {
        return Promise.reject(e);
      }
      const headers = getHeaders(this);
      return consume(state, false).then((bytes) => fetchInternals.parseFormData(bytes, bodyMimeType(headers)));
    },
    json() {
      let state;
      try {
        state = check(this, "json");
      } catch (e) {
        return Promise.reject(e);
      }
      // Text that is already whole is parsed at once: the result is
      // settled when returned, one promise fewer than reading then parsing.
      const text = takeText(state);
      if (text !== undefined) {
        try {
          return Promise.resolve(JSONParse(text));
        } catch (e) {
          return Promise.reject(e);
        }
      }
      return fetchInternals.consumeText(state).then((text) => JSONParse(text));
    },
    text() {
      let state;
      try {
        state = check(this, "text");
      } catch (e) {
        return Promise.reject(e);
      }
      return fetchInternals.consumeText(state);
    },
  };
  for (const key of Object.getOwnPropertyNames(members)) {
    const desc = Object.getOwnPropertyDescriptor(members, key);
    desc.enumerable = true;
    Object.defineProperty(proto, key, desc);
  }
};
