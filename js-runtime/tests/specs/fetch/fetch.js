// fetch(): data: URLs, signals, and the errors of the outbound path (the
// spec host refuses outbound requests, as StdHost does).
import { assert, assertEquals, assertRejects } from "../_assert.js";

export default {
  async fetch() {
    // data: URLs
    const r = await fetch("data:text/plain;charset=utf-8,hello%20world#frag");
    assertEquals([r.status, r.statusText, r.ok, r.type], [200, "", true, "basic"]);
    assertEquals(r.url, "data:text/plain;charset=utf-8,hello%20world", "the fragment is dropped");
    assertEquals(r.headers.get("content-type"), "text/plain;charset=utf-8");
    assertEquals(await r.text(), "hello world");
    const b64 = await fetch("data:application/octet-stream;base64,AAEC/w==");
    assertEquals(await b64.bytes(), new Uint8Array([0, 1, 2, 255]));
    const plain = await fetch(new Request("data:,x"));
    assertEquals(plain.headers.get("content-type"), "text/plain;charset=US-ASCII");
    assertEquals(await (await fetch("data:;base64,eyJhIjoxfQ")).json(), { a: 1 });
    const blob = await (await fetch("data:image/svg+xml,%3Csvg%3E")).blob();
    assertEquals([blob.type, await blob.text()], ["image/svg+xml", "<svg>"]);
    await assertRejects(() => fetch("data:text/plain;base64,%%%"), TypeError);
    await assertRejects(() => fetch("data:no-comma"), TypeError);
    // Response headers from fetch() are immutable.
    let threw = false;
    try {
      r.headers.set("x", "y");
    } catch (e) {
      threw = e instanceof TypeError;
    }
    assert(threw, "fetch() response headers are immutable");

    // Argument errors reject (they never throw synchronously).
    const p = fetch("not a url");
    assert(p instanceof Promise);
    await assertRejects(p, TypeError);
    await assertRejects(() => fetch(), TypeError);
    await assertRejects(() => fetch("https://e.com/", { method: "GET", body: "x" }), TypeError);
    await assertRejects(() => fetch("ftp://e.com/file"), TypeError);
    await assertRejects(() => fetch("about:blank"), TypeError);

    // Aborted signals reject with their reason.
    const reason = new Error("stop");
    await assertRejects(() => fetch("data:,x", { signal: AbortSignal.abort(reason) }).then(() => null, (e) => {
      assertEquals(e, reason);
      throw new TypeError("rethrown");
    }), TypeError);
    const aborted = await fetch("data:,x", { signal: AbortSignal.abort() }).catch((e) => e);
    assert(aborted instanceof DOMException && aborted.name === "AbortError", `got ${aborted}`);
    const ac = new AbortController();
    const inFlight = fetch("https://example.com/", { signal: ac.signal });
    ac.abort(reason);
    assertEquals(await inFlight.catch((e) => e), reason, "aborting in flight rejects with the reason");
    const viaRequest = new AbortController();
    const req = new Request("https://example.com/", { signal: viaRequest.signal });
    const p2 = fetch(req);
    viaRequest.abort("r2");
    assertEquals(await p2.catch((e) => e), "r2", "the request's signal counts");

    // Aborting after the response arrived makes its body fail.
    const late = new AbortController();
    const lateResponse = await fetch("data:,body", { signal: late.signal });
    late.abort(reason);
    assertEquals(await lateResponse.text().catch((e) => e), reason);
    // ... but a body already read stays read.
    const early = new AbortController();
    const earlyResponse = await fetch("data:,body", { signal: early.signal });
    assertEquals(await earlyResponse.text(), "body");
    early.abort();

    // Outbound http(s) goes to the host, which refuses here: a TypeError.
    await assertRejects(() => fetch("https://example.com/", { method: "POST", body: "x" }), TypeError);
    return new Response("ok");
  },
};
