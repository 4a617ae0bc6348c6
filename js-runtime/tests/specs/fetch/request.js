// Request: https://fetch.spec.whatwg.org/#request-class
import { assert, assertEquals, assertThrows, assertRejects } from "../_assert.js";

export default {
  async fetch(request) {
    // A request from the network.
    assertEquals(request.method, "GET");
    assertEquals(request.url, "http://spec.test/");
    assertEquals(request.redirect, "manual", "as on Workers");
    assertEquals(request.body, null);
    assertEquals(request.bodyUsed, false);
    assert(request.signal instanceof AbortSignal);
    assertEquals(request.signal.aborted, false);
    assertEquals(request.cf, undefined);

    // Defaults.
    const r = new Request("https://example.com/path?q#frag");
    assertEquals(r.url, "https://example.com/path?q#frag");
    assertEquals(r.method, "GET");
    assertEquals([r.mode, r.credentials, r.cache, r.redirect], ["cors", "same-origin", "default", "follow"]);
    assertEquals([r.referrer, r.referrerPolicy, r.integrity, r.destination], ["about:client", "", "", ""]);
    assertEquals([r.keepalive, r.isReloadNavigation, r.isHistoryNavigation, r.duplex], [false, false, false, "half"]);
    assertEquals([...r.headers], []);
    assertEquals(r.body, null);
    assert(r.signal instanceof AbortSignal);

    // URLs.
    assertEquals(new Request("HTTPS://EXAMPLE.com:443/a/../b").url, "https://example.com/b");
    assertThrows(() => new Request("/relative"), TypeError);
    assertThrows(() => new Request("http://user:pass@example.com/"), TypeError);
    assertThrows(() => new Request("http://[bad"), TypeError);
    assertThrows(() => new Request(), TypeError);
    assertEquals(new Request({ toString: () => "https://s.test/" }).url, "https://s.test/");

    // Methods.
    assertEquals(new Request("https://e.com/", { method: "post" }).method, "POST", "known methods are upper-cased");
    assertEquals(new Request("https://e.com/", { method: "patch" }).method, "patch", "others are kept as given");
    assertEquals(new Request("https://e.com/", { method: "PROPFIND" }).method, "PROPFIND");
    assertThrows(() => new Request("https://e.com/", { method: "bad method" }), TypeError);
    assertThrows(() => new Request("https://e.com/", { method: "CONNECT" }), TypeError);
    assertThrows(() => new Request("https://e.com/", { method: "trace" }), TypeError);
    assertThrows(() => new Request("https://e.com/", { method: "GET", body: "x" }), TypeError);
    assertThrows(() => new Request("https://e.com/", { method: "HEAD", body: new Uint8Array(1) }), TypeError);
    assertEquals(new Request("https://e.com/", { method: "GET", body: null }).body, null);

    // Init members and their validation.
    const full = new Request("https://e.com/", {
      method: "PUT",
      headers: [["x-a", "1"]],
      body: "data",
      mode: "same-origin",
      credentials: "include",
      cache: "only-if-cached",
      redirect: "error",
      referrer: "https://ref.test/page",
      referrerPolicy: "no-referrer",
      integrity: "sha256-abc",
      keepalive: true,
      priority: "high",
      duplex: "half",
      cf: { cacheTtl: 5 },
      window: null,
    });
    assertEquals([full.mode, full.credentials, full.cache, full.redirect], ["same-origin", "include", "only-if-cached", "error"]);
    assertEquals([full.referrer, full.referrerPolicy, full.integrity, full.keepalive], ["https://ref.test/page", "no-referrer", "sha256-abc", true]);
    assertEquals(full.cf, { cacheTtl: 5 });
    assertEquals(full.headers.get("content-type"), "text/plain;charset=UTF-8");
    assertEquals(await full.text(), "data");
    assertEquals(new Request("https://e.com/", { referrer: "" }).referrer, "");
    assertEquals(new Request("https://e.com/", { referrer: "about:client" }).referrer, "about:client");
    for (const [k, v] of [
      ["mode", "navigate"],
      ["mode", "bogus"],
      ["credentials", "x"],
      ["cache", "x"],
      ["cache", "only-if-cached"],
      ["redirect", "x"],
      ["referrerPolicy", "x"],
      ["priority", "x"],
      ["duplex", "full"],
      ["window", {}],
      ["signal", {}],
      ["referrer", "http://[bad"],
      ["headers", "x"],
    ]) {
      assertThrows(() => new Request("https://e.com/", { [k]: v }), TypeError, undefined);
    }
    assertThrows(() => new Request("https://e.com/", "init"), TypeError);
    assertThrows(() => new Request("https://e.com/", { mode: "no-cors", method: "PUT" }), TypeError);
    assertThrows(() => new Request("https://e.com/", { method: "POST", keepalive: true, body: new ReadableStream() }), TypeError);
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array([115]));
        c.close();
      },
    });
    const streamed = new Request("https://e.com/", { method: "POST", body: stream, duplex: "half" });
    assertEquals(streamed.body, stream, "a stream body is used as is");
    assertEquals(await streamed.text(), "s");

    // new Request(request, init) copies and takes the body over.
    const base = new Request("https://e.com/base", { method: "POST", body: "moved", headers: { "x-h": "1" }, redirect: "manual", cf: { a: 1 } });
    const derived = new Request(base, { headers: { "x-h": "2" } });
    assertEquals([derived.url, derived.method, derived.redirect, derived.headers.get("x-h")], ["https://e.com/base", "POST", "manual", "2"]);
    assertEquals(derived.cf, { a: 1 });
    assertEquals(base.headers.get("x-h"), "1");
    assert(base.bodyUsed, "the input's body moved to the new request");
    assertEquals(await derived.text(), "moved");
    assertThrows(() => new Request(base), TypeError);
    const withInit = new Request("https://e.com/", { method: "POST", body: "a" });
    const replaced = new Request(withInit, { body: "b" });
    assertEquals(await replaced.text(), "b");
    assertEquals(withInit.bodyUsed, false, "a new body leaves the input's alone");
    assertThrows(() => new Request(new Request("https://e.com/", { method: "POST", body: "x" }), { method: "GET" }), TypeError);
    // An empty init keeps the mode etc., a non-empty one resets referrer.
    const refd = new Request("https://e.com/", { referrer: "https://ref.test/" });
    assertEquals(new Request(refd).referrer, "https://ref.test/");
    assertEquals(new Request(refd, { method: "GET" }).referrer, "about:client");

    // The proxy pattern: new Request(url, request) takes method, headers and body.
    const incoming = new Request("https://in.test/a", { method: "POST", body: "proxied", headers: { "x-p": "1" }, signal: new AbortController().signal });
    const outgoing = new Request("https://origin.test/a", incoming);
    assertEquals([outgoing.url, outgoing.method, outgoing.headers.get("x-p")], ["https://origin.test/a", "POST", "1"]);
    assertEquals(await outgoing.text(), "proxied");
    assert(incoming.bodyUsed, "the body stream moved along");
    const fromNet = new Request("https://origin.test/", request);
    assertEquals([fromNet.method, fromNet.headers.get("host"), fromNet.body], ["GET", "spec.test", null]);

    // clone()
    const orig = new Request("https://e.com/c", { method: "POST", body: "twice", headers: { "x-c": "1" } });
    const cl = orig.clone();
    cl.headers.set("x-c", "2");
    assertEquals(orig.headers.get("x-c"), "1", "clones have their own headers");
    assertEquals([cl.url, cl.method], ["https://e.com/c", "POST"]);
    assertEquals(await cl.text(), "twice");
    assertEquals(await orig.text(), "twice");
    assertThrows(() => orig.clone(), TypeError);
    const netClone = request.clone();
    assertThrows(() => netClone.headers.set("a", "b"), TypeError, undefined);
    assertEquals(netClone.headers.get("host"), "spec.test");

    // Signals: the request's signal follows the given one.
    const ac = new AbortController();
    const sr = new Request("https://e.com/", { signal: ac.signal });
    assert(sr.signal !== ac.signal, "a dependent signal, not the same object");
    const cs = sr.clone();
    let fired = 0;
    sr.signal.addEventListener("abort", () => fired++);
    ac.abort(new Error("why"));
    assert(sr.signal.aborted && cs.signal.aborted);
    assertEquals(sr.signal.reason.message, "why");
    assertEquals(fired, 1);
    assert(new Request(sr).signal.aborted, "copied from the input request");
    assertEquals(new Request(sr, { signal: null }).signal.aborted, false, "null drops the input's signal");
    assert(new Request("https://e.com/", { signal: AbortSignal.abort() }).signal.aborted);

    // Body methods exist on Request too.
    const post = new Request("https://e.com/", { method: "POST", body: '{"x":1}' });
    assertEquals(await post.json(), { x: 1 });
    assert(post.bodyUsed);
    await assertRejects(() => post.json(), TypeError);

    // Shape.
    assertEquals(Request.length, 1);
    assertEquals(Object.prototype.toString.call(r), "[object Request]");
    assertThrows(() => Request.prototype.url, TypeError);
    assertThrows(() => Request.prototype.clone.call({}), TypeError);
    assert(Object.getOwnPropertyDescriptor(Request.prototype, "method").enumerable);
    return new Response("ok");
  },
};
