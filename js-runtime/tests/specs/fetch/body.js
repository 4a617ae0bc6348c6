// The body mixin: every BodyInit type, content-type defaults, body streams,
// bodyUsed, clone() and the errors for used or locked bodies.
import { assert, assertEquals, assertThrows, assertRejects } from "../_assert.js";

const dec = new TextDecoder();

async function drain(stream) {
  const reader = stream.getReader();
  let out = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out += dec.decode(value, { stream: true });
  }
}

function streamOf(...chunks) {
  return new ReadableStream({
    pull(controller) {
      if (chunks.length === 0) controller.close();
      else controller.enqueue(new TextEncoder().encode(chunks.shift()));
    },
  });
}

export default {
  async fetch() {
    // Content-Type defaults per BodyInit type.
    const type = (body) => new Response(body).headers.get("content-type");
    assertEquals(type("s"), "text/plain;charset=UTF-8");
    assertEquals(type(new Uint8Array(1)), null);
    assertEquals(type(new ArrayBuffer(1)), null);
    assertEquals(type(new DataView(new ArrayBuffer(1))), null);
    assertEquals(type(new Blob([], { type: "image/png" })), "image/png");
    assertEquals(type(new URLSearchParams("a=1")), "application/x-www-form-urlencoded;charset=UTF-8");
    assert(type(new FormData()).startsWith("multipart/form-data; boundary="));
    assertEquals(type(streamOf("x")), null);
    assertEquals(type(null), null);
    assertEquals(type({ toString: () => "obj" }), "text/plain;charset=UTF-8", "other objects become strings");
    assertEquals(await new Response({ toString: () => "obj" }).text(), "obj");
    assertEquals(await new Response(42).text(), "42");
    // An explicit Content-Type wins.
    assertEquals(new Response("s", { headers: { "Content-Type": "x/y" } }).headers.get("content-type"), "x/y");

    // Every consumer.
    const bytes = new Uint8Array([0xe2, 0x9c, 0x93, 0x21]);
    assertEquals(await new Response(bytes).text(), "✓!");
    assertEquals(await new Response(bytes.buffer).bytes(), bytes);
    assertEquals(await new Response(new Uint16Array([0x6968])).text(), "hi", "views use their own bytes");
    assertEquals(await new Response(bytes.subarray(3)).text(), "!");
    const ab = await new Response("abc").arrayBuffer();
    assert(ab instanceof ArrayBuffer && ab.byteLength === 3);
    assertEquals(await new Response('{"k":[1]}').json(), { k: [1] });
    await assertRejects(() => new Response("{bad").json(), SyntaxError);
    assertEquals(await new Response("\ufeffbom").text(), "bom", "text() drops a BOM");
    assertEquals(await new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x61])).text(), "a");
    assertEquals(await new Response(new Uint8Array([0xff])).text(), "\ufffd");
    assertEquals(await new Response(null).text(), "");
    assertEquals((await new Response(null).bytes()).length, 0);
    assertEquals(await new Response(streamOf("a", "b", "c")).text(), "abc");
    const blob = await new Response(streamOf("xy")).blob();
    assertEquals([blob.size, blob.type], [2, ""]);
    // A detached buffer is an empty body.
    const detached = new ArrayBuffer(4);
    const detachedView = new Uint8Array(detached);
    structuredClone(detached, { transfer: [detached] });
    assertEquals((await new Response(detached).bytes()).length, 0);
    assertEquals((await new Response(detachedView).bytes()).length, 0);

    // The body source is copied at construction.
    const mutable = new Uint8Array([65]);
    const snap = new Response(mutable);
    mutable[0] = 66;
    assertEquals(await snap.text(), "A");

    // Bytes read from a user stream are a copy of its chunks.
    const chunk = new Uint8Array([1, 2, 3]);
    const fromChunk = await new Response(new ReadableStream({
      start(c) {
        c.enqueue(chunk);
        c.close();
      },
    })).bytes();
    chunk[0] = 9;
    assertEquals(fromChunk, new Uint8Array([1, 2, 3]));

    // body is a ReadableStream (or null), made on demand and kept.
    const withBody = new Response("stream me");
    assertEquals(withBody.bodyUsed, false);
    const stream = withBody.body;
    assert(stream instanceof ReadableStream);
    assertEquals(withBody.body, stream, "the same stream each time");
    assertEquals(await drain(stream), "stream me");
    assertEquals(withBody.bodyUsed, true);
    await assertRejects(() => withBody.text(), TypeError);
    assertEquals(new Response(null).body, null);
    assertEquals(new Response().bodyUsed, false);

    // A locked body cannot be read or cloned.
    const locked = new Response("x");
    const reader = locked.body.getReader();
    assertEquals(locked.bodyUsed, false, "locking does not disturb");
    await assertRejects(() => locked.text(), TypeError);
    assertThrows(() => locked.clone(), TypeError);
    reader.releaseLock();
    assertEquals(await locked.text(), "x");

    // Used bodies: every consumer rejects, clone throws, body stays a (disturbed) stream.
    const used = new Response("once");
    assertEquals(await used.text(), "once");
    assert(used.bodyUsed);
    for (const m of ["text", "json", "arrayBuffer", "bytes", "blob", "formData"]) {
      await assertRejects(() => used[m](), TypeError);
    }
    assertThrows(() => used.clone(), TypeError);
    assert(used.body instanceof ReadableStream, "a used body is still a stream");
    assertThrows(() => used.body.getReader(), TypeError);
    // A null body is never "used".
    const nothing = new Response(null);
    await nothing.text();
    assertEquals(nothing.bodyUsed, false);
    assertEquals(await nothing.text(), "");

    // A stream that is locked or disturbed cannot become a body.
    const lockedStream = streamOf("x");
    lockedStream.getReader();
    assertThrows(() => new Response(lockedStream), TypeError);
    const disturbed = streamOf("x");
    await disturbed.cancel();
    assertThrows(() => new Request("https://e.com/", { method: "POST", body: disturbed }), TypeError);

    // clone(): both branches read the same bytes, for each source kind.
    for (const make of [() => "txt", () => new Uint8Array([116, 120, 116]), () => new Blob(["txt"]), () => streamOf("t", "xt")]) {
      const a = new Response(make());
      const b = a.clone();
      assertEquals(await b.text(), "txt");
      assertEquals(await a.text(), "txt");
    }
    // Mutating what one branch returned does not affect the other.
    const shared = new Response(new Uint8Array([1, 2]));
    const sharedClone = shared.clone();
    (await shared.bytes())[0] = 99;
    assertEquals(await sharedClone.bytes(), new Uint8Array([1, 2]));
    // A clone of a body whose stream was made tees it.
    const teed = new Response(streamOf("1", "2"));
    const teedStream = teed.body;
    const teedClone = teed.clone();
    assert(teed.body !== teedStream, "the original gets a tee branch");
    assertEquals(await drain(teed.body), "12");
    assertEquals(await teedClone.text(), "12");

    // A string body is a USVString: lone surrogates read back as U+FFFD,
    // whichever way the body is read.
    const fffd = [0xef, 0xbf, 0xbd];
    assertEquals(await new Response("a\ud800b").text(), "a\ufffdb");
    assertEquals(await new Response("\udc00").bytes(), new Uint8Array(fffd));
    assertEquals(await new Response('"\ud800"').json(), "\ufffd");
    assertEquals(await new Response({ toString: () => "\ud800" }).text(), "\ufffd");
    assertEquals(await new Response("\ufeff\ud800").text(), "\ufffd", "a leading BOM is dropped too");
    assertEquals(await new Response("\ud800").clone().text(), "\ufffd");
    assertEquals(await drain(new Response("x\ud800").body), "x\ufffd");
    assertEquals(await new Request("https://e.com/", { method: "POST", body: "\ud800" }).text(), "\ufffd");
    assertEquals(await new Response("\ud83d\ude00").text(), "\ud83d\ude00", "a pair stays");

    // Interface shape.
    assert(Object.getOwnPropertyDescriptor(Response.prototype, "text").enumerable);
    assertEquals(typeof Object.getOwnPropertyDescriptor(Request.prototype, "body").get, "function");
    await assertRejects(() => Response.prototype.text.call({}), TypeError);
    assertThrows(() => Object.getOwnPropertyDescriptor(Response.prototype, "body").get.call(new Request("https://e.com/")), TypeError);
    return new Response("ok");
  },
};
