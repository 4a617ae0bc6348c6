// WebIDL-style helpers shared by the fetch family's classes (argument
// checks, type conversions, pair iterators): https://webidl.spec.whatwg.org/
//
// Builtins are captured here, while the snapshot is built, so user code that
// patches globals later cannot change how the family behaves.

const fetchInternals = (internals.fetch ??= {});

const ObjectDefineProperty = Object.defineProperty;
const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const ObjectGetOwnPropertyNames = Object.getOwnPropertyNames;
const ObjectSetPrototypeOf = Object.setPrototypeOf;
const ReflectApply = Reflect.apply;
const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
const NON_BYTE = /[^\x00-\xff]/;

const webidl = {
  /** Throws the browsers' "N argument(s) required" TypeError. */
  requireArgs(count, required, context) {
    if (count < required) {
      const noun = required === 1 ? "argument" : "arguments";
      throw new TypeError(`${context}: ${required} ${noun} required, but only ${count} present.`);
    }
  },

  /** DOMString. */
  domString(value) {
    if (typeof value === "string") return value;
    if (typeof value === "symbol") throw new TypeError("Cannot convert a Symbol value to a string");
    return `${value}`;
  },

  /** USVString: lone surrogates become U+FFFD. */
  usvString(value) {
    const s = webidl.domString(value);
    return internals.toUSVString(s);
  },

  /** ByteString: a TypeError for code points above U+00FF. */
  byteString(value, context) {
    const s = webidl.domString(value);
    if (NON_BYTE.test(s)) {
      throw new TypeError(`${context}: the string contains a character outside the Latin-1 range (not a ByteString).`);
    }
    return s;
  },

  /** `unsigned short`. */
  unsignedShort(value) {
    let n = Number(value);
    if (!Number.isFinite(n)) return 0;
    n = Math.trunc(n) % 65536;
    return n < 0 ? n + 65536 : n;
  },

  /** `[Clamp] long long`. */
  clampLongLong(value) {
    let n = Number(value);
    if (Number.isNaN(n)) return 0;
    n = Math.min(Math.max(n, -Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
    // Round half to even.
    const f = Math.floor(n);
    const diff = n - f;
    if (diff > 0.5 || (diff === 0.5 && f % 2 !== 0)) return f + 1 || 0;
    return f || 0;
  },

  /** `long long`. */
  longLong(value) {
    const n = Number(value);
    if (!Number.isFinite(n)) return 0;
    const t = Math.trunc(n);
    return t === 0 ? 0 : t;
  },

  /** A dictionary argument: undefined/null mean "empty", other non-objects throw. */
  dictionary(value, context, typeName) {
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" && typeof value !== "function") {
      throw new TypeError(`${context}: The provided value is not of type '${typeName}'.`);
    }
    return value;
  },

  /** An enumeration value; a TypeError for anything else. */
  enumValue(value, allowed, context, typeName) {
    const s = webidl.domString(value);
    if (!allowed.includes(s)) {
      throw new TypeError(`${context}: The provided value '${s}' is not a valid enum value of type ${typeName}.`);
    }
    return s;
  },

  /**
   * Makes a class look like a WebIDL interface: operations and attributes
   * enumerable, a Symbol.toStringTag on the prototype.
   */
  configureInterface(cls, tag = cls.name) {
    const proto = cls.prototype;
    for (const key of ObjectGetOwnPropertyNames(proto)) {
      if (key === "constructor") continue;
      const desc = ObjectGetOwnPropertyDescriptor(proto, key);
      desc.enumerable = true;
      ObjectDefineProperty(proto, key, desc);
    }
    for (const key of ObjectGetOwnPropertyNames(cls)) {
      if (key === "length" || key === "name" || key === "prototype") continue;
      const desc = ObjectGetOwnPropertyDescriptor(cls, key);
      desc.enumerable = true;
      ObjectDefineProperty(cls, key, desc);
    }
    ObjectDefineProperty(proto, Symbol.toStringTag, { value: tag, configurable: true });
  },

  /**
   * The WebIDL "pair iterator" for `iterable<K, V>` interfaces: adds
   * entries/keys/values/forEach and @@iterator to `cls.prototype`.
   * `pairsOf(obj)` returns the current [key, value] list (called on every
   * step, so iteration is live) and throws for non-instances.
   */
  pairIterable(cls, name, pairsOf) {
    const kinds = ["key", "value", "key+value"];
    class PairIterator {
      #target;
      #kind;
      #index = 0;
      constructor(target, kind) {
        this.#target = target;
        this.#kind = kind;
      }
      next() {
        if (this === null || typeof this !== "object" || !(#target in this)) {
          throw new TypeError(`Failed to execute 'next' on '${name} Iterator': Illegal invocation`);
        }
        const pairs = pairsOf(this.#target);
        if (this.#index >= pairs.length) return { value: undefined, done: true };
        const pair = pairs[this.#index++];
        const kind = this.#kind;
        const value = kind === "key" ? pair[0] : kind === "value" ? pair[1] : [pair[0], pair[1]];
        return { value, done: false };
      }
    }
    const iterProto = PairIterator.prototype;
    delete iterProto.constructor;
    ObjectSetPrototypeOf(iterProto, IteratorPrototype);
    ObjectDefineProperty(iterProto, "next", { enumerable: true });
    ObjectDefineProperty(iterProto, Symbol.toStringTag, { value: `${name} Iterator`, configurable: true });

    const proto = cls.prototype;
    const methods = {
      entries() {
        pairsOf(this);
        return new PairIterator(this, kinds[2]);
      },
      keys() {
        pairsOf(this);
        return new PairIterator(this, kinds[0]);
      },
      values() {
        pairsOf(this);
        return new PairIterator(this, kinds[1]);
      },
      forEach(callback, thisArg = undefined) {
        let pairs = pairsOf(this);
        webidl.requireArgs(arguments.length, 1, `Failed to execute 'forEach' on '${name}'`);
        if (typeof callback !== "function") {
          throw new TypeError(`Failed to execute 'forEach' on '${name}': The callback provided as parameter 1 is not a function.`);
        }
        for (let i = 0; i < pairs.length; i++) {
          const pair = pairs[i];
          ReflectApply(callback, thisArg, [pair[1], pair[0], this]);
          pairs = pairsOf(this);
        }
      },
    };
    for (const key of ["entries", "keys", "values", "forEach"]) {
      ObjectDefineProperty(proto, key, { value: methods[key], writable: true, enumerable: true, configurable: true });
    }
    ObjectDefineProperty(proto, Symbol.iterator, {
      value: methods.entries,
      writable: true,
      enumerable: false,
      configurable: true,
    });
  },

  isArrayBuffer(x) {
    return x instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && x instanceof SharedArrayBuffer);
  },

  /** A copy of a BufferSource's bytes as a new Uint8Array. */
  copyBufferSource(x) {
    // A detached buffer (and a view on one) holds no bytes.
    if (ArrayBuffer.isView(x)) {
      if (x.byteLength === 0) return new Uint8Array(0);
      return new Uint8Array(x.buffer, x.byteOffset, x.byteLength).slice();
    }
    if (x.byteLength === 0) return new Uint8Array(0);
    return new Uint8Array(x).slice();
  },
};

fetchInternals.webidl = webidl;

// UTF-8 helpers, bound to the encoding family at run time.
fetchInternals.utf8Encode = (s) => internals.encoding.utf8Encode(s);
// "UTF-8 decode": a leading BOM is dropped, malformed sequences replaced.
fetchInternals.utf8Decode = (bytes) => internals.encoding.utf8DecodeWithBOM(bytes);
