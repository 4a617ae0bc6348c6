// Headers: https://fetch.spec.whatwg.org/#headers-class
import { assert, assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch(request) {
    // Construction from a record, a sequence and another Headers.
    const rec = new Headers({ "Content-Type": "text/plain", "X-A": " padded\t" });
    assertEquals(rec.get("x-a"), "padded", "values are trimmed");
    const seq = new Headers([["a", "1"], ["A", "2"], ["b", "3"]]);
    assertEquals(seq.get("a"), "1, 2");
    const copy = new Headers(seq);
    copy.append("c", "4");
    assertEquals(seq.has("c"), false, "a copy is independent");
    assertEquals([...copy], [["a", "1, 2"], ["b", "3"], ["c", "4"]]);
    assertThrows(() => new Headers([["a"]]), TypeError);
    assertThrows(() => new Headers([["a", "1", "2"]]), TypeError);
    assertThrows(() => new Headers("a: b"), TypeError);
    assertThrows(() => new Headers(null), TypeError);
    assertThrows(() => new Headers({ [Symbol("s")]: "x" }), TypeError);
    assertEquals([...new Headers(undefined)], []);
    assertEquals([...new Headers(new Map([["m", "1"]]))], [["m", "1"]]);

    // Validation.
    const h = new Headers();
    assertThrows(() => h.append("bad name", "x"), TypeError);
    assertThrows(() => h.append("", "x"), TypeError);
    assertThrows(() => h.append("x", "a\nb"), TypeError);
    assertThrows(() => h.append("x", "a\0b"), TypeError);
    assertThrows(() => h.set("x", "\u0100"), TypeError, undefined);
    assertThrows(() => h.get("a b"), TypeError);
    assertThrows(() => h.append("x"), TypeError);
    h.append("x", "caf\u00e9");
    assertEquals(h.get("X"), "caf\u00e9", "Latin-1 values are kept");

    // set / delete / has and set-cookie handling.
    h.append("Set-Cookie", "a=1");
    h.append("set-cookie", "b=2");
    h.append("Accept", "text/html");
    h.append("accept", "*/*");
    assertEquals(h.get("accept"), "text/html, */*");
    assertEquals(h.get("set-cookie"), "a=1, b=2");
    assertEquals(h.getSetCookie(), ["a=1", "b=2"]);
    assertEquals([...h.keys()], ["accept", "set-cookie", "set-cookie", "x"], "sorted, set-cookie kept apart");
    h.set("accept", "one");
    assertEquals(h.get("accept"), "one");
    h.delete("SET-COOKIE");
    assertEquals(h.has("set-cookie"), false);
    assertEquals(h.get("missing"), null);
    assertEquals([...h.values()], ["one", "caf\u00e9"]);

    // Iteration is live and sorted at each step.
    const live = new Headers([["b", "2"], ["a", "1"]]);
    const seen = [];
    for (const [k] of live) {
      seen.push(k);
      if (k === "a") live.append("c", "3");
    }
    assertEquals(seen, ["a", "b", "c"]);
    const calls = [];
    live.forEach(function (value, key, obj) {
      calls.push([key, value, obj === live, this.tag]);
    }, { tag: "t" });
    assertEquals(calls, [["a", "1", true, "t"], ["b", "2", true, "t"], ["c", "3", true, "t"]]);
    assertThrows(() => live.forEach(), TypeError);

    // Looks like a WebIDL interface.
    const it = live.entries();
    assertEquals(Object.prototype.toString.call(it), "[object Headers Iterator]");
    assertEquals(typeof it[Symbol.iterator], "function");
    assertEquals(Object.prototype.toString.call(live), "[object Headers]");
    assertEquals(Headers.prototype[Symbol.iterator], Headers.prototype.entries);
    assert(Object.getOwnPropertyDescriptor(Headers.prototype, "append").enumerable, "methods are enumerable");
    assertEquals(Headers.length, 0);
    assertEquals(Headers.prototype.append.length, 2);
    assertThrows(() => Headers.prototype.get.call({}, "a"), TypeError);
    assertThrows(() => it.next.call({}), TypeError);
    assertThrows(() => Headers(), TypeError);

    // Headers of a request from the network are immutable, and lazy.
    assertEquals(request.headers.get("host"), "spec.test");
    assertEquals(request.headers, request.headers, "the same object each time");
    assertThrows(() => request.headers.set("x", "y"), TypeError);
    assertThrows(() => request.headers.append("x", "y"), TypeError);
    assertThrows(() => request.headers.delete("host"), TypeError);
    // A copy is mutable.
    const fresh = new Request(request);
    fresh.headers.set("x", "y");
    assertEquals(fresh.headers.get("host"), "spec.test");
    assertEquals(request.headers.has("x"), false);

    // Response.redirect / Response.error headers are immutable.
    assertThrows(() => Response.redirect("https://example.com/").headers.set("a", "b"), TypeError);
    assertThrows(() => Response.error().headers.append("a", "b"), TypeError);
    // A user Response's headers are mutable.
    const r = new Response("x");
    r.headers.set("x-late", "1");
    assertEquals(r.headers.get("x-late"), "1");
    return new Response("ok");
  },
};
