// crypto.subtle.digest: known answers for SHA-1/256/384/512, algorithm
// identifiers, input types and errors (https://w3c.github.io/webcrypto/#SubtleCrypto-method-digest).
import { assert, assertEquals, assertRejects } from "../_assert.js";

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const text = (s) => new TextEncoder().encode(s);

const ABC = {
  "SHA-1": "a9993e364706816aba3e25717850c26c9cd0d89d",
  "SHA-256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  "SHA-384":
    "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
  "SHA-512":
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
};

export default {
  async fetch() {
    const subtle = crypto.subtle;
    for (const [name, expected] of Object.entries(ABC)) {
      const out = await subtle.digest(name, text("abc"));
      assert(out instanceof ArrayBuffer, "resolves to an ArrayBuffer");
      assertEquals(hex(out), expected, name);
      assertEquals(hex(await subtle.digest({ name }, text("abc"))), expected, `${name} as {name}`);
      assertEquals(hex(await subtle.digest(name.toLowerCase(), text("abc"))), expected, `${name} lowercase`);
    }
    assertEquals(
      hex(await subtle.digest("SHA-256", new Uint8Array(0))),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assertEquals(
      hex(await subtle.digest("SHA-256", text("a".repeat(1000000)))),
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    );

    // Any BufferSource; views hash only their bytes.
    const bytes = new Uint8Array([0, 0x61, 0x62, 0x63, 0]);
    assertEquals(hex(await subtle.digest("SHA-256", bytes.subarray(1, 4))), ABC["SHA-256"]);
    assertEquals(hex(await subtle.digest("SHA-256", new DataView(bytes.buffer, 1, 3))), ABC["SHA-256"]);
    assertEquals(hex(await subtle.digest("SHA-256", text("abc").buffer)), ABC["SHA-256"]);

    // The data is copied when digest is called.
    const mutable = text("abc");
    const pending = subtle.digest("SHA-256", mutable);
    mutable[0] = 0;
    assertEquals(hex(await pending), ABC["SHA-256"]);

    // Errors are rejections, never synchronous throws.
    await assertRejects(subtle.digest("MD5", text("abc")), DOMException, "NotSupportedError");
    await assertRejects(subtle.digest("SHA-224", text("abc")), DOMException, "NotSupportedError");
    await assertRejects(subtle.digest("HMAC", text("abc")), DOMException, "NotSupportedError");
    await assertRejects(subtle.digest({}, text("abc")), TypeError);
    await assertRejects(subtle.digest("SHA-256", "abc"), TypeError);
    await assertRejects(subtle.digest("SHA-256", [1, 2]), TypeError);
    await assertRejects(subtle.digest("SHA-256", new Uint8Array(new SharedArrayBuffer(4))), TypeError);
    await assertRejects(subtle.digest("SHA-256"), TypeError);
    await assertRejects(SubtleCrypto.prototype.digest.call({}, "SHA-256", text("")), TypeError);
    const p = subtle.digest("nope", text(""));
    assert(p instanceof Promise, "returns a promise");
    await p.catch(() => {});
    assertEquals(SubtleCrypto.prototype.digest.length, 2);
    return new Response("ok");
  },
};
