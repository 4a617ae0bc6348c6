// crypto.getRandomValues and crypto.randomUUID
// (https://w3c.github.io/webcrypto/#Crypto-method-getRandomValues).
import { assert, assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    assert(crypto instanceof Crypto, "crypto is a Crypto");
    assertThrows(() => new Crypto(), TypeError);
    assertEquals(Object.prototype.toString.call(crypto), "[object Crypto]");
    assert(crypto.subtle instanceof SubtleCrypto, "subtle");
    assertEquals(crypto.subtle, crypto.subtle);
    assertThrows(() => new SubtleCrypto(), TypeError);
    assertThrows(() => Crypto.prototype.getRandomValues.call({}, new Uint8Array(1)), TypeError);
    assertThrows(() => Crypto.prototype.randomUUID.call({}), TypeError);
    assertEquals(Crypto.prototype.getRandomValues.length, 1);

    // Every integer typed array works and is returned as is.
    for (const Ctor of [
      Int8Array,
      Uint8Array,
      Uint8ClampedArray,
      Int16Array,
      Uint16Array,
      Int32Array,
      Uint32Array,
      BigInt64Array,
      BigUint64Array,
    ]) {
      const a = new Ctor(16);
      assertEquals(crypto.getRandomValues(a), a, Ctor.name);
      assert(a.some((x) => x != 0), `${Ctor.name} filled`);
    }

    // Only the view's bytes are written.
    const buf = new Uint8Array(64);
    crypto.getRandomValues(new Uint8Array(buf.buffer, 16, 32));
    assert(buf.subarray(0, 16).every((x) => x === 0) && buf.subarray(48).every((x) => x === 0), "outside untouched");
    assert(buf.subarray(16, 48).some((x) => x !== 0), "inside filled");

    // Two draws differ.
    const x = crypto.getRandomValues(new Uint8Array(32));
    const y = crypto.getRandomValues(new Uint8Array(32));
    assert(x.some((v, i) => v !== y[i]), "fresh randomness");

    // Empty arrays are fine; exactly 65,536 bytes is the limit.
    assertEquals(crypto.getRandomValues(new Uint8Array(0)).length, 0);
    assertEquals(crypto.getRandomValues(new Uint8Array(65536)).length, 65536);
    assertEquals(crypto.getRandomValues(new Uint32Array(16384)).length, 16384);
    const quota = assertThrows(() => crypto.getRandomValues(new Uint8Array(65537)), DOMException, "QuotaExceededError");
    assertEquals(quota.code, 22);
    assertThrows(() => crypto.getRandomValues(new BigUint64Array(8193)), DOMException, "QuotaExceededError");

    // Float arrays and DataViews: TypeMismatchError; non-views: TypeError.
    for (const bad of [new Float32Array(4), new Float64Array(4), new DataView(new ArrayBuffer(4))]) {
      const e = assertThrows(() => crypto.getRandomValues(bad), DOMException, "TypeMismatchError");
      assertEquals(e.code, 17);
    }
    if (typeof Float16Array === "function") {
      assertThrows(() => crypto.getRandomValues(new Float16Array(4)), DOMException, "TypeMismatchError");
    }
    // The type check comes before the size check.
    assertThrows(() => crypto.getRandomValues(new Float64Array(10000)), DOMException, "TypeMismatchError");
    for (const bad of [new ArrayBuffer(4), [1, 2], "abc", null, undefined, 5]) {
      assertThrows(() => crypto.getRandomValues(bad), TypeError);
    }
    assertThrows(() => crypto.getRandomValues(), TypeError);

    // randomUUID: version 4, variant 10xx, lowercase, unique.
    const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const seen = new Set();
    for (let i = 0; i < 200; i++) {
      const id = crypto.randomUUID();
      assert(re.test(id), `UUID format: ${id}`);
      seen.add(id);
    }
    assertEquals(seen.size, 200);
    return new Response("ok");
  },
};
