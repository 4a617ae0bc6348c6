// HMAC in crypto.subtle (https://w3c.github.io/webcrypto/#hmac): RFC 4231
// known answers, sign/verify, generate/import/export (raw and jwk), CryptoKey
// properties and the DOMException names of every failure.
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
const text = (s) => new TextEncoder().encode(s);
const fill = (n, byte) => new Uint8Array(n).fill(byte);
const subtle = crypto.subtle;

// RFC 4231 test cases 1, 2, 3, 6 and 7 (plus RFC 2202 case 1 for SHA-1).
const VECTORS = [
  [fill(20, 0x0b), text("Hi There"), {
    "SHA-1": "b617318655057264e28bc0b6fb378c8ef146be00",
    "SHA-256": "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    "SHA-384": "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
    "SHA-512":
      "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
  }],
  [text("Jefe"), text("what do ya want for nothing?"), {
    "SHA-256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "SHA-384": "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
    "SHA-512":
      "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
  }],
  [fill(20, 0xaa), fill(50, 0xdd), {
    "SHA-256": "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
  }],
  [fill(131, 0xaa), text("Test Using Larger Than Block-Size Key - Hash Key First"), {
    "SHA-256": "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
  }],
  [
    fill(131, 0xaa),
    text(
      "This is a test using a larger than block-size key and a larger than block-size data. " +
        "The key needs to be hashed before being used by the HMAC algorithm.",
    ),
    {
      "SHA-512":
        "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
    },
  ],
];

async function knownAnswers() {
  for (const [keyBytes, data, expected] of VECTORS) {
    for (const [hash, mac] of Object.entries(expected)) {
      // The hash as a string and as {name}.
      const key = await subtle.importKey("raw", keyBytes, { name: "HMAC", hash }, false, ["sign", "verify"]);
      const sig = await subtle.sign("HMAC", key, data);
      assert(sig instanceof ArrayBuffer, "sign resolves to an ArrayBuffer");
      assertEquals(hex(sig), mac, `${hash} sign`);
      const key2 = await subtle.importKey("raw", keyBytes.buffer, { name: "hmac", hash: { name: hash } }, false, ["verify"]);
      assertEquals(await subtle.verify({ name: "HMAC" }, key2, unhex(mac), data), true, `${hash} verify`);
    }
  }
}

async function signVerify() {
  const key = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
  const data = text("message");
  const sig = new Uint8Array(await subtle.sign("HMAC", key, data));
  assertEquals(sig.length, 32);
  assertEquals(await subtle.verify("HMAC", key, sig, data), true);
  assertEquals(await subtle.verify("HMAC", key, sig, text("messagf")), false);
  const tampered = sig.slice();
  tampered[31] ^= 1;
  assertEquals(await subtle.verify("HMAC", key, tampered, data), false);
  assertEquals(await subtle.verify("HMAC", key, sig.subarray(0, 31), data), false, "truncated");
  assertEquals(await subtle.verify("HMAC", key, new Uint8Array(0), data), false, "empty");
  const longer = new Uint8Array(33);
  longer.set(sig);
  assertEquals(await subtle.verify("HMAC", key, longer, data), false, "longer");

  // Data and signature are copied at call time.
  const mutable = text("copy me");
  const pending = subtle.sign("HMAC", key, mutable);
  mutable[0] = 0;
  assertEquals(await subtle.verify("HMAC", key, await pending, text("copy me")), true);

  // A different key does not verify.
  const other = await subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  assertEquals(await subtle.verify("HMAC", other, sig, data), false);
}

