// Readable byte streams: ReadableByteStreamController, ReadableStreamBYOBRequest,
// ReadableStreamBYOBReader (https://streams.spec.whatwg.org/#rbs-controller-class,
// section 4.5, section 4.7, section 4.8, section 4.9.5) and the byte-stream tee (ReadableByteStreamTee).

const {
  kInternal,
  ReflectApply,
  PromiseResolve,
  PromiseReject,
  PromiseWithResolvers,
  Deferred,
  uponPromise,
  queueMicrotaskLike,
  invokePromiseCallback,
  resolvedWith,
  resolvedUndefined,
  Queue,
  isObject,
  toDictionary,
  toEnforceRangeU64,
  requireArgs,
  webidlInterface,
  illegalInvocation,
  typedArrayInfo,
  DataViewCtor,
  typedArrayName,
  viewBuffer,
  viewByteOffset,
  viewByteLength,
  TypedArrayPrototypeGetLength,
  ArrayBufferPrototypeGetByteLength,
  ArrayBufferPrototypeSlice,
  ArrayBufferIsView,
  Uint8ArrayCtor,
  Uint8ArrayPrototypeSet,
  isDetachedBuffer,
  transferArrayBuffer,
  MathMin,
  returnUndefined,
  returnResolved,
  StreamRecord,
  ReadableStream,
  isReadableStreamLocked,
  acquireReadableStreamDefaultReader,
  readableStreamCancel,
  readableStreamClose,
  readableStreamError,
  readableStreamFulfillReadRequest,
  readableStreamReaderGenericInitialize,
  readableStreamReaderGenericCancel,
  readableStreamReaderGenericRelease,
  readableStreamDefaultReaderRead,
  readableStreamDefaultReaderRelease,
  makePullReactions,
  controllerPub,
} = internals._streams;
const S = internals._streams;

// ---------------------------------------------------------------------------
// Records

/** A ReadableByteStreamController's slots (section 4.7.2). */
class ByteControllerRecord {
  constructor() {
    this.pub = undefined;
    this.byte = true;
    this.stream = undefined;
    this.autoAllocateChunkSize = undefined;
    this.byobRequest = null;
    this.cancelAlgorithm = undefined;
    this.closeRequested = false;
    this.pullAgain = false;
    this.pulling = false;
    this.pullAlgorithm = undefined;
    // Pull-into descriptors (PullIntoDescriptor below).
    this.pendingPullIntos = new Queue();
    // Readable byte stream queue entries: { buffer, byteOffset, byteLength }.
    this.queue = new Queue();
    this.queueTotalSize = 0;
    this.started = false;
    this.strategyHWM = 0;
    this.source = undefined;
    this.pullFn = undefined;
    this.cancelFn = undefined;
    this.onPullFulfilled = undefined;
    this.onPullRejected = undefined;
  }

  // [[CancelSteps]]
  cancelSteps(reason) {
    rbscClearPendingPullIntos(this);
    rbscResetQueue(this);
    const result = this.cancelAlgorithm(reason);
    rbscClearAlgorithms(this);
    return result;
  }

  // [[PullSteps]]
  pullSteps(readRequest) {
    const stream = this.stream;
    if (this.queueTotalSize > 0) {
      rbscFillReadRequestFromQueue(this, readRequest);
      return;
    }
    const autoAllocateChunkSize = this.autoAllocateChunkSize;
    if (autoAllocateChunkSize !== undefined) {
      let buffer;
      try {
        buffer = new ArrayBuffer(autoAllocateChunkSize);
      } catch (e) {
        readRequest.error(e);
        return;
      }
      this.pendingPullIntos.push(
        new PullIntoDescriptor(buffer, autoAllocateChunkSize, 0, autoAllocateChunkSize, 1, 1, Uint8ArrayCtor, "default"),
      );
    }
    stream.reader.readRequests.push(readRequest);
    rbscCallPullIfNeeded(this);
  }

  // [[ReleaseSteps]]
  releaseSteps() {
    if (this.pendingPullIntos.size > 0) {
      const first = this.pendingPullIntos.peek();
      first.readerType = "none";
      this.pendingPullIntos = new Queue();
      this.pendingPullIntos.push(first);
    }
  }
}

class PullIntoDescriptor {
  constructor(buffer, bufferByteLength, byteOffset, byteLength, minimumFill, elementSize, viewConstructor, readerType) {
    this.buffer = buffer;
    this.bufferByteLength = bufferByteLength;
    this.byteOffset = byteOffset;
    this.byteLength = byteLength;
    this.bytesFilled = 0;
    this.minimumFill = minimumFill;
    this.elementSize = elementSize;
    this.viewConstructor = viewConstructor;
    this.readerType = readerType;
  }
}

class BYOBReaderRecord {
  constructor() {
    this.pub = undefined;
    this.byob = true;
    this.stream = undefined;
    this.closed = undefined;
    this.readIntoRequests = new Queue();
  }
}

