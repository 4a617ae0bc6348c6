// structuredClone (https://html.spec.whatwg.org/#dom-structuredclone):
// every cloneable type, identity (cycles, shared references), transfer,
// and DataCloneError for what cannot be cloned.
import { assert, assertEquals, assertThrows } from "../_assert.js";

function primitives() {
  for (const v of [undefined, null, true, false, 0, -1.5, NaN, Infinity, 10n, "", "text ☃"]) {
    assert(Object.is(structuredClone(v), v), `primitive ${String(v)}`);
  }
  assert(Object.is(structuredClone(-0), -0), "-0");
  assertThrows(() => structuredClone(Symbol("s")), DOMException, "DataCloneError");
  assertThrows(() => structuredClone(), TypeError);
}

function wrappersDatesRegExps() {
  const b = structuredClone(new Boolean(false));
  assert(b instanceof Boolean && b.valueOf() === false, "Boolean");
  const n = structuredClone(new Number(-0));
  assert(n instanceof Number && Object.is(n.valueOf(), -0), "Number");
  const s = structuredClone(new String("str"));
  assert(s instanceof String && s.valueOf() === "str", "String");
  const big = structuredClone(Object(5n));
  assert(typeof big === "object" && big.valueOf() === 5n, "BigInt");
  // Wrappers' own properties are not copied; replaced methods do not matter.
  const tricky = new Number(3);
  tricky.valueOf = () => 99;
  tricky.extra = 1;
  const tc = structuredClone(tricky);
  assertEquals(Number.prototype.valueOf.call(tc), 3);
  assertEquals(tc.extra, undefined);
  assertThrows(() => structuredClone(Object(Symbol())), DOMException, "DataCloneError");

  const d = new Date(1700000000123);
  const dc = structuredClone(d);
  assert(dc instanceof Date && dc !== d, "Date");
  assertEquals(dc.getTime(), 1700000000123);
  assert(Number.isNaN(structuredClone(new Date(NaN)).getTime()), "invalid Date");

  const r = /a[b-c]+\/x/dgimsuy;
  r.lastIndex = 3;
  r.custom = 1;
  const rc = structuredClone(r);
  assert(rc instanceof RegExp && rc !== r, "RegExp");
  assertEquals([rc.source, rc.flags, rc.lastIndex, rc.custom], [r.source, r.flags, 0, undefined]);
  assertEquals(structuredClone(/[\p{L}--[a-z]]/v).flags, "v");
}

