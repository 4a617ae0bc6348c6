// Response: https://fetch.spec.whatwg.org/#response-class

const fetchInternals = internals.fetch;
const { webidl, Headers, nullBody, extractBody, setGuard, fillHeaders, headersHas, headersAppendInternal } = fetchInternals;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const JSONStringify = JSON.stringify;

const kInternal = Symbol("internal response");

// What an absent ResponseInit reads as.
const DEFAULT_INIT = Object.freeze({
  cf: undefined,
  encodeBody: "automatic",
  headers: undefined,
  status: 200,
  statusText: "",
  webSocket: null,
});

// Reads ResponseInit members in lexicographic order (WebIDL), plus the
// Workers extensions `cf`, `encodeBody` and `webSocket`.
function readInit(init, context) {
  if (init === undefined) return DEFAULT_INIT;
  const d = webidl.dictionary(init, context, "ResponseInit");
  const cf = d.cf;
  const encodeBody = d.encodeBody;
  const headers = d.headers;
  if (headers !== undefined && (headers === null || (typeof headers !== "object" && typeof headers !== "function"))) {
    throw new TypeError(`${context}: The provided value is not of type 'HeadersInit'.`);
  }
  const statusRaw = d.status;
  const status = statusRaw === undefined ? 200 : webidl.unsignedShort(statusRaw);
  const statusTextRaw = d.statusText;
  const statusText = statusTextRaw === undefined ? "" : webidl.byteString(statusTextRaw, context);
  const webSocket = d.webSocket;
  return {
    cf,
    encodeBody: encodeBody === undefined ? "automatic" : webidl.enumValue(encodeBody, ["automatic", "manual"], context, "ResponseEncodeBody"),
    headers,
    status,
    statusText,
    webSocket: webSocket ?? null,
  };
}

/** Whether a response with `status` must not have a body. */
function isNullBodyStatus(status) {
  return status === 204 || status === 304 || status === 205 || status === 101 || status === 103;
}

class Response {
  #status = 200;
  #statusText = "";
  // The `Headers` object, made when first asked for. Until then a response
  // constructed without a `headers` init keeps its header list in
  // `#headerList` (at most its body's content type): sending it back to
  // Rust needs no object.
  #headers = null;
  #headerList = null;
  #body;
  #type = "default";
  #url = "";
  #redirected = false;
  #webSocket = null;
  #cf = undefined;
  #encodeBody = "automatic";

  constructor(body = null, init = undefined) {
    if (body === kInternal) return;
    const context = "Failed to construct 'Response'";
    // WebIDL: the BodyInit union is converted before the dictionary.
    const hasBody = body !== null && body !== undefined;
    const extracted = hasBody ? extractBody(body) : null;
    const o = readInit(init, context);
    this.#initialize(o, extracted, context);
  }