/** The read-into request behind `byobReader.read()`. */
class PublicReadIntoRequest {
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
  close(value) {
    if (this.resolve !== undefined) this.resolve({ value, done: true });
    else {
      this.kind = 2;
      this.value = value;
    }
  }
  error(e) {
    if (this.reject !== undefined) this.reject(e);
    else {
      this.kind = 3;
      this.value = e;
    }
  }
  promise() {
    switch (this.kind) {
      case 1:
        return PromiseResolve({ value: this.value, done: false });
      case 2:
        return PromiseResolve({ value: this.value, done: true });
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
// BYOB reader abstract operations (section 4.9.3)

function acquireReadableStreamBYOBReader(stream) {
  const reader = new BYOBReaderRecord();
  setUpReadableStreamBYOBReader(reader, stream);
  return reader;
}

function setUpReadableStreamBYOBReader(reader, stream) {
  if (isReadableStreamLocked(stream)) throw new TypeError("ReadableStream is locked");
  if (!stream.controller.byte) {
    throw new TypeError("Cannot use a BYOB reader with a non-byte stream");
  }
  readableStreamReaderGenericInitialize(reader, stream);
  reader.readIntoRequests = new Queue();
}

function readableStreamBYOBReaderRead(reader, view, min, readIntoRequest) {
  const stream = reader.stream;
  stream.disturbed = true;
  if (stream.state === "errored") readIntoRequest.error(stream.storedError);
  else rbscPullInto(stream.controller, view, min, readIntoRequest);
}

function readableStreamBYOBReaderRelease(reader) {
  readableStreamReaderGenericRelease(reader);
  readableStreamBYOBReaderErrorReadIntoRequests(reader, new TypeError("The reader was released"));
}

function readableStreamBYOBReaderErrorReadIntoRequests(reader, e) {
  const requests = reader.readIntoRequests.drain();
  for (let i = 0; i < requests.length; i++) requests[i].error(e);
}

function readableStreamFulfillReadIntoRequest(stream, chunk, done) {
  const request = stream.reader.readIntoRequests.shift();
  if (done) request.close(chunk);
  else request.chunk(chunk);
}

function readableStreamGetNumReadIntoRequests(stream) {
  return stream.reader.readIntoRequests.size;
}

function readableStreamHasBYOBReader(stream) {
  const reader = stream.reader;
  return reader !== undefined && reader.byob;
}

function readableStreamHasDefaultReader(stream) {
  const reader = stream.reader;
  return reader !== undefined && !reader.byob;
}

// ---------------------------------------------------------------------------
// Byte controller abstract operations (section 4.9.5)

function rbscCallPullIfNeeded(controller) {
  if (!rbscShouldCallPull(controller)) return;
  if (controller.pulling) {
    controller.pullAgain = true;
    return;
  }
  controller.pulling = true;
  uponPromise(controller.pullAlgorithm(), controller.onPullFulfilled, controller.onPullRejected);
}

function rbscShouldCallPull(controller) {
  const stream = controller.stream;
  if (stream.state !== "readable") return false;
  if (controller.closeRequested) return false;
  if (!controller.started) return false;
  const reader = stream.reader;
  if (reader !== undefined) {
    if (!reader.byob ? reader.readRequests.size > 0 : reader.readIntoRequests.size > 0) return true;
  }
  return rbscGetDesiredSize(controller) > 0;
}

function rbscClearAlgorithms(controller) {
  controller.pullAlgorithm = undefined;
  controller.cancelAlgorithm = undefined;
  controller.source = undefined;
  controller.pullFn = undefined;
  controller.cancelFn = undefined;
}

function rbscClearPendingPullIntos(controller) {
  rbscInvalidateBYOBRequest(controller);
  controller.pendingPullIntos = new Queue();
}

function rbscResetQueue(controller) {
  controller.queue = new Queue();
  controller.queueTotalSize = 0;
}

function rbscClose(controller) {
  const stream = controller.stream;
  if (controller.closeRequested || stream.state !== "readable") return;
  if (controller.queueTotalSize > 0) {
    controller.closeRequested = true;
    return;
  }
  if (controller.pendingPullIntos.size > 0) {
    const first = controller.pendingPullIntos.peek();
    if (first.bytesFilled % first.elementSize !== 0) {
      const e = new TypeError("Insufficient bytes to fill elements in the given buffer");
      rbscError(controller, e);
      throw e;
    }
  }
  rbscClearAlgorithms(controller);
  readableStreamClose(stream);
}

function rbscCommitPullIntoDescriptor(stream, pullIntoDescriptor) {
  let done = false;
  if (stream.state === "closed") done = true;
  const filledView = rbscConvertPullIntoDescriptor(pullIntoDescriptor);
  if (pullIntoDescriptor.readerType === "default") {
    readableStreamFulfillReadRequest(stream, filledView, done);
  } else {
    readableStreamFulfillReadIntoRequest(stream, filledView, done);
  }
}

function rbscConvertPullIntoDescriptor(pullIntoDescriptor) {
  const { bytesFilled, elementSize } = pullIntoDescriptor;
  const buffer = transferArrayBuffer(pullIntoDescriptor.buffer);
  const Ctor = pullIntoDescriptor.viewConstructor;
  return new Ctor(buffer, pullIntoDescriptor.byteOffset, bytesFilled / elementSize);
}

function rbscEnqueue(controller, chunk) {
  const stream = controller.stream;
  if (controller.closeRequested || stream.state !== "readable") return;
  const buffer = viewBuffer(chunk);
  const byteOffset = viewByteOffset(chunk);
  const byteLength = viewByteLength(chunk);
  if (isDetachedBuffer(buffer)) throw new TypeError("The chunk's buffer is detached");
  const transferredBuffer = transferArrayBuffer(buffer);
  if (controller.pendingPullIntos.size > 0) {
    const first = controller.pendingPullIntos.peek();
    if (isDetachedBuffer(first.buffer)) {
      throw new TypeError("The BYOB request's buffer has been detached and so cannot be filled with an enqueued chunk");
    }
    rbscInvalidateBYOBRequest(controller);
    first.buffer = transferArrayBuffer(first.buffer);
    if (first.readerType === "none") rbscEnqueueDetachedPullIntoToQueue(controller, first);
  }
  const reader = stream.reader;
  if (reader !== undefined && !reader.byob) {
    rbscProcessReadRequestsUsingQueue(controller);
    if (reader.readRequests.size === 0) {
      rbscEnqueueChunkToQueue(controller, transferredBuffer, byteOffset, byteLength);
    } else {
      if (controller.pendingPullIntos.size > 0) rbscShiftPendingPullInto(controller);
      const transferredView = new Uint8ArrayCtor(transferredBuffer, byteOffset, byteLength);
      readableStreamFulfillReadRequest(stream, transferredView, false);
    }
  } else if (reader !== undefined) {
    rbscEnqueueChunkToQueue(controller, transferredBuffer, byteOffset, byteLength);
    const filledPullIntos = rbscProcessPullIntoDescriptorsUsingQueue(controller);
    for (let i = 0; i < filledPullIntos.length; i++) rbscCommitPullIntoDescriptor(stream, filledPullIntos[i]);
  } else {
    rbscEnqueueChunkToQueue(controller, transferredBuffer, byteOffset, byteLength);
  }
  rbscCallPullIfNeeded(controller);
}

function rbscEnqueueChunkToQueue(controller, buffer, byteOffset, byteLength) {
  controller.queue.push({ buffer, byteOffset, byteLength });
  controller.queueTotalSize += byteLength;
}

function rbscEnqueueClonedChunkToQueue(controller, buffer, byteOffset, byteLength) {
  let clone;
  try {
    clone = ArrayBufferPrototypeSlice(buffer, byteOffset, byteOffset + byteLength);
  } catch (e) {
    rbscError(controller, e);
    throw e;
  }
  rbscEnqueueChunkToQueue(controller, clone, 0, byteLength);
}

function rbscEnqueueDetachedPullIntoToQueue(controller, pullIntoDescriptor) {
  if (pullIntoDescriptor.bytesFilled > 0) {
    rbscEnqueueClonedChunkToQueue(
      controller,
      pullIntoDescriptor.buffer,
      pullIntoDescriptor.byteOffset,
      pullIntoDescriptor.bytesFilled,
    );
  }
  rbscShiftPendingPullInto(controller);
}

function copyDataBlockBytes(toBuffer, toIndex, fromBuffer, fromIndex, count) {
  Uint8ArrayPrototypeSet(
    new Uint8ArrayCtor(toBuffer, toIndex, count),
    new Uint8ArrayCtor(fromBuffer, fromIndex, count),
  );
}

function rbscFillPullIntoDescriptorFromQueue(controller, pullIntoDescriptor) {
  const maxBytesToCopy = MathMin(
    controller.queueTotalSize,
    pullIntoDescriptor.byteLength - pullIntoDescriptor.bytesFilled,
  );
  const maxBytesFilled = pullIntoDescriptor.bytesFilled + maxBytesToCopy;
  let totalBytesToCopyRemaining = maxBytesToCopy;
  let ready = false;
  const remainderBytes = maxBytesFilled % pullIntoDescriptor.elementSize;
  const maxAlignedBytes = maxBytesFilled - remainderBytes;
  if (maxAlignedBytes >= pullIntoDescriptor.minimumFill) {
    totalBytesToCopyRemaining = maxAlignedBytes - pullIntoDescriptor.bytesFilled;
    ready = true;
  }
  const queue = controller.queue;
  while (totalBytesToCopyRemaining > 0) {
    const headOfQueue = queue.peek();
    const bytesToCopy = MathMin(totalBytesToCopyRemaining, headOfQueue.byteLength);
    const destStart = pullIntoDescriptor.byteOffset + pullIntoDescriptor.bytesFilled;
    copyDataBlockBytes(pullIntoDescriptor.buffer, destStart, headOfQueue.buffer, headOfQueue.byteOffset, bytesToCopy);
    if (headOfQueue.byteLength === bytesToCopy) {
      queue.shift();
    } else {
      headOfQueue.byteOffset += bytesToCopy;
      headOfQueue.byteLength -= bytesToCopy;
    }
    controller.queueTotalSize -= bytesToCopy;
    rbscFillHeadPullIntoDescriptor(controller, bytesToCopy, pullIntoDescriptor);
    totalBytesToCopyRemaining -= bytesToCopy;
  }
  return ready;
}

function rbscFillReadRequestFromQueue(controller, readRequest) {
  const entry = controller.queue.shift();
  controller.queueTotalSize -= entry.byteLength;
  rbscHandleQueueDrain(controller);
  const view = new Uint8ArrayCtor(entry.buffer, entry.byteOffset, entry.byteLength);
  readRequest.chunk(view);
}

function rbscGetBYOBRequest(controller) {
  if (controller.byobRequest === null && controller.pendingPullIntos.size > 0) {
    const first = controller.pendingPullIntos.peek();
    const view = new Uint8ArrayCtor(
      first.buffer,
      first.byteOffset + first.bytesFilled,
      first.byteLength - first.bytesFilled,
    );
    controller.byobRequest = new ReadableStreamBYOBRequest(kInternal, { controller, view });
  }
  return controller.byobRequest;
}

function rbscGetDesiredSize(controller) {
  const state = controller.stream.state;
  if (state === "errored") return null;
  if (state === "closed") return 0;
  return controller.strategyHWM - controller.queueTotalSize;
}

function rbscHandleQueueDrain(controller) {
  if (controller.queueTotalSize === 0 && controller.closeRequested) {
    rbscClearAlgorithms(controller);
    readableStreamClose(controller.stream);
  } else {
    rbscCallPullIfNeeded(controller);
  }
}

function rbscInvalidateBYOBRequest(controller) {
  const request = controller.byobRequest;
  if (request === null) return;
  const record = byobRequestRecord(request);
  record.controller = undefined;
  record.view = null;
  controller.byobRequest = null;
}

function rbscProcessPullIntoDescriptorsUsingQueue(controller) {
  const filledPullIntos = [];
  while (controller.pendingPullIntos.size > 0) {
    if (controller.queueTotalSize === 0) break;
    const pullIntoDescriptor = controller.pendingPullIntos.peek();
    if (rbscFillPullIntoDescriptorFromQueue(controller, pullIntoDescriptor)) {
      rbscShiftPendingPullInto(controller);
      filledPullIntos.push(pullIntoDescriptor);
    }
  }
  return filledPullIntos;
}

function rbscProcessReadRequestsUsingQueue(controller) {
  const reader = controller.stream.reader;
  while (reader.readRequests.size > 0) {
    if (controller.queueTotalSize === 0) return;
    const readRequest = reader.readRequests.shift();
    rbscFillReadRequestFromQueue(controller, readRequest);
  }
}

function rbscPullInto(controller, view, min, readIntoRequest) {
  const stream = controller.stream;
  let elementSize = 1;
  let ctor = DataViewCtor;
  const name = typedArrayName(view);
  if (name !== undefined) {
    const info = typedArrayInfo[name];
    elementSize = info.size;
    ctor = info.ctor;
  }
  const minimumFill = min * elementSize;
  const byteOffset = viewByteOffset(view);
  const byteLength = viewByteLength(view);
  let buffer;
  try {
    buffer = transferArrayBuffer(viewBuffer(view));
  } catch (e) {
    readIntoRequest.error(e);
    return;
  }
  const pullIntoDescriptor = new PullIntoDescriptor(
    buffer,
    ArrayBufferPrototypeGetByteLength(buffer),
    byteOffset,
    byteLength,
    minimumFill,
    elementSize,
    ctor,
    "byob",
  );
  if (controller.pendingPullIntos.size > 0) {
    controller.pendingPullIntos.push(pullIntoDescriptor);
    stream.reader.readIntoRequests.push(readIntoRequest);
    return;
  }
  if (stream.state === "closed") {
    const emptyView = new ctor(pullIntoDescriptor.buffer, pullIntoDescriptor.byteOffset, 0);
    readIntoRequest.close(emptyView);
    return;
  }
  if (controller.queueTotalSize > 0) {
    if (rbscFillPullIntoDescriptorFromQueue(controller, pullIntoDescriptor)) {
      const filledView = rbscConvertPullIntoDescriptor(pullIntoDescriptor);
      rbscHandleQueueDrain(controller);
      readIntoRequest.chunk(filledView);
      return;
    }
    if (controller.closeRequested) {
      const e = new TypeError("Insufficient bytes to fill elements in the given buffer");
      rbscError(controller, e);
      readIntoRequest.error(e);
      return;
    }
  }
  controller.pendingPullIntos.push(pullIntoDescriptor);
  stream.reader.readIntoRequests.push(readIntoRequest);
  rbscCallPullIfNeeded(controller);
}

function rbscRespond(controller, bytesWritten) {
  const first = controller.pendingPullIntos.peek();
  const state = controller.stream.state;
  if (state === "closed") {
    if (bytesWritten !== 0) {
      throw new TypeError("bytesWritten must be 0 when calling respond() on a closed stream");
    }
  } else {
    if (bytesWritten === 0) {
      throw new TypeError("bytesWritten must be greater than 0 when calling respond() on a readable stream");
    }
    if (first.bytesFilled + bytesWritten > first.byteLength) {
      throw new RangeError("bytesWritten out of range");
    }
  }
  first.buffer = transferArrayBuffer(first.buffer);
  rbscRespondInternal(controller, bytesWritten);
}

function rbscRespondInClosedState(controller, firstDescriptor) {
  if (firstDescriptor.readerType === "none") rbscShiftPendingPullInto(controller);
  const stream = controller.stream;
  if (readableStreamHasBYOBReader(stream)) {
    const filledPullIntos = [];
    const count = readableStreamGetNumReadIntoRequests(stream);
    while (filledPullIntos.length < count) filledPullIntos.push(rbscShiftPendingPullInto(controller));
    for (let i = 0; i < filledPullIntos.length; i++) rbscCommitPullIntoDescriptor(stream, filledPullIntos[i]);
  }
}

function rbscRespondInReadableState(controller, bytesWritten, pullIntoDescriptor) {
  rbscFillHeadPullIntoDescriptor(controller, bytesWritten, pullIntoDescriptor);
  const stream = controller.stream;
  if (pullIntoDescriptor.readerType === "none") {
    rbscEnqueueDetachedPullIntoToQueue(controller, pullIntoDescriptor);
    const filledPullIntos = rbscProcessPullIntoDescriptorsUsingQueue(controller);
    for (let i = 0; i < filledPullIntos.length; i++) rbscCommitPullIntoDescriptor(stream, filledPullIntos[i]);
    return;
  }
  if (pullIntoDescriptor.bytesFilled < pullIntoDescriptor.minimumFill) return;
  rbscShiftPendingPullInto(controller);
  const remainderSize = pullIntoDescriptor.bytesFilled % pullIntoDescriptor.elementSize;
  if (remainderSize > 0) {
    const end = pullIntoDescriptor.byteOffset + pullIntoDescriptor.bytesFilled;
    rbscEnqueueClonedChunkToQueue(controller, pullIntoDescriptor.buffer, end - remainderSize, remainderSize);
  }
  pullIntoDescriptor.bytesFilled -= remainderSize;
  const filledPullIntos = rbscProcessPullIntoDescriptorsUsingQueue(controller);
  rbscCommitPullIntoDescriptor(stream, pullIntoDescriptor);
  for (let i = 0; i < filledPullIntos.length; i++) rbscCommitPullIntoDescriptor(stream, filledPullIntos[i]);
}

function rbscRespondInternal(controller, bytesWritten) {
  const first = controller.pendingPullIntos.peek();
  rbscInvalidateBYOBRequest(controller);
  if (controller.stream.state === "closed") rbscRespondInClosedState(controller, first);
  else rbscRespondInReadableState(controller, bytesWritten, first);
  rbscCallPullIfNeeded(controller);
}

function rbscRespondWithNewView(controller, view) {
  const first = controller.pendingPullIntos.peek();
  const state = controller.stream.state;
  const viewLength = viewByteLength(view);
  if (state === "closed") {
    if (viewLength !== 0) {
      throw new TypeError("The view's length must be 0 when calling respondWithNewView() on a closed stream");
    }
  } else if (viewLength === 0) {
    throw new TypeError("The view's length must be greater than 0 when calling respondWithNewView() on a readable stream");
  }
  if (first.byteOffset + first.bytesFilled !== viewByteOffset(view)) {
    throw new RangeError("The region specified by view does not match byobRequest");
  }
  const viewBuf = viewBuffer(view);
  if (first.bufferByteLength !== ArrayBufferPrototypeGetByteLength(viewBuf)) {
    throw new RangeError("The buffer of view has different capacity than byobRequest");
  }
  if (first.bytesFilled + viewLength > first.byteLength) {
    throw new RangeError("The region specified by view is larger than byobRequest");
  }
  first.buffer = transferArrayBuffer(viewBuf);
  rbscRespondInternal(controller, viewLength);
}

function rbscShiftPendingPullInto(controller) {
  return controller.pendingPullIntos.shift();
}

function rbscFillHeadPullIntoDescriptor(controller, size, pullIntoDescriptor) {
  rbscInvalidateBYOBRequest(controller);
  pullIntoDescriptor.bytesFilled += size;
}

function rbscError(controller, e) {
  const stream = controller.stream;
  if (stream.state !== "readable") return;
  rbscClearPendingPullIntos(controller);
  rbscResetQueue(controller);
  rbscClearAlgorithms(controller);
  readableStreamError(stream, e);
}

function setUpReadableByteStreamController(
  stream,
  controller,
  startAlgorithm,
  pullAlgorithm,
  cancelAlgorithm,
  highWaterMark,
  autoAllocateChunkSize,
) {
  controller.stream = stream;
  controller.pullAgain = false;
  controller.pulling = false;
  controller.byobRequest = null;
  rbscResetQueue(controller);
  controller.closeRequested = false;
  controller.started = false;
  controller.strategyHWM = highWaterMark;
  controller.pullAlgorithm = pullAlgorithm;
  controller.cancelAlgorithm = cancelAlgorithm;
  controller.autoAllocateChunkSize = autoAllocateChunkSize;
  controller.pendingPullIntos = new Queue();
  makePullReactions(controller, rbscCallPullIfNeeded, rbscError);
  stream.controller = controller;
  const startResult = startAlgorithm();
  uponPromise(
    resolvedWith(startResult),
    () => {
      controller.started = true;
      rbscCallPullIfNeeded(controller);
    },
    (r) => {
      rbscError(controller, r);
    },
  );
}

function sourcePullAlgorithm() {
  return invokePromiseCallback(this.pullFn, this.source, [controllerPub(this)]);
}
function sourceCancelAlgorithm(reason) {
  return invokePromiseCallback(this.cancelFn, this.source, [reason]);
}

function setUpReadableByteStreamControllerFromUnderlyingSource(stream, source, dict, highWaterMark) {
  const controller = new ByteControllerRecord();
  controller.source = source;
  controller.pullFn = dict.pull;
  controller.cancelFn = dict.cancel;
  const pub = controllerPub(controller);
  const start = dict.start;
  const startAlgorithm = start === undefined ? returnUndefined : () => ReflectApply(start, source, [pub]);
  const autoAllocateChunkSize = dict.autoAllocateChunkSize;
  if (autoAllocateChunkSize === 0) {
    throw new TypeError("Failed to construct 'ReadableStream': autoAllocateChunkSize must be greater than 0");
  }
  setUpReadableByteStreamController(
    stream,
    controller,
    startAlgorithm,
    dict.pull === undefined ? returnResolved : sourcePullAlgorithm,
    dict.cancel === undefined ? returnResolved : sourceCancelAlgorithm,
    highWaterMark,
    autoAllocateChunkSize,
  );
}

/** CreateReadableByteStream (section 4.9.1); returns the record. */
function createReadableByteStream(startAlgorithm, pullAlgorithm, cancelAlgorithm, highWaterMark = 0, autoAllocateChunkSize = undefined) {
  const stream = new StreamRecord();
  new ReadableStream(kInternal, stream);
  const controller = new ByteControllerRecord();
  setUpReadableByteStreamController(
    stream,
    controller,
    startAlgorithm,
    pullAlgorithm,
    cancelAlgorithm,
    highWaterMark,
    autoAllocateChunkSize,
  );
  return stream;
}

// ---------------------------------------------------------------------------
// ReadableByteStreamTee (section 4.9.1)

/** CloneAsUint8Array (section 8.3). */
function cloneAsUint8Array(view) {
  const buffer = ArrayBufferPrototypeSlice(viewBuffer(view), viewByteOffset(view), viewByteOffset(view) + viewByteLength(view));
  return new Uint8ArrayCtor(buffer);
}

function readableByteStreamTee(stream) {
  let reader = acquireReadableStreamDefaultReader(stream);
  let reading = false;
  let readAgainForBranch1 = false;
  let readAgainForBranch2 = false;
  let canceled1 = false;
  let canceled2 = false;
  let reason1;
  let reason2;
  let branch1;
  let branch2;
  const cancelPromise = new Deferred();

  function forwardReaderError(thisReader) {
    uponPromise(thisReader.closed.promise, undefined, (r) => {
      if (thisReader !== reader) return;
      rbscError(branch1.controller, r);
      rbscError(branch2.controller, r);
      if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
    });
  }

  function pullWithDefaultReader() {
    if (reader.byob) {
      readableStreamBYOBReaderRelease(reader);
      reader = acquireReadableStreamDefaultReader(stream);
      forwardReaderError(reader);
    }
    const readRequest = {
      chunk(chunk) {
        queueMicrotaskLike(() => {
          readAgainForBranch1 = false;
          readAgainForBranch2 = false;
          const chunk1 = chunk;
          let chunk2 = chunk;
          if (!canceled1 && !canceled2) {
            try {
              chunk2 = cloneAsUint8Array(chunk);
            } catch (e) {
              rbscError(branch1.controller, e);
              rbscError(branch2.controller, e);
              cancelPromise.resolve(readableStreamCancel(stream, e));
              return;
            }
          }
          if (!canceled1) rbscEnqueue(branch1.controller, chunk1);
          if (!canceled2) rbscEnqueue(branch2.controller, chunk2);
          reading = false;
          if (readAgainForBranch1) pull1Algorithm();
          else if (readAgainForBranch2) pull2Algorithm();
        });
      },
      close() {
        reading = false;
        if (!canceled1) rbscClose(branch1.controller);
        if (!canceled2) rbscClose(branch2.controller);
        if (branch1.controller.pendingPullIntos.size > 0) rbscRespond(branch1.controller, 0);
        if (branch2.controller.pendingPullIntos.size > 0) rbscRespond(branch2.controller, 0);
        if (!canceled1 || !canceled2) cancelPromise.resolve(undefined);
      },
      error() {
        reading = false;
      },
    };
    readableStreamDefaultReaderRead(reader, readRequest);
  }

  function pullWithBYOBReader(view, forBranch2) {
    if (!reader.byob) {
      readableStreamDefaultReaderRelease(reader);
      reader = acquireReadableStreamBYOBReader(stream);
      forwardReaderError(reader);
    }
    const byobBranch = forBranch2 ? branch2 : branch1;
    const otherBranch = forBranch2 ? branch1 : branch2;
    const readIntoRequest = {
      chunk(chunk) {
        queueMicrotaskLike(() => {
          readAgainForBranch1 = false;
          readAgainForBranch2 = false;
          const byobCanceled = forBranch2 ? canceled2 : canceled1;
          const otherCanceled = forBranch2 ? canceled1 : canceled2;
          if (!otherCanceled) {
            let clonedChunk;
            try {
              clonedChunk = cloneAsUint8Array(chunk);
            } catch (e) {
              rbscError(byobBranch.controller, e);
              rbscError(otherBranch.controller, e);
              cancelPromise.resolve(readableStreamCancel(stream, e));
              return;
            }
            if (!byobCanceled) rbscRespondWithNewView(byobBranch.controller, chunk);
            rbscEnqueue(otherBranch.controller, clonedChunk);
          } else if (!byobCanceled) {
            rbscRespondWithNewView(byobBranch.controller, chunk);
          }
          reading = false;
          if (readAgainForBranch1) pull1Algorithm();
          else if (readAgainForBranch2) pull2Algorithm();
        });
      },
      close(chunk) {
        reading = false;
        const byobCanceled = forBranch2 ? canceled2 : canceled1;
        const otherCanceled = forBranch2 ? canceled1 : canceled2;
        if (!byobCanceled) rbscClose(byobBranch.controller);
        if (!otherCanceled) rbscClose(otherBranch.controller);
        if (chunk !== undefined) {
          if (!byobCanceled) rbscRespondWithNewView(byobBranch.controller, chunk);
          if (!otherCanceled && otherBranch.controller.pendingPullIntos.size > 0) {
            rbscRespond(otherBranch.controller, 0);
          }
        }
        if (!byobCanceled || !otherCanceled) cancelPromise.resolve(undefined);
      },
      error() {
        reading = false;
      },
    };
    readableStreamBYOBReaderRead(reader, view, 1, readIntoRequest);
  }

  function pull1Algorithm() {
    if (reading) {
      readAgainForBranch1 = true;
      return resolvedUndefined;
    }
    reading = true;
    const byobRequest = rbscGetBYOBRequest(branch1.controller);
    if (byobRequest === null) pullWithDefaultReader();
    else pullWithBYOBReader(byobRequestRecord(byobRequest).view, false);
    return resolvedUndefined;
  }

  function pull2Algorithm() {
    if (reading) {
      readAgainForBranch2 = true;
      return resolvedUndefined;
    }
    reading = true;
    const byobRequest = rbscGetBYOBRequest(branch2.controller);
    if (byobRequest === null) pullWithDefaultReader();
    else pullWithBYOBReader(byobRequestRecord(byobRequest).view, true);
    return resolvedUndefined;
  }

  function cancel1Algorithm(reason) {
    canceled1 = true;
    reason1 = reason;
    if (canceled2) cancelPromise.resolve(readableStreamCancel(stream, [reason1, reason2]));
    return cancelPromise.promise;
  }

  function cancel2Algorithm(reason) {
    canceled2 = true;
    reason2 = reason;
    if (canceled1) cancelPromise.resolve(readableStreamCancel(stream, [reason1, reason2]));
    return cancelPromise.promise;
  }

  branch1 = createReadableByteStream(returnUndefined, pull1Algorithm, cancel1Algorithm);
  branch2 = createReadableByteStream(returnUndefined, pull2Algorithm, cancel2Algorithm);
  forwardReaderError(reader);
  return [branch1, branch2];
}

// ---------------------------------------------------------------------------
// Public interfaces

let byteControllerOf;

class ReadableByteStreamController {
  #c;

  constructor(key = undefined, record = undefined) {
    if (key !== kInternal) throw new TypeError("Illegal constructor");
    this.#c = record;
  }

  static {
    byteControllerOf = (o, member) => {
      if (!isObject(o) || !(#c in o)) throw illegalInvocation("ReadableByteStreamController", member);
      return o.#c;
    };
  }

  get byobRequest() {
    return rbscGetBYOBRequest(byteControllerOf(this, "byobRequest"));
  }

  get desiredSize() {
    return rbscGetDesiredSize(byteControllerOf(this, "desiredSize"));
  }

  close() {
    const controller = byteControllerOf(this, "close");
    if (controller.closeRequested) {
      throw new TypeError("Failed to execute 'close' on 'ReadableByteStreamController': The stream has already been closed");
    }
    if (controller.stream.state !== "readable") {
      throw new TypeError("Failed to execute 'close' on 'ReadableByteStreamController': The stream is not readable");
    }
    rbscClose(controller);
  }

  enqueue(chunk) {
    const context = "Failed to execute 'enqueue' on 'ReadableByteStreamController'";
    const controller = byteControllerOf(this, "enqueue");
    requireArgs(arguments.length, 1, context);
    if (!ArrayBufferIsView(chunk)) throw new TypeError(`${context}: parameter 1 is not of type 'ArrayBufferView'.`);
    if (viewByteLength(chunk) === 0) throw new TypeError(`${context}: The chunk must have a non-zero byteLength`);
    if (ArrayBufferPrototypeGetByteLength(viewBuffer(chunk)) === 0) {
      throw new TypeError(`${context}: The chunk's buffer must have a non-zero byteLength`);
    }
    if (controller.closeRequested) throw new TypeError(`${context}: The stream has already been closed`);
    if (controller.stream.state !== "readable") throw new TypeError(`${context}: The stream is not readable`);
    rbscEnqueue(controller, chunk);
  }

  error(e = undefined) {
    rbscError(byteControllerOf(this, "error"), e);
  }
}
webidlInterface(ReadableByteStreamController, "ReadableByteStreamController");

let byobRequestOf;
let byobRequestRecord;

class ReadableStreamBYOBRequest {
  #b;

  constructor(key = undefined, record = undefined) {
    if (key !== kInternal) throw new TypeError("Illegal constructor");
    this.#b = record;
  }

  static {
    byobRequestOf = (o, member) => {
      if (!isObject(o) || !(#b in o)) throw illegalInvocation("ReadableStreamBYOBRequest", member);
      return o.#b;
    };
    byobRequestRecord = (o) => o.#b;
  }

  get view() {
    return byobRequestOf(this, "view").view;
  }

  respond(bytesWritten) {
    const context = "Failed to execute 'respond' on 'ReadableStreamBYOBRequest'";
    const request = byobRequestOf(this, "respond");
    requireArgs(arguments.length, 1, context);
    const n = toEnforceRangeU64(bytesWritten, context);
    if (request.controller === undefined) throw new TypeError(`${context}: This BYOB request has been invalidated`);
    if (isDetachedBuffer(viewBuffer(request.view))) throw new TypeError(`${context}: The BYOB request's buffer has been detached`);
    rbscRespond(request.controller, n);
  }

  respondWithNewView(view) {
    const context = "Failed to execute 'respondWithNewView' on 'ReadableStreamBYOBRequest'";
    const request = byobRequestOf(this, "respondWithNewView");
    requireArgs(arguments.length, 1, context);
    if (!ArrayBufferIsView(view)) throw new TypeError(`${context}: parameter 1 is not of type 'ArrayBufferView'.`);
    if (request.controller === undefined) throw new TypeError(`${context}: This BYOB request has been invalidated`);
    if (isDetachedBuffer(viewBuffer(view))) throw new TypeError(`${context}: The given view's buffer has been detached`);
    rbscRespondWithNewView(request.controller, view);
  }
}
webidlInterface(ReadableStreamBYOBRequest, "ReadableStreamBYOBRequest");

let byobReaderOf;

class ReadableStreamBYOBReader {
  #r;

  constructor(stream, record = undefined) {
    if (stream === kInternal) {
      this.#r = record;
      record.pub = this;
      return;
    }
    const context = "Failed to construct 'ReadableStreamBYOBReader'";
    requireArgs(arguments.length, 1, context);
    const s = S.streamRecordOf(stream);
    if (s === undefined) throw new TypeError(`${context}: parameter 1 is not of type 'ReadableStream'.`);
    const reader = new BYOBReaderRecord();
    setUpReadableStreamBYOBReader(reader, s);
    reader.pub = this;
    this.#r = reader;
  }

  static {
    byobReaderOf = (o, member) => {
      if (!isObject(o) || !(#r in o)) throw illegalInvocation("ReadableStreamBYOBReader", member);
      return o.#r;
    };
  }

  get closed() {
    try {
      return byobReaderOf(this, "closed").closed.promise;
    } catch (e) {
      return PromiseReject(e);
    }
  }

  cancel(reason = undefined) {
    let reader;
    try {
      reader = byobReaderOf(this, "cancel");
    } catch (e) {
      return PromiseReject(e);
    }
    if (reader.stream === undefined) {
      return PromiseReject(new TypeError("Failed to execute 'cancel' on 'ReadableStreamBYOBReader': The reader has been released"));
    }
    return readableStreamReaderGenericCancel(reader, reason);
  }

  read(view, options = undefined) {
    const context = "Failed to execute 'read' on 'ReadableStreamBYOBReader'";
    let reader;
    let min = 1;
    try {
      reader = byobReaderOf(this, "read");
      requireArgs(arguments.length, 1, context);
      if (!ArrayBufferIsView(view)) throw new TypeError(`${context}: parameter 1 is not of type 'ArrayBufferView'.`);
      const dict = toDictionary(options, context);
      const m = dict === null ? undefined : dict.min;
      if (m !== undefined) min = toEnforceRangeU64(m, context);
    } catch (e) {
      return PromiseReject(e);
    }
    if (viewByteLength(view) === 0) {
      return PromiseReject(new TypeError(`${context}: The view must have a non-zero byteLength`));
    }
    const buffer = viewBuffer(view);
    if (ArrayBufferPrototypeGetByteLength(buffer) === 0) {
      return PromiseReject(new TypeError(`${context}: The view's buffer must have a non-zero byteLength`));
    }
    if (isDetachedBuffer(buffer)) {
      return PromiseReject(new TypeError(`${context}: The view's buffer has been detached`));
    }
    if (min === 0) return PromiseReject(new TypeError(`${context}: options.min must be greater than 0`));
    if (typedArrayName(view) !== undefined) {
      if (min > TypedArrayPrototypeGetLength(view)) {
        return PromiseReject(new RangeError(`${context}: options.min must be less than or equal to the view's length`));
      }
    } else if (min > viewByteLength(view)) {
      return PromiseReject(new RangeError(`${context}: options.min must be less than or equal to the view's byteLength`));
    }
    if (reader.stream === undefined) {
      return PromiseReject(new TypeError(`${context}: The reader has been released`));
    }
    const request = new PublicReadIntoRequest();
    readableStreamBYOBReaderRead(reader, view, min, request);
    return request.promise();
  }

  releaseLock() {
    const reader = byobReaderOf(this, "releaseLock");
    if (reader.stream === undefined) return;
    readableStreamBYOBReaderRelease(reader);
  }
}
webidlInterface(ReadableStreamBYOBReader, "ReadableStreamBYOBReader");

function byobReaderPub(reader) {
  if (reader.pub === undefined) new ReadableStreamBYOBReader(kInternal, reader);
  return reader.pub;
}

internals.defineGlobal("ReadableByteStreamController", ReadableByteStreamController);
internals.defineGlobal("ReadableStreamBYOBRequest", ReadableStreamBYOBRequest);
internals.defineGlobal("ReadableStreamBYOBReader", ReadableStreamBYOBReader);

Object.assign(S, {
  ReadableByteStreamController,
  ReadableStreamBYOBReader,
  ReadableStreamBYOBRequest,
  ByteControllerRecord,
  acquireReadableStreamBYOBReader,
  readableStreamBYOBReaderRead,
  readableStreamBYOBReaderRelease,
  readableStreamBYOBReaderErrorReadIntoRequests,
  readableStreamHasBYOBReader,
  readableStreamHasDefaultReader,
  setUpReadableByteStreamController,
  setUpReadableByteStreamControllerFromUnderlyingSource,
  createReadableByteStream,
  readableByteStreamTee,
  byobReaderPub,
  rbscCallPullIfNeeded,
  rbscClose,
  rbscEnqueue,
  rbscEnqueueChunkToQueue,
  rbscError,
  rbscGetDesiredSize,
  rbscGetBYOBRequest,
  rbscRespond,
  rbscRespondWithNewView,
});
