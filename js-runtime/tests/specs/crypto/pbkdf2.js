// PBKDF2 in crypto.subtle (https://w3c.github.io/webcrypto/#pbkdf2):
// RFC 6070 known answers, deriveKey into HMAC, and the error cases.
import { assert, assertEquals, assertRejects } from "../_assert.js";

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const text = (s) => new TextEncoder().encode(s);
const subtle = crypto.subtle;

async function passwordKey(password, usages = ["deriveBits", "deriveKey"]) {
  return subtle.importKey("raw", text(password), "PBKDF2", false, usages);
}

export default {
  async fetch() {
    const key = await passwordKey("password");
    assertEquals([key.type, key.extractable, key.algorithm, key.usages], [
      "secret",
      false,
      { name: "PBKDF2" },
      ["deriveKey", "deriveBits"],
    ]);

    // RFC 6070 (SHA-1) and widely published SHA-256/512 vectors.
    const cases = [
      ["SHA-1", "salt", 1, 160, "0c60c80f961f0e71f3a9b524af6012062fe037a6"],
      ["SHA-1", "salt", 2, 160, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"],
      ["SHA-1", "salt", 4096, 160, "4b007901b765489abead49d926f721d065a429c1"],
      ["SHA-256", "salt", 4096, 256, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"],
    ];
    for (const [hash, salt, iterations, length, expected] of cases) {
      const bits = await subtle.deriveBits({ name: "PBKDF2", hash, salt: text(salt), iterations }, key, length);
      assert(bits instanceof ArrayBuffer, "an ArrayBuffer");
      assertEquals(hex(bits), expected, `${hash} c=${iterations}`);
    }
    const nul = await subtle.importKey("raw", text("pass\0word"), { name: "pbkdf2" }, false, ["deriveBits"]);
    assertEquals(
      hex(await subtle.deriveBits({ name: "PBKDF2", hash: { name: "SHA-512" }, salt: text("sa\0lt"), iterations: 1000 }, nul, 384)),
      "c50f36d34df3c2310621ce3b3815bb63af64415840884f3902e1566a4486e59811df5459af650b62035052e6eb80d08f",
    );

    // deriveKey into an HMAC key equals deriveBits + importKey.
    const params = { name: "PBKDF2", hash: "SHA-256", salt: text("salt"), iterations: 10 };
    const hmacKey = await subtle.deriveKey(params, key, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
    assertEquals(hmacKey.algorithm, { name: "HMAC", hash: { name: "SHA-256" }, length: 512 });
    assertEquals(hmacKey.usages, ["sign"]);
    assertEquals(hex(await subtle.exportKey("raw", hmacKey)), hex(await subtle.deriveBits(params, key, 512)));
    const short = await subtle.deriveKey(params, key, { name: "HMAC", hash: "SHA-1", length: 128 }, false, ["verify"]);
    assertEquals(short.algorithm.length, 128);

    // Errors.
    await assertRejects(subtle.deriveBits({ ...params, iterations: 0 }, key, 256), DOMException, "OperationError");
    await assertRejects(subtle.deriveBits({ ...params, iterations: 100001 }, key, 256), DOMException, "NotSupportedError");
    await assertRejects(subtle.deriveBits(params, key, 0), DOMException, "OperationError");
    await assertRejects(subtle.deriveBits(params, key, 12), DOMException, "OperationError");
    await assertRejects(subtle.deriveBits(params, key), DOMException, "OperationError");
    await assertRejects(subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", iterations: 1 }, key, 256), TypeError);
    await assertRejects(subtle.deriveBits({ name: "PBKDF2", salt: text("s"), iterations: 1 }, key, 256), TypeError);
    await assertRejects(subtle.deriveBits({ ...params, hash: "MD5" }, key, 256), DOMException, "NotSupportedError");
    await assertRejects(subtle.deriveBits({ ...params, name: "HKDF" }, key, 256), DOMException, "NotSupportedError");
    const bitsOnly = await passwordKey("pw", ["deriveBits"]);
    await assertRejects(subtle.deriveKey(params, bitsOnly, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]), DOMException, "InvalidAccessError");
    const keyOnly = await passwordKey("pw", ["deriveKey"]);
    await assertRejects(subtle.deriveBits(params, keyOnly, 256), DOMException, "InvalidAccessError");
    await assertRejects(subtle.deriveKey(params, key, { name: "HMAC", hash: "SHA-256" }, true, []), DOMException, "SyntaxError");
    await assertRejects(subtle.importKey("raw", text("pw"), "PBKDF2", true, ["deriveBits"]), DOMException, "SyntaxError");
    await assertRejects(subtle.importKey("raw", text("pw"), "PBKDF2", false, ["sign"]), DOMException, "SyntaxError");
    await assertRejects(subtle.importKey("jwk", { kty: "oct", k: "cHc" }, "PBKDF2", false, ["deriveBits"]), DOMException, "NotSupportedError");
    await assertRejects(subtle.exportKey("raw", key), DOMException, "NotSupportedError");
    await assertRejects(subtle.generateKey("PBKDF2", false, ["deriveBits"]), DOMException, "NotSupportedError");
    // An HMAC key cannot derive.
    const hmac = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    await assertRejects(subtle.deriveBits(params, hmac, 256), DOMException, "InvalidAccessError");
    return new Response("ok");
  },
};
