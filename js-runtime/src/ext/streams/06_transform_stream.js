// TransformStream and TransformStreamDefaultController
// (https://streams.spec.whatwg.org/#ts-class, section 6).

const {
  kInternal,
  ReflectApply,
  PromisePrototypeThen,
  PromiseResolve,
  PromiseReject,
  Deferred,
  uponPromise,
  invokePromiseCallback,
  resolvedUndefined,
  isObject,
  toCallback,
  webidlInterface,
  illegalInvocation,
  sizeOne,
  toQueuingStrategy,
  extractHighWaterMark,
  extractSizeAlgorithm,
  createReadableStream,
  rsdcCanCloseOrEnqueue,
  rsdcClose,
  rsdcEnqueue,
  rsdcError,
  rsdcGetDesiredSize,
  rsdcHasBackpressure,
  createWritableStream,
  wsdcErrorIfNeeded,
} = internals._streams;
const S = internals._streams;

/** A TransformStream's slots (section 6.2.2). */
class TransformRecord {
  constructor() {
    this.pub = undefined;
    this.backpressure = undefined;
    this.backpressureChangePromise = undefined;
    this.controller = undefined;
    this.readable = undefined;
    this.writable = undefined;
  }
}

/** A TransformStreamDefaultController's slots (section 6.3.2). */
class TransformControllerRecord {
  constructor() {
    this.pub = undefined;
    this.cancelAlgorithm = undefined;
    this.finishPromise = undefined;
    this.flushAlgorithm = undefined;
    this.stream = undefined;
    this.transformAlgorithm = undefined;
    this.transformer = undefined;
    this.transformFn = undefined;
    this.flushFn = undefined;
    this.cancelFn = undefined;
    this.onTransformRejected = undefined;
  }
}

// ---------------------------------------------------------------------------
// TransformStream abstract operations (section 6.4.1)

function initializeTransformStream(
  stream,
  startPromise,
  writableHighWaterMark,
  writableSizeAlgorithm,
  readableHighWaterMark,
  readableSizeAlgorithm,
) {
  const startAlgorithm = () => startPromise;
  stream.writable = createWritableStream(
    startAlgorithm,
    (chunk) => transformStreamDefaultSinkWriteAlgorithm(stream, chunk),
    () => transformStreamDefaultSinkCloseAlgorithm(stream),
    (reason) => transformStreamDefaultSinkAbortAlgorithm(stream, reason),
    writableHighWaterMark,
    writableSizeAlgorithm,
  );
  stream.readable = createReadableStream(
    startAlgorithm,
    () => transformStreamDefaultSourcePullAlgorithm(stream),
    (reason) => transformStreamDefaultSourceCancelAlgorithm(stream, reason),
    readableHighWaterMark,
    readableSizeAlgorithm,
  );
  stream.backpressure = undefined;
  stream.backpressureChangePromise = undefined;
  transformStreamSetBackpressure(stream, true);
  stream.controller = undefined;
}

function transformStreamError(stream, e) {
  rsdcError(stream.readable.controller, e);
  transformStreamErrorWritableAndUnblockWrite(stream, e);
}

function transformStreamErrorWritableAndUnblockWrite(stream, e) {
  transformStreamDefaultControllerClearAlgorithms(stream.controller);
  wsdcErrorIfNeeded(stream.writable.controller, e);
  transformStreamUnblockWrite(stream);
}

function transformStreamSetBackpressure(stream, backpressure) {
  if (stream.backpressureChangePromise !== undefined) stream.backpressureChangePromise.resolve(undefined);
  stream.backpressureChangePromise = new Deferred();
  stream.backpressure = backpressure;
}

function transformStreamUnblockWrite(stream) {
  if (stream.backpressure) transformStreamSetBackpressure(stream, false);
}

// ---------------------------------------------------------------------------
// Controller abstract operations (section 6.4.2)

function setUpTransformStreamDefaultController(stream, controller, transformAlgorithm, flushAlgorithm, cancelAlgorithm) {
  controller.stream = stream;
  stream.controller = controller;
  controller.transformAlgorithm = transformAlgorithm;
  controller.flushAlgorithm = flushAlgorithm;
  controller.cancelAlgorithm = cancelAlgorithm;
  controller.onTransformRejected = (r) => {
    transformStreamError(stream, r);
    throw r;
  };
}

