// CryptoKey (Web Cryptography API section 13, https://w3c.github.io/webcrypto/#cryptokey-interface)
// and the WebIDL conversions the other crypto files share.

internals.crypto = {};

const ReflectApply = Reflect.apply;
const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, freeze } = Object;
const DOMExceptionClass = internals.dom.DOMException;

const getter = (proto, name) => getOwnPropertyDescriptor(proto, name).get;
const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype);
const TypedArrayName = getter(TypedArrayPrototype, Symbol.toStringTag);
const TypedArrayBuffer = getter(TypedArrayPrototype, "buffer");
const TypedArrayByteOffset = getter(TypedArrayPrototype, "byteOffset");
const TypedArrayByteLength = getter(TypedArrayPrototype, "byteLength");
const TypedArraySet = TypedArrayPrototype.set;
const DataViewBuffer = getter(DataView.prototype, "buffer");
const DataViewByteOffset = getter(DataView.prototype, "byteOffset");
const DataViewByteLength = getter(DataView.prototype, "byteLength");
const ArrayBufferByteLength = getter(ArrayBuffer.prototype, "byteLength");
const ArrayBufferIsView = ArrayBuffer.isView;
const Uint8ArrayCtor = Uint8Array;

function domException(message, name) {
  return new DOMExceptionClass(message, name);
}

/** The `Symbol.toStringTag` of a typed array (its constructor name), undefined for a DataView. */
function typedArrayName(view) {
  return ReflectApply(TypedArrayName, view, []);
}

/** True for a non-shared ArrayBuffer (the byteLength getter rejects the rest). */
function isArrayBuffer(value) {
  try {
    ReflectApply(ArrayBufferByteLength, value, []);
    return true;
  } catch {
    return false;
  }
}

/**
 * WebIDL `BufferSource` -> a copy of its bytes ("get a copy of the bytes held
 * by the buffer source"); a detached buffer gives no bytes. Throws a
 * TypeError for anything else, shared memory included.
 */
function copyBufferSource(value, context) {
  if (ArrayBufferIsView(value)) {
    const isTyped = typedArrayName(value) !== undefined;
    const buffer = ReflectApply(isTyped ? TypedArrayBuffer : DataViewBuffer, value, []);
    if (!isArrayBuffer(buffer)) {
      throw new TypeError(`${context}: The provided ArrayBufferView value must not be shared.`);
    }
    let offset = 0;
    let length = 0;
    try {
      offset = ReflectApply(isTyped ? TypedArrayByteOffset : DataViewByteOffset, value, []);
      length = ReflectApply(isTyped ? TypedArrayByteLength : DataViewByteLength, value, []);
    } catch {
      // A DataView over a detached buffer: no bytes.
    }
    const copy = new Uint8ArrayCtor(length);
    if (length > 0) ReflectApply(TypedArraySet, copy, [new Uint8ArrayCtor(buffer, offset, length)]);
    return copy;
  }
  if (isArrayBuffer(value)) {
    const length = ReflectApply(ArrayBufferByteLength, value, []);
    const copy = new Uint8ArrayCtor(length);
    if (length > 0) ReflectApply(TypedArraySet, copy, [new Uint8ArrayCtor(value, 0, length)]);
    return copy;
  }
  throw new TypeError(`${context}: The provided value is not of type '(ArrayBuffer or ArrayBufferView)'.`);
}

/** The ArrayBuffer behind a Uint8Array an op returned (it owns the whole buffer). */
function toArrayBuffer(bytes) {
  return ReflectApply(TypedArrayBuffer, bytes, []);
}

const KEY_USAGES = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];

/** WebIDL `sequence<KeyUsage>`. */
function toKeyUsages(value, context) {
  return internals.sequence(value, context, (item) => {
    const usage = `${item}`;
    if (!KEY_USAGES.includes(usage)) {
      throw new TypeError(`${context}: The provided value '${usage}' is not a valid enum value of type KeyUsage.`);
    }
    return usage;
  });
}

/** The "normalized value" of a usage list: no duplicates, in the spec's order. */
function normalizeUsages(usages) {
  return KEY_USAGES.filter((u) => usages.includes(u));
}