async function keyProperties() {
  const cases = [
    ["SHA-1", 512],
    ["SHA-256", 512],
    ["SHA-384", 1024],
    ["SHA-512", 1024],
  ];
  for (const [hash, bits] of cases) {
    const key = await subtle.generateKey({ name: "HMAC", hash: { name: hash.toLowerCase() } }, true, ["verify", "sign", "sign"]);
    assert(key instanceof CryptoKey, "a CryptoKey");
    assertEquals(key.type, "secret");
    assertEquals(key.extractable, true);
    assertEquals(key.algorithm, { name: "HMAC", hash: { name: hash }, length: bits });
    assertEquals(key.usages, ["sign", "verify"], "normalized usages");
    assertEquals(key.algorithm, key.algorithm);
    assert(key.algorithm === key.algorithm && key.usages === key.usages, "cached objects");
    const raw = await subtle.exportKey("raw", key);
    assert(raw instanceof ArrayBuffer, "raw export is an ArrayBuffer");
    assertEquals(raw.byteLength, bits / 8);
  }

  const sized = await subtle.generateKey({ name: "HMAC", hash: "SHA-256", length: 128 }, false, ["sign"]);
  assertEquals(sized.algorithm.length, 128);
  assertEquals(sized.extractable, false);
  assertEquals(sized.usages, ["sign"]);
  const odd = await subtle.generateKey({ name: "HMAC", hash: "SHA-256", length: 100 }, true, ["sign"]);
  assertEquals(odd.algorithm.length, 100);
  const oddRaw = new Uint8Array(await subtle.exportKey("raw", odd));
  assertEquals(oddRaw.length, 13);
  assertEquals(oddRaw[12] & 0x0f, 0, "bits past the length are zero");

  const imported = await subtle.importKey("raw", fill(20, 1), { name: "HMAC", hash: "SHA-1" }, true, ["sign"]);
  assertEquals(imported.algorithm, { name: "HMAC", hash: { name: "SHA-1" }, length: 160 });
  const trimmed = await subtle.importKey("raw", fill(20, 1), { name: "HMAC", hash: "SHA-1", length: 153 }, true, ["sign"]);
  assertEquals(trimmed.algorithm.length, 153);

  // CryptoKey is an interface, not a constructor; getters are brand-checked.
  assertThrows(() => new CryptoKey(), TypeError);
  assertThrows(() => Object.getOwnPropertyDescriptor(CryptoKey.prototype, "type").get.call({}), TypeError);
  assertEquals(Object.prototype.toString.call(imported), "[object CryptoKey]");
  assert(Object.getOwnPropertyDescriptor(CryptoKey.prototype, "algorithm").enumerable, "enumerable");

  // Keys survive structuredClone with their material.
  const clone = structuredClone(imported);
  assert(clone instanceof CryptoKey && clone !== imported, "cloned key");
  assertEquals([clone.type, clone.extractable, clone.algorithm, clone.usages], [
    imported.type,
    imported.extractable,
    imported.algorithm,
    imported.usages,
  ]);
  assertEquals(hex(await subtle.sign("HMAC", clone, text("x"))), hex(await subtle.sign("HMAC", imported, text("x"))));
}

