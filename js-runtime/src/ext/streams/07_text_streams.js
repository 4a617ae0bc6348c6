// TextEncoderStream and TextDecoderStream (Encoding Standard section 5.2, section 5.4:
// https://encoding.spec.whatwg.org/#interface-textdecoderstream), built on
// TransformStream with the encoding family's TextEncoder/TextDecoder,
// looked up when a stream is constructed.

const {
  isObject,
  webidlInterface,
  illegalInvocation,
  toDOMString,
  ArrayBufferIsView,
  isArrayBuffer,
  TypedArrayPrototypeGetByteLength,
  createTransformStream,
  transformStreamDefaultControllerEnqueue,
} = internals._streams;

const REPLACEMENT_BYTES = [0xef, 0xbf, 0xbd];

class TextEncoderStream {
  #transform;
  #encoder;
  // A high surrogate left at the end of the previous chunk, or "".
  #pendingHighSurrogate = "";

  constructor() {
    const TextEncoderCtor = globalThis.TextEncoder;
    this.#encoder = new TextEncoderCtor();
    this.#transform = createTransformStream(
      (chunk, controller) => this.#encodeChunk(chunk, controller),
      (controller) => this.#flush(controller),
    );
  }

  #encodeChunk(chunk, controller) {
    let input = toDOMString(chunk);
    if (this.#pendingHighSurrogate !== "") {
      input = this.#pendingHighSurrogate + input;
      this.#pendingHighSurrogate = "";
    }
    if (input.length === 0) return;
    const last = input.charCodeAt(input.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.#pendingHighSurrogate = input[input.length - 1];
      input = input.slice(0, -1);
      if (input.length === 0) return;
    }
    const bytes = this.#encoder.encode(input);
    if (TypedArrayPrototypeGetByteLength(bytes) > 0) transformStreamDefaultControllerEnqueue(controller, bytes);
  }

  #flush(controller) {
    if (this.#pendingHighSurrogate !== "") {
      this.#pendingHighSurrogate = "";
      transformStreamDefaultControllerEnqueue(controller, new Uint8Array(REPLACEMENT_BYTES));
    }
  }

  static #check(o, member) {
    if (!isObject(o) || !(#transform in o)) throw illegalInvocation("TextEncoderStream", member);
    return o;
  }

  get encoding() {
    TextEncoderStream.#check(this, "encoding");
    return "utf-8";
  }

  get readable() {
    return TextEncoderStream.#check(this, "readable").#transform.readable.pub;
  }

  get writable() {
    return TextEncoderStream.#check(this, "writable").#transform.writable.pub;
  }
}
webidlInterface(TextEncoderStream, "TextEncoderStream");

class TextDecoderStream {
  #transform;
  #decoder;

  constructor(label = "utf-8", options = undefined) {
    const TextDecoderCtor = globalThis.TextDecoder;
    // TextDecoder validates the label (RangeError) and the options.
    const decoder = new TextDecoderCtor(label, options);
    this.#decoder = decoder;
    const decodeOptions = { stream: true };
    this.#transform = createTransformStream(
      (chunk, controller) => {
        if (!ArrayBufferIsView(chunk) && !isArrayBuffer(chunk)) {
          throw new TypeError("Failed to execute 'transform' on 'TextDecoderStream': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'");
        }
        const text = decoder.decode(chunk, decodeOptions);
        if (text.length > 0) transformStreamDefaultControllerEnqueue(controller, text);
      },
      (controller) => {
        const text = decoder.decode();
        if (text.length > 0) transformStreamDefaultControllerEnqueue(controller, text);
      },
    );
  }

  static #check(o, member) {
    if (!isObject(o) || !(#transform in o)) throw illegalInvocation("TextDecoderStream", member);
    return o;
  }

  get encoding() {
    return TextDecoderStream.#check(this, "encoding").#decoder.encoding;
  }

  get fatal() {
    return TextDecoderStream.#check(this, "fatal").#decoder.fatal;
  }

  get ignoreBOM() {
    return TextDecoderStream.#check(this, "ignoreBOM").#decoder.ignoreBOM;
  }

  get readable() {
    return TextDecoderStream.#check(this, "readable").#transform.readable.pub;
  }

  get writable() {
    return TextDecoderStream.#check(this, "writable").#transform.writable.pub;
  }
}
webidlInterface(TextDecoderStream, "TextDecoderStream");

internals.defineGlobal("TextEncoderStream", TextEncoderStream);
internals.defineGlobal("TextDecoderStream", TextDecoderStream);
