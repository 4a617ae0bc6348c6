// Response: https://fetch.spec.whatwg.org/#response-class
import { assert, assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    const r = new Response();
    assertEquals([r.status, r.statusText, r.ok, r.type, r.url, r.redirected], [200, "", true, "default", "", false]);
    assertEquals(r.body, null);

    // status and statusText validation.
    assertEquals(new Response(null, { status: 599 }).status, 599);
    assertEquals(new Response(null, { status: 404 }).ok, false);
    assertEquals(new Response(null, { status: 299 }).ok, true);
    assertEquals(new Response(null, { status: "201" }).status, 201);
    assertEquals(new Response(null, { status: 65536 + 200 }).status, 200, "unsigned short wraps");
    for (const status of [0, 100, 199, 600, 1000, -1]) {
      assertThrows(() => new Response(null, { status }), RangeError);
    }
    assertEquals(new Response(null, { statusText: "Fine\tThanks \u00ff" }).statusText, "Fine\tThanks \u00ff");
    assertThrows(() => new Response(null, { statusText: "bad\nline" }), TypeError);
    assertThrows(() => new Response(null, { statusText: "\u0100" }), TypeError);
    for (const status of [101, 103, 204, 205, 304]) {
      if (status >= 200) assertEquals(new Response(null, { status }).status, status);
      if (status >= 200) assertThrows(() => new Response("", { status }), TypeError);
    }
    assertThrows(() => new Response("x", "init"), TypeError);
    assertThrows(() => new Response("x", { headers: "x" }), TypeError);
    assertEquals(new Response("x", undefined).status, 200);
    assertEquals(new Response("x", null).status, 200);

    // Headers from init.
    const h = new Response("x", { headers: [["x-a", "1"], ["x-a", "2"]] });
    assertEquals(h.headers.get("x-a"), "1, 2");
    assertEquals(h.headers.get("content-type"), "text/plain;charset=UTF-8");

    // Response.json
    const j = Response.json({ a: [1, "b"] }, { status: 422, statusText: "Nope", headers: { "x-j": "1" } });
    assertEquals([j.status, j.statusText, j.headers.get("x-j")], [422, "Nope", "1"]);
    assertEquals(j.headers.get("content-type"), "application/json");
    assertEquals(await j.text(), '{"a":[1,"b"]}');
    const typed = Response.json(1, { headers: { "content-type": "application/vnd.x+json" } });
    assertEquals(typed.headers.get("content-type"), "application/vnd.x+json", "an explicit type wins");
    assertEquals(await Response.json("s").json(), "s");
    assertThrows(() => Response.json(undefined), TypeError);
    assertThrows(() => Response.json(() => 1), TypeError);
    assertThrows(() => Response.json(1n), TypeError);
    assertThrows(() => Response.json({}, { status: 204 }), TypeError);
    assertThrows(() => Response.json(), TypeError);
    const cyclic = {};
    cyclic.self = cyclic;
    assertThrows(() => Response.json(cyclic), TypeError);

    // Response.redirect
    const red = Response.redirect("https://example.com/a b?c");
    assertEquals([red.status, red.headers.get("location")], [302, "https://example.com/a%20b?c"]);
    assertEquals(red.body, null);
    for (const status of [301, 302, 303, 307, 308]) assertEquals(Response.redirect("https://e.com/", status).status, status);
    assertThrows(() => Response.redirect("https://e.com/", 200), RangeError);
    assertThrows(() => Response.redirect("https://e.com/", 300), RangeError);
    assertThrows(() => Response.redirect("/relative"), TypeError);
    assertThrows(() => Response.redirect(), TypeError);

    // Response.error
    const err = Response.error();
    assertEquals([err.type, err.status, err.statusText, err.ok, err.body], ["error", 0, "", false, null]);
    assert(Response.error() !== err);

    // clone()
    const orig = new Response("body", { status: 201, statusText: "Made", headers: { "x-o": "1" } });
    const cl = orig.clone();
    assertEquals([cl.status, cl.statusText, cl.headers.get("x-o"), cl.type], [201, "Made", "1", "default"]);
    cl.headers.set("x-o", "2");
    assertEquals(orig.headers.get("x-o"), "1");
    assertEquals(await cl.text(), "body");
    assertEquals(await orig.text(), "body");
    const errClone = Response.error().clone();
    assertEquals([errClone.type, errClone.status], ["error", 0]);
    assertThrows(() => errClone.headers.set("a", "b"), TypeError, undefined);

    // Re-wrapping a response (new Response(body, response)) keeps status, text and headers.
    const upstream = new Response("up", { status: 203, statusText: "Changed", headers: { "x-u": "1" } });
    const rewrapped = new Response(upstream.body, upstream);
    rewrapped.headers.set("x-u", "2");
    assertEquals([rewrapped.status, rewrapped.statusText, rewrapped.headers.get("x-u")], [203, "Changed", "2"]);
    assertEquals(upstream.headers.get("x-u"), "1");
    assertEquals(await rewrapped.text(), "up");

    // Workers extensions pass through.
    assertEquals(new Response("x", { cf: { k: 1 } }).cf, { k: 1 });
    assertEquals(new Response("x").webSocket, null);
    assertThrows(() => new Response(null, { status: 101 }), RangeError);
    assertThrows(() => new Response("x", { encodeBody: "weird" }), TypeError);

    // Shape.
    assertEquals(Response.length, 0);
    assertEquals(Object.prototype.toString.call(r), "[object Response]");
    assertThrows(() => Response.prototype.status, TypeError);
    assertThrows(() => Response.prototype.clone.call(new Request("https://e.com/")), TypeError);
    assert(Object.getOwnPropertyDescriptor(Response, "json").enumerable, "static methods are enumerable");
    assertThrows(() => Response("x"), TypeError);
    class Sub extends Response {
      extra() {
        return this.status;
      }
    }
    const sub = new Sub("x", { status: 203 });
    assertEquals(sub.extra(), 203, "Response can be subclassed");
    assertEquals(await sub.text(), "x");
    return new Response("ok");
  },
};
