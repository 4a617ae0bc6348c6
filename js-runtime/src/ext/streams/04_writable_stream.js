// WritableStream, WritableStreamDefaultWriter, WritableStreamDefaultController
// (https://streams.spec.whatwg.org/#ws-class, section 5).

const {
  kInternal,
  ReflectApply,
  PromiseReject,
  Deferred,
  resolvedDeferred,
  rejectedDeferred,
  markHandled,
  uponPromise,
  invokePromiseCallback,
  resolvedWith,
  resolvedUndefined,
  Queue,
  SizedQueue,
  enqueueValueWithSize,
  dequeueValue,
  resetQueue,
  isObject,
  toCallback,
  requireArgs,
  webidlInterface,
  illegalInvocation,
  sizeOne,
  toQueuingStrategy,
  extractHighWaterMark,
  extractSizeAlgorithm,
  returnUndefined,
  returnResolved,
} = internals._streams;
const S = internals._streams;

// The close sentinel in a writable controller's queue.
const closeSentinel = Symbol("close sentinel");

// ---------------------------------------------------------------------------
// Records

/** A WritableStream's slots (section 5.2.2). */
class WritableRecord {
  constructor() {
    this.pub = undefined;
    this.backpressure = false;
    this.closeRequest = undefined;
    this.controller = undefined;
    this.inFlightWriteRequest = undefined;
    this.inFlightCloseRequest = undefined;
    this.pendingAbortRequest = undefined;
    this.state = "writable";
    this.storedError = undefined;
    this.writer = undefined;
    this.writeRequests = new Queue();
  }
}

/** A WritableStreamDefaultWriter's slots (section 5.3.2). */
class WriterRecord {
  constructor() {
    this.pub = undefined;
    this.closed = undefined;
    this.ready = undefined;
    this.stream = undefined;
  }
}

/** A WritableStreamDefaultController's slots (section 5.4.2). */
class WritableControllerRecord {
  constructor() {
    this.pub = undefined;
    // The AbortSignal is made on first use of `controller.signal`.
    this.signal = undefined;
    this.abortReason = undefined;
    this.aborted = false;
    this.abortAlgorithm = undefined;
    this.closeAlgorithm = undefined;
    this.queue = new SizedQueue();
    this.queueTotalSize = 0;
    this.started = false;
    this.strategyHWM = 1;
    this.strategySizeAlgorithm = undefined;
    this.stream = undefined;
    this.writeAlgorithm = undefined;
    this.sink = undefined;
    this.writeFn = undefined;
    this.closeFn = undefined;
    this.abortFn = undefined;
    this.onWriteFulfilled = undefined;
    this.onWriteRejected = undefined;
  }

  // [[AbortSteps]]
  abortSteps(reason) {
    const result = this.abortAlgorithm(reason);
    wsdcClearAlgorithms(this);
    return result;
  }

  // [[ErrorSteps]]
  errorSteps() {
    resetQueue(this);
  }
}

// ---------------------------------------------------------------------------
// WritableStream abstract operations (section 5.5)

function acquireWritableStreamDefaultWriter(stream) {
  const writer = new WriterRecord();
  setUpWritableStreamDefaultWriter(writer, stream);
  return writer;
}

/** CreateWritableStream (section 5.5.1); returns the record (its `pub` is made). */
function createWritableStream(
  startAlgorithm,
  writeAlgorithm,
  closeAlgorithm,
  abortAlgorithm,
  highWaterMark = 1,
  sizeAlgorithm = sizeOne,
) {
  const stream = new WritableRecord();
  new WritableStream(kInternal, stream);
  const controller = new WritableControllerRecord();
  setUpWritableStreamDefaultController(
    stream,
    controller,
    startAlgorithm,
    writeAlgorithm,
    closeAlgorithm,
    abortAlgorithm,
    highWaterMark,
    sizeAlgorithm,
  );
  return stream;
}

function isWritableStreamLocked(stream) {
  return stream.writer !== undefined;
}