const enqueueTransformAlgorithm = function (chunk) {
  try {
    transformStreamDefaultControllerEnqueue(this, chunk);
    return resolvedUndefined;
  } catch (e) {
    return PromiseReject(e);
  }
};
function transformerTransformAlgorithm(chunk) {
  return invokePromiseCallback(this.transformFn, this.transformer, [chunk, tsdcPub(this)]);
}
function transformerFlushAlgorithm() {
  return invokePromiseCallback(this.flushFn, this.transformer, [tsdcPub(this)]);
}
function transformerCancelAlgorithm(reason) {
  return invokePromiseCallback(this.cancelFn, this.transformer, [reason]);
}
const resolvedAlgorithm = () => resolvedUndefined;

function setUpTransformStreamDefaultControllerFromTransformer(stream, transformer, dict) {
  const controller = new TransformControllerRecord();
  controller.transformer = transformer;
  controller.transformFn = dict.transform;
  controller.flushFn = dict.flush;
  controller.cancelFn = dict.cancel;
  setUpTransformStreamDefaultController(
    stream,
    controller,
    dict.transform === undefined ? enqueueTransformAlgorithm : transformerTransformAlgorithm,
    dict.flush === undefined ? resolvedAlgorithm : transformerFlushAlgorithm,
    dict.cancel === undefined ? resolvedAlgorithm : transformerCancelAlgorithm,
  );
}

function transformStreamDefaultControllerClearAlgorithms(controller) {
  controller.transformAlgorithm = undefined;
  controller.flushAlgorithm = undefined;
  controller.cancelAlgorithm = undefined;
  controller.transformer = undefined;
  controller.transformFn = undefined;
  controller.flushFn = undefined;
  controller.cancelFn = undefined;
}

function transformStreamDefaultControllerEnqueue(controller, chunk) {
  const stream = controller.stream;
  const readableController = stream.readable.controller;
  if (!rsdcCanCloseOrEnqueue(readableController)) {
    throw new TypeError("Readable side is not in a state that permits enqueue");
  }
  try {
    rsdcEnqueue(readableController, chunk);
  } catch (e) {
    transformStreamErrorWritableAndUnblockWrite(stream, e);
    throw stream.readable.storedError;
  }
  const backpressure = rsdcHasBackpressure(readableController);
  if (backpressure !== stream.backpressure) transformStreamSetBackpressure(stream, true);
}

function transformStreamDefaultControllerError(controller, e) {
  transformStreamError(controller.stream, e);
}

function transformStreamDefaultControllerPerformTransform(controller, chunk) {
  const transformPromise = controller.transformAlgorithm(chunk);
  return PromisePrototypeThen(transformPromise, undefined, controller.onTransformRejected);
}

function transformStreamDefaultControllerTerminate(controller) {
  const stream = controller.stream;
  rsdcClose(stream.readable.controller);
  const error = new TypeError("The transform stream has been terminated");
  transformStreamErrorWritableAndUnblockWrite(stream, error);
}

// ---------------------------------------------------------------------------
// Sink and source algorithms (section 6.4.3, section 6.4.4)

function transformStreamDefaultSinkWriteAlgorithm(stream, chunk) {
  const controller = stream.controller;
  if (stream.backpressure) {
    return PromisePrototypeThen(stream.backpressureChangePromise.promise, () => {
      const writable = stream.writable;
      if (writable.state === "erroring") throw writable.storedError;
      return transformStreamDefaultControllerPerformTransform(controller, chunk);
    });
  }
  return transformStreamDefaultControllerPerformTransform(controller, chunk);
}

// The cancel/flush algorithms below may already have been cleared by
// terminate() or error() (say, the readable side of a terminated stream with
// queued chunks is canceled, or the writable side is aborted while it is
// erroring). The spec would call undefined there; like other engines, the
// operation then just succeeds.

