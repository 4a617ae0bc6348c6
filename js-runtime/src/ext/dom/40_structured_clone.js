// structuredClone (HTML section 2.7, https://html.spec.whatwg.org/#safe-passing-of-structured-data).
//
// Follows the spec's two steps: StructuredSerializeWithTransfer builds an
// intermediate record graph (reading the input, calling its getters), then
// the transfer list is detached, then StructuredDeserializeWithTransfer
// builds the copy from the records. So a getter that throws half-way leaves
// nothing detached, and user code never sees a half-built copy.
//
// The kind of each object (Date, Map, Proxy, Promise, ...) comes from V8
// through `op_dom_classify`, so brand checks cannot be spoofed.

const { DOMException: DOMExceptionClass, requireArgs: requireArguments } = internals.dom;

// Kinds returned by op_dom_classify; keep in sync with mod.rs.
const KIND_OBJECT = 0;
const KIND_ARRAY = 1;
const KIND_BOOLEAN = 2;
const KIND_NUMBER = 3;
const KIND_BIGINT = 4;
const KIND_STRING = 5;
const KIND_DATE = 6;
const KIND_REGEXP = 7;
const KIND_ARRAY_BUFFER = 8;
const KIND_SHARED_ARRAY_BUFFER = 9;
const KIND_TYPED_ARRAY = 10;
const KIND_DATA_VIEW = 11;
const KIND_MAP = 12;
const KIND_SET = 13;
const KIND_ERROR = 14;
const KIND_FUNCTION = 15;
const KIND_UNCLONEABLE = 16;

// Intrinsics captured at snapshot time, so user code that replaces globals
// or prototype methods cannot change how values are read or rebuilt.
const ReflectApply = Reflect.apply;
const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, keys: objectKeys } = Object;
const ObjectHasOwn = Object.hasOwn;
const getter = (proto, name) => getOwnPropertyDescriptor(proto, name)?.get;
const uncurry = internals.uncurryThis;
const ObjectSetPrototypeOf = Object.setPrototypeOf;

// Internal growable lists: null-prototype arrays, so setters that user code
// puts on Array.prototype never see the clone's bookkeeping.
function newList() {
  return ObjectSetPrototypeOf([], null);
}
function append(list, value) {
  list[list.length] = value;
}

const BooleanValueOf = uncurry(Boolean.prototype.valueOf);
const NumberValueOf = uncurry(Number.prototype.valueOf);
const BigIntValueOf = uncurry(BigInt.prototype.valueOf);
const StringValueOf = uncurry(String.prototype.valueOf);
const DateGetTime = uncurry(Date.prototype.getTime);
const RegExpSource = uncurry(getter(RegExp.prototype, "source"));
const REGEXP_FLAGS = [
  ["hasIndices", "d"],
  ["global", "g"],
  ["ignoreCase", "i"],
  ["multiline", "m"],
  ["dotAll", "s"],
  ["unicode", "u"],
  ["unicodeSets", "v"],
  ["sticky", "y"],
]
  .filter(([name]) => getter(RegExp.prototype, name) !== undefined)
  .map(([name, flag]) => [uncurry(getter(RegExp.prototype, name)), flag]);
const ArrayBufferByteLength = uncurry(getter(ArrayBuffer.prototype, "byteLength"));
const ArrayBufferMaxByteLengthGetter = getter(ArrayBuffer.prototype, "maxByteLength");
const ArrayBufferResizableGetter = getter(ArrayBuffer.prototype, "resizable");
const ArrayBufferDetachedGetter = getter(ArrayBuffer.prototype, "detached");
const ArrayBufferTransfer = ArrayBuffer.prototype.transfer;
const TypedArrayPrototype = getPrototypeOf(Uint8Array.prototype);
const TypedArrayName = uncurry(getter(TypedArrayPrototype, Symbol.toStringTag));
const TypedArrayBuffer = uncurry(getter(TypedArrayPrototype, "buffer"));
const TypedArrayByteOffset = uncurry(getter(TypedArrayPrototype, "byteOffset"));
const TypedArrayLength = uncurry(getter(TypedArrayPrototype, "length"));
const DataViewBuffer = uncurry(getter(DataView.prototype, "buffer"));
const DataViewByteOffset = uncurry(getter(DataView.prototype, "byteOffset"));
const DataViewByteLength = uncurry(getter(DataView.prototype, "byteLength"));
const MapEntries = uncurry(Map.prototype.entries);
const MapGet = uncurry(Map.prototype.get);
const MapSet = uncurry(Map.prototype.set);
const MapHas = uncurry(Map.prototype.has);
const SetValues = uncurry(Set.prototype.values);
const SetAdd = uncurry(Set.prototype.add);
const MapCtor = Map;
const SetCtor = Set;
const ArrayCtor = Array;
const ArrayBufferCtor = ArrayBuffer;
const Uint8ArrayCtor = Uint8Array;
const TypedArraySet = uncurry(TypedArrayPrototype.set);
const MapIteratorNext = uncurry(getPrototypeOf(new Map().entries()).next);
const SetIteratorNext = uncurry(getPrototypeOf(new Set().values()).next);
const ObjectIsPrototypeOf = uncurry(Object.prototype.isPrototypeOf);
const WeakRefPrototype = globalThis.WeakRef?.prototype;
const FinalizationRegistryPrototype = globalThis.FinalizationRegistry?.prototype;
const WeakRefDeref = globalThis.WeakRef ? uncurry(WeakRef.prototype.deref) : null;
const FinalizationRegistryUnregister = globalThis.FinalizationRegistry
  ? uncurry(FinalizationRegistry.prototype.unregister)
  : null;