  // https://fetch.spec.whatwg.org/#initialize-a-response
  #initialize(o, body, context) {
    const status = o.status;
    if (status < 200 || status > 599) {
      // Workers also allows 101 for a WebSocket upgrade.
      if (!(status === 101 && o.webSocket !== null)) {
        throw new RangeError(`${context}: The status provided (${status}) is outside the range [200, 599].`);
      }
    }
    if (o.statusText !== "" && !REASON_PHRASE.test(o.statusText)) throw new TypeError(`${context}: Invalid statusText.`);
    this.#status = status;
    this.#statusText = o.statusText;
    this.#webSocket = o.webSocket;
    this.#cf = o.cf;
    this.#encodeBody = o.encodeBody;
    let headers = null;
    if (o.headers !== undefined) {
      headers = new Headers();
      setGuard(headers, "response");
      fillHeaders(headers, o.headers, context);
    }
    let list = null;
    if (body !== null) {
      if (isNullBodyStatus(status)) {
        throw new TypeError(`${context}: Response with null body status cannot have body`);
      }
      this.#body = body;
      const type = body.contentType;
      if (headers === null) {
        list = type !== null ? ["content-type", type] : [];
      } else if (type !== null && !headersHas(headers, "content-type")) {
        headersAppendInternal(headers, "content-type", type);
      }
    } else {
      this.#body = nullBody();
      if (headers === null) list = [];
    }
    this.#headers = headers;
    this.#headerList = list;
  }

  /** The `Headers` object, made from the kept list on first use. */
  #headerObject() {
    if (this.#headers === null) {
      this.#headers = fetchInternals.headersFromFlat(this.#headerList, "response");
      this.#headerList = null;
    }
    return this.#headers;
  }

  static #check(r, member) {
    if (r === null || typeof r !== "object" || !(#status in r)) {
      throw new TypeError(`Failed to execute '${member}' on 'Response': Illegal invocation`);
    }
    return r;
  }

  static error() {
    const r = new Response(kInternal);
    r.#status = 0;
    r.#type = "error";
    r.#headers = fetchInternals.headersFromFlat([], "immutable");
    r.#body = fetchInternals.nullBody();
    return r;
  }

  static redirect(url, status = 302) {
    const context = "Failed to execute 'redirect' on 'Response'";
    webidl.requireArgs(arguments.length, 1, context);
    url = webidl.usvString(url);
    status = webidl.unsignedShort(status);
    const parsed = internals.url.parse(url, fetchInternals.baseUrl);
    if (parsed === null) throw new TypeError(`${context}: Invalid URL: ${url}`);
    if (!REDIRECT_STATUSES.has(status)) throw new RangeError(`${context}: Invalid status code ${status}`);
    const r = new Response(kInternal);
    r.#status = status;
    r.#headers = fetchInternals.headersFromFlat(["location", parsed.href], "immutable");
    r.#body = fetchInternals.nullBody();
    return r;
  }

  static json(data, init = undefined) {
    const context = "Failed to execute 'json' on 'Response'";
    webidl.requireArgs(arguments.length, 1, context);
    const text = JSONStringify(data);
    if (text === undefined) throw new TypeError(`${context}: The data is not JSON serializable`);
    const o = readInit(init, context);
    const body = new fetchInternals.BodyState(text, "application/json");
    body.wellFormed = true;
    const r = new Response(kInternal);
    r.#initialize(o, body, context);
    return r;
  }

  get type() {
    return Response.#check(this, "type").#type;
  }
  get url() {
    return Response.#check(this, "url").#url;
  }
  get redirected() {
    return Response.#check(this, "redirected").#redirected;
  }
  get status() {
    return Response.#check(this, "status").#status;
  }
  get ok() {
    const s = Response.#check(this, "ok").#status;
    return s >= 200 && s <= 299;
  }
  get statusText() {
    return Response.#check(this, "statusText").#statusText;
  }
  get headers() {
    return Response.#check(this, "headers").#headerObject();
  }
  /** Workers: the WebSocket given in ResponseInit (status 101). */
  get webSocket() {
    return Response.#check(this, "webSocket").#webSocket;
  }
  /** Workers: the `cf` object given in ResponseInit. */
  get cf() {
    return Response.#check(this, "cf").#cf;
  }

  clone() {
    Response.#check(this, "clone");
    if (fetchInternals.bodyUnusable(this.#body)) {
      throw new TypeError("Failed to execute 'clone' on 'Response': Response body is already used");
    }
    const r = new Response(kInternal);
    r.#status = this.#status;
    r.#statusText = this.#statusText;
    if (this.#headers === null) {
      r.#headerList = this.#headerList.slice();
    } else {
      r.#headers = fetchInternals.headersCopy(this.#headers, fetchInternals.headersGuard(this.#headers));
    }
    r.#type = this.#type;
    r.#url = this.#url;
    r.#redirected = this.#redirected;
    r.#webSocket = this.#webSocket;
    r.#cf = this.#cf;
    r.#encodeBody = this.#encodeBody;
    r.#body = fetchInternals.cloneBody(this.#body);
    return r;
  }

  static {
    fetchInternals.isResponse = (r) => r !== null && typeof r === "object" && #status in r;
    fetchInternals.responseBody = (r) => Response.#check(r, "body").#body;
    /** The status to send: a network error (Response.error()) is answered as 500. */
    fetchInternals.responseStatus = (r) => {
      const s = r.#status;
      return s === 0 ? 500 : s;
    };
    fetchInternals.responseHeaderList = (r) => (r.#headers === null ? r.#headerList : fetchInternals.headersFlat(r.#headers));
    /**
     * What Rust sends: null, a string, a Uint8Array, or a ReadableStream.
     * Throws a TypeError if the body was already read.
     */
    fetchInternals.responseBodyForNative = (r) => {
      const state = r.#body;
      if (state.source === null) return null;
      if (fetchInternals.bodyUnusable(state)) throw new TypeError("The response body has already been used");
      if (state.stream === null) {
        const src = state.source;
        if (typeof src === "string") {
          state.used = true;
          return src;
        }
        if (src instanceof Uint8Array) {
          state.used = true;
          return src;
        }
        if (fetchInternals.isBlob(src)) {
          state.used = true;
          return fetchInternals.blobBytes(src);
        }
      }
      return fetchInternals.bodyStream(state);
    };
    /** A Response from a native [status, headerFlat, body] triple (outbound fetch). */
    fetchInternals.responseFromNative = (parts, url) => {
      const r = new Response(kInternal);
      r.#status = parts[0];
      r.#headers = fetchInternals.headersFromFlat(parts[1], "immutable");
      r.#body = fetchInternals.bodyFromNative(parts[2]);
      r.#type = "basic";
      r.#url = url;
      return r;
    };
    /** A Response for fetch() of a data: URL. */
    fetchInternals.responseFromBytes = (status, headerFlat, bytes, url) => {
      const r = fetchInternals.responseFromNative([status, headerFlat, null], url);
      r.#body = new fetchInternals.BodyState(bytes, null);
      return r;
    };
    fetchInternals.setResponseUrl = (r, url, redirected) => {
      r.#url = url;
      r.#redirected = redirected;
    };
  }
}

fetchInternals.mixinBody(Response.prototype, fetchInternals.responseBody, (r) => r.headers, "Response");
webidl.configureInterface(Response);

internals.defineGlobal("Response", Response);
