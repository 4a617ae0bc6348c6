// Event, CustomEvent and EventTarget (https://dom.spec.whatwg.org/#events):
// construction, dispatch order and flags, listener options, handleEvent
// objects, listener errors, brand checks.
import { assert, assertEquals, assertThrows } from "../_assert.js";

function constructionAndProperties() {
  const e = new Event("ping");
  assertEquals(e.type, "ping");
  assertEquals([e.bubbles, e.cancelable, e.composed, e.defaultPrevented, e.isTrusted], [false, false, false, false, false]);
  assertEquals([e.target, e.currentTarget, e.srcElement, e.eventPhase], [null, null, null, Event.NONE]);
  assertEquals(e.composedPath(), []);
  assertEquals(e.returnValue, true);
  assertEquals(e.cancelBubble, false);
  assertEquals(typeof e.timeStamp, "number");
  assert(e.timeStamp >= 0, "timeStamp");
  assertEquals([Event.NONE, Event.CAPTURING_PHASE, Event.AT_TARGET, Event.BUBBLING_PHASE], [0, 1, 2, 3]);
  assertEquals(e.AT_TARGET, 2);
  assertEquals(Event.length, 1);
  assertEquals(new Event(42).type, "42");
  assertEquals(new Event(null, null).type, "null");

  const init = new Event("x", { bubbles: 1, cancelable: "yes", composed: {} });
  assertEquals([init.bubbles, init.cancelable, init.composed], [true, true, true]);

  // isTrusted is an own, non-configurable accessor ([LegacyUnforgeable]).
  const desc = Object.getOwnPropertyDescriptor(e, "isTrusted");
  assert(typeof desc.get === "function" && !desc.configurable && desc.enumerable, "isTrusted descriptor");
  assertEquals(Object.getOwnPropertyDescriptor(new Event("y"), "isTrusted").get, desc.get);

  assertThrows(() => new Event(), TypeError);
  assertThrows(() => Event("x"), TypeError);
  assertThrows(() => new Event("x", 5), TypeError);
  assertThrows(() => new Event(Symbol()), TypeError);
  assertThrows(() => Object.getOwnPropertyDescriptor(Event.prototype, "type").get.call({}), TypeError);
  assertThrows(() => Event.prototype.preventDefault.call({}), TypeError);
  assertEquals(Object.prototype.toString.call(e), "[object Event]");
  assert(Object.getOwnPropertyDescriptor(Event.prototype, "type").enumerable, "members are enumerable");

  // preventDefault only when cancelable; returnValue and cancelBubble are legacy aliases.
  e.preventDefault();
  assertEquals(e.defaultPrevented, false);
  const c = new Event("c", { cancelable: true });
  c.returnValue = false;
  assertEquals([c.defaultPrevented, c.returnValue], [true, false]);
  c.returnValue = true; // cannot un-cancel
  assertEquals(c.defaultPrevented, true);
  e.cancelBubble = true;
  assertEquals(e.cancelBubble, true);
  e.cancelBubble = false; // cannot unset
  assertEquals(e.cancelBubble, true);

  // initEvent re-initializes an event that is not being dispatched.
  const i = new Event("a", { cancelable: true });
  i.preventDefault();
  i.initEvent("b", true);
  assertEquals([i.type, i.bubbles, i.cancelable, i.defaultPrevented], ["b", true, false, false]);

  // CustomEvent.
  const ce = new CustomEvent("custom", { detail: { n: 1 }, cancelable: true });
  assert(ce instanceof Event);
  assertEquals(ce.detail, { n: 1 });
  assertEquals(ce.cancelable, true);
  assertEquals(new CustomEvent("x").detail, null);
  assertEquals(new CustomEvent("x", { detail: undefined }).detail, null);
  assertEquals(new CustomEvent("x", { detail: 0 }).detail, 0);
  ce.initCustomEvent("again", false, false, "d");
  assertEquals([ce.type, ce.detail], ["again", "d"]);
  assertThrows(() => Object.getOwnPropertyDescriptor(CustomEvent.prototype, "detail").get.call(new Event("x")), TypeError);
  assertEquals(Object.prototype.toString.call(ce), "[object CustomEvent]");
  assertThrows(() => new CustomEvent(), TypeError);
}