function writableStreamAbort(stream, reason) {
  if (stream.state === "closed" || stream.state === "errored") return resolvedUndefined;
  wsdcSignalAbort(stream.controller, reason);
  const state = stream.state;
  if (state === "closed" || state === "errored") return resolvedUndefined;
  if (stream.pendingAbortRequest !== undefined) return stream.pendingAbortRequest.deferred.promise;
  let wasAlreadyErroring = false;
  if (state === "erroring") {
    wasAlreadyErroring = true;
    reason = undefined;
  }
  const deferred = new Deferred();
  stream.pendingAbortRequest = { deferred, reason, wasAlreadyErroring };
  if (!wasAlreadyErroring) writableStreamStartErroring(stream, reason);
  return deferred.promise;
}

function writableStreamClose(stream) {
  const state = stream.state;
  if (state === "closed" || state === "errored") {
    return PromiseReject(new TypeError("The stream is not in the writable state and cannot be closed"));
  }
  const deferred = new Deferred();
  stream.closeRequest = deferred;
  const writer = stream.writer;
  if (writer !== undefined && stream.backpressure && state === "writable") writer.ready.resolve(undefined);
  wsdcClose(stream.controller);
  return deferred.promise;
}

function writableStreamAddWriteRequest(stream) {
  const deferred = new Deferred();
  stream.writeRequests.push(deferred);
  return deferred.promise;
}

function writableStreamCloseQueuedOrInFlight(stream) {
  return stream.closeRequest !== undefined || stream.inFlightCloseRequest !== undefined;
}

function writableStreamDealWithRejection(stream, error) {
  if (stream.state === "writable") {
    writableStreamStartErroring(stream, error);
    return;
  }
  writableStreamFinishErroring(stream);
}

function writableStreamFinishErroring(stream) {
  stream.state = "errored";
  stream.controller.errorSteps();
  const storedError = stream.storedError;
  const requests = stream.writeRequests.drain();
  for (let i = 0; i < requests.length; i++) requests[i].reject(storedError);
  const abortRequest = stream.pendingAbortRequest;
  if (abortRequest === undefined) {
    writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    return;
  }
  stream.pendingAbortRequest = undefined;
  if (abortRequest.wasAlreadyErroring) {
    abortRequest.deferred.reject(storedError);
    writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    return;
  }
  const promise = stream.controller.abortSteps(abortRequest.reason);
  uponPromise(
    promise,
    () => {
      abortRequest.deferred.resolve(undefined);
      writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    },
    (reason) => {
      abortRequest.deferred.reject(reason);
      writableStreamRejectCloseAndClosedPromiseIfNeeded(stream);
    },
  );
}

function writableStreamFinishInFlightClose(stream) {
  stream.inFlightCloseRequest.resolve(undefined);
  stream.inFlightCloseRequest = undefined;
  if (stream.state === "erroring") {
    stream.storedError = undefined;
    if (stream.pendingAbortRequest !== undefined) {
      stream.pendingAbortRequest.deferred.resolve(undefined);
      stream.pendingAbortRequest = undefined;
    }
  }
  stream.state = "closed";
  const writer = stream.writer;
  if (writer !== undefined) writer.closed.resolve(undefined);
}

function writableStreamFinishInFlightCloseWithError(stream, error) {
  stream.inFlightCloseRequest.reject(error);
  stream.inFlightCloseRequest = undefined;
  if (stream.pendingAbortRequest !== undefined) {
    stream.pendingAbortRequest.deferred.reject(error);
    stream.pendingAbortRequest = undefined;
  }
  writableStreamDealWithRejection(stream, error);
}

function writableStreamFinishInFlightWrite(stream) {
  stream.inFlightWriteRequest.resolve(undefined);
  stream.inFlightWriteRequest = undefined;
}

function writableStreamFinishInFlightWriteWithError(stream, error) {
  stream.inFlightWriteRequest.reject(error);
  stream.inFlightWriteRequest = undefined;
  writableStreamDealWithRejection(stream, error);
}

