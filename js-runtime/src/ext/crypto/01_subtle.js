// SubtleCrypto (Web Cryptography API section 14, https://w3c.github.io/webcrypto/#subtlecrypto-interface):
// digest (SHA-1/256/384/512), HMAC (generateKey, importKey, exportKey, sign,
// verify) and PBKDF2 (importKey, deriveBits, deriveKey). The hashing and MAC
// work is done by Rust ops (`sha1`, `sha2`, `hmac` crates).
//
// Every method is async: WebIDL turns an exception in a promise-returning
// operation (bad arguments included) into a rejected promise.

const {
  createKey,
  keyState,
  toCryptoKey,
  domException,
  copyBufferSource,
  toArrayBuffer,
  isArrayBuffer,
  toKeyUsages,
  requireArgs: requireCount,
  enforceRangeU32: toUnsignedLong,
} = internals.crypto;

const HASH_BLOCK_BITS = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
const HASH_TO_JWK_ALG = { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };

// Parameter dictionaries: their members in lexicographic order (the order
// WebIDL reads them), each with its conversion.
const hashMember = ["hash", "identifier", true];
const DICTIONARIES = {
  HmacKeyGenParams: [hashMember, ["length", "u32", false]],
  HmacImportParams: [hashMember, ["length", "u32", false]],
  Pbkdf2Params: [hashMember, ["iterations", "u32", true], ["salt", "bytes", true]],
};

// The spec's "supportedAlgorithms": operation -> algorithm name -> parameter
// dictionary (null: just `Algorithm`).
const SUPPORTED = {
  digest: { "SHA-1": null, "SHA-256": null, "SHA-384": null, "SHA-512": null },
  generateKey: { HMAC: "HmacKeyGenParams" },
  importKey: { HMAC: "HmacImportParams", PBKDF2: null },
  sign: { HMAC: null },
  verify: { HMAC: null },
  deriveBits: { PBKDF2: "Pbkdf2Params" },
  "get key length": { HMAC: "HmacImportParams", PBKDF2: null },
  encrypt: {},
  decrypt: {},
  wrapKey: {},
  unwrapKey: {},
};
// Algorithms that support exporting keys.
const EXPORTABLE = new Set(["HMAC"]);

