// Response: https://fetch.spec.whatwg.org/#response-class

const fetchInternals = internals.fetch;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;

class Response {
  #status = 200;
  #statusText = "";
  #headers;
  #body;
  #type = "default";
  #url = "";
  #webSocket = null;

  constructor(body = null, init = undefined) {
    if (init !== undefined && init !== null && typeof init !== "object") {
      throw new TypeError("Failed to construct 'Response': The provided value is not of type 'ResponseInit'.");
    }
    init ??= {};
    const status = init.status === undefined ? 200 : Number(init.status) | 0;
    if (status < 200 || status > 599) {
      // Workers also allows 101 for WebSocket upgrades.
      if (!(status === 101 && init.webSocket)) {
        throw new RangeError(`Failed to construct 'Response': The status provided (${init.status}) is outside the range [200, 599].`);
      }
    }
    const statusText = init.statusText === undefined ? "" : String(init.statusText);
    if (!REASON.test(statusText)) throw new TypeError("Failed to construct 'Response': Invalid statusText.");
    this.#status = status;
    this.#statusText = statusText;
    this.#headers = init.headers === undefined ? new Headers() : new Headers(init.headers);
    this.#webSocket = init.webSocket ?? null;
    if (body !== null && body !== undefined) {
      if (NULL_BODY_STATUSES.has(status)) {
        throw new TypeError(`Response with null body status (${status}) cannot have body`);
      }
      this.#body = fetchInternals.extractBody(body);
      if (this.#body.contentType !== null && !this.#headers.has("content-type")) {
        this.#headers.append("content-type", this.#body.contentType);
      }
    } else {
      this.#body = new fetchInternals.BodyState(null, null);
    }
  }

  static #check(r) {
    if (!(#status in r)) throw new TypeError("Illegal invocation");
    return r;
  }

  static error() {
    const r = new Response(null);
    r.#status = 0;
    r.#type = "error";
    fetchInternals.setGuard(r.#headers, "immutable");
    return r;
  }

  static redirect(url, status = 302) {
    const parsed = (() => {
      try {
        return new URL(String(url), fetchInternals.baseUrl);
      } catch {
        throw new TypeError(`Failed to execute 'redirect' on 'Response': Invalid URL: ${url}`);
      }
    })();
    status = Number(status) | 0;
    if (!REDIRECT_STATUSES.has(status)) throw new RangeError(`Failed to execute 'redirect' on 'Response': Invalid status code ${status}`);
    const r = new Response(null, { status });
    r.#headers.set("location", parsed.href);
    fetchInternals.setGuard(r.#headers, "immutable");
    return r;
  }

  static json(data, init = undefined) {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError("Failed to execute 'json' on 'Response': The data is not JSON serializable");
    const r = new Response(text, init);
    r.#headers.set("content-type", "application/json");
    return r;
  }

  get type() { return Response.#check(this).#type; }
  get url() { return Response.#check(this).#url; }
  get redirected() { Response.#check(this); return false; }
  get status() { return Response.#check(this).#status; }
  get ok() {
    const s = Response.#check(this).#status;
    return s >= 200 && s <= 299;
  }
  get statusText() { return Response.#check(this).#statusText; }
  get headers() { return Response.#check(this).#headers; }
  get webSocket() { return Response.#check(this).#webSocket; }

  clone() {
    Response.#check(this);
    const r = new Response(null, { status: this.#status === 0 ? 200 : this.#status, statusText: this.#statusText, headers: this.#headers });
    r.#status = this.#status;
    r.#type = this.#type;
    r.#url = this.#url;
    r.#body = fetchInternals.cloneBody(this.#body);
    return r;
  }

  static {
    fetchInternals.isResponse = (r) => r !== null && typeof r === "object" && #status in r;
    fetchInternals.responseBody = (r) => Response.#check(r).#body;
    fetchInternals.responseStatus = (r) => {
      const s = r.#status;
      return s === 0 ? 500 : s;
    };
    fetchInternals.responseHeaderList = (r) => fetchInternals.headersToFlat(r.#headers);
    // What Rust sends: null, a string, a Uint8Array, or a ReadableStream.
    fetchInternals.responseBodyForNative = (r) => {
      const state = r.#body;
      if (fetchInternals.bodyUsed(state)) throw new TypeError("The response body has already been used");
      if (state.stream === null) {
        const src = state.source;
        if (src === null || typeof src === "string" || src instanceof Uint8Array) return src;
      }
      return fetchInternals.bodyStream(state);
    };
    // A Response from a native [status, headerFlat, body] triple.
    fetchInternals.responseFromNative = (parts, url) => {
      const r = new Response(null);
      r.#status = parts[0];
      r.#headers = fetchInternals.headersFromFlat(parts[1], "immutable");
      const body = parts[2];
      if (body === null) r.#body = new fetchInternals.BodyState(null, null);
      else if (typeof body === "number") r.#body = new fetchInternals.BodyState({ native: body }, null);
      else r.#body = new fetchInternals.BodyState(body, null);
      r.#type = "basic";
      r.#url = url;
      return r;
    };
  }
}
fetchInternals.mixinBody(Response.prototype, (r) => fetchInternals.responseBody(r), (r) => r.headers);
Object.defineProperty(Response.prototype, Symbol.toStringTag, { value: "Response", configurable: true });

internals.defineGlobal("Response", Response);