function requireArgs(count, required, context) {
  internals.dom.requireArgs(count, required, context);
}

/** WebIDL `[EnforceRange] unsigned long`. */
function enforceRangeU32(value, context) {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new TypeError(`${context}: Value is not of type 'unsigned long'.`);
  const x = Math.trunc(n);
  if (x < 0 || x > 0xffffffff) throw new TypeError(`${context}: Value is outside the 'unsigned long' value range.`);
  return x === 0 ? 0 : x;
}

/** Deep-copies a normalized KeyAlgorithm into the plain object `key.algorithm` returns. */
function algorithmObject(algorithm) {
  const out = {};
  for (const k of Object.keys(algorithm)) {
    const v = algorithm[k];
    out[k] = v !== null && typeof v === "object" && !ArrayBufferIsView(v) ? algorithmObject(v) : v;
  }
  return out;
}

// ---------------------------------------------------------------------------

const illegalConstructorKey = Symbol("CryptoKey");
let keyState;

class CryptoKey {
  #s;

  constructor(key = undefined, state = undefined) {
    if (key !== illegalConstructorKey) throw new TypeError("Illegal constructor");
    this.#s = state;
  }

  static {
    keyState = (key, member) => {
      if (key === null || (typeof key !== "object" && typeof key !== "function") || !(#s in key)) {
        throw new TypeError(`Failed to read '${member}' on 'CryptoKey': Illegal invocation`);
      }
      return key.#s;
    };
  }

  get type() {
    return keyState(this, "type").type;
  }

  get extractable() {
    return keyState(this, "extractable").extractable;
  }

  get algorithm() {
    const s = keyState(this, "algorithm");
    // [[algorithm_cached]]: the same object every time.
    s.algorithmCached ??= algorithmObject(s.algorithm);
    return s.algorithmCached;
  }

  get usages() {
    const s = keyState(this, "usages");
    s.usagesCached ??= [...s.usages];
    return s.usagesCached;
  }
}
internals.dom.enumerableMembers(CryptoKey.prototype, ["type", "extractable", "algorithm", "usages"]);
internals.dom.toStringTag(CryptoKey, "CryptoKey");

/**
 * A new CryptoKey. `algorithm` is the KeyAlgorithm dictionary (e.g.
 * `{ name: "HMAC", hash: { name: "SHA-256" }, length: 256 }`), `material`
 * the secret bytes (a Uint8Array the key owns).
 */
function createKey(type, extractable, algorithm, usages, material) {
  return new CryptoKey(illegalConstructorKey, {
    type,
    extractable,
    algorithm: freeze(algorithm),
    usages: normalizeUsages(usages),
    material,
    algorithmCached: null,
    usagesCached: null,
  });
}

function isCryptoKey(value) {
  try {
    keyState(value, "");
    return true;
  } catch {
    return false;
  }
}

/** WebIDL conversion to CryptoKey (TypeError otherwise). */
function toCryptoKey(value, context, position) {
  if (!isCryptoKey(value)) {
    throw new TypeError(`${context}: parameter ${position} is not of type 'CryptoKey'.`);
  }
  return keyState(value, "");
}

// CryptoKey is serializable (WebCrypto section 13.4): the clone has the same
// type, extractability, algorithm, usages and key material.
internals.dom.registerPlatformClass(CryptoKey.prototype, isCryptoKey, {
  serialize(key) {
    const s = keyState(key, "");
    return { type: s.type, extractable: s.extractable, algorithm: s.algorithm, usages: s.usages, material: s.material };
  },
  deserialize(data) {
    return createKey(data.type, data.extractable, data.algorithm, data.usages, data.material);
  },
});

internals.defineGlobal("CryptoKey", CryptoKey);

Object.assign(internals.crypto, {
  CryptoKey,
  createKey,
  isCryptoKey,
  keyState,
  toCryptoKey,
  domException,
  typedArrayName,
  copyBufferSource,
  toArrayBuffer,
  isArrayBuffer,
  toKeyUsages,
  requireArgs,
  enforceRangeU32,
});