function transformStreamDefaultSinkAbortAlgorithm(stream, reason) {
  const controller = stream.controller;
  if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
  if (controller.cancelAlgorithm === undefined) return resolvedUndefined;
  const readable = stream.readable;
  controller.finishPromise = new Deferred();
  const cancelPromise = controller.cancelAlgorithm(reason);
  transformStreamDefaultControllerClearAlgorithms(controller);
  uponPromise(
    cancelPromise,
    () => {
      if (readable.state === "errored") {
        controller.finishPromise.reject(readable.storedError);
      } else {
        rsdcError(readable.controller, reason);
        controller.finishPromise.resolve(undefined);
      }
    },
    (r) => {
      rsdcError(readable.controller, r);
      controller.finishPromise.reject(r);
    },
  );
  return controller.finishPromise.promise;
}

function transformStreamDefaultSinkCloseAlgorithm(stream) {
  const controller = stream.controller;
  if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
  if (controller.flushAlgorithm === undefined) return resolvedUndefined;
  const readable = stream.readable;
  controller.finishPromise = new Deferred();
  const flushPromise = controller.flushAlgorithm();
  transformStreamDefaultControllerClearAlgorithms(controller);
  uponPromise(
    flushPromise,
    () => {
      if (readable.state === "errored") {
        controller.finishPromise.reject(readable.storedError);
      } else {
        rsdcClose(readable.controller);
        controller.finishPromise.resolve(undefined);
      }
    },
    (r) => {
      rsdcError(readable.controller, r);
      controller.finishPromise.reject(r);
    },
  );
  return controller.finishPromise.promise;
}

function transformStreamDefaultSourceCancelAlgorithm(stream, reason) {
  const controller = stream.controller;
  if (controller.finishPromise !== undefined) return controller.finishPromise.promise;
  if (controller.cancelAlgorithm === undefined) return resolvedUndefined;
  const writable = stream.writable;
  controller.finishPromise = new Deferred();
  const cancelPromise = controller.cancelAlgorithm(reason);
  transformStreamDefaultControllerClearAlgorithms(controller);
  uponPromise(
    cancelPromise,
    () => {
      if (writable.state === "errored") {
        controller.finishPromise.reject(writable.storedError);
      } else {
        wsdcErrorIfNeeded(writable.controller, reason);
        transformStreamUnblockWrite(stream);
        controller.finishPromise.resolve(undefined);
      }
    },
    (r) => {
      wsdcErrorIfNeeded(writable.controller, r);
      transformStreamUnblockWrite(stream);
      controller.finishPromise.reject(r);
    },
  );
  return controller.finishPromise.promise;
}

function transformStreamDefaultSourcePullAlgorithm(stream) {
  transformStreamSetBackpressure(stream, false);
  return stream.backpressureChangePromise.promise;
}

/**
 * The spec's "set up a TransformStream" for other specs: `transform(chunk,
 * enqueue)` and `flush(enqueue)` may return a promise or throw; HWMs are
 * writable 1, readable 0. Returns the record ({ readable, writable, pub }).
 */
function createTransformStream(transformAlgorithm, flushAlgorithm, cancelAlgorithm) {
  const stream = new TransformRecord();
  new TransformStream(kInternal, stream);
  initializeTransformStream(stream, resolvedUndefined, 1, sizeOne, 0, sizeOne);
  const controller = new TransformControllerRecord();
  const wrap = (fn) =>
    fn === undefined
      ? resolvedAlgorithm
      : function (arg) {
          try {
            return PromiseResolve(fn(arg, controller));
          } catch (e) {
            return PromiseReject(e);
          }
        };
  setUpTransformStreamDefaultController(
    stream,
    controller,
    wrap(transformAlgorithm),
    flushAlgorithm === undefined
      ? resolvedAlgorithm
      : function () {
          try {
            return PromiseResolve(flushAlgorithm(controller));
          } catch (e) {
            return PromiseReject(e);
          }
        },
    wrap(cancelAlgorithm),
  );
  return stream;
}

// ---------------------------------------------------------------------------
// Public interfaces

class TransformStream {
  #s;