function writableStreamHasOperationMarkedInFlight(stream) {
  return stream.inFlightWriteRequest !== undefined || stream.inFlightCloseRequest !== undefined;
}

function writableStreamMarkCloseRequestInFlight(stream) {
  stream.inFlightCloseRequest = stream.closeRequest;
  stream.closeRequest = undefined;
}

function writableStreamMarkFirstWriteRequestInFlight(stream) {
  stream.inFlightWriteRequest = stream.writeRequests.shift();
}

function writableStreamRejectCloseAndClosedPromiseIfNeeded(stream) {
  if (stream.closeRequest !== undefined) {
    stream.closeRequest.reject(stream.storedError);
    stream.closeRequest = undefined;
  }
  const writer = stream.writer;
  if (writer !== undefined) {
    writer.closed.reject(stream.storedError);
    markHandled(writer.closed.promise);
  }
}

function writableStreamStartErroring(stream, reason) {
  const controller = stream.controller;
  stream.state = "erroring";
  stream.storedError = reason;
  const writer = stream.writer;
  if (writer !== undefined) writableStreamDefaultWriterEnsureReadyPromiseRejected(writer, reason);
  if (!writableStreamHasOperationMarkedInFlight(stream) && controller.started) {
    writableStreamFinishErroring(stream);
  }
}

function writableStreamUpdateBackpressure(stream, backpressure) {
  const writer = stream.writer;
  if (writer !== undefined && backpressure !== stream.backpressure) {
    if (backpressure) writer.ready = new Deferred();
    else writer.ready.resolve(undefined);
  }
  stream.backpressure = backpressure;
}

// ---------------------------------------------------------------------------
// Writer abstract operations (section 5.5.4)

function setUpWritableStreamDefaultWriter(writer, stream) {
  if (isWritableStreamLocked(stream)) throw new TypeError("WritableStream is locked");
  writer.stream = stream;
  stream.writer = writer;
  const state = stream.state;
  if (state === "writable") {
    if (!writableStreamCloseQueuedOrInFlight(stream) && stream.backpressure) writer.ready = new Deferred();
    else writer.ready = resolvedDeferred(undefined);
    writer.closed = new Deferred();
  } else if (state === "erroring") {
    writer.ready = rejectedDeferred(stream.storedError);
    writer.closed = new Deferred();
  } else if (state === "closed") {
    writer.ready = resolvedDeferred(undefined);
    writer.closed = resolvedDeferred(undefined);
  } else {
    writer.ready = rejectedDeferred(stream.storedError);
    writer.closed = rejectedDeferred(stream.storedError);
  }
}

function writableStreamDefaultWriterCloseWithErrorPropagation(writer) {
  const stream = writer.stream;
  const state = stream.state;
  if (writableStreamCloseQueuedOrInFlight(stream) || state === "closed") return resolvedUndefined;
  if (state === "errored") return PromiseReject(stream.storedError);
  return writableStreamClose(stream);
}

function writableStreamDefaultWriterEnsureClosedPromiseRejected(writer, error) {
  if (writer.closed.state === 0) writer.closed.reject(error);
  else writer.closed = rejectedDeferred(error);
  markHandled(writer.closed.promise);
}

function writableStreamDefaultWriterEnsureReadyPromiseRejected(writer, error) {
  if (writer.ready.state === 0) writer.ready.reject(error);
  else writer.ready = rejectedDeferred(error);
  markHandled(writer.ready.promise);
}

function writableStreamDefaultWriterGetDesiredSize(writer) {
  const stream = writer.stream;
  const state = stream.state;
  if (state === "errored" || state === "erroring") return null;
  if (state === "closed") return 0;
  return wsdcGetDesiredSize(stream.controller);
}

function writableStreamDefaultWriterRelease(writer) {
  const stream = writer.stream;
  const releasedError = new TypeError("The writer was released");
  writableStreamDefaultWriterEnsureReadyPromiseRejected(writer, releasedError);
  writableStreamDefaultWriterEnsureClosedPromiseRejected(writer, releasedError);
  stream.writer = undefined;
  writer.stream = undefined;
}

