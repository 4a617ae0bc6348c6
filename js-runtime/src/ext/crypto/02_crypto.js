// Crypto and the `crypto` global (Web Cryptography API section 10,
// https://w3c.github.io/webcrypto/#crypto-interface).

const { domException: makeDOMException, typedArrayName: viewTypeName } = internals.crypto;
const isView = ArrayBuffer.isView;
const byteLengthOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "byteLength").get;

// getRandomValues accepts integer typed arrays only.
const INTEGER_ARRAYS = new Set([
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "BigInt64Array",
  "BigUint64Array",
]);
const MAX_RANDOM_BYTES = 65536;

let isCrypto;

class Crypto {
  #brand = true;

  constructor(key = undefined) {
    if (key !== internals) throw new TypeError("Illegal constructor");
  }

  static {
    isCrypto = (value) => value !== null && typeof value === "object" && #brand in value;
  }

  get subtle() {
    if (!isCrypto(this)) throw new TypeError("Failed to read 'subtle' on 'Crypto': Illegal invocation");
    return internals.crypto.subtle;
  }

  getRandomValues(array) {
    const ctx = "Failed to execute 'getRandomValues' on 'Crypto'";
    if (!isCrypto(this)) throw new TypeError(`${ctx}: Illegal invocation`);
    internals.crypto.requireArgs(arguments.length, 1, ctx);
    if (!isView(array)) {
      throw new TypeError(`${ctx}: parameter 1 is not of type 'ArrayBufferView'.`);
    }
    const name = viewTypeName(array);
    if (!INTEGER_ARRAYS.has(name)) {
      throw makeDOMException(
        `${ctx}: The provided ArrayBufferView is of type '${name ?? "DataView"}', which is not an integer array type.`,
        "TypeMismatchError",
      );
    }
    const length = Reflect.apply(byteLengthOf, array, []);
    if (length > MAX_RANDOM_BYTES) {
      throw makeDOMException(
        `${ctx}: The ArrayBufferView's byte length (${length}) exceeds the number of bytes of entropy ` +
          `available via this API (${MAX_RANDOM_BYTES}).`,
        "QuotaExceededError",
      );
    }
    if (length > 0) ops.op_crypto_get_random_values(array);
    return array;
  }

  randomUUID() {
    if (!isCrypto(this)) throw new TypeError("Failed to execute 'randomUUID' on 'Crypto': Illegal invocation");
    return ops.op_crypto_random_uuid();
  }
}
internals.dom.enumerableMembers(Crypto.prototype, ["subtle", "getRandomValues", "randomUUID"]);
internals.dom.toStringTag(Crypto, "Crypto");

internals.defineGlobal("Crypto", Crypto);
internals.defineGlobal("crypto", new Crypto(internals));