function containers() {
  const obj = { a: 1, nested: { b: [1, 2, { c: "d" }] }, u: undefined };
  const oc = structuredClone(obj);
  assertEquals(oc, obj);
  assert(oc !== obj && oc.nested !== obj.nested && oc.nested.b !== obj.nested.b, "deep copy");
  assert(Object.hasOwn(oc, "u"), "undefined members kept");

  // Only own enumerable string keys; getters are read; prototypes and
  // symbols and non-enumerables are dropped.
  class Point {
    #secret = 1;
    constructor() {
      this.x = 1;
    }
    get y() {
      return 2;
    }
  }
  const p = structuredClone(new Point());
  assertEquals(Object.getPrototypeOf(p), Object.prototype);
  assertEquals(p, { x: 1 });
  const src = { [Symbol("s")]: 1, get g() {
    return "got";
  } };
  Object.defineProperty(src, "hidden", { value: 1, enumerable: false });
  assertEquals(structuredClone(src), { g: "got" });
  const cp = structuredClone({ ["__proto__"]: { polluted: true } });
  assertEquals(Object.getPrototypeOf(cp), Object.prototype, "__proto__ is an own data property");
  assert(Object.hasOwn(cp, "__proto__") && cp.polluted === undefined, "no prototype pollution");
  assertEquals(Object.keys(structuredClone({ b: 1, a: 2, 1: 3, 0: 4 })), ["0", "1", "b", "a"]);
  // Setters and read-only members on the prototypes are not triggered.
  let hit = false;
  Object.defineProperty(Object.prototype, "trap", { set() {
    hit = true;
  }, configurable: true });
  Object.defineProperty(Array.prototype, "1", { set() {
    hit = true;
  }, configurable: true });
  Object.defineProperty(Object.prototype, "fixed", { value: 0, writable: false, configurable: true });
  try {
    const t = structuredClone({ trap: 1, fixed: 2, list: [0, 1] });
    assertEquals([hit, Object.hasOwn(t, "trap"), t.trap, t.fixed, Object.hasOwn(t.list, "1")], [false, true, 1, 2, true]);
    const t2 = structuredClone({ trap: 1, fixed: 2, list: [0, 1] }, { transfer: [new ArrayBuffer(1)] });
    assertEquals([hit, t2.trap, t2.fixed, Object.hasOwn(t2.list, "1")], [false, 1, 2, true]);
  } finally {
    delete Object.prototype.trap;
    delete Object.prototype.fixed;
    delete Array.prototype[1];
  }

  // Arrays: length, holes and extra properties survive.
  const arr = [1, , 3];
  arr.length = 5;
  arr.label = "x";
  const ac = structuredClone(arr);
  assert(Array.isArray(ac), "Array");
  assertEquals(ac.length, 5);
  assertEquals([0 in ac, 1 in ac, 2 in ac, ac.label], [true, false, true, "x"]);

  // Map and Set, with object keys cloned.
  const key = { k: 1 };
  const m = new Map([[key, "v"], ["s", new Set([1, key])]]);
  const mc = structuredClone(m);
  assert(mc instanceof Map && mc.size === 2, "Map");
  const [clonedKey] = mc.keys();
  assert(clonedKey !== key, "keys are cloned");
  assertEquals(clonedKey, { k: 1 });
  const sc = mc.get("s");
  assert(sc instanceof Set && sc.has(clonedKey), "shared key inside the Set");
}

function identity() {
  const shared = { n: 1 };
  const cyclic = { shared, again: shared, list: [shared] };
  cyclic.self = cyclic;
  cyclic.list.push(cyclic.list);
  const c = structuredClone(cyclic);
  assert(c.self === c, "cycle");
  assert(c.shared === c.again && c.list[0] === c.shared, "shared reference");
  assert(c.list[1] === c.list, "array cycle");
  const m = new Map();
  m.set(m, m);
  const mc = structuredClone(m);
  assert(mc.get(mc) === mc, "Map cycle");
}

function binary() {
  const buf = new ArrayBuffer(16);
  new Uint8Array(buf).set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const bc = structuredClone(buf);
  assert(bc instanceof ArrayBuffer && bc !== buf, "ArrayBuffer");
  assertEquals(new Uint8Array(bc), new Uint8Array(buf));
  new Uint8Array(bc)[0] = 99;
  assertEquals(new Uint8Array(buf)[0], 1, "independent copy");

  // Every view type, with offsets; views over one buffer share one cloned buffer.
  const views = {
    i8: new Int8Array(buf, 1, 2),
    u8: new Uint8Array(buf, 2),
    u8c: new Uint8ClampedArray(buf, 0, 3),
    i16: new Int16Array(buf, 2, 2),
    u16: new Uint16Array(buf, 4, 1),
    i32: new Int32Array(buf, 4, 2),
    u32: new Uint32Array(buf, 8),
    f32: new Float32Array(buf, 4, 1),
    f64: new Float64Array(buf, 8, 1),
    bi64: new BigInt64Array(buf, 0, 2),
    bu64: new BigUint64Array(buf, 8, 1),
    dv: new DataView(buf, 3, 5),
    buf,
  };
  const vc = structuredClone(views);
  for (const [name, view] of Object.entries(views)) {
    if (name === "buf") continue;
    const copy = vc[name];
    assertEquals(Object.getPrototypeOf(copy), Object.getPrototypeOf(view), name);
    assertEquals([copy.byteOffset, copy.byteLength], [view.byteOffset, view.byteLength], name);
    assert(copy.buffer === vc.buf, `${name} shares the cloned buffer`);
  }
  assertEquals(vc.i32[1], views.i32[1]);
  assertEquals(vc.dv.getUint8(0), 4);

  // Resizable buffers keep their maximum.
  const rs = new ArrayBuffer(4, { maxByteLength: 64 });
  const rc = structuredClone(rs);
  assertEquals([rc.resizable, rc.maxByteLength, rc.byteLength], [true, 64, 4]);

  assertThrows(() => structuredClone(new SharedArrayBuffer(4)), DOMException, "DataCloneError");
}