async function jwk() {
  const keyBytes = unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const key = await subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, true, ["sign", "verify"]);
  const exported = await subtle.exportKey("jwk", key);
  assertEquals(exported, {
    alg: "HS256",
    ext: true,
    k: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    key_ops: ["sign", "verify"],
    kty: "oct",
  });
  assertEquals(Object.keys(exported), ["alg", "ext", "k", "key_ops", "kty"]);
  for (const [hash, alg] of [["SHA-1", "HS1"], ["SHA-384", "HS384"], ["SHA-512", "HS512"]]) {
    const k = await subtle.importKey("raw", keyBytes, { name: "HMAC", hash }, true, ["sign"]);
    assertEquals((await subtle.exportKey("jwk", k)).alg, alg);
  }

  const back = await subtle.importKey("jwk", exported, { name: "HMAC", hash: "SHA-256" }, true, ["verify"]);
  assertEquals(back.algorithm, { name: "HMAC", hash: { name: "SHA-256" }, length: 256 });
  assertEquals(hex(await subtle.exportKey("raw", back)), hex(keyBytes));
  // base64url with "-" and "_", minimal members, padding tolerated.
  const minimal = await subtle.importKey("jwk", { kty: "oct", k: "-_8" }, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  assertEquals(hex(await subtle.exportKey("raw", minimal)), "fbff");
  await subtle.importKey("jwk", { kty: "oct", k: "-_8=", use: "sig", key_ops: ["sign", "verify"], ext: true }, {
    name: "HMAC",
    hash: "SHA-256",
  }, true, ["sign"]);

  const hmac256 = { name: "HMAC", hash: "SHA-256" };
  const base = { kty: "oct", k: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" };
  const dataErrors = [
    { ...base, kty: "RSA" },
    { kty: "oct" },
    { ...base, k: "not base64!" },
    { ...base, alg: "HS512" },
    { ...base, use: "enc" },
    { ...base, key_ops: ["verify"] },
    { ...base, key_ops: ["sign", "sign"] },
    { ...base, ext: false },
    { kty: "oct", k: "" },
  ];
  for (const bad of dataErrors) {
    await assertRejects(subtle.importKey("jwk", bad, hmac256, true, ["sign"]), DOMException, "DataError");
  }
  // ext: false is fine for a non-extractable import.
  await subtle.importKey("jwk", { ...base, ext: false }, hmac256, false, ["sign"]);
  // jwk needs a dictionary; raw needs bytes.
  await assertRejects(subtle.importKey("jwk", keyBytes, hmac256, true, ["sign"]), TypeError);
  await assertRejects(subtle.importKey("jwk", "string", hmac256, true, ["sign"]), TypeError);
  await assertRejects(subtle.importKey("raw", base, hmac256, true, ["sign"]), TypeError);
}

async function failures() {
  const hmac256 = { name: "HMAC", hash: "SHA-256" };
  const signOnly = await subtle.generateKey(hmac256, false, ["sign"]);
  const verifyOnly = await subtle.importKey("raw", fill(32, 7), hmac256, true, ["verify"]);

  // Usage and algorithm mismatches: InvalidAccessError.
  await assertRejects(subtle.sign("HMAC", verifyOnly, text("x")), DOMException, "InvalidAccessError");
  await assertRejects(subtle.verify("HMAC", signOnly, new Uint8Array(32), text("x")), DOMException, "InvalidAccessError");
  // Not extractable: InvalidAccessError.
  await assertRejects(subtle.exportKey("raw", signOnly), DOMException, "InvalidAccessError");
  await assertRejects(subtle.exportKey("jwk", signOnly), DOMException, "InvalidAccessError");

  // Unknown or unsupported algorithms: NotSupportedError.
  await assertRejects(subtle.sign("RSASSA-PKCS1-v1_5", signOnly, text("x")), DOMException, "NotSupportedError");
  await assertRejects(subtle.sign("HMAC-ish", signOnly, text("x")), DOMException, "NotSupportedError");
  await assertRejects(subtle.generateKey({ name: "HMAC", hash: "SHA-224" }, true, ["sign"]), DOMException, "NotSupportedError");
  await assertRejects(subtle.generateKey({ name: "HMAC", hash: "MD5" }, true, ["sign"]), DOMException, "NotSupportedError");
  await assertRejects(subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]), DOMException, "NotSupportedError");
  await assertRejects(subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, verifyOnly, text("x")), DOMException, "NotSupportedError");
  await assertRejects(subtle.importKey("spki", fill(32, 1), hmac256, true, ["sign"]), DOMException, "NotSupportedError");
  await assertRejects(subtle.importKey("pkcs8", fill(32, 1), hmac256, true, ["sign"]), DOMException, "NotSupportedError");
  await assertRejects(subtle.exportKey("spki", verifyOnly), DOMException, "NotSupportedError");

  // Usages the algorithm does not allow, or none: SyntaxError.
  await assertRejects(subtle.generateKey(hmac256, true, ["encrypt"]), DOMException, "SyntaxError");
  await assertRejects(subtle.generateKey(hmac256, true, []), DOMException, "SyntaxError");
  await assertRejects(subtle.importKey("raw", fill(32, 1), hmac256, true, ["deriveBits"]), DOMException, "SyntaxError");
  await assertRejects(subtle.importKey("raw", fill(32, 1), hmac256, true, []), DOMException, "SyntaxError");

  // Bad key data: DataError; a zero length: OperationError.
  await assertRejects(subtle.importKey("raw", new Uint8Array(0), hmac256, true, ["sign"]), DOMException, "DataError");
  await assertRejects(subtle.importKey("raw", fill(4, 1), { ...hmac256, length: 33 }, true, ["sign"]), DOMException, "DataError");
  await assertRejects(subtle.importKey("raw", fill(4, 1), { ...hmac256, length: 24 }, true, ["sign"]), DOMException, "DataError");
  await assertRejects(subtle.generateKey({ ...hmac256, length: 0 }, true, ["sign"]), DOMException, "OperationError");

  // WebIDL conversion failures: TypeError (as rejections).
  await assertRejects(subtle.generateKey({ name: "HMAC" }, true, ["sign"]), TypeError); // hash is required
  await assertRejects(subtle.generateKey({ hash: "SHA-256" }, true, ["sign"]), TypeError); // name is required
  await assertRejects(subtle.generateKey(hmac256, true, ["bogus"]), TypeError);
  await assertRejects(subtle.generateKey(hmac256, true, "sign"), TypeError);
  await assertRejects(subtle.generateKey({ ...hmac256, length: -1 }, true, ["sign"]), TypeError);
  await assertRejects(subtle.importKey("bogus", fill(32, 1), hmac256, true, ["sign"]), TypeError);
  await assertRejects(subtle.sign("HMAC", {}, text("x")), TypeError);
  await assertRejects(subtle.sign("HMAC", signOnly, "text"), TypeError);
  await assertRejects(subtle.sign("HMAC", signOnly), TypeError);
  await assertRejects(subtle.verify("HMAC", verifyOnly, "sig", text("x")), TypeError);
  await assertRejects(subtle.exportKey("raw", {}), TypeError);
}

export default {
  async fetch() {
    await knownAnswers();
    await signVerify();
    await keyProperties();
    await jwk();
    await failures();
    return new Response("ok");
  },
};