function writableStreamDefaultWriterWrite(writer, chunk) {
  const stream = writer.stream;
  const controller = stream.controller;
  const chunkSize = wsdcGetChunkSize(controller, chunk);
  if (stream !== writer.stream) {
    return PromiseReject(new TypeError("The writer was released while computing the chunk size"));
  }
  const state = stream.state;
  if (state === "errored") return PromiseReject(stream.storedError);
  if (writableStreamCloseQueuedOrInFlight(stream) || state === "closed") {
    return PromiseReject(new TypeError("The stream is closing or closed and cannot be written to"));
  }
  if (state === "erroring") return PromiseReject(stream.storedError);
  const promise = writableStreamAddWriteRequest(stream);
  wsdcWrite(controller, chunk, chunkSize);
  return promise;
}

// ---------------------------------------------------------------------------
// Controller abstract operations (section 5.5.5)

function setUpWritableStreamDefaultController(
  stream,
  controller,
  startAlgorithm,
  writeAlgorithm,
  closeAlgorithm,
  abortAlgorithm,
  highWaterMark,
  sizeAlgorithm,
) {
  controller.stream = stream;
  stream.controller = controller;
  resetQueue(controller);
  controller.started = false;
  controller.strategySizeAlgorithm = sizeAlgorithm;
  controller.strategyHWM = highWaterMark;
  controller.writeAlgorithm = writeAlgorithm;
  controller.closeAlgorithm = closeAlgorithm;
  controller.abortAlgorithm = abortAlgorithm;
  // One pair of reactions per controller: at most one write is in flight.
  controller.onWriteFulfilled = () => {
    writableStreamFinishInFlightWrite(stream);
    dequeueValue(controller);
    if (!writableStreamCloseQueuedOrInFlight(stream) && stream.state === "writable") {
      writableStreamUpdateBackpressure(stream, wsdcGetBackpressure(controller));
    }
    wsdcAdvanceQueueIfNeeded(controller);
  };
  controller.onWriteRejected = (reason) => {
    if (stream.state === "writable") wsdcClearAlgorithms(controller);
    writableStreamFinishInFlightWriteWithError(stream, reason);
  };
  writableStreamUpdateBackpressure(stream, wsdcGetBackpressure(controller));
  const startResult = startAlgorithm();
  uponPromise(
    resolvedWith(startResult),
    () => {
      controller.started = true;
      wsdcAdvanceQueueIfNeeded(controller);
    },
    (r) => {
      controller.started = true;
      writableStreamDealWithRejection(stream, r);
    },
  );
}

// Algorithms for streams made by the constructor; `this` = controller record.
function sinkWriteAlgorithm(chunk) {
  return invokePromiseCallback(this.writeFn, this.sink, [chunk, wsdcPub(this)]);
}
function sinkCloseAlgorithm() {
  return invokePromiseCallback(this.closeFn, this.sink, []);
}
function sinkAbortAlgorithm(reason) {
  return invokePromiseCallback(this.abortFn, this.sink, [reason]);
}

function setUpWritableStreamDefaultControllerFromUnderlyingSink(stream, sink, dict, highWaterMark, sizeAlgorithm) {
  const controller = new WritableControllerRecord();
  controller.sink = sink;
  controller.writeFn = dict.write;
  controller.closeFn = dict.close;
  controller.abortFn = dict.abort;
  const pub = wsdcPub(controller);
  const start = dict.start;
  setUpWritableStreamDefaultController(
    stream,
    controller,
    start === undefined ? returnUndefined : () => ReflectApply(start, sink, [pub]),
    dict.write === undefined ? returnResolved : sinkWriteAlgorithm,
    dict.close === undefined ? returnResolved : sinkCloseAlgorithm,
    dict.abort === undefined ? returnResolved : sinkAbortAlgorithm,
    highWaterMark,
    sizeAlgorithm,
  );
}

