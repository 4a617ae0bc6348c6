// CompressionStream and DecompressionStream (https://compression.spec.whatwg.org/):
// TransformStreams whose chunks go through a native flate2 codec
// (ops in mod.rs). Each stream owns one codec id; it is freed when the
// stream finishes, fails, is canceled/aborted, or is garbage collected.

const {
  isObject,
  requireArgs,
  toDOMString,
  webidlInterface,
  illegalInvocation,
  ArrayBufferIsView,
  isArrayBuffer,
  createTransformStream,
  transformStreamDefaultControllerEnqueue,
} = internals._streams;

const FORMATS = ["deflate", "deflate-raw", "gzip"];

function toCompressionFormat(format, context) {
  const value = toDOMString(format);
  if (!FORMATS.includes(value)) {
    throw new TypeError(`${context}: The provided value '${value}' is not a valid enum value of type CompressionFormat.`);
  }
  return value;
}

// Frees codecs of streams dropped before they finished. Made on first use
// (not while the snapshot is built).
let registry;
function onCollected(codec) {
  if (codec.open) {
    codec.open = false;
    ops.op_compression_close(codec.id);
  }
}

/** A TransformStream record feeding chunks through a new native codec. */
function codecTransform(format, decompress) {
  const codec = { id: ops.op_compression_new(format, decompress), open: true };
  const id = codec.id;
  const stream = createTransformStream(
    (chunk, controller) => {
      if (!ArrayBufferIsView(chunk) && !isArrayBuffer(chunk)) {
        throw new TypeError("The chunk is not of type '(ArrayBuffer or ArrayBufferView)'");
      }
      let out;
      try {
        out = ops.op_compression_write(id, chunk);
      } catch (e) {
        // The native side dropped the codec.
        codec.open = false;
        throw e;
      }
      if (out !== undefined) transformStreamDefaultControllerEnqueue(controller, out);
    },
    (controller) => {
      codec.open = false;
      const out = ops.op_compression_finish(id);
      if (out !== undefined) transformStreamDefaultControllerEnqueue(controller, out);
    },
    () => onCollected(codec),
  );
  if (typeof FinalizationRegistry === "function") {
    registry ??= new FinalizationRegistry(onCollected);
    // The transform record stays reachable while either side is.
    registry.register(stream, codec);
  }
  return stream;
}

class CompressionStream {
  #transform;

  constructor(format) {
    const context = "Failed to construct 'CompressionStream'";
    requireArgs(arguments.length, 1, context);
    this.#transform = codecTransform(toCompressionFormat(format, context), false);
  }

  static #check(o, member) {
    if (!isObject(o) || !(#transform in o)) throw illegalInvocation("CompressionStream", member);
    return o;
  }

  get readable() {
    return CompressionStream.#check(this, "readable").#transform.readable.pub;
  }

  get writable() {
    return CompressionStream.#check(this, "writable").#transform.writable.pub;
  }
}
webidlInterface(CompressionStream, "CompressionStream");

class DecompressionStream {
  #transform;

  constructor(format) {
    const context = "Failed to construct 'DecompressionStream'";
    requireArgs(arguments.length, 1, context);
    this.#transform = codecTransform(toCompressionFormat(format, context), true);
  }

  static #check(o, member) {
    if (!isObject(o) || !(#transform in o)) throw illegalInvocation("DecompressionStream", member);
    return o;
  }

  get readable() {
    return DecompressionStream.#check(this, "readable").#transform.readable.pub;
  }

  get writable() {
    return DecompressionStream.#check(this, "writable").#transform.writable.pub;
  }
}
webidlInterface(DecompressionStream, "DecompressionStream");

internals.defineGlobal("CompressionStream", CompressionStream);
internals.defineGlobal("DecompressionStream", DecompressionStream);