const RegExpCtor = RegExp;
const DateCtor = Date;
const ObjectCtor = Object;

const VIEW_CONSTRUCTORS = new Map(
  [
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "Float16Array",
    "Float32Array",
    "Float64Array",
    "BigInt64Array",
    "BigUint64Array",
    "DataView",
  ]
    .filter((name) => typeof globalThis[name] === "function")
    .map((name) => [name, globalThis[name]]),
);

const ERROR_CONSTRUCTORS = new Map(
  ["Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError"].map((name) => [
    name,
    globalThis[name],
  ]),
);

function dataCloneError(message) {
  return new DOMExceptionClass(message, "DataCloneError");
}

function describe(value) {
  if (typeof value === "function") return `${value.name ? `function ${value.name}` : "anonymous function"}`;
  if (typeof value === "symbol") return "Symbol()";
  return "#<Object>";
}

function cannotClone(value) {
  return dataCloneError(`${describe(value)} could not be cloned.`);
}

function isDetached(buffer) {
  if (ArrayBufferDetachedGetter !== undefined) return ReflectApply(ArrayBufferDetachedGetter, buffer, []);
  // Engines without `detached`: a detached buffer cannot back a new view.
  if (ArrayBufferByteLength(buffer) !== 0) return false;
  try {
    new Uint8ArrayCtor(buffer);
    return false;
  } catch {
    return true;
  }
}

function isResizable(buffer) {
  return ArrayBufferResizableGetter !== undefined && ReflectApply(ArrayBufferResizableGetter, buffer, []);
}

// Platform objects of every family: prototype -> { is(value), serialize, deserialize }.
// An entry without serialize/deserialize marks a class that is not
// serializable (cloning one throws DataCloneError).
const platformClasses = new Map();

function platformClassOf(value) {
  if (platformClasses.size === 0) return undefined;
  for (let proto = getPrototypeOf(value); proto !== null; proto = getPrototypeOf(proto)) {
    const entry = MapGet(platformClasses, proto);
    if (entry !== undefined && entry.is(value)) return entry;
  }
  return undefined;
}

function classify(value) {
  const kind = ops.op_dom_classify(value);
  if (kind === KIND_OBJECT) {
    // Built-ins V8 has no predicate for: brand-check the objects that
    // inherit from their prototypes (a throw per plain object would be slow).
    if (WeakRefDeref !== null && ObjectIsPrototypeOf(WeakRefPrototype, value)) {
      try {
        WeakRefDeref(value);
        return KIND_UNCLONEABLE;
      } catch {}
    }
    if (FinalizationRegistryUnregister !== null && ObjectIsPrototypeOf(FinalizationRegistryPrototype, value)) {
      try {
        FinalizationRegistryUnregister(value, {});
        return KIND_UNCLONEABLE;
      } catch {}
    }
  }
  return kind;
}

// ---------------------------------------------------------------------------
// Serialization: value -> record. Records are plain objects with a `t` tag;
// one record per input object, so shared references and cycles survive.