function wsdcAdvanceQueueIfNeeded(controller) {
  const stream = controller.stream;
  if (!controller.started) return;
  if (stream.inFlightWriteRequest !== undefined) return;
  if (stream.state === "erroring") {
    writableStreamFinishErroring(stream);
    return;
  }
  if (controller.queue.empty) return;
  const value = controller.queue.peekValue();
  if (value === closeSentinel) wsdcProcessClose(controller);
  else wsdcProcessWrite(controller, value);
}

function wsdcClearAlgorithms(controller) {
  controller.writeAlgorithm = undefined;
  controller.closeAlgorithm = undefined;
  controller.abortAlgorithm = undefined;
  controller.strategySizeAlgorithm = undefined;
  controller.sink = undefined;
  controller.writeFn = undefined;
  controller.closeFn = undefined;
  controller.abortFn = undefined;
}

function wsdcClose(controller) {
  enqueueValueWithSize(controller, closeSentinel, 0);
  wsdcAdvanceQueueIfNeeded(controller);
}

function wsdcError(controller, error) {
  const stream = controller.stream;
  wsdcClearAlgorithms(controller);
  writableStreamStartErroring(stream, error);
}

function wsdcErrorIfNeeded(controller, error) {
  if (controller.stream.state === "writable") wsdcError(controller, error);
}

function wsdcGetBackpressure(controller) {
  return wsdcGetDesiredSize(controller) <= 0;
}

function wsdcGetChunkSize(controller, chunk) {
  const sizeAlgorithm = controller.strategySizeAlgorithm;
  if (sizeAlgorithm === undefined || sizeAlgorithm === sizeOne) return 1;
  try {
    return sizeAlgorithm(chunk);
  } catch (e) {
    wsdcErrorIfNeeded(controller, e);
    return 1;
  }
}

function wsdcGetDesiredSize(controller) {
  return controller.strategyHWM - controller.queueTotalSize;
}

function wsdcProcessClose(controller) {
  const stream = controller.stream;
  writableStreamMarkCloseRequestInFlight(stream);
  dequeueValue(controller);
  const sinkClosePromise = controller.closeAlgorithm();
  wsdcClearAlgorithms(controller);
  uponPromise(
    sinkClosePromise,
    () => writableStreamFinishInFlightClose(stream),
    (reason) => writableStreamFinishInFlightCloseWithError(stream, reason),
  );
}

function wsdcProcessWrite(controller, chunk) {
  writableStreamMarkFirstWriteRequestInFlight(controller.stream);
  uponPromise(controller.writeAlgorithm(chunk), controller.onWriteFulfilled, controller.onWriteRejected);
}

function wsdcWrite(controller, chunk, chunkSize) {
  try {
    enqueueValueWithSize(controller, chunk, chunkSize);
  } catch (e) {
    wsdcErrorIfNeeded(controller, e);
    return;
  }
  const stream = controller.stream;
  if (!writableStreamCloseQueuedOrInFlight(stream) && stream.state === "writable") {
    writableStreamUpdateBackpressure(stream, wsdcGetBackpressure(controller));
  }
  wsdcAdvanceQueueIfNeeded(controller);
}

/** Signals abort on the controller's AbortSignal (made lazily, see `signal`). */
function wsdcSignalAbort(controller, reason) {
  if (controller.aborted) return;
  controller.aborted = true;
  controller.abortReason = reason;
  if (controller.signal !== undefined) S.abortOps().signalAbort(controller.signal, reason);
}

function wsdcPub(controller) {
  if (controller.pub === undefined) controller.pub = new WritableStreamDefaultController(kInternal, controller);
  return controller.pub;
}

// ---------------------------------------------------------------------------
// Public interfaces

class WritableStream {
  #s;