function transfer() {
  const buf = new Uint8Array([1, 2, 3]).buffer;
  const view = new Uint8Array(buf, 1);
  const out = structuredClone({ buf, view }, { transfer: [buf] });
  assertEquals(buf.byteLength, 0, "detached");
  assertEquals(buf.detached, true);
  assertEquals(new Uint8Array(out.buf), new Uint8Array([1, 2, 3]));
  assert(out.view.buffer === out.buf, "view follows the transferred buffer");

  // Transferring returns the buffer itself when it is the value.
  const b2 = new ArrayBuffer(8);
  const t2 = structuredClone(b2, { transfer: [b2] });
  assertEquals([t2.byteLength, b2.byteLength], [8, 0]);

  // Transfer list checks.
  assertThrows(() => structuredClone(buf), DOMException, "DataCloneError"); // detached
  assertThrows(() => structuredClone(1, { transfer: [buf] }), DOMException, "DataCloneError");
  const b3 = new ArrayBuffer(1);
  assertThrows(() => structuredClone(1, { transfer: [b3, b3] }), DOMException, "DataCloneError");
  assertThrows(() => structuredClone(1, { transfer: [{}] }), DOMException, "DataCloneError");
  assertThrows(() => structuredClone(1, { transfer: [new Uint8Array(1)] }), DOMException, "DataCloneError");
  assertThrows(() => structuredClone(1, { transfer: [1] }), TypeError);
  assertThrows(() => structuredClone(1, { transfer: 5 }), TypeError);
  assertThrows(() => structuredClone(1, 5), TypeError);
  assertEquals(b3.byteLength, 1, "failed transfers detach nothing");
  assertEquals(structuredClone(1, { transfer: [] }), 1);
  assertEquals(structuredClone(1, {}), 1);
  assertEquals(structuredClone(1, null), 1);

  // A getter that throws during serialization leaves the transfer list alone.
  const b4 = new ArrayBuffer(4);
  const boom = { b4, get bad() {
    throw new RangeError("getter");
  } };
  assertThrows(() => structuredClone(boom, { transfer: [b4] }), RangeError);
  assertEquals(b4.byteLength, 4);

  // Resizable buffers stay resizable through a transfer.
  const rs = new ArrayBuffer(2, { maxByteLength: 8 });
  const rt = structuredClone(rs, { transfer: [rs] });
  assertEquals([rt.resizable, rt.maxByteLength, rs.detached], [true, 8, true]);
}

function errors() {
  const e = new RangeError("out of range", { cause: { why: 1 } });
  const c = structuredClone(e);
  assert(c instanceof RangeError && c !== e, "RangeError");
  assertEquals(c.message, "out of range");
  assertEquals(c.name, "RangeError");
  assertEquals(c.cause, { why: 1 });
  assertEquals(c.stack, e.stack);
  assert(!Object.getOwnPropertyDescriptor(c, "message").enumerable, "message is not enumerable");
  for (const E of [Error, EvalError, ReferenceError, SyntaxError, TypeError, URIError]) {
    assertEquals(Object.getPrototypeOf(structuredClone(new E("m"))), E.prototype, E.name);
  }
  // Unknown names become Error; no own message stays without one.
  class CustomError extends Error {
    name = "CustomError";
  }
  const cc = structuredClone(new CustomError("custom"));
  assertEquals(Object.getPrototypeOf(cc), Error.prototype);
  assertEquals(cc.message, "custom");
  assert(!Object.hasOwn(structuredClone(new Error()), "message"), "no message");
  const renamed = new Error("x");
  renamed.name = "TypeError";
  assert(structuredClone(renamed) instanceof TypeError, "name picks the prototype");
  // Error cycle through cause.
  const loop = new Error("loop");
  loop.cause = loop;
  const lc = structuredClone(loop);
  assert(lc.cause === lc, "cause cycle");

  // DOMException is serializable.
  const d = new DOMException("gone", "NotFoundError");
  const dc = structuredClone(d);
  assert(dc instanceof DOMException && dc !== d, "DOMException");
  assertEquals([dc.name, dc.message, dc.code], ["NotFoundError", "gone", 8]);
  assertEquals(dc.stack, d.stack);
}

