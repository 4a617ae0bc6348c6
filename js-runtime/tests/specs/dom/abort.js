// AbortController and AbortSignal (https://dom.spec.whatwg.org/#aborting-ongoing-activities):
// reasons, the abort event, onabort, throwIfAborted, and the abort/timeout/any statics.
import { assert, assertEquals, assertThrows } from "../_assert.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function controller() {
  const c = new AbortController();
  const signal = c.signal;
  assertEquals(c.signal, signal, "same signal object");
  assert(signal instanceof AbortSignal && signal instanceof EventTarget);
  assertEquals([signal.aborted, signal.reason, signal.onabort], [false, undefined, null]);
  signal.throwIfAborted();

  const events = [];
  signal.addEventListener("abort", (e) => {
    events.push([e.type, e.isTrusted, e.bubbles, e.cancelable, e.target === signal, signal.aborted]);
  });
  c.abort();
  assertEquals(events, [["abort", true, false, false, true, true]]);
  assert(signal.reason instanceof DOMException, "default reason is a DOMException");
  assertEquals(signal.reason.name, "AbortError");
  assertEquals(signal.reason.code, 20);

  // Aborting again changes nothing and fires nothing.
  const first = signal.reason;
  c.abort("again");
  assertEquals(signal.reason, first);
  assertEquals(events.length, 1);

  // throwIfAborted throws the reason itself.
  let thrown;
  try {
    signal.throwIfAborted();
  } catch (e) {
    thrown = e;
  }
  assertEquals(thrown, first);

  // A custom reason, any value; undefined means the default.
  const c2 = new AbortController();
  const reason = { why: "because" };
  c2.abort(reason);
  assertEquals(c2.signal.reason, reason);
  const c3 = new AbortController();
  c3.abort(undefined);
  assertEquals(c3.signal.reason.name, "AbortError");
  const c4 = new AbortController();
  c4.abort(null);
  assertEquals(c4.signal.reason, null);
  assertEquals(c4.signal.aborted, true);
  assertThrows(() => c4.signal.throwIfAborted(), undefined);

  // Brand checks and the illegal constructor.
  assertThrows(() => new AbortSignal(), TypeError);
  assertThrows(() => AbortController.prototype.abort.call({}), TypeError);
  assertThrows(() => Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted").get.call(new EventTarget()), TypeError);
  assertEquals(Object.prototype.toString.call(signal), "[object AbortSignal]");
  assertEquals(Object.prototype.toString.call(c), "[object AbortController]");
}

function onabort() {
  const c = new AbortController();
  const log = [];
  c.signal.addEventListener("abort", () => log.push("listener 1"));
  const handler = function (e) {
    log.push(`onabort ${this === c.signal} ${e.type}`);
  };
  c.signal.onabort = handler;
  assertEquals(c.signal.onabort, handler);
  c.signal.addEventListener("abort", () => log.push("listener 2"));
  // Replacing the handler keeps its place in the listener list.
  c.signal.onabort = (e) => log.push("onabort replaced");
  c.abort();
  assertEquals(log, ["listener 1", "onabort replaced", "listener 2"]);

  // null removes; non-objects become null.
  const d = new AbortController();
  let called = false;
  d.signal.onabort = () => (called = true);
  d.signal.onabort = null;
  assertEquals(d.signal.onabort, null);
  d.signal.onabort = "string";
  assertEquals(d.signal.onabort, null);
  d.abort();
  assertEquals(called, false);

  // A throwing handler is reported; later listeners still run.
  const e = new AbortController();
  let after = false;
  e.signal.onabort = () => {
    throw new Error("handler failure");
  };
  e.signal.addEventListener("abort", () => (after = true));
  e.abort();
  assertEquals(after, true);
}

function staticAbort() {
  const s = AbortSignal.abort();
  assertEquals(s.aborted, true);
  assertEquals(s.reason.name, "AbortError");
  assertEquals(AbortSignal.abort("why").reason, "why");
  assertEquals(AbortSignal.abort(0).reason, 0);
  assert(AbortSignal.abort() !== AbortSignal.abort(), "fresh signals");
  // Listeners added to an aborted signal never fire.
  let fired = false;
  s.addEventListener("abort", () => (fired = true));
  assertEquals(fired, false);
}