  constructor(underlyingSink = undefined, strategy = undefined) {
    if (underlyingSink === kInternal) {
      this.#s = strategy;
      strategy.pub = this;
      return;
    }
    const context = "Failed to construct 'WritableStream'";
    if (underlyingSink !== undefined && !isObject(underlyingSink)) {
      throw new TypeError(`${context}: parameter 1 is not of type 'object'.`);
    }
    const strat = toQueuingStrategy(strategy, context);
    const sink = underlyingSink === undefined ? null : underlyingSink;
    // The UnderlyingSink dictionary, members in lexicographic order.
    const dict = { abort: undefined, close: undefined, start: undefined, type: undefined, write: undefined };
    if (sink !== null) {
      const abort = sink.abort;
      if (abort !== undefined) dict.abort = toCallback(abort, context, "abort");
      const close = sink.close;
      if (close !== undefined) dict.close = toCallback(close, context, "close");
      const start = sink.start;
      if (start !== undefined) dict.start = toCallback(start, context, "start");
      dict.type = sink.type;
      const write = sink.write;
      if (write !== undefined) dict.write = toCallback(write, context, "write");
    }
    if (dict.type !== undefined) throw new RangeError(`${context}: Invalid type is specified`);
    const stream = new WritableRecord();
    stream.pub = this;
    this.#s = stream;
    const sizeAlgorithm = extractSizeAlgorithm(strat);
    const highWaterMark = extractHighWaterMark(strat, 1);
    setUpWritableStreamDefaultControllerFromUnderlyingSink(stream, sink, dict, highWaterMark, sizeAlgorithm);
  }

  static {
    S.writableRecordOf = (o) => (isObject(o) && #s in o ? o.#s : undefined);
    S.isWritableStream = (o) => isObject(o) && #s in o;
  }

  get locked() {
    const stream = S.writableRecordOf(this);
    if (stream === undefined) throw illegalInvocation("WritableStream", "locked");
    return isWritableStreamLocked(stream);
  }

  abort(reason = undefined) {
    const stream = S.writableRecordOf(this);
    if (stream === undefined) return PromiseReject(illegalInvocation("WritableStream", "abort"));
    if (isWritableStreamLocked(stream)) {
      return PromiseReject(new TypeError("Failed to execute 'abort' on 'WritableStream': Cannot abort a locked stream"));
    }
    return writableStreamAbort(stream, reason);
  }

  close() {
    const stream = S.writableRecordOf(this);
    if (stream === undefined) return PromiseReject(illegalInvocation("WritableStream", "close"));
    if (isWritableStreamLocked(stream)) {
      return PromiseReject(new TypeError("Failed to execute 'close' on 'WritableStream': Cannot close a locked stream"));
    }
    if (writableStreamCloseQueuedOrInFlight(stream)) {
      return PromiseReject(new TypeError("Failed to execute 'close' on 'WritableStream': Cannot close an already-closing stream"));
    }
    return writableStreamClose(stream);
  }

  getWriter() {
    const stream = S.writableRecordOf(this);
    if (stream === undefined) throw illegalInvocation("WritableStream", "getWriter");
    return writerPub(acquireWritableStreamDefaultWriter(stream));
  }
}
webidlInterface(WritableStream, "WritableStream");

let writerOf;

class WritableStreamDefaultWriter {
  #w;

  constructor(stream, record = undefined) {
    if (stream === kInternal) {
      this.#w = record;
      record.pub = this;
      return;
    }
    const context = "Failed to construct 'WritableStreamDefaultWriter'";
    requireArgs(arguments.length, 1, context);
    const s = S.writableRecordOf(stream);
    if (s === undefined) throw new TypeError(`${context}: parameter 1 is not of type 'WritableStream'.`);
    const writer = new WriterRecord();
    setUpWritableStreamDefaultWriter(writer, s);
    writer.pub = this;
    this.#w = writer;
  }

