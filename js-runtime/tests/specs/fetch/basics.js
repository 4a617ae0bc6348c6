import { assert, assertEquals, assertThrows, assertRejects } from "../_assert.js";

export default {
  async fetch(request) {
    const h = new Headers({ "Content-Type": "text/plain", "X-A": "1" });
    h.append("x-a", "2");
    h.append("Set-Cookie", "a=1");
    h.append("Set-Cookie", "b=2");
    assertEquals(h.get("x-a"), "1, 2");
    assertEquals(h.getSetCookie(), ["a=1", "b=2"]);
    assertEquals([...h.keys()], ["content-type", "set-cookie", "set-cookie", "x-a"]);
    assertThrows(() => h.append("bad name", "x"), TypeError);
    assertThrows(() => request.headers.set("x", "y"), TypeError);

    const r = new Response("hello", { status: 201, headers: { "x-y": "z" } });
    assertEquals(r.status, 201);
    assertEquals(r.ok, true);
    assertEquals(r.headers.get("content-type"), "text/plain;charset=UTF-8");
    assertEquals(await r.text(), "hello");
    assert(r.bodyUsed);
    await assertRejects(() => r.text(), TypeError);

    const j = Response.json({ a: 1 }, { status: 404 });
    assertEquals(j.status, 404);
    assertEquals(j.headers.get("content-type"), "application/json");
    assertEquals(await j.json(), { a: 1 });

    const red = Response.redirect("https://example.com/x", 301);
    assertEquals(red.status, 301);
    assertEquals(red.headers.get("location"), "https://example.com/x");
    assertThrows(() => Response.redirect("https://example.com/", 200), RangeError);
    assertThrows(() => new Response("x", { status: 99 }), RangeError);
    assertThrows(() => new Response("x", { status: 204 }), TypeError);

    const bytes = new Response(new Uint8Array([1, 2, 3]));
    assertEquals(new Uint8Array(await bytes.arrayBuffer()), new Uint8Array([1, 2, 3]));

    const req = new Request("https://example.com/a?b=c", { method: "post", body: "payload", headers: { "x-k": "v" } });
    assertEquals(req.method, "POST");
    assertEquals(req.url, "https://example.com/a?b=c");
    const copy = req.clone();
    assertEquals(await req.text(), "payload");
    assertEquals(await copy.text(), "payload");
    assertThrows(() => new Request("https://example.com/", { method: "GET", body: "x" }), TypeError);
    assertEquals(Response.error().type, "error");
    return new Response("ok");
  },
};
