// URL and URLSearchParams (https://url.spec.whatwg.org/#api).
//
// A URL keeps its serialization (href) and the offsets of its components,
// which the Rust parser (op_url_parse) writes into a shared Int32Array, so
// one construction is one op call and every getter is a string slice.
// Setters hand the href back to Rust with the setter's number and value.
// URLSearchParams is plain JS (application/x-www-form-urlencoded).

const { defineGlobal } = internals;
const ObjectDefineProperty = Object.defineProperty;
const ObjectGetOwnPropertyDescriptors = Object.getOwnPropertyDescriptors;
const ObjectGetPrototypeOf = Object.getPrototypeOf;
const ObjectSetPrototypeOf = Object.setPrototypeOf;
const ReflectOwnKeys = Reflect.ownKeys;
const ReflectGetOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
const ArrayPrototypeSort = Array.prototype.sort;
const SymbolIterator = Symbol.iterator;
const SymbolToStringTag = Symbol.toStringTag;
const IteratorPrototype = ObjectGetPrototypeOf(ObjectGetPrototypeOf([][SymbolIterator]()));
const encodeURIComponent_ = encodeURIComponent;
const decodeURIComponent_ = decodeURIComponent;

// Offsets layout written by op_url_parse / op_url_reparse.
const SCHEME_END = 0;
const USERNAME_START = 1;
const USERNAME_END = 2;
const PASSWORD_END = 3;
const HOST_START = 4;
const HOST_END = 5;
const PORT = 6;
const PATH_START = 7;
const QUERY_START = 8;
const FRAGMENT_START = 9;

// Setter numbers understood by op_url_reparse.
const SET_HREF = 0;
const SET_PROTOCOL = 1;
const SET_USERNAME = 2;
const SET_PASSWORD = 3;
const SET_HOST = 4;
const SET_HOSTNAME = 5;
const SET_PORT = 6;
const SET_PATHNAME = 7;
const SET_SEARCH = 8;
const SET_HASH = 9;

let offsetsBuffer = null;
function offsets() {
  // Made lazily: a typed array in the snapshot buys nothing.
  return (offsetsBuffer ??= new Int32Array(10));
}

/** WebIDL USVString conversion. */
function usv(value) {
  return internals.toUSVString(`${value}`);
}

function illegal() {
  return new TypeError("Illegal invocation");
}

function requireArgs(count, required, what) {
  if (count < required) {
    throw new TypeError(
      `Failed to execute '${what}': ${required} argument${required === 1 ? "" : "s"} required, but only ${count} present.`,
    );
  }
}

/**
 * Makes a class look like a WebIDL interface: members enumerable, a
 * Symbol.toStringTag on the prototype.
 */
function configureInterface(cls, tag = cls.name) {
  const proto = cls.prototype;
  const descriptors = ObjectGetOwnPropertyDescriptors(proto);
  for (const key of ReflectOwnKeys(descriptors)) {
    if (key === "constructor" || typeof key === "symbol") continue;
    ObjectDefineProperty(proto, key, { ...descriptors[key], enumerable: true });
  }
  for (const key of ReflectOwnKeys(cls)) {
    if (key === "length" || key === "name" || key === "prototype" || typeof key === "symbol") continue;
    const d = ReflectGetOwnPropertyDescriptor(cls, key);
    ObjectDefineProperty(cls, key, { ...d, enumerable: true });
  }
  ObjectDefineProperty(proto, SymbolToStringTag, {
    value: tag,
    writable: false,
    enumerable: false,
    configurable: true,
  });
}

// ---- application/x-www-form-urlencoded ----------------------------------

const FORM_SAFE = /^[A-Za-z0-9*\-._]*$/;
const FORM_FIX = /%20|[!'()~]/g;
const FORM_FIXES = { "%20": "+", "!": "%21", "'": "%27", "(": "%28", ")": "%29", "~": "%7E" };

/** The urlencoded byte serializer on a well-formed string. */
function formEncode(s) {
  if (FORM_SAFE.test(s)) return s;
  return encodeURIComponent_(s).replace(FORM_FIX, (m) => FORM_FIXES[m]);
}

function formSerialize(list) {
  let out = "";
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += "&";
    out += formEncode(list[i][0]) + "=" + formEncode(list[i][1]);
  }
  return out;
}

