// TextEncoder, TextDecoder
// (https://encoding.spec.whatwg.org/#api).
//
// Decoding is native (encoding_rs). A non-streaming decode() is one op call;
// a streaming one keeps an encoding_rs decoder in the resource table until
// the last chunk (stream: false) or until the TextDecoder is collected.

const { defineGlobal } = internals;
const ObjectDefineProperty = Object.defineProperty;
const ObjectGetOwnPropertyDescriptors = Object.getOwnPropertyDescriptors;
const ObjectGetPrototypeOf = Object.getPrototypeOf;
const ReflectOwnKeys = Reflect.ownKeys;
const SymbolToStringTag = Symbol.toStringTag;
const TypedArrayPrototype = ObjectGetPrototypeOf(Uint8Array.prototype);
const TypedArrayTag = Object.getOwnPropertyDescriptor(TypedArrayPrototype, SymbolToStringTag).get;
const ArrayBufferIsView = ArrayBuffer.isView;
const ArrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;
const SharedArrayBufferByteLength =
  typeof SharedArrayBuffer === "function"
    ? Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "byteLength").get
    : null;
const FinalizationRegistryCtor = FinalizationRegistry;

function illegal() {
  return new TypeError("Illegal invocation");
}

function configureInterface(cls) {
  const proto = cls.prototype;
  const descriptors = ObjectGetOwnPropertyDescriptors(proto);
  for (const key of ReflectOwnKeys(descriptors)) {
    if (key === "constructor" || typeof key === "symbol") continue;
    ObjectDefineProperty(proto, key, { ...descriptors[key], enumerable: true });
  }
  ObjectDefineProperty(proto, SymbolToStringTag, {
    value: cls.name,
    writable: false,
    enumerable: false,
    configurable: true,
  });
}

function isUint8Array(value) {
  return ArrayBufferIsView(value) && TypedArrayTag.call(value) === "Uint8Array";
}

function isArrayBuffer(value) {
  try {
    ArrayBufferByteLength.call(value);
    return true;
  } catch {
    return false;
  }
}

function isSharedArrayBuffer(value) {
  if (SharedArrayBufferByteLength === null) return false;
  try {
    SharedArrayBufferByteLength.call(value);
    return true;
  } catch {
    return false;
  }
}

/** WebIDL AllowSharedBufferSource: returns something the ops accept. */
function toBufferSource(input, what) {
  if (ArrayBufferIsView(input) || isArrayBuffer(input)) return input;
  if (isSharedArrayBuffer(input)) return new Uint8Array(input);
  throw new TypeError(
    `Failed to execute '${what}': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'.`,
  );
}

/** A WebIDL dictionary argument: undefined/null or an object. */
function dictionary(value, what) {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" && typeof value !== "function") {
    throw new TypeError(`Failed to execute '${what}': The provided value is not of type 'object'.`);
  }
  return value;
}

// ---- TextEncoder -----------------------------------------------------------

let encodeIntoResult = null;

class TextEncoder {
  #brand = true;