function dispatchBasics() {
  const target = new EventTarget();
  const seen = [];
  target.addEventListener("go", function (ev) {
    seen.push(["bubble", this === target, ev.target === target, ev.currentTarget === target, ev.eventPhase]);
    assertEquals(ev.composedPath().length, 1);
    assertEquals(ev.composedPath()[0], target);
  });
  target.addEventListener("go", (ev) => seen.push(["capture", ev.eventPhase]), { capture: true });
  const ev = new Event("go");
  assertEquals(target.dispatchEvent(ev), true);
  // Capture listeners run first at the target; both phases are AT_TARGET.
  assertEquals(seen, [
    ["capture", 2],
    ["bubble", true, true, true, 2],
  ]);
  // After dispatch: target stays, the rest is reset.
  assertEquals(ev.target, target);
  assertEquals([ev.currentTarget, ev.eventPhase], [null, 0]);
  assertEquals(ev.composedPath(), []);
  assertEquals(ev.isTrusted, false);

  // The same event can be dispatched again once done.
  assertEquals(target.dispatchEvent(ev), true);
  assertEquals(seen.length, 4);

  // Other types are not called; no listeners is fine.
  assertEquals(target.dispatchEvent(new Event("other")), true);
  assertEquals(seen.length, 4);

  // Return value reflects cancelation.
  const t2 = new EventTarget();
  t2.addEventListener("c", (e) => e.preventDefault());
  assertEquals(t2.dispatchEvent(new Event("c", { cancelable: true })), false);
  assertEquals(t2.dispatchEvent(new Event("c")), true);
}

function stopping() {
  const t = new EventTarget();
  const log = [];
  t.addEventListener("x", (e) => {
    log.push(1);
    e.stopPropagation();
  });
  t.addEventListener("x", () => log.push(2));
  t.dispatchEvent(new Event("x"));
  // stopPropagation does not stop listeners on the same target.
  assertEquals(log, [1, 2]);

  const t2 = new EventTarget();
  const log2 = [];
  t2.addEventListener("x", (e) => {
    log2.push(1);
    e.stopImmediatePropagation();
  });
  t2.addEventListener("x", () => log2.push(2));
  const ev = new Event("x");
  t2.dispatchEvent(ev);
  assertEquals(log2, [1]);
  assertEquals(ev.cancelBubble, false, "flags reset after dispatch");

  // stopPropagation in a capture listener skips the bubble pass.
  const t3 = new EventTarget();
  const log3 = [];
  t3.addEventListener("x", () => log3.push("bubble"));
  t3.addEventListener("x", (e) => {
    log3.push("capture");
    e.stopPropagation();
  }, true);
  t3.dispatchEvent(new Event("x"));
  assertEquals(log3, ["capture"]);

  // cancelBubble set before dispatch stops everything.
  const t4 = new EventTarget();
  let called = false;
  t4.addEventListener("x", () => (called = true));
  const pre = new Event("x");
  pre.cancelBubble = true;
  t4.dispatchEvent(pre);
  assertEquals(called, false);
}

function listenerOptions() {
  // Duplicates (same type, callback, capture) are ignored.
  const t = new EventTarget();
  let n = 0;
  const f = () => n++;
  t.addEventListener("x", f);
  t.addEventListener("x", f);
  t.addEventListener("x", f, { once: true }); // still a duplicate
  t.addEventListener("x", f, true); // capture differs: added
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 2);
  t.removeEventListener("x", f); // removes the non-capture one only
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 3);
  t.removeEventListener("x", f, { capture: true });
  t.dispatchEvent(new Event("x"));
  assertEquals(n, 3);

  // once.
  const o = new EventTarget();
  let count = 0;
  o.addEventListener("x", () => count++, { once: true });
  o.dispatchEvent(new Event("x"));
  o.dispatchEvent(new Event("x"));
  assertEquals(count, 1);

  // once is removed before it runs: re-dispatching from inside does not recurse.
  const r = new EventTarget();
  let depth = 0;
  r.addEventListener("x", () => {
    depth++;
    r.dispatchEvent(new Event("x"));
  }, { once: true });
  r.dispatchEvent(new Event("x"));
  assertEquals(depth, 1);

  // passive: preventDefault is ignored inside, works in other listeners.
  const p = new EventTarget();
  let insidePassive;
  p.addEventListener("x", (e) => {
    e.preventDefault();
    insidePassive = e.defaultPrevented;
  }, { passive: true });
  const pe = new Event("x", { cancelable: true });
  assertEquals(p.dispatchEvent(pe), true);
  assertEquals([insidePassive, pe.defaultPrevented], [false, false]);
  p.addEventListener("x", (e) => e.preventDefault());
  assertEquals(p.dispatchEvent(new Event("x", { cancelable: true })), false);

  // signal: aborting removes the listener; an aborted signal adds nothing.
  const s = new EventTarget();
  const controller = new AbortController();
  let hits = 0;
  s.addEventListener("x", () => hits++, { signal: controller.signal });
  s.dispatchEvent(new Event("x"));
  controller.abort();
  s.dispatchEvent(new Event("x"));
  assertEquals(hits, 1);
  s.addEventListener("x", () => hits++, { signal: controller.signal });
  s.dispatchEvent(new Event("x"));
  assertEquals(hits, 1);
  s.addEventListener("x", () => hits++, { signal: AbortSignal.abort() });
  s.dispatchEvent(new Event("x"));
  assertEquals(hits, 1);
  assertThrows(() => s.addEventListener("x", () => {}, { signal: {} }), TypeError);
  assertThrows(() => s.addEventListener("x", () => {}, { signal: null }), TypeError);
  s.addEventListener("x", () => {}, { signal: undefined });

  // Options are read in order capture, once, passive, signal.
  const reads = [];
  const spy = new Proxy({}, { get: (_, k) => (reads.push(k), undefined) });
  s.addEventListener("y", () => {}, spy);
  assertEquals(reads, ["capture", "once", "passive", "signal"]);

  // Null callback is a no-op; a primitive callback is a TypeError.
  s.addEventListener("x", null);
  s.removeEventListener("x", null);
  assertThrows(() => s.addEventListener("x", "nope"), TypeError);
  assertThrows(() => s.addEventListener("x"), TypeError);
  assertThrows(() => s.removeEventListener("x"), TypeError);
}

