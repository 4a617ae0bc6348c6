// Headers: https://fetch.spec.whatwg.org/#headers-class
//
// A header list is kept flat, [name0, value0, name1, value1, ...] with
// lower-case names, the shape Rust hands over and takes back, so a request
// from the network adopts its list without copying it.
//
// Guards: "immutable" (requests from the network, Response.error/redirect,
// fetch() responses) refuses changes. "request" and "response" are recorded
// but, as on Workers, no header name is forbidden.

const fetchInternals = internals.fetch;
const { webidl } = fetchInternals;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[\0\r\n]/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const NEEDS_TRIM = /^[\t\n\r ]|[\t\n\r ]$/;

/** ByteString conversion, then "normalize" (strip leading/trailing HTTP whitespace). */
function normalizeValue(value, context) {
  const s = webidl.byteString(value, context);
  return NEEDS_TRIM.test(s) ? s.replace(EDGE_WHITESPACE, "") : s;
}

function checkName(name, context) {
  name = webidl.byteString(name, context);
  if (!TOKEN.test(name)) throw new TypeError(`${context}: Invalid name "${name}".`);
  return name.toLowerCase();
}

function checkValue(value, context) {
  if (BAD_VALUE.test(value)) throw new TypeError(`${context}: Invalid value "${value}".`);
}

class Headers {
  // Flat [lowerName, value, ...] in insertion order.
  #list;
  #guard = "none";
  // The "sort and combine" result, cached until the list changes.
  #sorted = null;

  constructor(init = undefined) {
    this.#list = [];
    if (init !== undefined) {
      if (init === null || (typeof init !== "object" && typeof init !== "function")) {
        throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
      }
      fillHeaders(this, init, "Failed to construct 'Headers'");
    }
  }

  static #state(h, member) {
    if (h === null || typeof h !== "object" || !(#list in h)) {
      throw new TypeError(`Failed to execute '${member}' on 'Headers': Illegal invocation`);
    }
    return h;
  }

  #changed() {
    if (this.#guard === "immutable") throw new TypeError("Failed to modify 'Headers': the headers are immutable.");
    this.#sorted = null;
  }

  append(name, value) {
    Headers.#state(this, "append");
    webidl.requireArgs(arguments.length, 2, "Failed to execute 'append' on 'Headers'");
    this.#append(name, value, "Failed to execute 'append' on 'Headers'");
  }

