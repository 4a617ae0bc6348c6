// Request: https://fetch.spec.whatwg.org/#request-class
//
// Requests that arrive from the network are built lazily: the URL string
// stays as Rust passed it, and the header list stays with the host until
// JS first reads it (then as one block of lines, split on first use). The
// host keeps it while the request's context lasts: until the response is
// complete and its waitUntil() work has settled.
// Their headers are immutable and their redirect mode is "manual", as on
// Workers.

const fetchInternals = internals.fetch;
const { webidl, Headers } = fetchInternals;

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NORMALIZED_METHODS = new Map(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"].map((m) => [m, m]));
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const CORS_SAFELISTED_METHODS = new Set(["GET", "HEAD", "POST"]);

const REFERRER_POLICIES = [
  "",
  "no-referrer",
  "no-referrer-when-downgrade",
  "same-origin",
  "origin",
  "strict-origin",
  "origin-when-cross-origin",
  "strict-origin-when-cross-origin",
  "unsafe-url",
];
const MODES = ["same-origin", "no-cors", "cors", "navigate"];
const CREDENTIALS = ["omit", "same-origin", "include"];
const CACHES = ["default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached"];
const REDIRECTS = ["follow", "error", "manual"];
const DUPLEXES = ["half"];
const PRIORITIES = ["high", "low", "auto"];

const kLazy = Symbol("lazy request");

/**
 * A lazy request's header list as a flat [name, value, ...] array, from the
 * block of `name:value` lines joined by "\n" that the host hands over
 * (names hold no ':', and neither holds a line break).
 */
function headerFlat(list) {
  const flat = [];
  let start = 0;
  while (start < list.length) {
    let end = list.indexOf("\n", start);
    if (end === -1) end = list.length;
    const colon = list.indexOf(":", start);
    flat.push(list.slice(start, colon), list.slice(colon + 1, end));
    start = end + 1;
  }
  return flat;
}
const CONTEXT = "Failed to construct 'Request'";

function normalizeMethod(method) {
  method = webidl.byteString(method, CONTEXT);
  const known = NORMALIZED_METHODS.get(method);
  if (known !== undefined) return known;
  if (!METHOD.test(method)) throw new TypeError(`${CONTEXT}: '${method}' is not a valid HTTP method.`);
  const upper = method.toUpperCase();
  if (FORBIDDEN_METHODS.has(upper)) throw new TypeError(`${CONTEXT}: '${method}' HTTP method is unsupported.`);
  return NORMALIZED_METHODS.get(upper) ?? method;
}

function parseUrl(input, context) {
  const parsed = internals.url.parse(input, fetchInternals.baseUrl);
  if (parsed === null) throw new TypeError(`${context}: Invalid URL: ${input}`);
  return parsed;
}

// Reads RequestInit members in lexicographic order (WebIDL), into a record
// holding only the members present (`undefined` counts as absent).
function readInit(init) {
  const d = webidl.dictionary(init, CONTEXT, "RequestInit");
  const r = {};
  let any = false;
  const body = d.body;
  if (body !== undefined) (r.body = body), (any = true);
  const cache = d.cache;
  if (cache !== undefined) (r.cache = webidl.enumValue(cache, CACHES, CONTEXT, "RequestCache")), (any = true);
  const cf = d.cf;
  if (cf !== undefined) r.cf = cf;
  const credentials = d.credentials;
  if (credentials !== undefined) {
    r.credentials = webidl.enumValue(credentials, CREDENTIALS, CONTEXT, "RequestCredentials");
    any = true;
  }
  const duplex = d.duplex;
  if (duplex !== undefined) (r.duplex = webidl.enumValue(duplex, DUPLEXES, CONTEXT, "RequestDuplex")), (any = true);
  const headers = d.headers;
  if (headers !== undefined) {
    if (headers === null || (typeof headers !== "object" && typeof headers !== "function")) {
      throw new TypeError(`${CONTEXT}: The provided value is not of type 'HeadersInit'.`);
    }
    r.headers = headers;
    any = true;
  }
  const integrity = d.integrity;
  if (integrity !== undefined) (r.integrity = webidl.domString(integrity)), (any = true);
  const keepalive = d.keepalive;
  if (keepalive !== undefined) (r.keepalive = !!keepalive), (any = true);
  const method = d.method;
  if (method !== undefined) (r.method = webidl.byteString(method, CONTEXT)), (any = true);
  const mode = d.mode;
  if (mode !== undefined) (r.mode = webidl.enumValue(mode, MODES, CONTEXT, "RequestMode")), (any = true);
  const priority = d.priority;
  if (priority !== undefined) (r.priority = webidl.enumValue(priority, PRIORITIES, CONTEXT, "RequestPriority")), (any = true);
  const redirect = d.redirect;
  if (redirect !== undefined) (r.redirect = webidl.enumValue(redirect, REDIRECTS, CONTEXT, "RequestRedirect")), (any = true);
  const referrer = d.referrer;
  if (referrer !== undefined) (r.referrer = webidl.usvString(referrer)), (any = true);
  const referrerPolicy = d.referrerPolicy;
  if (referrerPolicy !== undefined) {
    r.referrerPolicy = webidl.enumValue(referrerPolicy, REFERRER_POLICIES, CONTEXT, "ReferrerPolicy");
    any = true;
  }
  const signal = d.signal;
  if (signal !== undefined) {
    if (signal !== null && !internals.dom.isAbortSignal(signal)) {
      throw new TypeError(`${CONTEXT}: member signal is not of type AbortSignal.`);
    }
    r.signal = signal;
    any = true;
  }
  const window = d.window;
  if (window !== undefined) (r.window = window), (any = true);
  r.empty = !any;
  return r;
}

class Request {
  #method = "GET";
  #url = "";
  #headers = null;
  // A request from the network whose headers nobody read yet: its id, by
  // which the host hands the header list over (`op_request_headers`).
  #hostId = null;
  #body;
  // The request's AbortSignal, made on first use. Until then `#follow` is
  // what it will follow: an AbortSignal, a Request (whose signal it
  // follows), or null (a signal nothing aborts). Dependent signals are
  // costly, so clones and copies only make theirs when asked.
  #signal = null;
  #follow = null;
  #mode = "cors";
  #credentials = "same-origin";
  #cache = "default";
  #redirect = "follow";
  #referrer = "client";
  #referrerPolicy = "";
  #integrity = "";
  #keepalive = false;
  #reloadNavigation = false;
  #historyNavigation = false;
  #priority = "auto";
  #cf = undefined;

  constructor(input, init = undefined) {
    // Internal fast path: the caller fills the fields in.
    if (input === kLazy) return;
    // (Read without `arguments`, which would cost every construction an
    // arguments object: `new Request()` is the only call missing both.)
    if (input === undefined && init === undefined) webidl.requireArgs(0, 1, CONTEXT);
    // WebIDL: (Request or USVString) input, then the dictionary.
    const inputRequest = fetchInternals.isRequest(input) ? input : null;
    const inputUrl = inputRequest === null ? webidl.usvString(input) : null;
    const o = readInit(init);

    let signal = null;
    if (inputRequest === null) {
      const parsed = parseUrl(inputUrl, CONTEXT);
      if (parsed.username !== "" || parsed.password !== "") {
        throw new TypeError(`${CONTEXT}: Request cannot be constructed from a URL that includes credentials: ${inputUrl}`);
      }
      this.#url = parsed.href;
    } else {
      const src = inputRequest;
      this.#method = src.#method;
      this.#url = src.#url;
      this.#mode = src.#mode;
      this.#credentials = src.#credentials;
      this.#cache = src.#cache;
      this.#redirect = src.#redirect;
      this.#referrer = src.#referrer;
      this.#referrerPolicy = src.#referrerPolicy;
      this.#integrity = src.#integrity;
      this.#keepalive = src.#keepalive;
      this.#reloadNavigation = src.#reloadNavigation;
      this.#historyNavigation = src.#historyNavigation;
      this.#priority = src.#priority;
      this.#cf = src.#cf;
      signal = src.#signal ?? src.#follow ?? src;
    }
    if (o.window !== undefined && o.window !== null) {
      throw new TypeError(`${CONTEXT}: 'window' must be null.`);
    }
    if (!o.empty) {
      if (this.#mode === "navigate") this.#mode = "same-origin";
      this.#reloadNavigation = false;
      this.#historyNavigation = false;
      this.#referrer = "client";
      this.#referrerPolicy = "";
    }
    if (o.referrer !== undefined) {
      if (o.referrer === "") {
        this.#referrer = "no-referrer";
      } else {
        const parsed = parseUrl(o.referrer, CONTEXT);
        this.#referrer = parsed.href === "about:client" ? "client" : parsed.href;
      }
    }
    if (o.referrerPolicy !== undefined) this.#referrerPolicy = o.referrerPolicy;
    if (o.mode !== undefined) {
      if (o.mode === "navigate") throw new TypeError(`${CONTEXT}: Cannot construct a Request with a RequestInit whose mode member is set as 'navigate'.`);
      this.#mode = o.mode;
    }
    if (o.credentials !== undefined) this.#credentials = o.credentials;
    if (o.cache !== undefined) {
      if (o.cache === "only-if-cached" && this.#mode !== "same-origin") {
        throw new TypeError(`${CONTEXT}: 'only-if-cached' can be set only with 'same-origin' mode`);
      }
      this.#cache = o.cache;
    }
    if (o.redirect !== undefined) this.#redirect = o.redirect;
    if (o.integrity !== undefined) this.#integrity = o.integrity;
    if (o.keepalive !== undefined) this.#keepalive = o.keepalive;
    if (o.priority !== undefined) this.#priority = o.priority;
    if (o.cf !== undefined) this.#cf = o.cf;
    if (o.method !== undefined) this.#method = normalizeMethod(o.method);
    if (o.signal !== undefined) signal = o.signal;
    // The request's own signal follows the given one.
    this.#follow = signal;

    if (this.#mode === "no-cors" && !CORS_SAFELISTED_METHODS.has(this.#method)) {
      throw new TypeError(`${CONTEXT}: '${this.#method}' is unsupported in no-cors mode.`);
    }
    const guard = this.#mode === "no-cors" ? "request-no-cors" : "request";
    if (inputRequest !== null && o.headers === undefined) {
      this.#headers = fetchInternals.headersCopy(inputRequest.headers, guard);
    } else {
      const headers = new Headers();
      fetchInternals.setGuard(headers, guard);
      if (o.headers !== undefined) fetchInternals.fillHeaders(headers, o.headers, CONTEXT);
      this.#headers = headers;
    }

    const inputBody = inputRequest === null ? null : inputRequest.#body;
    const hasInitBody = o.body !== undefined && o.body !== null;
    if ((hasInitBody || (inputBody !== null && inputBody.source !== null)) && (this.#method === "GET" || this.#method === "HEAD")) {
      throw new TypeError(`${CONTEXT}: Request with GET/HEAD method cannot have body.`);
    }
    let initBody = null;
    if (hasInitBody) {
      initBody = fetchInternals.extractBody(o.body, this.#keepalive);
      if (initBody.contentType !== null && !fetchInternals.headersHas(this.#headers, "content-type")) {
        fetchInternals.headersAppendInternal(this.#headers, "content-type", initBody.contentType);
      }
    }
    const inputOrInitBody = initBody ?? inputBody;
    if (inputOrInitBody !== null && fetchInternals.bodyIsStream(inputOrInitBody)) {
      // Workers does not require `duplex: "half"` for stream bodies; the
      // spec does. Accept both (the only valid value is checked above).
      if (this.#mode !== "same-origin" && this.#mode !== "cors") {
        throw new TypeError(`${CONTEXT}: a request with a ReadableStream body must use 'same-origin' or 'cors' mode.`);
      }
    }
    if (initBody === null && inputBody !== null && inputBody.source !== null) {
      if (fetchInternals.bodyUnusable(inputBody)) {
        throw new TypeError(`${CONTEXT}: Cannot construct a Request with a Request object that has already been used.`);
      }
      this.#body = fetchInternals.takeBody(inputBody);
    } else {
      this.#body = initBody ?? fetchInternals.nullBody();
    }
  }

  static #check(r, member) {
    if (r === null || typeof r !== "object" || !(#method in r)) {
      throw new TypeError(`Failed to execute '${member}' on 'Request': Illegal invocation`);
    }
    return r;
  }

  get method() {
    return Request.#check(this, "method").#method;
  }
  get url() {
    return Request.#check(this, "url").#url;
  }
  get headers() {
    Request.#check(this, "headers");
    if (this.#headers === null) {
      const block = ops.op_request_headers(this.#hostId);
      if (block === undefined) {
        throw new TypeError("Failed to read the request's headers: the request has ended and they were never read");
      }
      this.#headers = fetchInternals.headersFromFlat(headerFlat(block), "immutable");
      this.#hostId = null;
    }
    return this.#headers;
  }
  get destination() {
    Request.#check(this, "destination");
    return "";
  }
  get referrer() {
    const r = Request.#check(this, "referrer").#referrer;
    return r === "no-referrer" ? "" : r === "client" ? "about:client" : r;
  }
  get referrerPolicy() {
    return Request.#check(this, "referrerPolicy").#referrerPolicy;
  }
  get mode() {
    return Request.#check(this, "mode").#mode;
  }
  get credentials() {
    return Request.#check(this, "credentials").#credentials;
  }
  get cache() {
    return Request.#check(this, "cache").#cache;
  }
  get redirect() {
    return Request.#check(this, "redirect").#redirect;
  }
  get integrity() {
    return Request.#check(this, "integrity").#integrity;
  }
  get keepalive() {
    return Request.#check(this, "keepalive").#keepalive;
  }
  get isReloadNavigation() {
    return Request.#check(this, "isReloadNavigation").#reloadNavigation;
  }
  get isHistoryNavigation() {
    return Request.#check(this, "isHistoryNavigation").#historyNavigation;
  }
  get signal() {
    Request.#check(this, "signal");
    if (this.#signal === null) {
      const follow = this.#follow;
      const dom = internals.dom;
      this.#signal =
        follow === null ? dom.createAbortSignal() : dom.createDependentAbortSignal([fetchInternals.isRequest(follow) ? follow.signal : follow]);
      this.#follow = null;
    }
    return this.#signal;
  }
  get duplex() {
    Request.#check(this, "duplex");
    return "half";
  }
  /** Workers: the `cf` object given in RequestInit (or by the platform). */
  get cf() {
    return Request.#check(this, "cf").#cf;
  }

  clone() {
    Request.#check(this, "clone");
    if (fetchInternals.bodyUnusable(this.#body)) {
      throw new TypeError("Failed to execute 'clone' on 'Request': Request body is already used");
    }
    const r = new Request(kLazy);
    r.#method = this.#method;
    r.#url = this.#url;
    r.#body = fetchInternals.cloneBody(this.#body);
    const headers = this.headers;
    r.#headers = fetchInternals.headersCopy(headers, fetchInternals.headersGuard(headers));
    r.#mode = this.#mode;
    r.#credentials = this.#credentials;
    r.#cache = this.#cache;
    r.#redirect = this.#redirect;
    r.#referrer = this.#referrer;
    r.#referrerPolicy = this.#referrerPolicy;
    r.#integrity = this.#integrity;
    r.#keepalive = this.#keepalive;
    r.#reloadNavigation = this.#reloadNavigation;
    r.#historyNavigation = this.#historyNavigation;
    r.#priority = this.#priority;
    r.#cf = this.#cf;
    // The clone's signal follows this one.
    r.#follow = this.#signal ?? this.#follow ?? this;
    return r;
  }

  static {
    fetchInternals.isRequest = (r) => r !== null && typeof r === "object" && #method in r;
    fetchInternals.requestBody = (r) => Request.#check(r, "body").#body;
    /** The request's header list as a flat array. */
    fetchInternals.requestHeaderFlat = (r) => fetchInternals.headersFlat(r.headers);
    fetchInternals.requestRedirect = (r) => r.#redirect;
    /**
     * The signal whose abort aborts `r` (its own, or the one it will
     * follow), without making a dependent signal; null if none can.
     */
    fetchInternals.requestAbortSource = (r) => {
      for (;;) {
        if (r.#signal !== null) return r.#signal;
        const follow = r.#follow;
        if (follow === null || !fetchInternals.isRequest(follow)) return follow;
        r = follow;
      }
    };
    /**
     * Aborts a network request's signal (the client went away). A signal
     * nobody has read yet is created already aborted.
     */
    fetchInternals.abortRequest = (r, reason) => {
      if (r.#signal === null && r.#follow === null) r.#signal = internals.dom.createAbortSignal();
      const signal = fetchInternals.requestAbortSource(r);
      if (signal !== null) internals.dom.signalAbort(signal, reason);
    };
    fetchInternals.setRequestCf = (r, cf) => {
      r.#cf = cf;
    };
    /**
     * A request from the network, built lazily. `body`: null, a
     * Uint8Array, or the id of a native body stream.
     */
    fetchInternals.createRequest = function createRequest(method, url, requestId, body) {
      const r = new Request(kLazy);
      r.#method = method;
      r.#url = url;
      r.#hostId = requestId;
      r.#body = fetchInternals.bodyFromNative(body);
      r.#redirect = "manual";
      return r;
    };
  }
}

fetchInternals.mixinBody(Request.prototype, fetchInternals.requestBody, (r) => r.headers, "Request");
webidl.configureInterface(Request);

internals.defineGlobal("Request", Request);
