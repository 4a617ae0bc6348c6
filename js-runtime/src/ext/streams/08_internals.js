// `internals.streams`: what other families (fetch above all) use to make and
// consume streams without going through the public, brand-checked API.
// Documented in README.md; keep the two in sync.

const {
  ReflectApply,
  PromiseReject,
  PromiseResolve,
  Deferred,
  markHandled,
  resolvedUndefined,
  invokePromiseCallback,
  ArrayBufferIsView,
  viewBuffer,
  viewByteOffset,
  viewByteLength,
  isArrayBuffer,
  ArrayBufferPrototypeGetByteLength,
  asUint8Array,
  concatBytes,
  TypedArrayPrototypeGetByteLength,
  returnUndefined,
  PublicReadRequest,
  ReadableStream,
  WritableStream,
  TransformStream,
  isReadableStreamLocked,
  acquireReadableStreamDefaultReader,
  readableStreamCancel,
  readableStreamDefaultReaderRead,
  readableStreamDefaultReaderRelease,
  readableStreamReaderGenericCancel,
  readableStreamTee,
  rsdcError,
  rsdcClose,
  rsdcEnqueue,
  createReadableStream,
  createReadableByteStream,
  rbscClose,
  rbscEnqueue,
  rbscEnqueueChunkToQueue,
  rbscError,
  rbscGetDesiredSize,
  createTransformStream,
  transformStreamDefaultControllerEnqueue,
  transformStreamDefaultControllerError,
  transformStreamDefaultControllerTerminate,
  readableStreamPipeTo,
} = internals._streams;
const S = internals._streams;

function recordOf(stream, what) {
  const record = S.streamRecordOf(stream);
  if (record === undefined) throw new TypeError(`${what}: not a ReadableStream`);
  return record;
}

/** Collects a stream's byte chunks (the read request of `readAll`). */
class ReadAllRequest {
  constructor(stream, reader) {
    this.stream = stream;
    this.reader = reader;
    this.chunks = [];
    this.total = 0;
    this.deferred = new Deferred();
    this.pending = false;
    this.inPump = false;
    this.done = false;
  }
  chunk(chunk) {
    this.pending = false;
    const bytes = asUint8Array(chunk);
    if (bytes === undefined) {
      this.done = true;
      const e = new TypeError("The stream produced a chunk that is not a Uint8Array, ArrayBuffer or ArrayBufferView");
      markHandled(readableStreamCancel(this.stream, e));
      this.deferred.reject(e);
      return;
    }
    const len = TypedArrayPrototypeGetByteLength(bytes);
    if (len > 0) {
      this.chunks.push(bytes);
      this.total += len;
    }
    if (!this.inPump) this.pump();
  }
  close() {
    this.pending = false;
    this.done = true;
    const out = this.chunks.length === 0 ? new Uint8Array(0) : concatBytes(this.chunks, this.total);
    this.chunks = [];
    this.deferred.resolve(out);
  }
  error(e) {
    this.pending = false;
    this.done = true;
    this.chunks = [];
    this.deferred.reject(e);
  }
  pump() {
    this.inPump = true;
    while (!this.done && !this.pending) {
      this.pending = true;
      readableStreamDefaultReaderRead(this.reader, this);
    }
    this.inPump = false;
  }
}

/**
 * The controller handed to `fromPull`'s `pull`: like ReadableByteStreamController
 * but lenient (empty chunks are skipped, calls after close/cancel are no-ops)
 * and also accepting ArrayBuffers.
 */
class PullController {
  constructor(record) {
    this.c = record;
  }
  get desiredSize() {
    return rbscGetDesiredSize(this.c);
  }
  enqueue(chunk) {
    const c = this.c;
    if (c.closeRequested || c.stream.state !== "readable") return;
    if (ArrayBufferIsView(chunk)) {
      if (viewByteLength(chunk) === 0) return;
    } else if (isArrayBuffer(chunk)) {
      if (ArrayBufferPrototypeGetByteLength(chunk) === 0) return;
      chunk = new Uint8Array(chunk);
    } else {
      throw new TypeError("fromPull: chunks must be Uint8Array, ArrayBuffer or ArrayBufferView");
    }
    rbscEnqueue(c, chunk);
  }
  close() {
    const c = this.c;
    if (c.closeRequested || c.stream.state !== "readable") return;
    rbscClose(c);
  }
  error(e) {
    rbscError(this.c, e);
  }
}

