// atob / btoa (https://html.spec.whatwg.org/multipage/webappapis.html#atob)
// and forgiving-base64 (https://infra.spec.whatwg.org/#forgiving-base64),
// also offered to other families as internals.base64.

const { defineGlobal } = internals;
const DOMExceptionAtLoad = globalThis.DOMException;
const StringFromCharCode = String.fromCharCode;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
// Char code -> sextet, or -1.
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
const ASCII_WHITESPACE = /[\t\n\f\r ]+/g;

function invalidCharacter(message) {
  const DOMExceptionCtor = DOMExceptionAtLoad ?? globalThis.DOMException;
  if (typeof DOMExceptionCtor === "function") return new DOMExceptionCtor(message, "InvalidCharacterError");
  const err = new Error(message);
  err.name = "InvalidCharacterError";
  return err;
}

/** Forgiving-base64 decode: a Uint8Array, or null on failure. */
function forgivingDecode(data) {
  let s = data.replace(ASCII_WHITESPACE, "");
  if (s.length % 4 === 0) {
    if (s.endsWith("==")) s = s.slice(0, -2);
    else if (s.endsWith("=")) s = s.slice(0, -1);
  }
  const len = s.length;
  if (len % 4 === 1) return null;
  const out = new Uint8Array(((len * 3) >> 2));
  let n = 0;
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? DECODE[c] : -1;
    if (v < 0) return null;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (buffer >> bits) & 0xff;
    }
  }
  return n === out.length ? out : out.subarray(0, n);
}

/** Base64-encodes bytes (an array-like of 0..255). */
function encode(bytes) {
  let out = "";
  const len = bytes.length;
  let i = 0;
  for (; i + 2 < len; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + ALPHABET[(v >> 6) & 63] + ALPHABET[v & 63];
  }
  if (i + 1 === len) {
    const v = bytes[i] << 16;
    out += ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + "==";
  } else if (i + 2 === len) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + ALPHABET[(v >> 6) & 63] + "=";
  }
  return out;
}

function btoa(data) {
  if (arguments.length < 1) {
    throw new TypeError("Failed to execute 'btoa': 1 argument required, but only 0 present.");
  }
  const s = `${data}`;
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      throw invalidCharacter("Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range.");
    }
    bytes[i] = c;
  }
  return encode(bytes);
}

function atob(data) {
  if (arguments.length < 1) {
    throw new TypeError("Failed to execute 'atob': 1 argument required, but only 0 present.");
  }
  const bytes = forgivingDecode(`${data}`);
  if (bytes === null) {
    throw invalidCharacter("Failed to execute 'atob': The string to be decoded is not correctly encoded.");
  }
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += StringFromCharCode.apply(null, bytes.subarray(i, i + 8192));
  }
  return out;
}

defineGlobal("atob", atob);
defineGlobal("btoa", btoa);

internals.base64 = {
  /** Forgiving-base64 decode of a string: Uint8Array or null. */
  decode: forgivingDecode,
  /** Base64 (with padding) of bytes. */
  encode,
};