/** The record of a value without children (boxed primitives, Date, RegExp); undefined otherwise. */
function leafRecord(kind, value) {
  switch (kind) {
    case KIND_BOOLEAN:
      return { t: "Boolean", value: BooleanValueOf(value) };
    case KIND_NUMBER:
      return { t: "Number", value: NumberValueOf(value) };
    case KIND_BIGINT:
      return { t: "BigInt", value: BigIntValueOf(value) };
    case KIND_STRING:
      return { t: "String", value: StringValueOf(value) };
    case KIND_DATE:
      return { t: "Date", value: DateGetTime(value) };
    case KIND_REGEXP: {
      let flags = "";
      for (let i = 0; i < REGEXP_FLAGS.length; i++) if (REGEXP_FLAGS[i][0](value)) flags += REGEXP_FLAGS[i][1];
      return { t: "RegExp", source: RegExpSource(value), flags };
    }
    default:
      return undefined;
  }
}

/** The value a leaf record stands for. */
function leafValue(record) {
  switch (record.t) {
    case "Boolean":
    case "Number":
    case "BigInt":
    case "String":
      return ObjectCtor(record.value);
    case "Date":
      return new DateCtor(record.value);
    case "RegExp":
      return new RegExpCtor(record.source, record.flags);
    default:
      return undefined;
  }
}

function serialize(value, memory) {
  const type = typeof value;
  if (type === "symbol") throw cannotClone(value);
  if (value === null || (type !== "object" && type !== "function")) return { t: "primitive", value };
  const seen = MapGet(memory, value);
  if (seen !== undefined) return seen;

  const kind = classify(value);
  if (kind === KIND_OBJECT || kind === KIND_ERROR) {
    const platform = platformClassOf(value);
    if (platform !== undefined) {
      if (platform.serialize === undefined) throw cannotClone(value);
      const record = { t: "platform", platform, data: undefined };
      MapSet(memory, value, record);
      record.data = platform.serialize(value);
      return record;
    }
  }

  let record = leafRecord(kind, value);
  let deep = false;
  switch (kind) {
    case KIND_ARRAY_BUFFER:
      record = serializeArrayBuffer(value);
      break;
    case KIND_SHARED_ARRAY_BUFFER:
      throw dataCloneError("SharedArrayBuffer cannot be cloned: this isolate is not cross-origin isolated.");
    case KIND_TYPED_ARRAY:
    case KIND_DATA_VIEW:
      record = serializeView(value, memory);
      break;
    case KIND_MAP:
      record = { t: "Map", entries: newList() };
      deep = true;
      break;
    case KIND_SET:
      record = { t: "Set", entries: newList() };
      deep = true;
      break;
    case KIND_ERROR:
      record = serializeError(value);
      break;
    case KIND_ARRAY:
      record = { t: "Array", length: value.length, properties: newList() };
      deep = true;
      break;
    case KIND_OBJECT:
      record = { t: "Object", properties: newList() };
      deep = true;
      break;
    default:
      if (record === undefined) throw cannotClone(value);
  }
  MapSet(memory, value, record);

  if (record.t === "Error") {
    // The cause is serialized after the error is in memory (it may point back).
    if (record.cause !== undefined) record.cause = serialize(record.cause.value, memory);
    return record;
  }
  if (!deep) return record;

  if (record.t === "Map") {
    // Copy the entries first: getters run during serialization must not
    // change what is cloned.
    const copied = mapEntries(value);
    for (let i = 0; i < copied.length; i++) {
      append(record.entries, serialize(copied[i][0], memory));
      append(record.entries, serialize(copied[i][1], memory));
    }
  } else if (record.t === "Set") {
    const copied = setValues(value);
    for (let i = 0; i < copied.length; i++) append(record.entries, serialize(copied[i], memory));
  } else {
    const keys = objectKeys(value);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (!ObjectHasOwn(value, key)) continue;
      append(record.properties, key);
      append(record.properties, serialize(value[key], memory));
    }
  }
  return record;
}

/** A Map's entries now, as [key, value] pairs. */
function mapEntries(map) {
  const list = newList();
  const it = MapEntries(map);
  for (let step = MapIteratorNext(it); !step.done; step = MapIteratorNext(it)) append(list, step.value);
  return list;
}

/** A Set's values now. */
function setValues(set) {
  const list = newList();
  const it = SetValues(set);
  for (let step = SetIteratorNext(it); !step.done; step = SetIteratorNext(it)) append(list, step.value);
  return list;
}