  constructor(transformer = undefined, writableStrategy = undefined, readableStrategy = undefined) {
    if (transformer === kInternal) {
      this.#s = writableStrategy;
      writableStrategy.pub = this;
      return;
    }
    const context = "Failed to construct 'TransformStream'";
    if (transformer !== undefined && !isObject(transformer)) {
      throw new TypeError(`${context}: parameter 1 is not of type 'object'.`);
    }
    const wStrategy = toQueuingStrategy(writableStrategy, context);
    const rStrategy = toQueuingStrategy(readableStrategy, context);
    const t = transformer === undefined ? null : transformer;
    // The Transformer dictionary, members in lexicographic order.
    const dict = {
      cancel: undefined,
      flush: undefined,
      readableType: undefined,
      start: undefined,
      transform: undefined,
      writableType: undefined,
    };
    if (t !== null) {
      const cancel = t.cancel;
      if (cancel !== undefined) dict.cancel = toCallback(cancel, context, "cancel");
      const flush = t.flush;
      if (flush !== undefined) dict.flush = toCallback(flush, context, "flush");
      dict.readableType = t.readableType;
      const start = t.start;
      if (start !== undefined) dict.start = toCallback(start, context, "start");
      const transform = t.transform;
      if (transform !== undefined) dict.transform = toCallback(transform, context, "transform");
      dict.writableType = t.writableType;
    }
    if (dict.readableType !== undefined) throw new RangeError(`${context}: Invalid readableType specified`);
    if (dict.writableType !== undefined) throw new RangeError(`${context}: Invalid writableType specified`);
    const readableHighWaterMark = extractHighWaterMark(rStrategy, 0);
    const readableSizeAlgorithm = extractSizeAlgorithm(rStrategy);
    const writableHighWaterMark = extractHighWaterMark(wStrategy, 1);
    const writableSizeAlgorithm = extractSizeAlgorithm(wStrategy);
    const startPromise = new Deferred();
    const stream = new TransformRecord();
    stream.pub = this;
    this.#s = stream;
    initializeTransformStream(
      stream,
      startPromise.promise,
      writableHighWaterMark,
      writableSizeAlgorithm,
      readableHighWaterMark,
      readableSizeAlgorithm,
    );
    setUpTransformStreamDefaultControllerFromTransformer(stream, t, dict);
    if (dict.start !== undefined) {
      startPromise.resolve(ReflectApply(dict.start, t, [tsdcPub(stream.controller)]));
    } else {
      startPromise.resolve(undefined);
    }
  }

  static {
    S.transformRecordOf = (o) => (isObject(o) && #s in o ? o.#s : undefined);
  }

  get readable() {
    const stream = S.transformRecordOf(this);
    if (stream === undefined) throw illegalInvocation("TransformStream", "readable");
    return stream.readable.pub;
  }

  get writable() {
    const stream = S.transformRecordOf(this);
    if (stream === undefined) throw illegalInvocation("TransformStream", "writable");
    return stream.writable.pub;
  }
}
webidlInterface(TransformStream, "TransformStream");

let tsdcOf;

class TransformStreamDefaultController {
  #c;

  constructor(key = undefined, record = undefined) {
    if (key !== kInternal) throw new TypeError("Illegal constructor");
    this.#c = record;
  }

  static {
    tsdcOf = (o, member) => {
      if (!isObject(o) || !(#c in o)) throw illegalInvocation("TransformStreamDefaultController", member);
      return o.#c;
    };
  }

  get desiredSize() {
    const controller = tsdcOf(this, "desiredSize");
    return rsdcGetDesiredSize(controller.stream.readable.controller);
  }

  enqueue(chunk = undefined) {
    transformStreamDefaultControllerEnqueue(tsdcOf(this, "enqueue"), chunk);
  }

  error(reason = undefined) {
    transformStreamDefaultControllerError(tsdcOf(this, "error"), reason);
  }

  terminate() {
    transformStreamDefaultControllerTerminate(tsdcOf(this, "terminate"));
  }
}
webidlInterface(TransformStreamDefaultController, "TransformStreamDefaultController");

function tsdcPub(controller) {
  if (controller.pub === undefined) controller.pub = new TransformStreamDefaultController(kInternal, controller);
  return controller.pub;
}

internals.defineGlobal("TransformStream", TransformStream);
internals.defineGlobal("TransformStreamDefaultController", TransformStreamDefaultController);

Object.assign(S, {
  TransformStream,
  TransformStreamDefaultController,
  createTransformStream,
  transformStreamDefaultControllerEnqueue,
  transformStreamDefaultControllerError,
  transformStreamDefaultControllerTerminate,
});