function uncloneable() {
  const bad = [
    () => {},
    function named() {},
    class {},
    Symbol.iterator,
    new WeakMap(),
    new WeakSet(),
    new WeakRef({}),
    new FinalizationRegistry(() => {}),
    Promise.resolve(1),
    new Proxy({}, {}),
    new Proxy([], {}),
    new Map().entries(),
    (function* () {})(),
    new EventTarget(),
    new Event("x"),
    new AbortController(),
    AbortSignal.abort(),
  ];
  for (const value of bad) {
    assertThrows(() => structuredClone(value), DOMException, "DataCloneError");
    assertThrows(() => structuredClone({ nested: [value] }), DOMException, "DataCloneError");
  }
  // A proxy's traps never run.
  let trapped = false;
  const spy = new Proxy({}, { ownKeys() {
    trapped = true;
    return [];
  }, getPrototypeOf() {
    trapped = true;
    return null;
  } });
  assertThrows(() => structuredClone(spy), DOMException, "DataCloneError");
  assertEquals(trapped, false);
  // Errors thrown by getters propagate unchanged.
  assertThrows(() => structuredClone({ get x() {
    throw new URIError("mine");
  } }), URIError);
}

// With a transfer list the clone goes through the spec's record graph; the
// result must be the same as the one-pass clone.
function transferPath() {
  const shared = { n: 1 };
  const key = { k: 1 };
  const arr = [1, , shared];
  arr.extra = "x";
  const err = new TypeError("t", { cause: shared });
  const buf = new Uint8Array([5, 6, 7, 8]).buffer;
  const value = {
    shared,
    arr,
    map: new Map([[key, shared]]),
    set: new Set([key]),
    err,
    dom: new DOMException("d", "AbortError"),
    date: new Date(7),
    re: /x/g,
    boxed: Object(2n),
    view: new Uint16Array(buf, 2, 1),
    copy: new Uint8Array(new Uint8Array([1, 2]).buffer),
    ["__proto__"]: 1,
  };
  value.self = value;
  const c = structuredClone(value, { transfer: [buf] });
  assertEquals(buf.byteLength, 0);
  assert(c.self === c && c.arr[2] === c.shared && c.map.get([...c.map.keys()][0]) === c.shared, "identity");
  assert([...c.set][0] === [...c.map.keys()][0], "shared key");
  assertEquals([c.arr.length, 1 in c.arr, c.arr.extra], [3, false, "x"]);
  assert(c.err instanceof TypeError && c.err.cause === c.shared, "error cause");
  assert(c.dom instanceof DOMException && c.dom.name === "AbortError", "DOMException");
  assertEquals([c.date.getTime(), c.re.flags, c.boxed.valueOf()], [7, "g", 2n]);
  assertEquals(c.view[0], new Uint16Array(new Uint8Array([7, 8]).buffer)[0]);
  assertEquals(c.view.buffer.byteLength, 4);
  assertEquals(c.copy, new Uint8Array([1, 2]));
  assertEquals(Object.getPrototypeOf(c), Object.prototype);
  assertEquals(Object.getOwnPropertyDescriptor(c, "__proto__").value, 1);
  assertThrows(() => structuredClone({ f() {} }, { transfer: [new ArrayBuffer(1)] }), DOMException, "DataCloneError");
}

export default {
  async fetch() {
    transferPath();
    primitives();
    wrappersDatesRegExps();
    containers();
    identity();
    binary();
    transfer();
    errors();
    uncloneable();
    return new Response("ok");
  },
};