function serializeArrayBuffer(buffer) {
  if (isDetached(buffer)) throw dataCloneError("An ArrayBuffer is detached and could not be cloned.");
  const length = ArrayBufferByteLength(buffer);
  // The copy made now is the one the clone gets: no second copy later.
  const copy = isResizable(buffer)
    ? new ArrayBufferCtor(length, { maxByteLength: ReflectApply(ArrayBufferMaxByteLengthGetter, buffer, []) })
    : new ArrayBufferCtor(length);
  TypedArraySet(new Uint8ArrayCtor(copy), new Uint8ArrayCtor(buffer, 0, length));
  return { t: "ArrayBuffer", buffer: copy };
}

/** A view's constructor name, buffer, offset and length (DataCloneError when unusable). */
function viewInfo(view) {
  const isDataView = !TypedArrayName(view);
  const buffer = isDataView ? DataViewBuffer(view) : TypedArrayBuffer(view);
  if (isDetached(buffer)) throw dataCloneError("An ArrayBuffer is detached and could not be cloned.");
  let byteOffset;
  let length;
  try {
    // A DataView out of bounds throws; a typed array reports 0.
    byteOffset = isDataView ? DataViewByteOffset(view) : TypedArrayByteOffset(view);
    length = isDataView ? DataViewByteLength(view) : TypedArrayLength(view);
  } catch {
    throw dataCloneError("An ArrayBufferView is out of bounds and could not be cloned.");
  }
  return { ctor: isDataView ? "DataView" : TypedArrayName(view), buffer, byteOffset, length };
}

function serializeView(view, memory) {
  const info = viewInfo(view);
  return {
    t: "View",
    ctor: info.ctor,
    buffer: serialize(info.buffer, memory),
    byteOffset: info.byteOffset,
    length: info.length,
  };
}

function serializeError(error) {
  let name = error.name;
  if (typeof name !== "string" || !MapHas(ERROR_CONSTRUCTORS, name)) name = "Error";
  const messageDesc = getOwnPropertyDescriptor(error, "message");
  let message;
  if (messageDesc !== undefined && ObjectHasOwn(messageDesc, "value")) message = `${messageDesc.value}`;
  // Like browsers, keep the stack; and the cause, serialized by the caller.
  const stack = error.stack;
  const causeDesc = getOwnPropertyDescriptor(error, "cause");
  const cause = causeDesc !== undefined && ObjectHasOwn(causeDesc, "value") ? { value: causeDesc.value } : undefined;
  return { t: "Error", name, message, stack: typeof stack === "string" ? stack : undefined, cause };
}

// ---------------------------------------------------------------------------
// Deserialization: record -> new value.

const ObjectPrototype = Object.prototype;
const ArrayPrototype = Array.prototype;

/**
 * CreateDataProperty on an object this file just made (a plain object or
 * an array). Assignment is much faster and means the same unless a
 * prototype has something under that key (a setter, `__proto__`, a
 * read-only property), so those keys take the slow path.
 */
