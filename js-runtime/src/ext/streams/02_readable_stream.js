// ReadableStream, ReadableStreamDefaultReader, ReadableStreamDefaultController
// (https://streams.spec.whatwg.org/#rs, section 4.2-4.7, section 4.9), async iteration,
// ReadableStream.from and the default tee.
//
// Every public object holds one private record (`#s`, `#r`, `#c`) and the
// spec's abstract operations work on records. Records point back at their
// public object through `pub` (made lazily where user code may never see it).
// Byte streams live in 03_readable_byte_stream.js and reach these functions
// through `S`.

const {
  kInternal,
  ReflectApply,
  PromiseResolve,
  PromiseReject,
  PromisePrototypeThen,
  PromiseWithResolvers,
  Deferred,
  resolvedDeferred,
  rejectedDeferred,
  markHandled,
  uponPromise,
  queueMicrotaskLike,
  invokePromiseCallback,
  resolvedWith,
  resolvedUndefined,
  Queue,
  SizedQueue,
  enqueueValueWithSize,
  dequeueValue,
  resetQueue,
  isObject,
  toDictionary,
  toCallback,
  toEnforceRangeU64,
  toDOMString,
  requireArgs,
  webidlInterface,
  illegalInvocation,
  ArrayBufferIsView,
  Uint8ArrayCtor,
  Uint8ArrayPrototypeSet,
  viewBuffer,
  viewByteOffset,
  viewByteLength,
  SymbolAsyncIterator,
  SymbolIterator,
  AsyncIteratorPrototype,
  sizeOne,
  toQueuingStrategy,
  extractHighWaterMark,
  extractSizeAlgorithm,
} = internals._streams;
const S = internals._streams;

const returnUndefined = () => undefined;
const returnResolved = () => resolvedUndefined;

// ---------------------------------------------------------------------------
// Records

/** The internal slots of a ReadableStream (section 4.2.2). */
class StreamRecord {
  constructor() {
    this.pub = undefined;
    this.state = "readable";
    this.reader = undefined;
    this.storedError = undefined;
    this.disturbed = false;
    this.controller = undefined;
  }
}

/** A ReadableStreamDefaultReader's slots (section 4.3.2); `byob` tells reader kinds apart. */
class DefaultReaderRecord {
  constructor() {
    this.pub = undefined;
    this.byob = false;
    this.stream = undefined;
    this.closed = undefined;
    this.readRequests = new Queue();
  }
}

/** A ReadableStreamDefaultController's slots (section 4.6.2). */
class DefaultControllerRecord {
  constructor() {
    this.pub = undefined;
    this.byte = false;
    this.stream = undefined;
    this.queue = new SizedQueue();
    this.queueTotalSize = 0;
    this.started = false;
    this.closeRequested = false;
    this.pullAgain = false;
    this.pulling = false;
    this.strategySizeAlgorithm = undefined;
    this.strategyHWM = 0;
    this.pullAlgorithm = undefined;
    this.cancelAlgorithm = undefined;
    // Underlying source callbacks (for streams made by the constructor).
    this.source = undefined;
    this.pullFn = undefined;
    this.cancelFn = undefined;
    this.onPullFulfilled = undefined;
    this.onPullRejected = undefined;
  }

  // [[CancelSteps]]
  cancelSteps(reason) {
    resetQueue(this);
    const result = this.cancelAlgorithm(reason);
    rsdcClearAlgorithms(this);
    return result;
  }

  // [[PullSteps]]
  pullSteps(readRequest) {
    const stream = this.stream;
    if (!this.queue.empty) {
      const chunk = dequeueValue(this);
      if (this.closeRequested && this.queue.empty) {
        rsdcClearAlgorithms(this);
        readableStreamClose(stream);
      } else {
        rsdcCallPullIfNeeded(this);
      }
      readRequest.chunk(chunk);
    } else {
      stream.reader.readRequests.push(readRequest);
      rsdcCallPullIfNeeded(this);
    }
  }

  // [[ReleaseSteps]]
  releaseSteps() {}
}

// ---------------------------------------------------------------------------
// Read requests