  #append(name, value, context) {
    const lower = checkName(name, context);
    value = normalizeValue(value, context);
    checkValue(value, context);
    this.#changed();
    this.#list.push(lower, value);
  }

  delete(name) {
    Headers.#state(this, "delete");
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'delete' on 'Headers'");
    const lower = checkName(name, "Failed to execute 'delete' on 'Headers'");
    this.#changed();
    const list = this.#list;
    let j = 0;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] !== lower) {
        list[j++] = list[i];
        list[j++] = list[i + 1];
      }
    }
    list.length = j;
  }

  get(name) {
    Headers.#state(this, "get");
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'get' on 'Headers'");
    const lower = checkName(name, "Failed to execute 'get' on 'Headers'");
    return getCombined(this.#list, lower);
  }

  getSetCookie() {
    const list = Headers.#state(this, "getSetCookie").#list;
    const out = [];
    for (let i = 0; i < list.length; i += 2) if (list[i] === "set-cookie") out.push(list[i + 1]);
    return out;
  }

  has(name) {
    Headers.#state(this, "has");
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'has' on 'Headers'");
    const lower = checkName(name, "Failed to execute 'has' on 'Headers'");
    const list = this.#list;
    for (let i = 0; i < list.length; i += 2) if (list[i] === lower) return true;
    return false;
  }

  set(name, value) {
    Headers.#state(this, "set");
    webidl.requireArgs(arguments.length, 2, "Failed to execute 'set' on 'Headers'");
    const context = "Failed to execute 'set' on 'Headers'";
    const lower = checkName(name, context);
    value = normalizeValue(value, context);
    checkValue(value, context);
    this.#changed();
    const list = this.#list;
    let found = false;
    let j = 0;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === lower) {
        if (found) continue;
        found = true;
        list[j++] = lower;
        list[j++] = value;
      } else {
        list[j++] = list[i];
        list[j++] = list[i + 1];
      }
    }
    list.length = j;
    if (!found) list.push(lower, value);
  }

  static {
    const state = (h) => Headers.#state(h, "iterate");
    // https://fetch.spec.whatwg.org/#concept-header-list-sort-and-combine
    fetchInternals.headersSorted = (h) => {
      state(h);
      if (h.#sorted !== null) return h.#sorted;
      const list = h.#list;
      const names = [];
      const seen = new Set();
      for (let i = 0; i < list.length; i += 2) {
        if (!seen.has(list[i])) {
          seen.add(list[i]);
          names.push(list[i]);
        }
      }
      names.sort();
      const out = [];
      for (const name of names) {
        if (name === "set-cookie") {
          for (let i = 0; i < list.length; i += 2) if (list[i] === name) out.push([name, list[i + 1]]);
        } else {
          out.push([name, getCombined(list, name)]);
        }
      }
      h.#sorted = out;
      return out;
    };
    fetchInternals.isHeaders = (h) => h !== null && typeof h === "object" && #list in h;
    /** The flat list itself (callers must not change it). */
    fetchInternals.headersFlat = (h) => h.#list;
    fetchInternals.headersGuard = (h) => h.#guard;
    fetchInternals.setGuard = (h, guard) => {
      h.#guard = guard;
    };
    /** A Headers adopting `flat` (names lower-cased in place). */
    fetchInternals.headersFromFlat = (flat, guard = "none") => {
      const h = new Headers();
      for (let i = 0; i < flat.length; i += 2) {
        const k = flat[i];
        if (typeof k !== "string") flat[i] = `${k}`.toLowerCase();
        else flat[i] = k.toLowerCase();
      }
      h.#list = flat;
      h.#guard = guard;
      return h;
    };
    /** A copy of `h` with `guard`. */
    fetchInternals.headersCopy = (h, guard) => {
      const c = new Headers();
      c.#list = h.#list.slice();
      c.#guard = guard;
      return c;
    };
    /** Appends without the guard check (internal use, e.g. content-type defaults). */
    fetchInternals.headersAppendInternal = (h, name, value) => {
      h.#sorted = null;
      h.#list.push(name, value);
    };
    /** The spec's "fill" (used by Request/Response init); honours the guard. */
    fetchInternals.fillHeaders = (h, init, context) => fillHeaders(h, init, context);
    fetchInternals.headersAppend = (h, name, value, context) => h.#append(name, value, context);
    /** "Get" without validation: the combined value for a lower-case name, or null. */
    fetchInternals.headersGet = (h, lower) => getCombined(h.#list, lower);
    fetchInternals.headersHas = (h, lower) => {
      const list = h.#list;
      for (let i = 0; i < list.length; i += 2) if (list[i] === lower) return true;
      return false;
    };
  }
}

function getCombined(list, lower) {
  let out = null;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === lower) out = out === null ? list[i + 1] : `${out}, ${list[i + 1]}`;
  }
  return out;
}

// https://fetch.spec.whatwg.org/#concept-headers-fill
function fillHeaders(headers, init, context) {
  if (fetchInternals.isHeaders(init)) {
    // A Headers is iterable; reading its list directly gives the same pairs
    // (unsorted, set-cookie separate) without running user-visible code.
    const list = fetchInternals.headersFlat(init).slice();
    for (let i = 0; i < list.length; i += 2) fetchInternals.headersAppend(headers, list[i], list[i + 1], context);
    return;
  }
  const iteratorMethod = init[Symbol.iterator];
  if (iteratorMethod !== undefined && iteratorMethod !== null) {
    if (typeof iteratorMethod !== "function") {
      throw new TypeError(`${context}: The object's @@iterator property is not callable.`);
    }
    const pairs = [];
    for (const pair of { [Symbol.iterator]: () => Reflect.apply(iteratorMethod, init, []) }) {
      if (pair === null || (typeof pair !== "object" && typeof pair !== "function") || typeof pair[Symbol.iterator] !== "function") {
        throw new TypeError(`${context}: The provided value cannot be converted to a sequence.`);
      }
      const items = [];
      for (const item of pair) items.push(webidl.byteString(item, context));
      if (items.length !== 2) {
        throw new TypeError(`${context}: Invalid header pair: each must contain exactly a name and a value.`);
      }
      pairs.push(items);
    }
    for (const [k, v] of pairs) fetchInternals.headersAppend(headers, k, v, context);
    return;
  }
  // record<ByteString, ByteString>
  const pairs = [];
  for (const key of Reflect.ownKeys(init)) {
    const desc = Reflect.getOwnPropertyDescriptor(init, key);
    if (desc === undefined || !desc.enumerable) continue;
    if (typeof key === "symbol") throw new TypeError(`${context}: header names must be strings.`);
    pairs.push([webidl.byteString(key, context), webidl.byteString(init[key], context)]);
  }
  for (const [k, v] of pairs) fetchInternals.headersAppend(headers, k, v, context);
}

webidl.configureInterface(Headers);
webidl.pairIterable(Headers, "Headers", fetchInternals.headersSorted);

fetchInternals.Headers = Headers;
internals.defineGlobal("Headers", Headers);