function defineData(target, key, value, proto) {
  if (ObjectHasOwn(ObjectPrototype, key) || (proto === ArrayPrototype && ObjectHasOwn(ArrayPrototype, key))) {
    defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

function defineHidden(target, key, value) {
  defineProperty(target, key, { value, writable: true, enumerable: false, configurable: true });
}

function deserialize(record, memory) {
  if (record.t === "primitive") return record.value;
  const seen = MapGet(memory, record);
  if (seen !== undefined) return seen;
  let value = leafValue(record);
  switch (record.t) {
    case "ArrayBuffer":
    case "Transfer":
      value = record.buffer;
      break;
    case "View": {
      const buffer = deserialize(record.buffer, memory);
      const Ctor = MapGet(VIEW_CONSTRUCTORS, record.ctor);
      value = new Ctor(buffer, record.byteOffset, record.length);
      break;
    }
    case "Map":
      value = new MapCtor();
      break;
    case "Set":
      value = new SetCtor();
      break;
    case "Array":
      value = new ArrayCtor(record.length);
      break;
    case "Object":
      value = {};
      break;
    case "Error":
      value = errorFromRecord(record);
      break;
    case "platform":
      value = record.platform.deserialize(record.data);
      break;
    default:
      if (value === undefined) throw new TypeError(`structuredClone: unknown record ${record.t}`);
  }
  MapSet(memory, record, value);

  switch (record.t) {
    case "Map":
      for (let i = 0; i < record.entries.length; i += 2) {
        MapSet(value, deserialize(record.entries[i], memory), deserialize(record.entries[i + 1], memory));
      }
      break;
    case "Set":
      for (let i = 0; i < record.entries.length; i++) SetAdd(value, deserialize(record.entries[i], memory));
      break;
    case "Array":
    case "Object": {
      const props = record.properties;
      const proto = record.t === "Array" ? ArrayPrototype : ObjectPrototype;
      for (let i = 0; i < props.length; i += 2) defineData(value, props[i], deserialize(props[i + 1], memory), proto);
      break;
    }
    case "Error":
      if (record.cause !== undefined) defineHidden(value, "cause", deserialize(record.cause, memory));
      break;
  }
  return value;
}

function errorFromRecord(record) {
  const ErrorClass = MapGet(ERROR_CONSTRUCTORS, record.name);
  const error = new ErrorClass();
  if (record.message !== undefined) defineHidden(error, "message", record.message);
  if (record.stack !== undefined) defineHidden(error, "stack", record.stack);
  return error;
}

// ---------------------------------------------------------------------------
// Without a transfer list, serialization and deserialization can run as one
// pass: the copy is unreachable until it is returned, so nothing can tell
// the difference, and no record graph is built.

function cloneDirect(value, memory) {
  const type = typeof value;
  if (type === "symbol") throw cannotClone(value);
  if (value === null || (type !== "object" && type !== "function")) return value;
  const seen = MapGet(memory, value);
  if (seen !== undefined) return seen;

  const kind = classify(value);
  let out;
  switch (kind) {
    case KIND_OBJECT: {
      const platform = platformClassOf(value);
      if (platform !== undefined) return clonePlatform(platform, value, memory);
      out = {};
      MapSet(memory, value, out);
      const keys = objectKeys(value);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        if (!ObjectHasOwn(value, key)) continue;
        defineData(out, key, cloneDirect(value[key], memory), ObjectPrototype);
      }
      return out;
    }
    case KIND_ARRAY:
      out = new ArrayCtor(value.length);
      MapSet(memory, value, out);
      const keys = objectKeys(value);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        if (!ObjectHasOwn(value, key)) continue;
        defineData(out, key, cloneDirect(value[key], memory), ArrayPrototype);
      }
      return out;
    case KIND_MAP: {
      out = new MapCtor();
      MapSet(memory, value, out);
      const copied = mapEntries(value);
      for (let i = 0; i < copied.length; i++) {
        MapSet(out, cloneDirect(copied[i][0], memory), cloneDirect(copied[i][1], memory));
      }
      return out;
    }
    case KIND_SET: {
      out = new SetCtor();
      MapSet(memory, value, out);
      const copied = setValues(value);
      for (let i = 0; i < copied.length; i++) SetAdd(out, cloneDirect(copied[i], memory));
      return out;
    }
    case KIND_ARRAY_BUFFER:
      out = serializeArrayBuffer(value).buffer;
      break;
    case KIND_TYPED_ARRAY:
    case KIND_DATA_VIEW: {
      // The buffer goes through memory too, so views share their clone.
      const info = viewInfo(value);
      const buffer = cloneDirect(info.buffer, memory);
      out = new (MapGet(VIEW_CONSTRUCTORS, info.ctor))(buffer, info.byteOffset, info.length);
      break;
    }
    case KIND_ERROR: {
      const platform = platformClassOf(value);
      if (platform !== undefined) return clonePlatform(platform, value, memory);
      const record = serializeError(value);
      out = errorFromRecord(record);
      MapSet(memory, value, out);
      if (record.cause !== undefined) defineHidden(out, "cause", cloneDirect(record.cause.value, memory));
      return out;
    }
    case KIND_SHARED_ARRAY_BUFFER:
      throw dataCloneError("SharedArrayBuffer cannot be cloned: this isolate is not cross-origin isolated.");
    default: {
      const record = leafRecord(kind, value);
      if (record === undefined) throw cannotClone(value);
      out = leafValue(record);
    }
  }
  MapSet(memory, value, out);
  return out;
}

function clonePlatform(platform, value, memory) {
  if (platform.serialize === undefined) throw cannotClone(value);
  const out = platform.deserialize(platform.serialize(value));
  MapSet(memory, value, out);
  return out;
}

// ---------------------------------------------------------------------------
// The global and its options.