/** The read request behind `reader.read()`: settles synchronously when it can, so no resolvers are made. */
class PublicReadRequest {
  constructor() {
    this.kind = 0; // 0 pending, 1 chunk, 2 close, 3 error
    this.value = undefined;
    this.resolve = undefined;
    this.reject = undefined;
  }
  chunk(value) {
    if (this.resolve !== undefined) this.resolve({ value, done: false });
    else {
      this.kind = 1;
      this.value = value;
    }
  }
  close() {
    if (this.resolve !== undefined) this.resolve({ value: undefined, done: true });
    else this.kind = 2;
  }
  error(e) {
    if (this.reject !== undefined) this.reject(e);
    else {
      this.kind = 3;
      this.value = e;
    }
  }
  /** The promise `read()` returns. */
  promise() {
    switch (this.kind) {
      case 1:
        return PromiseResolve({ value: this.value, done: false });
      case 2:
        return PromiseResolve({ value: undefined, done: true });
      case 3:
        return PromiseReject(this.value);
      default: {
        const { promise, resolve, reject } = PromiseWithResolvers();
        this.resolve = resolve;
        this.reject = reject;
        return promise;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// ReadableStream abstract operations (section 4.9)

function isReadableStreamLocked(stream) {
  return stream.reader !== undefined;
}

/** CreateReadableStream (section 4.9.1); returns the record (its `pub` is made). */
function createReadableStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark = 1, sizeAlgorithm = sizeOne) {
  const stream = new StreamRecord();
  new ReadableStream(kInternal, stream);
  const controller = new DefaultControllerRecord();
  setUpReadableStreamDefaultController(
    stream,
    controller,
    startAlgorithm,
    pullAlgorithm,
    cancelAlgorithm,
    highWaterMark,
    sizeAlgorithm,
  );
  return stream;
}

function acquireReadableStreamDefaultReader(stream) {
  const reader = new DefaultReaderRecord();
  setUpReadableStreamDefaultReader(reader, stream);
  return reader;
}

function setUpReadableStreamDefaultReader(reader, stream) {
  if (isReadableStreamLocked(stream)) {
    throw new TypeError("ReadableStream is locked");
  }
  readableStreamReaderGenericInitialize(reader, stream);
  reader.readRequests = new Queue();
}

function readableStreamCancel(stream, reason) {
  stream.disturbed = true;
  if (stream.state === "closed") return resolvedUndefined;
  if (stream.state === "errored") return PromiseReject(stream.storedError);
  readableStreamClose(stream);
  const reader = stream.reader;
  if (reader !== undefined && reader.byob) {
    const requests = reader.readIntoRequests.drain();
    for (let i = 0; i < requests.length; i++) requests[i].close(undefined);
  }
  const sourceCancelPromise = stream.controller.cancelSteps(reason);
  return PromisePrototypeThen(sourceCancelPromise, returnUndefined);
}

function readableStreamClose(stream) {
  stream.state = "closed";
  const reader = stream.reader;
  if (reader === undefined) return;
  reader.closed.resolve(undefined);
  if (!reader.byob) {
    const requests = reader.readRequests.drain();
    for (let i = 0; i < requests.length; i++) requests[i].close();
  }
}

function readableStreamError(stream, e) {
  stream.state = "errored";
  stream.storedError = e;
  const reader = stream.reader;
  if (reader === undefined) return;
  reader.closed.reject(e);
  markHandled(reader.closed.promise);
  if (!reader.byob) readableStreamDefaultReaderErrorReadRequests(reader, e);
  else S.readableStreamBYOBReaderErrorReadIntoRequests(reader, e);
}

function readableStreamFulfillReadRequest(stream, chunk, done) {
  const readRequest = stream.reader.readRequests.shift();
  if (done) readRequest.close();
  else readRequest.chunk(chunk);
}

function readableStreamGetNumReadRequests(stream) {
  return stream.reader.readRequests.size;
}

function readableStreamHasDefaultReader(stream) {
  const reader = stream.reader;
  return reader !== undefined && !reader.byob;
}

// ---------------------------------------------------------------------------
// Readers (section 4.3, section 4.4 generic parts)

function readableStreamReaderGenericInitialize(reader, stream) {
  reader.stream = stream;
  stream.reader = reader;
  if (stream.state === "readable") reader.closed = new Deferred();
  else if (stream.state === "closed") reader.closed = resolvedDeferred(undefined);
  else reader.closed = rejectedDeferred(stream.storedError);
}

function readableStreamReaderGenericCancel(reader, reason) {
  return readableStreamCancel(reader.stream, reason);
}

function readableStreamReaderGenericRelease(reader) {
  const stream = reader.stream;
  const e = new TypeError("The reader was released");
  if (stream.state === "readable") {
    reader.closed.reject(e);
  } else {
    reader.closed = rejectedDeferred(e);
  }
  markHandled(reader.closed.promise);
  stream.controller.releaseSteps();
  stream.reader = undefined;
  reader.stream = undefined;
}

function readableStreamDefaultReaderRead(reader, readRequest) {
  const stream = reader.stream;
  stream.disturbed = true;
  if (stream.state === "closed") readRequest.close();
  else if (stream.state === "errored") readRequest.error(stream.storedError);
  else stream.controller.pullSteps(readRequest);
}

function readableStreamDefaultReaderRelease(reader) {
  readableStreamReaderGenericRelease(reader);
  readableStreamDefaultReaderErrorReadRequests(reader, new TypeError("The reader was released"));
}

function readableStreamDefaultReaderErrorReadRequests(reader, e) {
  const requests = reader.readRequests.drain();
  for (let i = 0; i < requests.length; i++) requests[i].error(e);
}

// ---------------------------------------------------------------------------
// Default controller abstract operations (section 4.9.4)

function rsdcCallPullIfNeeded(controller) {
  if (!rsdcShouldCallPull(controller)) return;
  if (controller.pulling) {
    controller.pullAgain = true;
    return;
  }
  controller.pulling = true;
  uponPromise(controller.pullAlgorithm(), controller.onPullFulfilled, controller.onPullRejected);
}

function rsdcShouldCallPull(controller) {
  const stream = controller.stream;
  if (!rsdcCanCloseOrEnqueue(controller)) return false;
  if (!controller.started) return false;
  if (stream.reader !== undefined && !stream.reader.byob && stream.reader.readRequests.size > 0) return true;
  return rsdcGetDesiredSize(controller) > 0;
}

function rsdcClearAlgorithms(controller) {
  controller.pullAlgorithm = undefined;
  controller.cancelAlgorithm = undefined;
  controller.strategySizeAlgorithm = undefined;
  controller.source = undefined;
  controller.pullFn = undefined;
  controller.cancelFn = undefined;
}

function rsdcClose(controller) {
  if (!rsdcCanCloseOrEnqueue(controller)) return;
  controller.closeRequested = true;
  if (controller.queue.empty) {
    rsdcClearAlgorithms(controller);
    readableStreamClose(controller.stream);
  }
}

function rsdcEnqueue(controller, chunk) {
  if (!rsdcCanCloseOrEnqueue(controller)) return;
  const stream = controller.stream;
  const reader = stream.reader;
  if (reader !== undefined && reader.readRequests.size > 0) {
    readableStreamFulfillReadRequest(stream, chunk, false);
  } else {
    let chunkSize;
    const sizeAlgorithm = controller.strategySizeAlgorithm;
    if (sizeAlgorithm === sizeOne) {
      chunkSize = 1;
    } else {
      try {
        chunkSize = sizeAlgorithm(chunk);
      } catch (e) {
        rsdcError(controller, e);
        throw e;
      }
    }
    try {
      enqueueValueWithSize(controller, chunk, chunkSize);
    } catch (e) {
      rsdcError(controller, e);
      throw e;
    }
  }
  rsdcCallPullIfNeeded(controller);
}

function rsdcError(controller, e) {
  const stream = controller.stream;
  if (stream.state !== "readable") return;
  resetQueue(controller);
  rsdcClearAlgorithms(controller);
  readableStreamError(stream, e);
}

function rsdcGetDesiredSize(controller) {
  const state = controller.stream.state;
  if (state === "errored") return null;
  if (state === "closed") return 0;
  return controller.strategyHWM - controller.queueTotalSize;
}

function rsdcHasBackpressure(controller) {
  return !rsdcShouldCallPull(controller);
}

function rsdcCanCloseOrEnqueue(controller) {
  return !controller.closeRequested && controller.stream.state === "readable";
}

/** Makes the per-controller pull reactions once, so pulls allocate no closures. */
function makePullReactions(controller, callPullIfNeeded, error) {
  controller.onPullFulfilled = () => {
    controller.pulling = false;
    if (controller.pullAgain) {
      controller.pullAgain = false;
      callPullIfNeeded(controller);
    }
  };
  controller.onPullRejected = (e) => {
    error(controller, e);
  };
}

function setUpReadableStreamDefaultController(
  stream,
  controller,
  startAlgorithm,
  pullAlgorithm,
  cancelAlgorithm,
  highWaterMark,
  sizeAlgorithm,
) {
  controller.stream = stream;
  resetQueue(controller);
  controller.started = false;
  controller.closeRequested = false;
  controller.pullAgain = false;
  controller.pulling = false;
  controller.strategySizeAlgorithm = sizeAlgorithm;
  controller.strategyHWM = highWaterMark;
  controller.pullAlgorithm = pullAlgorithm;
  controller.cancelAlgorithm = cancelAlgorithm;
  makePullReactions(controller, rsdcCallPullIfNeeded, rsdcError);
  stream.controller = controller;
  const startResult = startAlgorithm();
  uponPromise(
    resolvedWith(startResult),
    () => {
      controller.started = true;
      rsdcCallPullIfNeeded(controller);
    },
    (r) => {
      rsdcError(controller, r);
    },
  );
}

// Algorithms for streams whose controller calls a JS underlying source;
// called with `this` = the controller record.
function sourcePullAlgorithm() {
  return invokePromiseCallback(this.pullFn, this.source, [controllerPub(this)]);
}
function sourceCancelAlgorithm(reason) {
  return invokePromiseCallback(this.cancelFn, this.source, [reason]);
}

function setUpReadableStreamDefaultControllerFromUnderlyingSource(stream, source, dict, highWaterMark, sizeAlgorithm) {
  const controller = new DefaultControllerRecord();
  controller.source = source;
  controller.pullFn = dict.pull;
  controller.cancelFn = dict.cancel;
  const pub = controllerPub(controller);
  const start = dict.start;
  const startAlgorithm = start === undefined ? returnUndefined : () => ReflectApply(start, source, [pub]);
  setUpReadableStreamDefaultController(
    stream,
    controller,
    startAlgorithm,
    dict.pull === undefined ? returnResolved : sourcePullAlgorithm,
    dict.cancel === undefined ? returnResolved : sourceCancelAlgorithm,
    highWaterMark,
    sizeAlgorithm,
  );
}

/** The public controller object of a controller record (either kind). */
function controllerPub(controller) {
  if (controller.pub === undefined) {
    controller.pub = controller.byte
      ? new S.ReadableByteStreamController(kInternal, controller)
      : new ReadableStreamDefaultController(kInternal, controller);
  }
  return controller.pub;
}

// ---------------------------------------------------------------------------
// Tee (section 4.9.1 ReadableStreamTee / ReadableStreamDefaultTee)

function cloneChunk(chunk) {
  if (ArrayBufferIsView(chunk)) {
    const len = viewByteLength(chunk);
    const copy = new Uint8ArrayCtor(len);
    Uint8ArrayPrototypeSet(copy, new Uint8ArrayCtor(viewBuffer(chunk), viewByteOffset(chunk), len));
    const name = S.typedArrayName(chunk);
    if (name === "Uint8Array") return copy;
    const info = name === undefined ? undefined : S.typedArrayInfo[name];
    if (info === undefined) return new S.DataViewCtor(copy.buffer);
    return new info.ctor(copy.buffer, 0, len / info.size);
  }
  if (typeof globalThis.structuredClone === "function") return globalThis.structuredClone(chunk);
  return chunk;
}

function readableStreamTee(stream, cloneForBranch2) {
  if (stream.controller.byte) return S.readableByteStreamTee(stream);
  return readableStreamDefaultTee(stream, cloneForBranch2);
}

function readableStreamDefaultTee(stream, cloneForBranch2) {
  const reader = acquireReadableStreamDefaultReader(stream);
  let reading = false;
  let readAgain = false;
  let canceled1 = false;
  let canceled2 = false;
  let reason1;
  let reason2;
  let branch1;
  let branch2;
  const cancelPromise = new Deferred();
  // The chunk handed to the microtask below (at most one is in flight:
  // `reading` stays true until it runs).
  let pendingChunk;

  const deliverChunk = () => {
    const chunk = pendingChunk;
    pendingChunk = undefined;
    readAgain = false;
    const chunk1 = chunk;
    let chunk2 = chunk;
    if (!canceled2 && cloneForBranch2) {
      try {
        chunk2 = cloneChunk(chunk);
      } catch (e) {
        rsdcError(branch1.controller, e);
        rsdcError(branch2.controller, e);
        cancelPromise.resolve(readableStreamCancel(stream, e));
        return;
      }
    }
    if (!canceled1) rsdcEnqueue(branch1.controller, chunk1);
    if (!canceled2) rsdcEnqueue(branch2.controller, chunk2);
    reading = false;
    if (readAgain) pullAlgorithm();
  };

  const readRequest = {
    chunk(chunk) {
      pendingChunk = chunk;
      queueMicrotaskLike(deliverChunk);
    },
    close() {
      reading = false;
      if (!canceled1) rsdcClose(branch1.controller);
      if (!canceled2) rsdcClose(branch2.controller);
      if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
    },
    error() {
      reading = false;
    },
  };

  function pullAlgorithm() {
    if (reading) {
      readAgain = true;
      return resolvedUndefined;
    }
    reading = true;
    readableStreamDefaultReaderRead(reader, readRequest);
    return resolvedUndefined;
  }

  function cancel1Algorithm(reason) {
    canceled1 = true;
    reason1 = reason;
    if (canceled2) {
      cancelPromise.resolve(readableStreamCancel(stream, [reason1, reason2]));
    }
    return cancelPromise.promise;
  }

  function cancel2Algorithm(reason) {
    canceled2 = true;
    reason2 = reason;
    if (canceled1) {
      cancelPromise.resolve(readableStreamCancel(stream, [reason1, reason2]));
    }
    return cancelPromise.promise;
  }

  branch1 = createReadableStream(returnUndefined, pullAlgorithm, cancel1Algorithm);
  branch2 = createReadableStream(returnUndefined, pullAlgorithm, cancel2Algorithm);

  uponPromise(reader.closed.promise, undefined, (r) => {
    rsdcError(branch1.controller, r);
    rsdcError(branch2.controller, r);
    if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
  });

  return [branch1, branch2];
}

// ---------------------------------------------------------------------------
// ReadableStream.from (section 4.9.1 ReadableStreamFromIterable)

function getIteratorFromMethod(obj, method) {
  const iterator = ReflectApply(method, obj, []);
  if (!isObject(iterator)) throw new TypeError("The iterator method did not return an object");
  return { iterator, nextMethod: iterator.next };
}

/** CreateAsyncFromSyncIterator, reduced to what ReadableStream.from observes. */
function asyncFromSyncIterator(syncRecord) {
  const { iterator, nextMethod } = syncRecord;
  const closeSync = () => {
    try {
      const ret = iterator.return;
      if (ret !== undefined && ret !== null) ReflectApply(ret, iterator, []);
    } catch {
      // The original rejection wins.
    }
  };
  const continuation = (result) => {
    const done = !!result.done;
    const value = result.value;
    return PromisePrototypeThen(
      PromiseResolve(value),
      (v) => ({ value: v, done }),
      (e) => {
        if (!done) closeSync();
        throw e;
      },
    );
  };
  const asyncIterator = {
    next() {
      try {
        const result = ReflectApply(nextMethod, iterator, []);
        if (!isObject(result)) throw new TypeError("The iterator result is not an object");
        return continuation(result);
      } catch (e) {
        return PromiseReject(e);
      }
    },
    return(value) {
      try {
        const ret = iterator.return;
        if (ret === undefined || ret === null) return PromiseResolve({ value, done: true });
        const result = ReflectApply(ret, iterator, [value]);
        if (!isObject(result)) throw new TypeError("The iterator result is not an object");
        return continuation(result);
      } catch (e) {
        return PromiseReject(e);
      }
    },
  };
  return { iterator: asyncIterator, nextMethod: asyncIterator.next };
}

function getAsyncIterator(obj) {
  const method = obj === null || obj === undefined ? undefined : obj[SymbolAsyncIterator];
  if (method === undefined || method === null) {
    const syncMethod = obj === null || obj === undefined ? undefined : obj[SymbolIterator];
    if (syncMethod === undefined || syncMethod === null) {
      throw new TypeError("ReadableStream.from: the argument is not async iterable or iterable");
    }
    if (typeof syncMethod !== "function") throw new TypeError("The @@iterator property is not callable");
    return asyncFromSyncIterator(getIteratorFromMethod(obj, syncMethod));
  }
  if (typeof method !== "function") throw new TypeError("The @@asyncIterator property is not callable");
  return getIteratorFromMethod(obj, method);
}

function readableStreamFromIterable(asyncIterable) {
  let stream;
  const iteratorRecord = getAsyncIterator(asyncIterable);
  const onNext = (iterResult) => {
    if (!isObject(iterResult)) throw new TypeError("The promise returned by the iterator.next() method must fulfill with an object");
    if (iterResult.done) rsdcClose(stream.controller);
    else rsdcEnqueue(stream.controller, iterResult.value);
  };
  const pullAlgorithm = () => {
    let nextResult;
    try {
      nextResult = ReflectApply(iteratorRecord.nextMethod, iteratorRecord.iterator, []);
      if (!isObject(nextResult)) throw new TypeError("The iterator.next() method must return an object");
    } catch (e) {
      return PromiseReject(e);
    }
    return PromisePrototypeThen(resolvedWith(nextResult), onNext);
  };
  const cancelAlgorithm = (reason) => {
    const iterator = iteratorRecord.iterator;
    let returnResult;
    try {
      const returnMethod = iterator.return;
      if (returnMethod === undefined || returnMethod === null) return resolvedUndefined;
      if (typeof returnMethod !== "function") throw new TypeError("The iterator's return property is not callable");
      returnResult = ReflectApply(returnMethod, iterator, [reason]);
    } catch (e) {
      return PromiseReject(e);
    }
    return PromisePrototypeThen(resolvedWith(returnResult), (iterResult) => {
      if (!isObject(iterResult)) {
        throw new TypeError("The promise returned by the iterator.return() method must fulfill with an object");
      }
      return undefined;
    });
  };
  stream = createReadableStream(returnUndefined, pullAlgorithm, cancelAlgorithm, 0);
  return stream;
}

// ---------------------------------------------------------------------------
// Async iteration (section 4.2.5)

// The value an iterator read request resolves with at the end of the stream.
const endOfIteration = Symbol("end of iteration");

class IteratorRecord {
  constructor(reader, preventCancel) {
    this.reader = reader;
    this.preventCancel = preventCancel;
    this.ongoing = undefined;
    this.finished = false;
    this.runNext = () => iteratorNextSteps(this);
    // WebIDL's reactions to a pending "next iteration result".
    this.onFulfilled = (value) => {
      this.ongoing = undefined;
      if (value === endOfIteration) {
        this.finished = true;
        return { value: undefined, done: true };
      }
      return { value, done: false };
    };
    this.onRejected = (e) => {
      this.ongoing = undefined;
      this.finished = true;
      throw e;
    };
  }
}

/**
 * The read request of one `next()`. When a chunk is already queued it
 * settles synchronously and `next()` returns a settled promise; otherwise it
 * resolves a promise that the WebIDL reactions above turn into the result.
 */
class IteratorReadRequest {
  constructor(it) {
    this.it = it;
    this.kind = 0; // 0 pending, 1 chunk, 2 close, 3 error
    this.value = undefined;
    this.resolve = undefined;
    this.reject = undefined;
  }
  chunk(value) {
    if (this.resolve !== undefined) this.resolve(value);
    else {
      this.kind = 1;
      this.value = value;
    }
  }
  close() {
    readableStreamDefaultReaderRelease(this.it.reader);
    if (this.resolve !== undefined) this.resolve(endOfIteration);
    else this.kind = 2;
  }
  error(e) {
    readableStreamDefaultReaderRelease(this.it.reader);
    if (this.reject !== undefined) this.reject(e);
    else {
      this.kind = 3;
      this.value = e;
    }
  }
}

function iteratorNextSteps(it) {
  if (it.finished) return PromiseResolve({ value: undefined, done: true });
  const request = new IteratorReadRequest(it);
  readableStreamDefaultReaderRead(it.reader, request);
  switch (request.kind) {
    case 1:
      it.ongoing = undefined;
      return PromiseResolve({ value: request.value, done: false });
    case 2:
      it.ongoing = undefined;
      it.finished = true;
      return PromiseResolve({ value: undefined, done: true });
    case 3:
      it.ongoing = undefined;
      it.finished = true;
      return PromiseReject(request.value);
    default: {
      const { promise, resolve, reject } = PromiseWithResolvers();
      request.resolve = resolve;
      request.reject = reject;
      const result = PromisePrototypeThen(promise, it.onFulfilled, it.onRejected);
      it.ongoing = result;
      return result;
    }
  }
}

function iteratorReturnSteps(it, value) {
  if (it.finished) return PromiseResolve({ value, done: true });
  it.finished = true;
  const reader = it.reader;
  if (!it.preventCancel) {
    const result = readableStreamReaderGenericCancel(reader, value);
    readableStreamDefaultReaderRelease(reader);
    return result;
  }
  readableStreamDefaultReaderRelease(reader);
  return resolvedUndefined;
}

let iteratorOf;

// %ReadableStreamAsyncIteratorPrototype%
class ReadableStreamAsyncIterator {
  #it;
  constructor(key, it) {
    if (key !== kInternal) throw new TypeError("Illegal constructor");
    this.#it = it;
  }
  static {
    iteratorOf = (o, member) => {
      if (!isObject(o) || !(#it in o)) throw illegalInvocation("ReadableStream AsyncIterator", member);
      return o.#it;
    };
  }
  next() {
    let it;
    try {
      it = iteratorOf(this, "next");
    } catch (e) {
      return PromiseReject(e);
    }
    if (it.ongoing === undefined) return iteratorNextSteps(it);
    const p = PromisePrototypeThen(it.ongoing, it.runNext, it.runNext);
    it.ongoing = p;
    return p;
  }
  // `value` has no default: WebIDL gives return() a length of 1.
  return(value) {
    let it;
    try {
      it = iteratorOf(this, "return");
    } catch (e) {
      return PromiseReject(e);
    }
    const steps = () => iteratorReturnSteps(it, value);
    const p = it.ongoing === undefined ? steps() : PromisePrototypeThen(it.ongoing, steps, steps);
    it.ongoing = p;
    return PromisePrototypeThen(p, () => ({ value, done: true }));
  }
}
Object.setPrototypeOf(ReadableStreamAsyncIterator.prototype, AsyncIteratorPrototype);
webidlInterface(ReadableStreamAsyncIterator, "ReadableStream AsyncIterator");
delete ReadableStreamAsyncIterator.prototype.constructor;

// ---------------------------------------------------------------------------
// Public interfaces

let streamOf;

/** The StreamPipeOptions dictionary. */
function toPipeOptions(options, context) {
  const dict = toDictionary(options, context);
  if (dict === null) return { preventAbort: false, preventCancel: false, preventClose: false, signal: undefined };
  const preventAbort = !!dict.preventAbort;
  const preventCancel = !!dict.preventCancel;
  const preventClose = !!dict.preventClose;
  const signal = dict.signal;
  if (signal !== undefined && !S.abortOps().isAbortSignal(signal)) {
    throw new TypeError(`${context}: Failed to read the 'signal' property from 'StreamPipeOptions': parameter is not of type 'AbortSignal'.`);
  }
  return { preventAbort, preventCancel, preventClose, signal };
}

class ReadableStream {
  #s;

  constructor(underlyingSource = undefined, strategy = undefined) {
    if (underlyingSource === kInternal) {
      this.#s = strategy;
      strategy.pub = this;
      return;
    }
    const context = "Failed to construct 'ReadableStream'";
    if (underlyingSource !== undefined && !isObject(underlyingSource)) {
      throw new TypeError(`${context}: parameter 1 is not of type 'object'.`);
    }
    const strat = toQueuingStrategy(strategy, context);
    const stream = new StreamRecord();
    stream.pub = this;
    this.#s = stream;
    // The UnderlyingSource dictionary, members in lexicographic order.
    const src = underlyingSource === undefined ? null : underlyingSource;
    const dict = { autoAllocateChunkSize: undefined, cancel: undefined, pull: undefined, start: undefined, type: undefined };
    if (src !== null) {
      const autoAllocateChunkSize = src.autoAllocateChunkSize;
      if (autoAllocateChunkSize !== undefined) {
        dict.autoAllocateChunkSize = toEnforceRangeU64(autoAllocateChunkSize, `${context}: autoAllocateChunkSize`);
      }
      const cancel = src.cancel;
      if (cancel !== undefined) dict.cancel = toCallback(cancel, context, "cancel");
      const pull = src.pull;
      if (pull !== undefined) dict.pull = toCallback(pull, context, "pull");
      const start = src.start;
      if (start !== undefined) dict.start = toCallback(start, context, "start");
      const type = src.type;
      if (type !== undefined) {
        dict.type = toDOMString(type);
        if (dict.type !== "bytes") {
          throw new TypeError(`${context}: The provided value '${dict.type}' is not a valid enum value of type ReadableStreamType.`);
        }
      }
    }
    if (dict.type === "bytes") {
      if (strat.size !== undefined) {
        throw new RangeError(`${context}: The strategy for a byte stream cannot have a size function`);
      }
      const highWaterMark = extractHighWaterMark(strat, 0);
      S.setUpReadableByteStreamControllerFromUnderlyingSource(stream, src, dict, highWaterMark);
    } else {
      const sizeAlgorithm = extractSizeAlgorithm(strat);
      const highWaterMark = extractHighWaterMark(strat, 1);
      setUpReadableStreamDefaultControllerFromUnderlyingSource(stream, src, dict, highWaterMark, sizeAlgorithm);
    }
  }

  static {
    streamOf = (o, member) => {
      if (!isObject(o) || !(#s in o)) throw illegalInvocation("ReadableStream", member);
      return o.#s;
    };
    S.isReadableStream = (o) => isObject(o) && #s in o;
    S.streamRecordOf = (o) => (isObject(o) && #s in o ? o.#s : undefined);
  }

  static from(asyncIterable) {
    requireArgs(arguments.length, 1, "Failed to execute 'from' on 'ReadableStream'");
    return readableStreamFromIterable(asyncIterable).pub;
  }

  get locked() {
    return isReadableStreamLocked(streamOf(this, "locked"));
  }

  cancel(reason = undefined) {
    let stream;
    try {
      stream = streamOf(this, "cancel");
    } catch (e) {
      return PromiseReject(e);
    }
    if (isReadableStreamLocked(stream)) {
      return PromiseReject(new TypeError("Failed to execute 'cancel' on 'ReadableStream': Cannot cancel a locked stream"));
    }
    return readableStreamCancel(stream, reason);
  }

  getReader(options = undefined) {
    const context = "Failed to execute 'getReader' on 'ReadableStream'";
    const stream = streamOf(this, "getReader");
    const dict = toDictionary(options, context);
    let mode = dict === null ? undefined : dict.mode;
    if (mode !== undefined) {
      mode = toDOMString(mode);
      if (mode !== "byob") {
        throw new TypeError(`${context}: The provided value '${mode}' is not a valid enum value of type ReadableStreamReaderMode.`);
      }
      return S.byobReaderPub(S.acquireReadableStreamBYOBReader(stream));
    }
    return defaultReaderPub(acquireReadableStreamDefaultReader(stream));
  }

  pipeThrough(transform, options = undefined) {
    const context = "Failed to execute 'pipeThrough' on 'ReadableStream'";
    const stream = streamOf(this, "pipeThrough");
    requireArgs(arguments.length, 1, context);
    const pair = toDictionary(transform, context);
    const readablePub = pair === null ? undefined : pair.readable;
    if (readablePub === undefined) {
      throw new TypeError(`${context}: Failed to read the 'readable' property from 'ReadableWritablePair': Required member is undefined.`);
    }
    const readable = S.streamRecordOf(readablePub);
    if (readable === undefined) {
      throw new TypeError(`${context}: Failed to read the 'readable' property from 'ReadableWritablePair': parameter is not of type 'ReadableStream'.`);
    }
    const writablePub = pair.writable;
    if (writablePub === undefined) {
      throw new TypeError(`${context}: Failed to read the 'writable' property from 'ReadableWritablePair': Required member is undefined.`);
    }
    const writable = S.writableRecordOf(writablePub);
    if (writable === undefined) {
      throw new TypeError(`${context}: Failed to read the 'writable' property from 'ReadableWritablePair': parameter is not of type 'WritableStream'.`);
    }
    const opts = toPipeOptions(options, context);
    if (isReadableStreamLocked(stream)) throw new TypeError(`${context}: ReadableStream is locked`);
    if (writable.writer !== undefined) throw new TypeError(`${context}: WritableStream is locked`);
    const promise = S.readableStreamPipeTo(
      stream,
      writable,
      opts.preventClose,
      opts.preventAbort,
      opts.preventCancel,
      opts.signal,
    );
    markHandled(promise);
    return readable.pub;
  }

  pipeTo(destination, options = undefined) {
    const context = "Failed to execute 'pipeTo' on 'ReadableStream'";
    try {
      const stream = streamOf(this, "pipeTo");
      requireArgs(arguments.length, 1, context);
      const dest = S.writableRecordOf(destination);
      if (dest === undefined) throw new TypeError(`${context}: parameter 1 is not of type 'WritableStream'.`);
      const opts = toPipeOptions(options, context);
      if (isReadableStreamLocked(stream)) throw new TypeError(`${context}: ReadableStream is locked`);
      if (dest.writer !== undefined) throw new TypeError(`${context}: WritableStream is locked`);
      return S.readableStreamPipeTo(stream, dest, opts.preventClose, opts.preventAbort, opts.preventCancel, opts.signal);
    } catch (e) {
      return PromiseReject(e);
    }
  }

  tee() {
    const [a, b] = readableStreamTee(streamOf(this, "tee"), false);
    return [a.pub, b.pub];
  }

  values(options = undefined) {
    const context = "Failed to execute 'values' on 'ReadableStream'";
    const stream = streamOf(this, "values");
    const dict = toDictionary(options, context);
    const preventCancel = dict === null ? false : !!dict.preventCancel;
    const reader = acquireReadableStreamDefaultReader(stream);
    return new ReadableStreamAsyncIterator(kInternal, new IteratorRecord(reader, preventCancel));
  }
}
webidlInterface(ReadableStream, "ReadableStream");
ObjectDefinePropertyLocal(ReadableStream.prototype, SymbolAsyncIterator, ReadableStream.prototype.values);

function ObjectDefinePropertyLocal(target, key, value) {
  Object.defineProperty(target, key, { value, writable: true, enumerable: false, configurable: true });
}

let defaultReaderOf;

class ReadableStreamDefaultReader {
  #r;

  constructor(stream, record = undefined) {
    if (stream === kInternal) {
      this.#r = record;
      record.pub = this;
      return;
    }
    const context = "Failed to construct 'ReadableStreamDefaultReader'";
    requireArgs(arguments.length, 1, context);
    const s = S.streamRecordOf(stream);
    if (s === undefined) throw new TypeError(`${context}: parameter 1 is not of type 'ReadableStream'.`);
    const reader = new DefaultReaderRecord();
    setUpReadableStreamDefaultReader(reader, s);
    reader.pub = this;
    this.#r = reader;
  }

  static {
    defaultReaderOf = (o, member) => {
      if (!isObject(o) || !(#r in o)) throw illegalInvocation("ReadableStreamDefaultReader", member);
      return o.#r;
    };
  }

  get closed() {
    try {
      return defaultReaderOf(this, "closed").closed.promise;
    } catch (e) {
      return PromiseReject(e);
    }
  }

  cancel(reason = undefined) {
    let reader;
    try {
      reader = defaultReaderOf(this, "cancel");
    } catch (e) {
      return PromiseReject(e);
    }
    if (reader.stream === undefined) {
      return PromiseReject(new TypeError("Failed to execute 'cancel' on 'ReadableStreamDefaultReader': The reader has been released"));
    }
    return readableStreamReaderGenericCancel(reader, reason);
  }

  read() {
    let reader;
    try {
      reader = defaultReaderOf(this, "read");
    } catch (e) {
      return PromiseReject(e);
    }
    if (reader.stream === undefined) {
      return PromiseReject(new TypeError("Failed to execute 'read' on 'ReadableStreamDefaultReader': The reader has been released"));
    }
    const request = new PublicReadRequest();
    readableStreamDefaultReaderRead(reader, request);
    return request.promise();
  }

  releaseLock() {
    const reader = defaultReaderOf(this, "releaseLock");
    if (reader.stream === undefined) return;
    readableStreamDefaultReaderRelease(reader);
  }
}
webidlInterface(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

function defaultReaderPub(reader) {
  if (reader.pub === undefined) new ReadableStreamDefaultReader(kInternal, reader);
  return reader.pub;
}

let defaultControllerOf;

class ReadableStreamDefaultController {
  #c;

  constructor(key = undefined, record = undefined) {
    if (key !== kInternal) throw new TypeError("Illegal constructor");
    this.#c = record;
  }

  static {
    defaultControllerOf = (o, member) => {
      if (!isObject(o) || !(#c in o)) throw illegalInvocation("ReadableStreamDefaultController", member);
      return o.#c;
    };
  }

  get desiredSize() {
    return rsdcGetDesiredSize(defaultControllerOf(this, "desiredSize"));
  }

  close() {
    const controller = defaultControllerOf(this, "close");
    if (!rsdcCanCloseOrEnqueue(controller)) {
      throw new TypeError("Failed to execute 'close' on 'ReadableStreamDefaultController': The stream is not in a state that permits close");
    }
    rsdcClose(controller);
  }

  enqueue(chunk = undefined) {
    const controller = defaultControllerOf(this, "enqueue");
    if (!rsdcCanCloseOrEnqueue(controller)) {
      throw new TypeError("Failed to execute 'enqueue' on 'ReadableStreamDefaultController': The stream is not in a state that permits enqueue");
    }
    rsdcEnqueue(controller, chunk);
  }

  error(e = undefined) {
    rsdcError(defaultControllerOf(this, "error"), e);
  }
}
webidlInterface(ReadableStreamDefaultController, "ReadableStreamDefaultController");

internals.defineGlobal("ReadableStream", ReadableStream);
internals.defineGlobal("ReadableStreamDefaultReader", ReadableStreamDefaultReader);
internals.defineGlobal("ReadableStreamDefaultController", ReadableStreamDefaultController);

Object.assign(S, {
  ReadableStream,
  ReadableStreamDefaultReader,
  ReadableStreamDefaultController,
  StreamRecord,
  DefaultReaderRecord,
  PublicReadRequest,
  returnUndefined,
  returnResolved,
  isReadableStreamLocked,
  createReadableStream,
  acquireReadableStreamDefaultReader,
  readableStreamCancel,
  readableStreamClose,
  readableStreamError,
  readableStreamFulfillReadRequest,
  readableStreamGetNumReadRequests,
  readableStreamHasDefaultReader,
  readableStreamReaderGenericInitialize,
  readableStreamReaderGenericCancel,
  readableStreamReaderGenericRelease,
  readableStreamDefaultReaderRead,
  readableStreamDefaultReaderRelease,
  readableStreamDefaultReaderErrorReadRequests,
  readableStreamTee,
  readableStreamFromIterable,
  rsdcCallPullIfNeeded,
  rsdcClose,
  rsdcEnqueue,
  rsdcError,
  rsdcGetDesiredSize,
  rsdcHasBackpressure,
  rsdcCanCloseOrEnqueue,
  makePullReactions,
  controllerPub,
  defaultReaderPub,
});