  get encoding() {
    if (!(#brand in this)) throw illegal();
    return "utf-8";
  }

  encode(input = "") {
    if (!(#brand in this)) throw illegal();
    return ops.op_encoding_encode(`${input}`);
  }

  encodeInto(source, destination) {
    if (!(#brand in this)) throw illegal();
    if (arguments.length < 2) {
      throw new TypeError(
        `Failed to execute 'encodeInto' on 'TextEncoder': 2 arguments required, but only ${arguments.length} present.`,
      );
    }
    const text = `${source}`;
    if (!isUint8Array(destination)) {
      throw new TypeError(
        "Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.",
      );
    }
    const out = (encodeIntoResult ??= new Uint32Array(2));
    ops.op_encoding_encode_into(text, destination, out);
    return { read: out[0], written: out[1] };
  }
}

configureInterface(TextEncoder);
defineGlobal("TextEncoder", TextEncoder);

// ---- TextDecoder -----------------------------------------------------------

/** Frees streaming decoders whose TextDecoder was collected mid-stream. */
let decoderRegistry = null;
function registry() {
  return (decoderRegistry ??= new FinalizationRegistryCtor((rid) => ops.op_encoding_decoder_free(rid)));
}

/** The encoding name for a label, or throws the constructor's RangeError. */
function encodingForLabel(label) {
  const name = ops.op_encoding_normalize_label(label);
  if (name === null || name === "replacement") {
    throw new RangeError(`Failed to construct 'TextDecoder': The encoding label provided ('${label}') is invalid.`);
  }
  return name;
}

class TextDecoder {
  #encoding;
  #fatal;
  #ignoreBOM;
  #rid = null; // streaming decoder, between decode(..., {stream: true}) calls
  #token = null; // FinalizationRegistry unregister token

  constructor(label = "utf-8", options = undefined) {
    label = `${label}`;
    const opts = dictionary(options, "TextDecoder");
    const fatal = !!opts.fatal;
    const ignoreBOM = !!opts.ignoreBOM;
    this.#encoding = label === "utf-8" ? "utf-8" : encodingForLabel(label);
    this.#fatal = fatal;
    this.#ignoreBOM = ignoreBOM;
  }

  get encoding() {
    if (!(#encoding in this)) throw illegal();
    return this.#encoding;
  }

  get fatal() {
    if (!(#encoding in this)) throw illegal();
    return this.#fatal;
  }

  get ignoreBOM() {
    if (!(#encoding in this)) throw illegal();
    return this.#ignoreBOM;
  }

  decode(input = undefined, options = undefined) {
    if (!(#encoding in this)) throw illegal();
    const buffer = input === undefined ? EMPTY : toBufferSource(input, "decode");
    const stream = !!dictionary(options, "decode").stream;
    if (this.#rid === null) {
      if (!stream) {
        // One-shot: the common case.
        if (this.#encoding === "utf-8") return ops.op_encoding_decode_utf8(buffer, this.#fatal, this.#ignoreBOM);
        return ops.op_encoding_decode(buffer, this.#encoding, this.#fatal, this.#ignoreBOM);
      }
      this.#rid = ops.op_encoding_decoder_new(this.#encoding, this.#ignoreBOM);
      this.#token = {};
      registry().register(this, this.#rid, this.#token);
    }
    const rid = this.#rid;
    let text;
    try {
      text = ops.op_encoding_decoder_decode(rid, buffer, stream, this.#fatal);
    } catch (e) {
      // The op dropped the decoder on malformed input.
      this.#release();
      throw e;
    }
    if (!stream) this.#release();
    return text;
  }

  #release() {
    if (this.#token !== null) registry().unregister(this.#token);
    this.#rid = null;
    this.#token = null;
  }
}

const EMPTY = new Uint8Array(0);

configureInterface(TextDecoder);
defineGlobal("TextDecoder", TextDecoder);

// TextEncoderStream and TextDecoderStream live with the streams family
// (ext/streams/07_text_streams.js).

// ---- internals for other families ---------------------------------------

internals.encoding = {
  /** UTF-8 bytes of a string (lone surrogates as U+FFFD). */
  utf8Encode(text) {
    return ops.op_encoding_encode(`${text}`);
  },
  /** UTF-8 decode without BOM handling, replacing malformed sequences. */
  utf8Decode(bytes) {
    return ops.op_encoding_decode_utf8(bytes, false, true);
  },
  /** "UTF-8 decode": strips a leading BOM, replaces malformed sequences. */
  utf8DecodeWithBOM(bytes) {
    return ops.op_encoding_decode_utf8(bytes, false, false);
  },
  /** Decodes with any label; throws RangeError on an unknown label. */
  decode(bytes, label, fatal = false) {
    return ops.op_encoding_decode(bytes, encodingForLabel(`${label}`), fatal, false);
  },
  /** The lowercase encoding name for a label, or null. */
  normalizeLabel(label) {
    return ops.op_encoding_normalize_label(`${label}`);
  },
  TextEncoder,
  TextDecoder,
  toBufferSource,
};