async function timeout() {
  assertThrows(() => AbortSignal.timeout(), TypeError);
  assertThrows(() => AbortSignal.timeout(-1), TypeError);
  assertThrows(() => AbortSignal.timeout(NaN), TypeError);
  assertThrows(() => AbortSignal.timeout(Infinity), TypeError);
  assertThrows(() => AbortSignal.timeout(2 ** 53), TypeError);

  const s = AbortSignal.timeout(20);
  assertEquals(s.aborted, false);
  let event = null;
  s.onabort = (e) => (event = e);
  await sleep(60);
  assertEquals(s.aborted, true);
  assert(s.reason instanceof DOMException, "TimeoutError is a DOMException");
  assertEquals(s.reason.name, "TimeoutError");
  assertEquals(s.reason.code, 23);
  assert(event !== null && event.isTrusted, "abort event fired");

  const zero = AbortSignal.timeout(0);
  assertEquals(zero.aborted, false, "never synchronous");
  await sleep(10);
  assertEquals(zero.aborted, true);

  // setTimeout is looked up when timeout() runs, not when the snapshot was made.
  const original = globalThis.setTimeout;
  let delay;
  globalThis.setTimeout = (fn, ms) => {
    delay = ms;
    return original(fn, 0);
  };
  try {
    AbortSignal.timeout(12345);
  } finally {
    globalThis.setTimeout = original;
  }
  assertEquals(delay, 12345);
}

async function any() {
  assertThrows(() => AbortSignal.any(), TypeError);
  assertThrows(() => AbortSignal.any([{}]), TypeError);
  assertThrows(() => AbortSignal.any(5), TypeError);

  const empty = AbortSignal.any([]);
  assertEquals(empty.aborted, false);

  // Already aborted input: aborted at once with that reason.
  const pre = AbortSignal.any([new AbortController().signal, AbortSignal.abort("first"), AbortSignal.abort("second")]);
  assertEquals([pre.aborted, pre.reason], [true, "first"]);

  // Follows whichever source aborts first, after that source's own listeners.
  const a = new AbortController();
  const b = new AbortController();
  const both = AbortSignal.any([a.signal, b.signal]);
  const order = [];
  a.signal.addEventListener("abort", () => order.push("source"));
  both.addEventListener("abort", () => order.push(`dependent ${both.reason}`));
  assertEquals(both.aborted, false);
  b.abort("b-reason");
  assertEquals(order, ["dependent b-reason"]);
  assertEquals(both.reason, "b-reason");
  a.abort("a-reason");
  assertEquals(order, ["dependent b-reason", "source"], "aborts once");
  assertEquals(both.reason, "b-reason");

  // Source listeners run before the dependent's.
  const c = new AbortController();
  const dep = AbortSignal.any([c.signal]);
  const seq = [];
  dep.addEventListener("abort", () => seq.push(["dependent", dep.aborted]));
  c.signal.addEventListener("abort", () => seq.push(["source", dep.aborted]));
  c.abort();
  // The dependent is already aborted (reason set) when the source's listeners run.
  assertEquals(seq, [
    ["source", true],
    ["dependent", true],
  ]);
  assertEquals(dep.reason, c.signal.reason);

  // A dependent of a dependent follows the original sources.
  const root = new AbortController();
  const nested = AbortSignal.any([AbortSignal.any([root.signal])]);
  root.abort("deep");
  assertEquals(nested.reason, "deep");

  // Works with timeout signals and iterables other than arrays.
  const t = AbortSignal.any(new Set([AbortSignal.timeout(10)]));
  await sleep(50);
  assertEquals(t.reason?.name, "TimeoutError");

  // An unreferenced dependent with a listener still fires (it is kept alive).
  const keep = new AbortController();
  let fired = false;
  AbortSignal.any([keep.signal]).addEventListener("abort", () => (fired = true));
  keep.abort();
  assertEquals(fired, true);
}

export default {
  async fetch() {
    controller();
    onabort();
    staticAbort();
    await timeout();
    await any();
    return new Response("ok");
  },
};