function toTransferList(options) {
  if (options === undefined || options === null) return [];
  if (typeof options !== "object" && typeof options !== "function") {
    throw new TypeError(
      "Failed to execute 'structuredClone': The provided value is not of type 'StructuredSerializeOptions'.",
    );
  }
  const transfer = options.transfer;
  if (transfer === undefined) return [];
  if (transfer === null || (typeof transfer !== "object" && typeof transfer !== "function")) {
    throw new TypeError(
      "Failed to execute 'structuredClone': Failed to read the 'transfer' property from " +
        "'StructuredSerializeOptions': The provided value cannot be converted to a sequence.",
    );
  }
  const iteratorMethod = transfer[Symbol.iterator];
  if (typeof iteratorMethod !== "function") {
    throw new TypeError(
      "Failed to execute 'structuredClone': Failed to read the 'transfer' property from " +
        "'StructuredSerializeOptions': The object must have a callable @@iterator property.",
    );
  }
  const list = newList();
  for (const item of { [Symbol.iterator]: () => ReflectApply(iteratorMethod, transfer, []) }) {
    if (item === null || (typeof item !== "object" && typeof item !== "function")) {
      throw new TypeError(
        "Failed to execute 'structuredClone': Failed to read the 'transfer' property from " +
          "'StructuredSerializeOptions': The provided value is not of type 'object'.",
      );
    }
    append(list, item);
  }
  return list;
}

/** HTML StructuredSerializeWithTransfer + StructuredDeserializeWithTransfer in one go. */
function structuredCloneInternal(value, transferList) {
  if (transferList.length === 0) return cloneDirect(value, new Map());
  const memory = new Map();
  for (let i = 0; i < transferList.length; i++) {
    const transferable = transferList[i];
    const kind = classify(transferable);
    if (kind === KIND_SHARED_ARRAY_BUFFER) {
      throw dataCloneError("A SharedArrayBuffer cannot be transferred.");
    }
    if (kind !== KIND_ARRAY_BUFFER) {
      throw dataCloneError("Value not transferable.");
    }
    if (MapHas(memory, transferable)) {
      throw dataCloneError("An ArrayBuffer is duplicated in the transfer list.");
    }
    MapSet(memory, transferable, { t: "Transfer", buffer: null });
  }
  const serialized = serialize(value, memory);
  for (let i = 0; i < transferList.length; i++) {
    const transferable = transferList[i];
    if (isDetached(transferable)) {
      throw dataCloneError("An ArrayBuffer is detached and could not be transferred.");
    }
  }
  for (let i = 0; i < transferList.length; i++) {
    const transferable = transferList[i];
    // Moves the contents (and resizability) into a new buffer and detaches
    // the original.
    MapGet(memory, transferable).buffer = ReflectApply(ArrayBufferTransfer, transferable, []);
  }
  return deserialize(serialized, new Map());
}

function structuredClone(value, options = undefined) {
  requireArguments(arguments.length, 1, "Failed to execute 'structuredClone'");
  return structuredCloneInternal(value, toTransferList(options));
}

internals.defineGlobal("structuredClone", structuredClone);

// DOMException is serializable (WebIDL section 2.8.1); the dom family's other
// classes are not.
function registerPlatformClass(prototype, is, hooks = undefined) {
  MapSet(platformClasses, prototype, {
    is,
    serialize: hooks?.serialize,
    deserialize: hooks?.deserialize,
  });
}

registerPlatformClass(DOMExceptionClass.prototype, internals.dom.isDOMException, {
  serialize: (e) => ({ name: e.name, message: e.message, stack: e.stack }),
  deserialize({ name, message, stack }) {
    const e = new DOMExceptionClass(message, name);
    if (typeof stack === "string") defineHidden(e, "stack", stack);
    return e;
  },
});
registerPlatformClass(internals.dom.Event.prototype, internals.dom.isEvent);
registerPlatformClass(internals.dom.EventTarget.prototype, internals.dom.isEventTarget);
registerPlatformClass(internals.dom.AbortController.prototype, internals.dom.isAbortController);

Object.assign(internals.dom, {
  /** structuredClone for other families; `transfer` is a list of ArrayBuffers. */
  structuredClone(value, transfer = undefined) {
    const list = newList();
    if (transfer !== undefined) for (let i = 0; i < transfer.length; i++) append(list, transfer[i]);
    return structuredCloneInternal(value, list);
  },
  /**
   * Declares a platform class of another family for structuredClone:
   * `is(value)` is its brand check; with `hooks` ({ serialize(value) ->
   * data, deserialize(data) -> object }) it is serializable, without them
   * cloning one throws DataCloneError.
   */
  registerPlatformClass,
});