  static {
    writerOf = (o, member) => {
      if (!isObject(o) || !(#w in o)) throw illegalInvocation("WritableStreamDefaultWriter", member);
      return o.#w;
    };
  }

  get closed() {
    try {
      return writerOf(this, "closed").closed.promise;
    } catch (e) {
      return PromiseReject(e);
    }
  }

  get desiredSize() {
    const writer = writerOf(this, "desiredSize");
    if (writer.stream === undefined) {
      throw new TypeError("Failed to read the 'desiredSize' property from 'WritableStreamDefaultWriter': The writer has been released");
    }
    return writableStreamDefaultWriterGetDesiredSize(writer);
  }

  get ready() {
    try {
      return writerOf(this, "ready").ready.promise;
    } catch (e) {
      return PromiseReject(e);
    }
  }

  abort(reason = undefined) {
    let writer;
    try {
      writer = writerOf(this, "abort");
    } catch (e) {
      return PromiseReject(e);
    }
    if (writer.stream === undefined) {
      return PromiseReject(new TypeError("Failed to execute 'abort' on 'WritableStreamDefaultWriter': The writer has been released"));
    }
    return writableStreamAbort(writer.stream, reason);
  }

  close() {
    let writer;
    try {
      writer = writerOf(this, "close");
    } catch (e) {
      return PromiseReject(e);
    }
    const stream = writer.stream;
    if (stream === undefined) {
      return PromiseReject(new TypeError("Failed to execute 'close' on 'WritableStreamDefaultWriter': The writer has been released"));
    }
    if (writableStreamCloseQueuedOrInFlight(stream)) {
      return PromiseReject(new TypeError("Failed to execute 'close' on 'WritableStreamDefaultWriter': Cannot close an already-closing stream"));
    }
    return writableStreamClose(stream);
  }

  releaseLock() {
    const writer = writerOf(this, "releaseLock");
    if (writer.stream === undefined) return;
    writableStreamDefaultWriterRelease(writer);
  }

  write(chunk = undefined) {
    let writer;
    try {
      writer = writerOf(this, "write");
    } catch (e) {
      return PromiseReject(e);
    }
    if (writer.stream === undefined) {
      return PromiseReject(new TypeError("Failed to execute 'write' on 'WritableStreamDefaultWriter': The writer has been released"));
    }
    return writableStreamDefaultWriterWrite(writer, chunk);
  }
}
webidlInterface(WritableStreamDefaultWriter, "WritableStreamDefaultWriter");

function writerPub(writer) {
  if (writer.pub === undefined) new WritableStreamDefaultWriter(kInternal, writer);
  return writer.pub;
}

let writableControllerOf;

class WritableStreamDefaultController {
  #c;

  constructor(key = undefined, record = undefined) {
    if (key !== kInternal) throw new TypeError("Illegal constructor");
    this.#c = record;
  }

  static {
    writableControllerOf = (o, member) => {
      if (!isObject(o) || !(#c in o)) throw illegalInvocation("WritableStreamDefaultController", member);
      return o.#c;
    };
  }

  get signal() {
    const controller = writableControllerOf(this, "signal");
    if (controller.signal === undefined) {
      const abort = S.abortOps();
      controller.signal = abort.createAbortSignal();
      if (controller.aborted && controller.signal !== undefined) abort.signalAbort(controller.signal, controller.abortReason);
    }
    return controller.signal;
  }

  error(e = undefined) {
    const controller = writableControllerOf(this, "error");
    if (controller.stream.state !== "writable") return;
    wsdcError(controller, e);
  }
}
webidlInterface(WritableStreamDefaultController, "WritableStreamDefaultController");

internals.defineGlobal("WritableStream", WritableStream);
internals.defineGlobal("WritableStreamDefaultWriter", WritableStreamDefaultWriter);
internals.defineGlobal("WritableStreamDefaultController", WritableStreamDefaultController);

Object.assign(S, {
  WritableStream,
  WritableStreamDefaultWriter,
  WritableStreamDefaultController,
  acquireWritableStreamDefaultWriter,
  createWritableStream,
  isWritableStreamLocked,
  writableStreamAbort,
  writableStreamClose,
  writableStreamCloseQueuedOrInFlight,
  writableStreamDefaultWriterCloseWithErrorPropagation,
  writableStreamDefaultWriterRelease,
  writableStreamDefaultWriterWrite,
  writableStreamDefaultWriterGetDesiredSize,
  wsdcErrorIfNeeded,
  wsdcGetDesiredSize,
  writerPub,
});