function duringDispatch() {
  // Listeners added during dispatch do not run; removed ones do not run.
  const t = new EventTarget();
  const log = [];
  const late = () => log.push("late");
  const victim = () => log.push("victim");
  t.addEventListener("x", () => {
    log.push("first");
    t.addEventListener("x", late);
    t.removeEventListener("x", victim);
  });
  t.addEventListener("x", victim);
  t.dispatchEvent(new Event("x"));
  assertEquals(log, ["first"]);
  t.dispatchEvent(new Event("x"));
  assertEquals(log, ["first", "first", "late"]);

  // Dispatching an event that is being dispatched is an InvalidStateError.
  const u = new EventTarget();
  let inner;
  u.addEventListener("x", (e) => {
    try {
      u.dispatchEvent(e);
    } catch (err) {
      inner = err;
    }
    e.initEvent("changed"); // ignored while dispatching
  });
  const ev = new Event("x");
  u.dispatchEvent(ev);
  assert(inner instanceof DOMException, "nested dispatch throws");
  assertEquals(inner.name, "InvalidStateError");
  assertEquals(ev.type, "x");
}

function callbacks() {
  // handleEvent objects: looked up at call time, called with the object as this.
  const t = new EventTarget();
  const obj = {
    calls: 0,
    handleEvent(e) {
      assert(this === obj, "this is the listener object");
      this.calls++;
      assertEquals(e.type, "x");
    },
  };
  t.addEventListener("x", obj);
  t.dispatchEvent(new Event("x"));
  obj.handleEvent = function () {
    this.calls += 10;
  };
  t.dispatchEvent(new Event("x"));
  assertEquals(obj.calls, 11);
  t.removeEventListener("x", obj);
  t.dispatchEvent(new Event("x"));
  assertEquals(obj.calls, 11);

  // A throwing listener (or a handleEvent that is not callable) is reported,
  // not thrown at the dispatcher, and later listeners still run.
  const u = new EventTarget();
  const log = [];
  u.addEventListener("x", () => {
    throw new Error("listener failure");
  });
  u.addEventListener("x", {});
  u.addEventListener("x", { handleEvent: 5 });
  u.addEventListener("x", () => log.push("after"));
  assertEquals(u.dispatchEvent(new Event("x")), true);
  assertEquals(log, ["after"]);
}

function targets() {
  const t = new EventTarget();
  assertEquals(Object.prototype.toString.call(t), "[object EventTarget]");
  assertEquals(EventTarget.length, 0);
  assertEquals(EventTarget.prototype.addEventListener.length, 2);
  assertEquals(EventTarget.prototype.dispatchEvent.length, 1);
  assertThrows(() => EventTarget(), TypeError);
  assertThrows(() => EventTarget.prototype.addEventListener.call({}, "x", () => {}), TypeError);
  assertThrows(() => EventTarget.prototype.dispatchEvent.call({}, new Event("x")), TypeError);
  assertThrows(() => t.dispatchEvent({ type: "x" }), TypeError);
  assertThrows(() => t.dispatchEvent(), TypeError);

  // Subclasses work; event subclasses too.
  class Emitter extends EventTarget {
    fire(detail) {
      return this.dispatchEvent(new CustomEvent("fire", { detail }));
    }
  }
  class MyEvent extends Event {
    constructor() {
      super("mine", { cancelable: true });
      this.extra = 1;
    }
  }
  const em = new Emitter();
  let got;
  em.addEventListener("fire", (e) => (got = e.detail));
  em.addEventListener("mine", (e) => {
    got = e.extra;
    e.preventDefault();
  });
  em.fire("payload");
  assertEquals(got, "payload");
  assertEquals(em.dispatchEvent(new MyEvent()), false);
  assertEquals(got, 1);
}

export default {
  async fetch() {
    constructionAndProperties();
    dispatchBasics();
    stopping();
    listenerOptions();
    duringDispatch();
    callbacks();
    targets();
    return new Response("ok");
  },
};