function asciiLower(s) {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** WebIDL `AlgorithmIdentifier` = (object or DOMString). */
function toAlgorithmIdentifier(value) {
  return value !== null && (typeof value === "object" || typeof value === "function") ? value : `${value}`;
}

/** The spec's "normalize an algorithm" (section 18.4). */
function normalizeAlgorithm(alg, op) {
  if (typeof alg === "string") alg = { name: alg };
  const registered = SUPPORTED[op];
  const rawName = alg.name;
  if (rawName === undefined) {
    throw new TypeError("Failed to read the 'name' property from 'Algorithm': Required member is undefined.");
  }
  const wanted = asciiLower(`${rawName}`);
  const name = Object.keys(registered).find((key) => asciiLower(key) === wanted);
  if (name === undefined) {
    throw domException(`Unrecognized or unsupported algorithm for ${op}: ${rawName}`, "NotSupportedError");
  }
  const dictionary = registered[name];
  const normalized = { name };
  if (dictionary === null) return normalized;
  for (const [member, type, required] of DICTIONARIES[dictionary]) {
    const value = alg[member];
    if (value === undefined) {
      if (required) {
        throw new TypeError(
          `Failed to read the '${member}' property from '${dictionary}': Required member is undefined.`,
        );
      }
      continue;
    }
    if (type === "identifier") normalized[member] = toAlgorithmIdentifier(value);
    else if (type === "u32") normalized[member] = toUnsignedLong(value, `${dictionary}.${member}`);
    else normalized[member] = copyBufferSource(value, `${dictionary}.${member}`);
  }
  if (normalized.hash !== undefined) normalized.hash = normalizeAlgorithm(normalized.hash, "digest");
  return normalized;
}

function checkUsages(usages, allowed) {
  for (const usage of usages) {
    if (!allowed.includes(usage)) throw domException(`Cannot create a key using the specified key usages.`, "SyntaxError");
  }
}

function randomBytes(n) {
  const bytes = new Uint8Array(n);
  if (n > 0) ops.op_crypto_get_random_values(bytes);
  return bytes;
}

function base64UrlDecode(text) {
  const bytes = ops.op_crypto_base64url_decode(text);
  if (bytes === null) throw domException("The JWK member 'k' is not valid base64url.", "DataError");
  return bytes;
}

// ---------------------------------------------------------------------------
// JsonWebKey

const JWK_STRING_MEMBERS = new Set(["alg", "crv", "d", "dp", "dq", "e", "k", "kty", "n", "p", "q", "qi", "use", "x", "y"]);
const JWK_MEMBERS = ["alg", "crv", "d", "dp", "dq", "e", "ext", "k", "key_ops", "kty", "n", "oth", "p", "q", "qi", "use", "x", "y"];

/** WebIDL conversion to the `JsonWebKey` dictionary. */
function toJsonWebKey(value) {
  const jwk = {};
  for (const member of JWK_MEMBERS) {
    const v = value[member];
    if (v === undefined) continue;
    if (JWK_STRING_MEMBERS.has(member)) jwk[member] = `${v}`;
    else if (member === "ext") jwk.ext = !!v;
    else if (member === "key_ops") {
      if (v === null || typeof v !== "object" || typeof v[Symbol.iterator] !== "function") {
        throw new TypeError("Failed to read the 'key_ops' property from 'JsonWebKey': not a sequence.");
      }
      jwk.key_ops = Array.from(v, (op) => `${op}`);
    } else jwk[member] = v;
  }
  return jwk;
}

// ---------------------------------------------------------------------------
// HMAC (section 29)

function hmacGenerateKey(alg, extractable, usages) {
  checkUsages(usages, ["sign", "verify"]);
  const hash = alg.hash.name;
  let length;
  if (alg.length === undefined) length = HASH_BLOCK_BITS[hash];
  else if (alg.length !== 0) length = alg.length;
  else throw domException("HMAC key length must not be zero.", "OperationError");
  const material = randomBytes(Math.ceil(length / 8));
  // Zero the bits past `length` in the last byte.
  if (length % 8 !== 0) material[material.length - 1] &= 0xff << (8 - (length % 8));
  return createKey("secret", extractable, { name: "HMAC", hash: { name: hash }, length }, usages, material);
}

function hmacImportKey(format, keyData, alg, extractable, usages) {
  checkUsages(usages, ["sign", "verify"]);
  const hash = alg.hash.name;
  let data;
  if (format === "raw") {
    data = keyData;
  } else if (format === "jwk") {
    const jwk = keyData;
    if (jwk.kty !== "oct") throw domException("The JWK 'kty' member was not 'oct'.", "DataError");
    if (jwk.k === undefined) throw domException("The JWK 'k' member is missing.", "DataError");
    data = base64UrlDecode(jwk.k);
    if (jwk.alg !== undefined && jwk.alg !== HASH_TO_JWK_ALG[hash]) {
      throw domException(`The JWK 'alg' member was not '${HASH_TO_JWK_ALG[hash]}'.`, "DataError");
    }
    if (usages.length > 0 && jwk.use !== undefined && jwk.use !== "sig") {
      throw domException("The JWK 'use' member was not 'sig'.", "DataError");
    }
    if (jwk.key_ops !== undefined) {
      if (new Set(jwk.key_ops).size !== jwk.key_ops.length) {
        throw domException("The JWK 'key_ops' member contains duplicates.", "DataError");
      }
      if (!usages.every((u) => jwk.key_ops.includes(u))) {
        throw domException("The JWK 'key_ops' member does not allow the requested usages.", "DataError");
      }
    }
    if (jwk.ext === false && extractable) {
      throw domException("The JWK 'ext' member was false but the key is to be extractable.", "DataError");
    }
  } else {
    throw domException(`HMAC keys cannot be imported from '${format}'.`, "NotSupportedError");
  }
  let length = data.length * 8;
  if (length === 0) throw domException("HMAC key data must not be empty.", "DataError");
  if (alg.length !== undefined) {
    if (alg.length > length || alg.length <= length - 8) {
      throw domException("The HMAC key length does not match the key data.", "DataError");
    }
    length = alg.length;
  }
  return createKey("secret", extractable, { name: "HMAC", hash: { name: hash }, length }, usages, data);
}

function hmacExportKey(format, s) {
  if (format === "raw") return toArrayBuffer(s.material.slice());
  if (format === "jwk") {
    // Members in the order WebIDL converts a JsonWebKey dictionary.
    return {
      alg: HASH_TO_JWK_ALG[s.algorithm.hash.name],
      ext: s.extractable,
      k: ops.op_crypto_base64url_encode(s.material),
      key_ops: [...s.usages],
      kty: "oct",
    };
  }
  throw domException(`HMAC keys cannot be exported as '${format}'.`, "NotSupportedError");
}

function hmacKeyLength(alg) {
  if (alg.length === undefined) return HASH_BLOCK_BITS[alg.hash.name];
  if (alg.length !== 0) return alg.length;
  throw new TypeError("HMAC key length must not be zero.");
}

// ---------------------------------------------------------------------------
// PBKDF2 (section 28)

function pbkdf2ImportKey(format, keyData, extractable, usages) {
  if (format !== "raw") throw domException(`PBKDF2 keys cannot be imported from '${format}'.`, "NotSupportedError");
  checkUsages(usages, ["deriveKey", "deriveBits"]);
  if (extractable) throw domException("PBKDF2 keys cannot be extractable.", "SyntaxError");
  return createKey("secret", false, { name: "PBKDF2" }, usages, keyData);
}

// As on Workers: the derivation runs on the isolate's thread, within the
// request's CPU limit, which could not pay for more.
const PBKDF2_MAX_ITERATIONS = 100000;

function pbkdf2DeriveBits(alg, s, length) {
  if (length === null || length === 0 || length % 8 !== 0) {
    throw domException("PBKDF2 length must be a non-zero multiple of 8.", "OperationError");
  }
  if (alg.iterations === 0) throw domException("PBKDF2 iterations must not be zero.", "OperationError");
  if (alg.iterations > PBKDF2_MAX_ITERATIONS) {
    throw domException(
      `PBKDF2 iteration counts above ${PBKDF2_MAX_ITERATIONS} are not supported (requested ${alg.iterations}).`,
      "NotSupportedError",
    );
  }
  return toArrayBuffer(ops.op_crypto_pbkdf2(alg.hash.name, s.material, alg.salt, alg.iterations, length / 8));
}

// ---------------------------------------------------------------------------
// Dispatch by algorithm

function importKeyOp(format, keyData, alg, extractable, usages) {
  let key;
  switch (alg.name) {
    case "HMAC":
      key = hmacImportKey(format, keyData, alg, extractable, usages);
      break;
    case "PBKDF2":
      key = pbkdf2ImportKey(format, keyData, extractable, usages);
      break;
  }
  const s = keyState(key, "");
  if ((s.type === "secret" || s.type === "private") && usages.length === 0) {
    throw domException("Usages cannot be empty when creating a key.", "SyntaxError");
  }
  return key;
}

function deriveBitsOp(alg, s, length) {
  switch (alg.name) {
    case "PBKDF2":
      return pbkdf2DeriveBits(alg, s, length);
  }
  throw domException(`${alg.name} cannot derive bits.`, "NotSupportedError");
}

function getKeyLength(alg) {
  switch (alg.name) {
    case "HMAC":
      return hmacKeyLength(alg);
    default:
      return null;
  }
}

function checkKeyFor(s, alg, usage) {
  if (s.algorithm.name !== alg.name) {
    throw domException(`The key is for ${s.algorithm.name}, not ${alg.name}.`, "InvalidAccessError");
  }
  if (!s.usages.includes(usage)) {
    throw domException(`The key does not support the '${usage}' operation.`, "InvalidAccessError");
  }
}

const KEY_FORMATS = ["raw", "spki", "pkcs8", "jwk"];

function toKeyFormat(value, context) {
  const format = `${value}`;
  if (!KEY_FORMATS.includes(format)) {
    throw new TypeError(`${context}: The provided value '${format}' is not a valid enum value of type KeyFormat.`);
  }
  return format;
}

const ArrayBufferIsView = ArrayBuffer.isView;

function isBufferSource(value) {
  return ArrayBufferIsView(value) || isArrayBuffer(value);
}

// ---------------------------------------------------------------------------

let isSubtle;

class SubtleCrypto {
  #brand = true;

  constructor(key = undefined) {
    if (key !== internals) throw new TypeError("Illegal constructor");
  }

  static {
    isSubtle = (value) => value !== null && typeof value === "object" && #brand in value;
  }

  async encrypt(algorithm, key, data) {
    const ctx = checkThis(this, "encrypt", arguments.length, 3);
    algorithm = toAlgorithmIdentifier(algorithm);
    toCryptoKey(key, ctx, 2);
    copyBufferSource(data, ctx);
    normalizeAlgorithm(algorithm, "encrypt");
    throw domException("encrypt is not supported.", "NotSupportedError");
  }

  async decrypt(algorithm, key, data) {
    const ctx = checkThis(this, "decrypt", arguments.length, 3);
    algorithm = toAlgorithmIdentifier(algorithm);
    toCryptoKey(key, ctx, 2);
    copyBufferSource(data, ctx);
    normalizeAlgorithm(algorithm, "decrypt");
    throw domException("decrypt is not supported.", "NotSupportedError");
  }

  async sign(algorithm, key, data) {
    const ctx = checkThis(this, "sign", arguments.length, 3);
    algorithm = toAlgorithmIdentifier(algorithm);
    const s = toCryptoKey(key, ctx, 2);
    const bytes = copyBufferSource(data, ctx);
    const alg = normalizeAlgorithm(algorithm, "sign");
    checkKeyFor(s, alg, "sign");
    return toArrayBuffer(ops.op_crypto_hmac_sign(s.algorithm.hash.name, s.material, bytes));
  }

  async verify(algorithm, key, signature, data) {
    const ctx = checkThis(this, "verify", arguments.length, 4);
    algorithm = toAlgorithmIdentifier(algorithm);
    const s = toCryptoKey(key, ctx, 2);
    const sig = copyBufferSource(signature, ctx);
    const bytes = copyBufferSource(data, ctx);
    const alg = normalizeAlgorithm(algorithm, "verify");
    checkKeyFor(s, alg, "verify");
    return ops.op_crypto_hmac_verify(s.algorithm.hash.name, s.material, bytes, sig);
  }

  async digest(algorithm, data) {
    const ctx = checkThis(this, "digest", arguments.length, 2);
    algorithm = toAlgorithmIdentifier(algorithm);
    const bytes = copyBufferSource(data, ctx);
    const alg = normalizeAlgorithm(algorithm, "digest");
    return toArrayBuffer(ops.op_crypto_digest(alg.name, bytes));
  }

  async generateKey(algorithm, extractable, keyUsages) {
    const ctx = checkThis(this, "generateKey", arguments.length, 3);
    algorithm = toAlgorithmIdentifier(algorithm);
    extractable = !!extractable;
    const usages = toKeyUsages(keyUsages, ctx);
    const alg = normalizeAlgorithm(algorithm, "generateKey");
    const key = hmacGenerateKey(alg, extractable, usages);
    if (usages.length === 0) throw domException("Usages cannot be empty when creating a key.", "SyntaxError");
    return key;
  }

  async deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages) {
    const ctx = checkThis(this, "deriveKey", arguments.length, 5);
    algorithm = toAlgorithmIdentifier(algorithm);
    const s = toCryptoKey(baseKey, ctx, 2);
    derivedKeyType = toAlgorithmIdentifier(derivedKeyType);
    extractable = !!extractable;
    const usages = toKeyUsages(keyUsages, ctx);
    const alg = normalizeAlgorithm(algorithm, "deriveBits");
    const importAlg = normalizeAlgorithm(derivedKeyType, "importKey");
    const lengthAlg = normalizeAlgorithm(derivedKeyType, "get key length");
    checkKeyFor(s, alg, "deriveKey");
    const length = getKeyLength(lengthAlg);
    const secret = new Uint8Array(deriveBitsOp(alg, s, length));
    return importKeyOp("raw", secret, importAlg, extractable, usages);
  }

  async deriveBits(algorithm, baseKey, length = null) {
    const ctx = checkThis(this, "deriveBits", arguments.length, 2);
    algorithm = toAlgorithmIdentifier(algorithm);
    const s = toCryptoKey(baseKey, ctx, 2);
    if (length !== null && length !== undefined) length = toUnsignedLong(length, ctx);
    else length = null;
    const alg = normalizeAlgorithm(algorithm, "deriveBits");
    checkKeyFor(s, alg, "deriveBits");
    return deriveBitsOp(alg, s, length);
  }

  async importKey(format, keyData, algorithm, extractable, keyUsages) {
    const ctx = checkThis(this, "importKey", arguments.length, 5);
    format = toKeyFormat(format, ctx);
    if (format === "jwk") {
      if (isBufferSource(keyData) || keyData === null || (typeof keyData !== "object" && typeof keyData !== "function")) {
        throw new TypeError(`${ctx}: 'jwk' key data must be a JsonWebKey dictionary.`);
      }
      keyData = toJsonWebKey(keyData);
    } else {
      if (!isBufferSource(keyData)) {
        throw new TypeError(`${ctx}: '${format}' key data must be an ArrayBuffer or ArrayBufferView.`);
      }
      keyData = copyBufferSource(keyData, ctx);
    }
    algorithm = toAlgorithmIdentifier(algorithm);
    extractable = !!extractable;
    const usages = toKeyUsages(keyUsages, ctx);
    const alg = normalizeAlgorithm(algorithm, "importKey");
    return importKeyOp(format, keyData, alg, extractable, usages);
  }

  async exportKey(format, key) {
    const ctx = checkThis(this, "exportKey", arguments.length, 2);
    format = toKeyFormat(format, ctx);
    const s = toCryptoKey(key, ctx, 2);
    if (!EXPORTABLE.has(s.algorithm.name)) {
      throw domException(`${s.algorithm.name} keys cannot be exported.`, "NotSupportedError");
    }
    if (!s.extractable) throw domException("key is not extractable", "InvalidAccessError");
    return hmacExportKey(format, s);
  }

  async wrapKey(format, key, wrappingKey, wrapAlgorithm) {
    const ctx = checkThis(this, "wrapKey", arguments.length, 4);
    toKeyFormat(format, ctx);
    toCryptoKey(key, ctx, 2);
    toCryptoKey(wrappingKey, ctx, 3);
    normalizeAlgorithm(toAlgorithmIdentifier(wrapAlgorithm), "wrapKey");
    throw domException("wrapKey is not supported.", "NotSupportedError");
  }

  async unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm, unwrappedKeyAlgorithm, extractable, keyUsages) {
    const ctx = checkThis(this, "unwrapKey", arguments.length, 7);
    toKeyFormat(format, ctx);
    copyBufferSource(wrappedKey, ctx);
    toCryptoKey(unwrappingKey, ctx, 3);
    toKeyUsages(keyUsages, ctx);
    normalizeAlgorithm(toAlgorithmIdentifier(unwrapAlgorithm), "unwrapKey");
    throw domException("unwrapKey is not supported.", "NotSupportedError");
  }
}

function checkThis(self, method, count, required) {
  const ctx = `Failed to execute '${method}' on 'SubtleCrypto'`;
  if (!isSubtle(self)) throw new TypeError(`${ctx}: Illegal invocation`);
  requireCount(count, required, ctx);
  return ctx;
}

internals.dom.enumerableMembers(SubtleCrypto.prototype, [
  "encrypt",
  "decrypt",
  "sign",
  "verify",
  "digest",
  "generateKey",
  "deriveKey",
  "deriveBits",
  "importKey",
  "exportKey",
  "wrapKey",
  "unwrapKey",
]);
internals.dom.toStringTag(SubtleCrypto, "SubtleCrypto");
internals.defineGlobal("SubtleCrypto", SubtleCrypto);

Object.assign(internals.crypto, {
  SubtleCrypto,
  subtle: new SubtleCrypto(internals),
  normalizeAlgorithm,
});
