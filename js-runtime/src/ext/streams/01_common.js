// Shared helpers for the Streams family (https://streams.spec.whatwg.org/):
// promise plumbing, queues, WebIDL conversions, buffer transfer, and the
// queuing strategies (section 7).
//
// The streams glue files share private helpers through `internals._streams`
// (`S` below); `internals.streams` is the documented surface for other
// families (see 08_internals.js and README.md).

const S = (internals._streams = {});

// ---------------------------------------------------------------------------
// Captured builtins: user code may patch the globals later.

const uncurryThis = internals.uncurryThis;
const ReflectApply = Reflect.apply;
const ObjectDefineProperty = Object.defineProperty;
const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
const PromiseCtor = Promise;
const PromisePrototypeThen = uncurryThis(Promise.prototype.then);
const PromiseResolve = Promise.resolve.bind(Promise);
const PromiseReject = Promise.reject.bind(Promise);
// Not Promise.withResolvers: V8 counts each use of it with a call into its
// C++ runtime, and streams make promises per chunk.
function PromiseWithResolvers() {
  let resolve;
  let reject;
  const promise = new PromiseCtor((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}
const ArrayBufferCtor = ArrayBuffer;
const ArrayBufferIsView = ArrayBuffer.isView;
const ArrayBufferPrototypeSlice = uncurryThis(ArrayBuffer.prototype.slice);
const getter = (proto, name) => uncurryThis(ObjectGetOwnPropertyDescriptor(proto, name).get);
const ArrayBufferPrototypeGetByteLength = getter(ArrayBuffer.prototype, "byteLength");
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const TypedArrayPrototypeGetBuffer = getter(TypedArrayPrototype, "buffer");
const TypedArrayPrototypeGetByteOffset = getter(TypedArrayPrototype, "byteOffset");
const TypedArrayPrototypeGetByteLength = getter(TypedArrayPrototype, "byteLength");
const TypedArrayPrototypeGetLength = getter(TypedArrayPrototype, "length");
const TypedArrayPrototypeGetSymbolToStringTag = getter(TypedArrayPrototype, Symbol.toStringTag);
const DataViewPrototypeGetBuffer = getter(DataView.prototype, "buffer");
const DataViewPrototypeGetByteOffset = getter(DataView.prototype, "byteOffset");
const DataViewPrototypeGetByteLength = getter(DataView.prototype, "byteLength");
const Uint8ArrayCtor = Uint8Array;
const Uint8ArrayPrototypeSet = uncurryThis(TypedArrayPrototype.set);
const MathMin = Math.min;
const NumberIsNaN = Number.isNaN;
const NumberIsFinite = Number.isFinite;
const MathTrunc = Math.trunc;
const SymbolAsyncIterator = Symbol.asyncIterator;
const SymbolIterator = Symbol.iterator;
const SymbolToStringTag = Symbol.toStringTag;
const AsyncIteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);

// ES2024 ArrayBuffer transfer; V8 has it. The fallback exists only for
// hosts without it (it is not reached in Outpost).
const ArrayBufferPrototypeTransfer = ArrayBuffer.prototype.transfer;
const detachedDesc = ObjectGetOwnPropertyDescriptor(ArrayBuffer.prototype, "detached");
const ArrayBufferPrototypeGetDetached = detachedDesc ? uncurryThis(detachedDesc.get) : null;

const noop = () => {};
const resolvedUndefined = PromiseResolve(undefined);

// ---------------------------------------------------------------------------
// Promises

/** A promise with its resolving functions and a settled flag. */
class Deferred {
  constructor() {
    const { promise, resolve, reject } = PromiseWithResolvers();
    this.promise = promise;
    this.res = resolve;
    this.rej = reject;
    // 0 pending, 1 fulfilled, 2 rejected.
    this.state = 0;
  }
  resolve(value) {
    if (this.state !== 0) return;
    this.state = 1;
    this.res(value);
  }
  reject(reason) {
    if (this.state !== 0) return;
    this.state = 2;
    this.rej(reason);
  }
}

/** A settled Deferred without allocating resolving functions. */
function settledDeferred(promise, state) {
  const d = Object.create(Deferred.prototype);
  d.promise = promise;
  d.res = noop;
  d.rej = noop;
  d.state = state;
  return d;
}
const resolvedDeferred = (value) => settledDeferred(PromiseResolve(value), 1);
function rejectedDeferred(reason) {
  const p = PromiseReject(reason);
  markHandled(p);
  return settledDeferred(p, 2);
}

/** The spec's "set promise.[[PromiseIsHandled]] to true". */
function markHandled(promise) {
  PromisePrototypeThen(promise, undefined, noop);
}

/** "Upon fulfillment / rejection": reacts without creating a user-visible chain. */
function uponPromise(promise, onFulfilled, onRejected) {
  PromisePrototypeThen(promise, onFulfilled, onRejected);
}

/** "Queue a microtask" (same timing as `queueMicrotask`). */
function queueMicrotaskLike(fn) {
  PromisePrototypeThen(resolvedUndefined, fn);
}

/**
 * "A promise resolved with x": `Promise.resolve`, which returns a native
 * promise as is. The reference implementation does the same and WPT
 * (flow-control) depends on that timing.
 */
const resolvedWith = PromiseResolve;

/** Calls `fn` with `thisArg` and turns a throw or a return into a promise (WebIDL promise-returning callback). */
function invokePromiseCallback(fn, thisArg, args) {
  try {
    return resolvedWith(ReflectApply(fn, thisArg, args));
  } catch (e) {
    return PromiseReject(e);
  }
}

// ---------------------------------------------------------------------------
// Queues

/** FIFO array with a head index: O(1) shift without Array#shift. */
class Queue {
  constructor() {
    this.items = [];
    this.head = 0;
  }
  get size() {
    return this.items.length - this.head;
  }
  push(value) {
    this.items.push(value);
  }
  peek() {
    return this.items[this.head];
  }
  shift() {
    const items = this.items;
    const value = items[this.head];
    items[this.head++] = undefined;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return value;
  }
  /** Removes every element and returns them as an array. */
  drain() {
    const out = this.head === 0 ? this.items : this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}

/**
 * The spec's "queue-with-sizes" (section 8.1): values and sizes interleaved in one
 * array so a chunk costs no allocation. Used by default readable and
 * writable controllers, which keep `queueTotalSize` on themselves.
 */
class SizedQueue {
  constructor() {
    this.items = [];
    this.head = 0;
  }
  get empty() {
    return this.head === this.items.length;
  }
  push(value, size) {
    this.items.push(value, size);
  }
  peekValue() {
    return this.items[this.head];
  }
  /** Removes the head; returns its value. The caller reads `lastSize`. */
  shift() {
    const items = this.items;
    const h = this.head;
    const value = items[h];
    this.lastSize = items[h + 1];
    items[h] = undefined;
    this.head = h + 2;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 2048 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return value;
  }
  clear() {
    this.items = [];
    this.head = 0;
  }
}

/** EnqueueValueWithSize (section 8.1) on a controller with `queue`/`queueTotalSize`. */
function enqueueValueWithSize(container, value, size) {
  if (typeof size !== "number" || NumberIsNaN(size) || size < 0 || size === Infinity) {
    throw new RangeError("The return value of a queuing strategy's size function must be a finite, non-NaN, non-negative number");
  }
  container.queue.push(value, size);
  container.queueTotalSize += size;
}

/** DequeueValue (section 8.1). */
function dequeueValue(container) {
  const queue = container.queue;
  const value = queue.shift();
  container.queueTotalSize -= queue.lastSize;
  if (container.queueTotalSize < 0) container.queueTotalSize = 0;
  return value;
}

/** ResetQueue (section 8.1). */
function resetQueue(container) {
  container.queue.clear();
  container.queueTotalSize = 0;
}

// ---------------------------------------------------------------------------
// WebIDL conversions

function isObject(v) {
  return v !== null && (typeof v === "object" || typeof v === "function");
}

/** A dictionary argument: null for undefined/null, TypeError for primitives. */
function toDictionary(value, context) {
  if (value === undefined || value === null) return null;
  if (typeof value !== "object" && typeof value !== "function") {
    throw new TypeError(`${context}: The provided value is not of type 'object'.`);
  }
  return value;
}

function toCallback(value, context, member) {
  if (typeof value !== "function") {
    throw new TypeError(`${context}: '${member}' is not a function.`);
  }
  return value;
}

/** WebIDL `[EnforceRange] unsigned long long`. */
function toEnforceRangeU64(value, context) {
  const n = +value;
  if (!NumberIsFinite(n)) {
    throw new TypeError(`${context}: Value is not of type 'unsigned long long'.`);
  }
  const x = MathTrunc(n);
  if (x < 0 || x > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(`${context}: Value is outside the 'unsigned long long' value range.`);
  }
  return x === 0 ? 0 : x;
}

function toDOMString(value) {
  return typeof value === "string" ? value : `${value}`;
}

function requireArgs(length, required, context) {
  if (length < required) {
    throw new TypeError(
      `${context}: ${required} argument${required === 1 ? "" : "s"} required, but only ${length} present.`,
    );
  }
}

/** Makes methods and accessors enumerable (as WebIDL does) and adds `Symbol.toStringTag`. */
function webidlInterface(ctor, name) {
  for (const target of [ctor.prototype, ctor]) {
    for (const key of Reflect.ownKeys(target)) {
      if (key === "constructor" || key === "prototype" || key === "length" || key === "name") continue;
      const desc = ObjectGetOwnPropertyDescriptor(target, key);
      desc.enumerable = true;
      ObjectDefineProperty(target, key, desc);
    }
  }
  ObjectDefineProperty(ctor.prototype, SymbolToStringTag, {
    value: name,
    writable: false,
    enumerable: false,
    configurable: true,
  });
}

function illegalInvocation(iface, member) {
  return new TypeError(`Failed to execute '${member}' on '${iface}': Illegal invocation`);
}

// ---------------------------------------------------------------------------
// ArrayBuffers and views

const typedArrayInfo = { __proto__: null };
for (const [name, size] of [
  ["Int8Array", 1],
  ["Uint8Array", 1],
  ["Uint8ClampedArray", 1],
  ["Int16Array", 2],
  ["Uint16Array", 2],
  ["Float16Array", 2],
  ["Int32Array", 4],
  ["Uint32Array", 4],
  ["Float32Array", 4],
  ["Float64Array", 8],
  ["BigInt64Array", 8],
  ["BigUint64Array", 8],
]) {
  const ctor = globalThis[name];
  if (typeof ctor === "function") typedArrayInfo[name] = { ctor, size };
}
const DataViewCtor = DataView;

/** The name of a typed array's class, or undefined for anything else. */
function typedArrayName(view) {
  return TypedArrayPrototypeGetSymbolToStringTag(view);
}
function viewBuffer(view) {
  return typedArrayName(view) !== undefined ? TypedArrayPrototypeGetBuffer(view) : DataViewPrototypeGetBuffer(view);
}
function viewByteOffset(view) {
  return typedArrayName(view) !== undefined
    ? TypedArrayPrototypeGetByteOffset(view)
    : DataViewPrototypeGetByteOffset(view);
}
function viewByteLength(view) {
  return typedArrayName(view) !== undefined
    ? TypedArrayPrototypeGetByteLength(view)
    : DataViewPrototypeGetByteLength(view);
}

function isArrayBuffer(value) {
  if (!isObject(value)) return false;
  try {
    ArrayBufferPrototypeGetByteLength(value);
    return true;
  } catch {
    return false;
  }
}

function isDetachedBuffer(buffer) {
  if (ArrayBufferPrototypeGetDetached !== null) return ArrayBufferPrototypeGetDetached(buffer);
  try {
    new Uint8ArrayCtor(buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** TransferArrayBuffer (section 8.3): moves the backing store to a new ArrayBuffer. */
function transferArrayBuffer(buffer) {
  if (ArrayBufferPrototypeTransfer !== undefined) return ReflectApply(ArrayBufferPrototypeTransfer, buffer, []);
  // Hosts without ArrayBuffer.prototype.transfer.
  if (isDetachedBuffer(buffer)) throw new TypeError("Cannot transfer a detached ArrayBuffer");
  return globalThis.structuredClone(buffer, { transfer: [buffer] });
}

/** The bytes of an ArrayBuffer or view as a Uint8Array over the same memory; undefined otherwise. */
function asUint8Array(chunk) {
  if (ArrayBufferIsView(chunk)) {
    if (typedArrayName(chunk) === "Uint8Array") return chunk;
    return new Uint8ArrayCtor(viewBuffer(chunk), viewByteOffset(chunk), viewByteLength(chunk));
  }
  if (isArrayBuffer(chunk)) return new Uint8ArrayCtor(chunk);
  return undefined;
}

/** Concatenates Uint8Arrays; returns the only one when there is one. */
function concatBytes(chunks, total) {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8ArrayCtor(total);
  let offset = 0;
  for (let i = 0; i < chunks.length; i++) {
    Uint8ArrayPrototypeSet(out, chunks[i], offset);
    offset += TypedArrayPrototypeGetByteLength(chunks[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Queuing strategies (section 7)

const sizeOne = () => 1;

/** QueuingStrategy dictionary conversion: `{ highWaterMark?: number, size?: function }`. */
function toQueuingStrategy(value, context) {
  const dict = toDictionary(value, context);
  if (dict === null) return { highWaterMark: undefined, size: undefined };
  let highWaterMark = dict.highWaterMark;
  if (highWaterMark !== undefined) highWaterMark = +highWaterMark;
  const size = dict.size;
  if (size !== undefined) toCallback(size, context, "size");
  return { highWaterMark, size };
}

/** ExtractHighWaterMark (section 7.4). */
function extractHighWaterMark(strategy, defaultHWM) {
  const hwm = strategy.highWaterMark;
  if (hwm === undefined) return defaultHWM;
  if (NumberIsNaN(hwm) || hwm < 0) {
    throw new RangeError("The highWaterMark of a queuing strategy must be a non-negative, non-NaN number");
  }
  return hwm;
}

/** ExtractSizeAlgorithm (section 7.4). */
function extractSizeAlgorithm(strategy) {
  const size = strategy.size;
  if (size === undefined) return sizeOne;
  return (chunk) => +size(chunk);
}

// The size functions are shared by all instances and named "size".
const { size: byteLengthSize } = { size: (chunk) => chunk.byteLength };
const { size: countSize } = { size: () => 1 };

function strategyInit(init, context) {
  const dict = toDictionary(init, context);
  const hwm = dict === null ? undefined : dict.highWaterMark;
  if (hwm === undefined) {
    throw new TypeError(`${context}: Failed to read the 'highWaterMark' property from 'QueuingStrategyInit': Required member is undefined.`);
  }
  return +hwm;
}

class ByteLengthQueuingStrategy {
  #highWaterMark;
  constructor(init) {
    const context = "Failed to construct 'ByteLengthQueuingStrategy'";
    requireArgs(arguments.length, 1, context);
    this.#highWaterMark = strategyInit(init, context);
  }
  get highWaterMark() {
    if (!isObject(this) || !(#highWaterMark in this)) {
      throw illegalInvocation("ByteLengthQueuingStrategy", "highWaterMark");
    }
    return this.#highWaterMark;
  }
  get size() {
    if (!isObject(this) || !(#highWaterMark in this)) {
      throw illegalInvocation("ByteLengthQueuingStrategy", "size");
    }
    return byteLengthSize;
  }
}
webidlInterface(ByteLengthQueuingStrategy, "ByteLengthQueuingStrategy");

class CountQueuingStrategy {
  #highWaterMark;
  constructor(init) {
    const context = "Failed to construct 'CountQueuingStrategy'";
    requireArgs(arguments.length, 1, context);
    this.#highWaterMark = strategyInit(init, context);
  }
  get highWaterMark() {
    if (!isObject(this) || !(#highWaterMark in this)) {
      throw illegalInvocation("CountQueuingStrategy", "highWaterMark");
    }
    return this.#highWaterMark;
  }
  get size() {
    if (!isObject(this) || !(#highWaterMark in this)) {
      throw illegalInvocation("CountQueuingStrategy", "size");
    }
    return countSize;
  }
}
webidlInterface(CountQueuingStrategy, "CountQueuingStrategy");

internals.defineGlobal("ByteLengthQueuingStrategy", ByteLengthQueuingStrategy);
internals.defineGlobal("CountQueuingStrategy", CountQueuingStrategy);

// AbortSignal plumbing: the dom family's internals (no user-visible
// listeners), or the public API when that family is not loaded.
const fallbackControllers = new WeakMap();
const fallbackAbortOps = {
  isAbortSignal: (s) => typeof globalThis.AbortSignal === "function" && s instanceof globalThis.AbortSignal,
  signalAborted: (s) => s.aborted,
  signalReason: (s) => s.reason,
  addAbortAlgorithm: (s, fn) => s.addEventListener("abort", fn),
  removeAbortAlgorithm: (s, fn) => s.removeEventListener("abort", fn),
  createAbortSignal() {
    if (typeof globalThis.AbortController !== "function") return undefined;
    const controller = new globalThis.AbortController();
    fallbackControllers.set(controller.signal, controller);
    return controller.signal;
  },
  signalAbort: (s, reason) => fallbackControllers.get(s)?.abort(reason),
};
function abortOps() {
  const dom = internals.dom;
  return dom !== undefined && typeof dom.addAbortAlgorithm === "function" ? dom : fallbackAbortOps;
}

// Token that lets glue construct the interfaces whose constructors are
// illegal (or that take a different path) for user code.
const kInternal = Symbol("streams.internal");

Object.assign(S, {
  kInternal,
  abortOps,
  uncurryThis,
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
  noop,
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
  typedArrayInfo,
  DataViewCtor,
  typedArrayName,
  viewBuffer,
  viewByteOffset,
  viewByteLength,
  TypedArrayPrototypeGetLength,
  TypedArrayPrototypeGetByteLength,
  ArrayBufferPrototypeGetByteLength,
  ArrayBufferPrototypeSlice,
  ArrayBufferCtor,
  ArrayBufferIsView,
  Uint8ArrayCtor,
  Uint8ArrayPrototypeSet,
  isArrayBuffer,
  isDetachedBuffer,
  transferArrayBuffer,
  asUint8Array,
  concatBytes,
  MathMin,
  SymbolAsyncIterator,
  SymbolIterator,
  AsyncIteratorPrototype,
  sizeOne,
  toQueuingStrategy,
  extractHighWaterMark,
  extractSizeAlgorithm,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
});
