// Request: https://fetch.spec.whatwg.org/#request-class
//
// Requests that arrive from the network are built lazily: the URL string
// and the flat header list stay as Rust passed them until JS reads them.

const fetchInternals = internals.fetch;
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NORMALIZE = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const kLazy = Symbol("lazy");

function normalizeMethod(m) {
  m = String(m);
  if (!METHOD.test(m)) throw new TypeError(`'${m}' is not a valid HTTP method.`);
  const upper = m.toUpperCase();
  if (FORBIDDEN_METHODS.has(upper)) throw new TypeError(`'${m}' HTTP method is unsupported.`);
  return NORMALIZE.has(upper) ? upper : m;
}

function parseUrl(input, base) {
  try {
    return base === undefined ? new URL(input) : new URL(input, base);
  } catch {
    throw new TypeError(`Invalid URL: ${input}`);
  }
}

class Request {
  #method = "GET";
  #url = "";
  #headers = null;
  #headerFlat = null;
  #body;
  #signal = null;
  #redirect = "follow";
  #cf = undefined;
  #init = null;

  constructor(input, init = undefined) {
    if (input === kLazy) {
      // Internal fast path: (kLazy, method, url, headerFlat, body).
      this.#method = arguments[1];
      this.#url = arguments[2];
      this.#headerFlat = arguments[3];
      this.#body = arguments[4];
      return;
    }
    if (init !== undefined && init !== null && typeof init !== "object") {
      throw new TypeError("Failed to construct 'Request': The provided value is not of type 'RequestInit'.");
    }
    init ??= {};
    let inputBody = null;
    if (input instanceof Request) {
      this.#method = input.#method;
      this.#url = input.#url;
      this.#headers = new Headers(input.headers);
      this.#redirect = input.#redirect;
      this.#signal = input.#signal;
      this.#cf = input.#cf;
      inputBody = input.#body;
    } else {
      this.#url = parseUrl(String(input), fetchInternals.baseUrl).href;
      this.#headers = new Headers();
    }
    if (init.method !== undefined) this.#method = normalizeMethod(init.method);
    if (init.headers !== undefined) this.#headers = new Headers(init.headers);
    if (init.redirect !== undefined) {
      const r = String(init.redirect);
      if (!["follow", "error", "manual"].includes(r)) throw new TypeError(`Invalid redirect mode: ${r}`);
      this.#redirect = r;
    }
    if (init.signal !== undefined) this.#signal = init.signal;
    if (init.cf !== undefined) this.#cf = init.cf;
    const hasBody = init.body !== undefined && init.body !== null;
    if ((hasBody || (inputBody !== null && inputBody.source !== null)) && (this.#method === "GET" || this.#method === "HEAD")) {
      throw new TypeError("Request with GET/HEAD method cannot have body.");
    }
    if (hasBody) {
      this.#body = fetchInternals.extractBody(init.body);
      if (this.#body.contentType !== null && !this.#headers.has("content-type")) {
        this.#headers.set("content-type", this.#body.contentType);
      }
    } else if (inputBody !== null) {
      if (fetchInternals.bodyUsed(inputBody)) throw new TypeError("Cannot construct a Request with a Request object that has already been used.");
      // The new request takes the input's body over.
      this.#body = new fetchInternals.BodyState(inputBody.source, inputBody.contentType);
      this.#body.stream = inputBody.stream;
      inputBody.used = true;
    } else {
      this.#body = new fetchInternals.BodyState(null, null);
    }
  }

  static #check(r) {
    if (!(#method in r)) throw new TypeError("Illegal invocation");
    return r;
  }

  get method() {
    return Request.#check(this).#method;
  }
  get url() {
    return Request.#check(this).#url;
  }
  get headers() {
    Request.#check(this);
    if (this.#headers === null) {
      this.#headers = fetchInternals.headersFromFlat(this.#headerFlat ?? [], "immutable");
      this.#headerFlat = null;
    }
    return this.#headers;
  }
  get redirect() {
    return Request.#check(this).#redirect;
  }
  get signal() {
    Request.#check(this);
    this.#signal ??= internals.dom?.createAbortSignal?.() ?? new AbortController().signal;
    return this.#signal;
  }
  get cf() {
    return Request.#check(this).#cf;
  }
  get destination() { return ""; }
  get referrer() { return "about:client"; }
  get referrerPolicy() { return ""; }
  get mode() { return "cors"; }
  get credentials() { return "same-origin"; }
  get cache() { return "default"; }
  get integrity() { return ""; }
  get keepalive() { return false; }
  get isReloadNavigation() { return false; }
  get isHistoryNavigation() { return false; }
  get duplex() { return "half"; }

  clone() {
    Request.#check(this);
    const body = fetchInternals.cloneBody(this.#body);
    const r = new Request(kLazy, this.#method, this.#url, null, body);
    r.#headers = new Headers(this.headers);
    r.#redirect = this.#redirect;
    r.#signal = this.#signal;
    r.#cf = this.#cf;
    return r;
  }

  static {
    fetchInternals.requestBody = (r) => Request.#check(r).#body;
    fetchInternals.isRequest = (r) => r !== null && typeof r === "object" && #method in r;
    fetchInternals.requestHeaderFlat = (r) => {
      Request.#check(r);
      return r.#headers === null ? r.#headerFlat ?? [] : fetchInternals.headersToFlat(r.#headers);
    };
    fetchInternals.setRequestSignal = (r, signal) => {
      Request.#check(r).#signal = signal;
    };
  }
}
fetchInternals.mixinBody(Request.prototype, (r) => fetchInternals.requestBody(r), (r) => r.headers);
Object.defineProperty(Request.prototype, Symbol.toStringTag, { value: "Request", configurable: true });

fetchInternals.createRequest = function createRequest(method, url, headerFlat, body) {
  let state;
  if (body === null || body === undefined) state = new fetchInternals.BodyState(null, null);
  else if (typeof body === "number") state = new fetchInternals.BodyState({ native: body }, null);
  else state = new fetchInternals.BodyState(body, null);
  return new Request(kLazy, method, url, headerFlat, state);
};

internals.defineGlobal("Request", Request);