/** A reader for hot loops: `read()` without brand checks; settles at once when a chunk is queued. */
class FastReader {
  constructor(stream) {
    this.stream = stream;
    this.reader = acquireReadableStreamDefaultReader(stream);
  }
  /** Promise<{ value, done }>, as `ReadableStreamDefaultReader#read`. */
  read() {
    if (this.reader.stream === undefined) return PromiseReject(new TypeError("The reader has been released"));
    const request = new PublicReadRequest();
    readableStreamDefaultReaderRead(this.reader, request);
    return request.promise();
  }
  /** Promise that fulfills when the stream closes and rejects when it errors. */
  get closed() {
    return this.reader.closed.promise;
  }
  cancel(reason) {
    if (this.reader.stream === undefined) return PromiseReject(new TypeError("The reader has been released"));
    return readableStreamReaderGenericCancel(this.reader, reason);
  }
  releaseLock() {
    if (this.reader.stream !== undefined) readableStreamDefaultReaderRelease(this.reader);
  }
}

internals.streams = {
  ReadableStream,
  WritableStream,
  TransformStream,

  isReadableStream: (x) => S.isReadableStream(x),
  isWritableStream: (x) => S.isWritableStream(x),
  /** True once the stream has been read from or canceled (Body's "disturbed"). */
  isDisturbed: (stream) => recordOf(stream, "isDisturbed").disturbed,
  isLocked: (stream) => isReadableStreamLocked(recordOf(stream, "isLocked")),
  /** "readable" | "closed" | "errored". */
  state: (stream) => recordOf(stream, "state").state,
  isErrored: (stream) => recordOf(stream, "isErrored").state === "errored",

  /**
   * Reads the whole stream and resolves with its bytes concatenated (one
   * chunk is returned as is). Rejects with a TypeError if the stream is
   * locked or yields a chunk that is not bytes (the stream is then
   * canceled). The stream stays locked and disturbed afterwards, as after
   * Body consumption.
   */
  readAll(stream) {
    let record;
    let reader;
    try {
      record = recordOf(stream, "readAll");
      reader = acquireReadableStreamDefaultReader(record);
    } catch (e) {
      return PromiseReject(e);
    }
    const request = new ReadAllRequest(record, reader);
    request.pump();
    return request.deferred.promise;
  },

  /**
   * A byte stream of `bytes` (Uint8Array, or any view/ArrayBuffer) as one
   * chunk, then closed. The stream takes the bytes over without copying:
   * the caller must not change them afterwards.
   */
  fromBytes(bytes) {
    const stream = createReadableByteStream(returnUndefined, () => resolvedUndefined, () => resolvedUndefined, 0);
    const controller = stream.controller;
    if (ArrayBufferIsView(bytes)) {
      const len = viewByteLength(bytes);
      if (len > 0) rbscEnqueueChunkToQueue(controller, viewBuffer(bytes), viewByteOffset(bytes), len);
    } else if (isArrayBuffer(bytes)) {
      const len = ArrayBufferPrototypeGetByteLength(bytes);
      if (len > 0) rbscEnqueueChunkToQueue(controller, bytes, 0, len);
    } else if (bytes !== undefined && bytes !== null) {
      throw new TypeError("fromBytes: expected a Uint8Array, ArrayBuffer or ArrayBufferView");
    }
    rbscClose(controller);
    return stream.pub;
  },

  /**
   * A byte stream (type "bytes", BYOB-capable) whose data comes from
   * `source.pull(controller)` (may return a promise; called when a reader
   * wants data and the queue is below `highWaterMark`, default 0) and
   * `source.cancel(reason)`. `controller` has `enqueue(bytes)`, `close()`,
   * `error(e)` and `desiredSize`; empty chunks and calls after close or
   * cancel are ignored.
   */
  fromPull(source, options = undefined) {
    const highWaterMark = options?.highWaterMark ?? 0;
    const pull = source.pull;
    const cancel = source.cancel;
    let pullController;
    const pullAlgorithm = function () {
      pullController ??= new PullController(this);
      try {
        return PromiseResolve(ReflectApply(pull, source, [pullController]));
      } catch (e) {
        return PromiseReject(e);
      }
    };
    const cancelAlgorithm =
      typeof cancel === "function" ? (reason) => invokePromiseCallback(cancel, source, [reason]) : () => resolvedUndefined;
    return createReadableByteStream(returnUndefined, pullAlgorithm, cancelAlgorithm, highWaterMark).pub;
  },

  /**
   * A default (non-byte) stream from `source.start/pull/cancel` algorithms
   * called with an internal controller record; use `enqueue`/`close`/`error`
   * below on it. For families that need a plain object stream.
   */
  create(pull, cancel, highWaterMark = 1) {
    return createReadableStream(
      returnUndefined,
      pull === undefined ? () => resolvedUndefined : function () {
        try {
          return PromiseResolve(pull(this));
        } catch (e) {
          return PromiseReject(e);
        }
      },
      cancel === undefined ? () => resolvedUndefined : (reason) => {
        try {
          return PromiseResolve(cancel(reason));
        } catch (e) {
          return PromiseReject(e);
        }
      },
      highWaterMark,
    ).pub;
  },
  /** Controller-record helpers for `create` streams. */
  enqueue: (controller, chunk) => rsdcEnqueue(controller, chunk),
  close: (controller) => rsdcClose(controller),

  /** The spec's "tee a ReadableStream" (chunks are cloned for the second branch). */
  tee(stream) {
    const [a, b] = readableStreamTee(recordOf(stream, "tee"), true);
    return [a.pub, b.pub];
  },

  /** The spec's "cancel a ReadableStream" (works on locked streams). */
  cancel(stream, reason) {
    return readableStreamCancel(recordOf(stream, "cancel"), reason);
  },

  /** Errors a readable stream (no-op unless it is readable). */
  error(stream, e) {
    const record = recordOf(stream, "error");
    if (record.controller.byte) rbscError(record.controller, e);
    else rsdcError(record.controller, e);
  },

  /** A FastReader ({ read(), cancel(reason), releaseLock(), closed }); throws TypeError if locked. */
  getReaderFast(stream) {
    return new FastReader(recordOf(stream, "getReaderFast"));
  },

  /**
   * Hands a stream's chunks to the host one at a time (a response body being
   * sent, a request body being uploaded). `sink.send(chunk)` answers 1 when
   * the host took the chunk, -1 when it reads no more, or a promise of true /
   * false for the same. Then exactly one of: `sink.end()` after the last
   * chunk; `sink.fail(e)` when reading fails or a chunk is not a Uint8Array
   * (a TypeError naming `what`), then the stream is canceled with `e`; or,
   * when the host reads no more, the stream is canceled with an AbortError
   * of `sink.stopMessage`, then `sink.stopped()`.
   */
  async sendToHost(stream, what, sink) {
    let reader;
    try {
      reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!(value instanceof Uint8Array)) {
          throw new TypeError(`a ${what} stream must produce Uint8Array chunks`);
        }
        let code = sink.send(value);
        if (typeof code === "object") code = (await code) ? 1 : -1;
        if (code === -1) {
          reader.cancel(new DOMException(sink.stopMessage, "AbortError")).catch(() => {});
          sink.stopped();
          return;
        }
      }
      sink.end();
    } catch (e) {
      sink.fail(e);
      reader?.cancel(e).catch(() => {});
    }
  },

  /** ReadableStreamPipeTo without option conversion; `signal` must be an AbortSignal or undefined. */
  pipeTo(source, dest, options = {}) {
    const s = recordOf(source, "pipeTo");
    const d = S.writableRecordOf(dest);
    if (d === undefined) return PromiseReject(new TypeError("pipeTo: not a WritableStream"));
    if (isReadableStreamLocked(s) || d.writer !== undefined) {
      return PromiseReject(new TypeError("pipeTo: a stream is locked"));
    }
    return readableStreamPipeTo(
      s,
      d,
      !!options.preventClose,
      !!options.preventAbort,
      !!options.preventCancel,
      options.signal,
    );
  },

  /**
   * The spec's "set up a TransformStream": `transform(chunk, controller)`
   * and `flush(controller)` may return promises; `controller` is passed to
   * `transformEnqueue`/`transformError`/`transformTerminate`. Returns the
   * TransformStream object.
   */
  createTransformStream(transform, flush, cancel) {
    return createTransformStream(transform, flush, cancel).pub;
  },
  transformEnqueue: (controller, chunk) => transformStreamDefaultControllerEnqueue(controller, chunk),
  transformError: (controller, e) => transformStreamDefaultControllerError(controller, e),
  transformTerminate: (controller) => transformStreamDefaultControllerTerminate(controller),
};