/** Percent-decodes `s` as bytes and decodes them as UTF-8 (lossy). */
function percentDecodeString(s) {
  if (s.indexOf("%") === -1) return s;
  try {
    return decodeURIComponent_(s);
  } catch {
    // Stray "%" or invalid UTF-8: decode byte-wise, replacing bad sequences.
    const bytes = internals.encoding.utf8Encode(s);
    const out = new Uint8Array(bytes.length);
    let n = 0;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b === 0x25 && i + 2 < bytes.length) {
        const h = hexValue(bytes[i + 1]);
        const l = hexValue(bytes[i + 2]);
        if (h >= 0 && l >= 0) {
          out[n++] = (h << 4) | l;
          i += 2;
          continue;
        }
      }
      out[n++] = b;
    }
    return internals.encoding.utf8Decode(out.subarray(0, n));
  }
}

function hexValue(b) {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

function formDecodePart(s) {
  if (s.indexOf("+") !== -1) s = s.replaceAll("+", " ");
  return percentDecodeString(s);
}

/** The application/x-www-form-urlencoded parser. */
function formParse(input) {
  const list = [];
  if (input === "") return list;
  let start = 0;
  const len = input.length;
  while (start <= len) {
    let end = input.indexOf("&", start);
    if (end === -1) end = len;
    if (end > start) {
      const eq = input.indexOf("=", start);
      let name;
      let value;
      if (eq === -1 || eq >= end) {
        name = input.slice(start, end);
        value = "";
      } else {
        name = input.slice(start, eq);
        value = input.slice(eq + 1, end);
      }
      list.push([formDecodePart(name), formDecodePart(value)]);
    }
    start = end + 1;
  }
  return list;
}

// ---- URL -------------------------------------------------------------------

// Cross-class private access, filled in by static blocks.
let urlParse; // (input: string, base: string | undefined) => URL | null
let urlMatchComponents; // (url) => URLPattern match input components
let urlSetQuery; // (url, serializedQuery) => void
let paramsSetList; // (params, list) => void
let paramsNewForURL; // (url, query) => URLSearchParams
let paramsList; // (params) => list

// Lets URL.parse build its result through the constructor without parsing.
const SKIP_PARSE = {};

class URL {
  #href = "";
  #schemeEnd = 0;
  #usernameStart = 0;
  #usernameEnd = 0;
  #passwordEnd = 0;
  #hostStart = 0;
  #hostEnd = 0;
  #port = -1;
  #pathStart = 0;
  #queryStart = -1;
  #fragmentStart = -1;
  #searchParams = null;

  static {
    urlSetQuery = (url, serialized) => url.#setQuery(serialized);
    urlParse = (input, base) => {
      const href = ops.op_url_parse(input, base, offsets());
      if (href === null) return null;
      const url = new URL(SKIP_PARSE);
      url.#load(href);
      return url;
    };
    urlMatchComponents = (url) => {
      const href = url.#href;
      const qs = url.#queryStart;
      const fs = url.#fragmentStart;
      const pathEnd = qs !== -1 ? qs : fs !== -1 ? fs : href.length;
      return {
        protocol: href.slice(0, url.#schemeEnd),
        username: href.slice(url.#usernameStart, url.#usernameEnd),
        password: url.#passwordEnd > url.#usernameEnd ? href.slice(url.#usernameEnd + 1, url.#passwordEnd) : "",
        hostname: href.slice(url.#hostStart, url.#hostEnd),
        port: url.#port === -1 ? "" : `${url.#port}`,
        pathname: href.slice(url.#pathStart, pathEnd),
        search: qs === -1 ? "" : href.slice(qs + 1, fs !== -1 ? fs : href.length),
        hash: fs === -1 ? "" : href.slice(fs + 1),
      };
    };
  }

  constructor(url, base = undefined) {
    if (url === SKIP_PARSE) return;
    requireArgs(arguments.length, 1, "URL");
    const input = `${url}`;
    const baseString = base === undefined ? undefined : `${base}`;
    const href = ops.op_url_parse(input, baseString, offsets());
    if (href === null) {
      throw new TypeError(
        baseString === undefined ? `Invalid URL: '${input}'` : `Invalid URL: '${input}' with base '${baseString}'`,
      );
    }
    this.#load(href);
  }

  static parse(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL.parse");
    return urlParse(`${url}`, base === undefined ? undefined : `${base}`);
  }

  static canParse(url, base = undefined) {
    requireArgs(arguments.length, 1, "URL.canParse");
    const input = `${url}`;
    return ops.op_url_parse(input, base === undefined ? undefined : `${base}`, offsets()) !== null;
  }

  #load(href) {
    const o = offsetsBuffer;
    this.#href = href;
    this.#schemeEnd = o[SCHEME_END];
    this.#usernameStart = o[USERNAME_START];
    this.#usernameEnd = o[USERNAME_END];
    this.#passwordEnd = o[PASSWORD_END];
    this.#hostStart = o[HOST_START];
    this.#hostEnd = o[HOST_END];
    this.#port = o[PORT];
    this.#pathStart = o[PATH_START];
    this.#queryStart = o[QUERY_START];
    this.#fragmentStart = o[FRAGMENT_START];
  }

  #reparse(setter, value) {
    const href = ops.op_url_reparse(this.#href, setter, value, offsets());
    if (href === null) return false;
    this.#load(href);
    return true;
  }

  #queryString() {
    if (this.#queryStart === -1) return "";
    const end = this.#fragmentStart === -1 ? this.#href.length : this.#fragmentStart;
    return this.#href.slice(this.#queryStart + 1, end);
  }

  #syncSearchParams() {
    if (this.#searchParams !== null) paramsSetList(this.#searchParams, formParse(this.#queryString()));
  }

  /** URLSearchParams' update steps: the query becomes `serialized` (null if empty). */
  #setQuery(serialized) {
    const href = this.#href;
    const qs = this.#queryStart;
    const fs = this.#fragmentStart;
    const cut = qs !== -1 ? qs : fs !== -1 ? fs : href.length;
    const fragment = fs !== -1 ? href.slice(fs) : "";
    if (serialized === "") {
      this.#href = href.slice(0, cut) + fragment;
      this.#queryStart = -1;
      this.#fragmentStart = fs === -1 ? -1 : cut;
    } else {
      this.#href = href.slice(0, cut) + "?" + serialized + fragment;
      this.#queryStart = cut;
      this.#fragmentStart = fs === -1 ? -1 : cut + 1 + serialized.length;
    }
  }

  get href() {
    if (!(#href in this)) throw illegal();
    return this.#href;
  }

  set href(value) {
    if (!(#href in this)) throw illegal();
    const input = `${value}`;
    if (!this.#reparse(SET_HREF, input)) throw new TypeError(`Invalid URL: '${input}'`);
    this.#syncSearchParams();
  }

  get origin() {
    if (!(#href in this)) throw illegal();
    const scheme = this.#href.slice(0, this.#schemeEnd);
    switch (scheme) {
      case "http":
      case "https":
      case "ws":
      case "wss":
      case "ftp":
        return scheme + "://" + this.#href.slice(this.#hostStart, this.#pathStart);
      case "blob": {
        const inner = urlParse(this.pathname, undefined);
        if (inner !== null && (inner.#schemeIs("http") || inner.#schemeIs("https"))) return inner.origin;
        return "null";
      }
      default:
        return "null";
    }
  }

  #schemeIs(scheme) {
    return this.#schemeEnd === scheme.length && this.#href.startsWith(scheme);
  }

  get protocol() {
    if (!(#href in this)) throw illegal();
    return this.#href.slice(0, this.#schemeEnd + 1);
  }

  set protocol(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_PROTOCOL, `${value}`);
  }

  get username() {
    if (!(#href in this)) throw illegal();
    return this.#href.slice(this.#usernameStart, this.#usernameEnd);
  }

  set username(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_USERNAME, `${value}`);
  }

  get password() {
    if (!(#href in this)) throw illegal();
    return this.#passwordEnd > this.#usernameEnd ? this.#href.slice(this.#usernameEnd + 1, this.#passwordEnd) : "";
  }

  set password(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_PASSWORD, `${value}`);
  }

  get host() {
    if (!(#href in this)) throw illegal();
    return this.#href.slice(this.#hostStart, this.#port === -1 ? this.#hostEnd : this.#pathStart);
  }

  set host(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_HOST, `${value}`);
  }

  get hostname() {
    if (!(#href in this)) throw illegal();
    return this.#href.slice(this.#hostStart, this.#hostEnd);
  }

  set hostname(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_HOSTNAME, `${value}`);
  }

  get port() {
    if (!(#href in this)) throw illegal();
    return this.#port === -1 ? "" : `${this.#port}`;
  }

  set port(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_PORT, `${value}`);
  }

  get pathname() {
    if (!(#href in this)) throw illegal();
    const end = this.#queryStart !== -1 ? this.#queryStart : this.#fragmentStart !== -1 ? this.#fragmentStart : this.#href.length;
    return this.#href.slice(this.#pathStart, end);
  }

  set pathname(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_PATHNAME, `${value}`);
  }

  get search() {
    if (!(#href in this)) throw illegal();
    if (this.#queryStart === -1) return "";
    const end = this.#fragmentStart === -1 ? this.#href.length : this.#fragmentStart;
    return end - this.#queryStart <= 1 ? "" : this.#href.slice(this.#queryStart, end);
  }

  set search(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_SEARCH, `${value}`);
    this.#syncSearchParams();
  }

  get searchParams() {
    if (!(#href in this)) throw illegal();
    return (this.#searchParams ??= paramsNewForURL(this, this.#queryString()));
  }

  get hash() {
    if (!(#href in this)) throw illegal();
    const fs = this.#fragmentStart;
    return fs === -1 || fs === this.#href.length - 1 ? "" : this.#href.slice(fs);
  }

  set hash(value) {
    if (!(#href in this)) throw illegal();
    this.#reparse(SET_HASH, `${value}`);
  }

  toString() {
    if (!(#href in this)) throw illegal();
    return this.#href;
  }

  toJSON() {
    if (!(#href in this)) throw illegal();
    return this.#href;
  }
}


configureInterface(URL);
defineGlobal("URL", URL);

// ---- URLSearchParams -----------------------------------------------------

class URLSearchParams {
  #list = [];
  #url = null;

  static {
    paramsSetList = (params, list) => {
      params.#list = list;
    };
    paramsList = (params) => params.#list;
    paramsNewForURL = (url, query) => {
      const params = new URLSearchParams();
      params.#list = formParse(query);
      params.#url = url;
      return params;
    };
  }

  constructor(init = "") {
    if (init !== null && (typeof init === "object" || typeof init === "function")) {
      const iteratorMethod = init[SymbolIterator];
      if (iteratorMethod !== undefined && iteratorMethod !== null) {
        if (typeof iteratorMethod !== "function") {
          throw new TypeError("Failed to construct 'URLSearchParams': The provided value is not iterable.");
        }
        for (const pair of { [SymbolIterator]: () => iteratorMethod.call(init) }) {
          if (pair === null || (typeof pair !== "object" && typeof pair !== "function")) {
            throw new TypeError("Failed to construct 'URLSearchParams': The provided value cannot be converted to a sequence.");
          }
          const items = [];
          for (const item of pair) items.push(usv(item));
          if (items.length !== 2) {
            throw new TypeError("Failed to construct 'URLSearchParams': Sequence initializer must only contain pair elements");
          }
          this.#list.push(items);
        }
      } else {
        for (const key of ReflectOwnKeys(init)) {
          const desc = ReflectGetOwnPropertyDescriptor(init, key);
          if (desc === undefined || !desc.enumerable) continue;
          const name = usv(key);
          const value = usv(init[key]);
          this.#list.push([name, value]);
        }
      }
    } else {
      let s = usv(init);
      if (s.charCodeAt(0) === 0x3f) s = s.slice(1);
      this.#list = formParse(s);
    }
  }

  #update() {
    if (this.#url !== null) urlSetQuery(this.#url, formSerialize(this.#list));
  }

  get size() {
    if (!(#list in this)) throw illegal();
    return this.#list.length;
  }

  append(name, value) {
    if (!(#list in this)) throw illegal();
    requireArgs(arguments.length, 2, "append");
    this.#list.push([usv(name), usv(value)]);
    this.#update();
  }

  delete(name, value = undefined) {
    if (!(#list in this)) throw illegal();
    requireArgs(arguments.length, 1, "delete");
    name = usv(name);
    const list = this.#list;
    let kept;
    if (value === undefined) {
      kept = list.filter((e) => e[0] !== name);
    } else {
      value = usv(value);
      kept = list.filter((e) => e[0] !== name || e[1] !== value);
    }
    this.#list = kept;
    this.#update();
  }

  get(name) {
    if (!(#list in this)) throw illegal();
    requireArgs(arguments.length, 1, "get");
    name = usv(name);
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === name) return list[i][1];
    }
    return null;
  }

  getAll(name) {
    if (!(#list in this)) throw illegal();
    requireArgs(arguments.length, 1, "getAll");
    name = usv(name);
    const out = [];
    const list = this.#list;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === name) out.push(list[i][1]);
    }
    return out;
  }

  has(name, value = undefined) {
    if (!(#list in this)) throw illegal();
    requireArgs(arguments.length, 1, "has");
    name = usv(name);
    const list = this.#list;
    if (value === undefined) {
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return true;
      return false;
    }
    value = usv(value);
    for (let i = 0; i < list.length; i++) if (list[i][0] === name && list[i][1] === value) return true;
    return false;
  }

  set(name, value) {
    if (!(#list in this)) throw illegal();
    requireArgs(arguments.length, 2, "set");
    name = usv(name);
    value = usv(value);
    const list = this.#list;
    let found = false;
    const out = [];
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] !== name) {
        out.push(list[i]);
      } else if (!found) {
        found = true;
        out.push([name, value]);
      }
    }
    if (!found) out.push([name, value]);
    this.#list = out;
    this.#update();
  }

  sort() {
    if (!(#list in this)) throw illegal();
    // Stable, by UTF-16 code units of the names.
    ArrayPrototypeSort.call(this.#list, (a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.#update();
  }

  forEach(callback, thisArg = undefined) {
    if (!(#list in this)) throw illegal();
    requireArgs(arguments.length, 1, "forEach");
    if (typeof callback !== "function") {
      throw new TypeError("Failed to execute 'forEach' on 'URLSearchParams': parameter 1 is not of type 'Function'.");
    }
    for (let i = 0; i < this.#list.length; i++) {
      const pair = this.#list[i];
      callback.call(thisArg, pair[1], pair[0], this);
    }
  }

  keys() {
    if (!(#list in this)) throw illegal();
    return newIterator(this, KIND_KEYS);
  }

  values() {
    if (!(#list in this)) throw illegal();
    return newIterator(this, KIND_VALUES);
  }

  entries() {
    if (!(#list in this)) throw illegal();
    return newIterator(this, KIND_ENTRIES);
  }

  toString() {
    if (!(#list in this)) throw illegal();
    return formSerialize(this.#list);
  }
}

const KIND_KEYS = 0;
const KIND_VALUES = 1;
const KIND_ENTRIES = 2;

// %URLSearchParamsIteratorPrototype%: a live view over the list.
class URLSearchParamsIterator {
  #target;
  #kind;
  #index = 0;

  constructor(target, kind) {
    this.#target = target;
    this.#kind = kind;
  }

  next() {
    if (!(#target in this)) throw illegal();
    const list = paramsList(this.#target);
    if (this.#index >= list.length) return { value: undefined, done: true };
    const pair = list[this.#index++];
    const kind = this.#kind;
    const value = kind === KIND_KEYS ? pair[0] : kind === KIND_VALUES ? pair[1] : [pair[0], pair[1]];
    return { value, done: false };
  }
}

const IteratorProto = URLSearchParamsIterator.prototype;
delete IteratorProto.constructor;
ObjectSetPrototypeOf(IteratorProto, IteratorPrototype);
ObjectDefineProperty(IteratorProto, "next", { enumerable: true });
ObjectDefineProperty(IteratorProto, SymbolToStringTag, {
  value: "URLSearchParams Iterator",
  writable: false,
  enumerable: false,
  configurable: true,
});

function newIterator(target, kind) {
  return new URLSearchParamsIterator(target, kind);
}

configureInterface(URLSearchParams);
ObjectDefineProperty(URLSearchParams.prototype, SymbolIterator, {
  value: URLSearchParams.prototype.entries,
  writable: true,
  enumerable: false,
  configurable: true,
});
defineGlobal("URLSearchParams", URLSearchParams);

internals.url = {
  URL,
  URLSearchParams,
  /** Parses a URL: a URL object or null (not reachable by user code). */
  parse: urlParse,
  /** The href without its fragment. */
  hrefWithoutFragment(url) {
    const href = url.href;
    const hash = href.indexOf("#");
    return hash === -1 ? href : href.slice(0, hash);
  },
  /** The components URLPattern matches against. */
  matchComponents: urlMatchComponents,
  formParse,
  formSerialize,
  percentDecodeString,
  configureInterface,
};
