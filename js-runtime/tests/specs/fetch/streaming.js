// Bodies streaming both ways: a request body produced over time is read by
// a handler that answers with a transformed stream, and this spec's own
// answer ("ok") is a ReadableStream whose chunks arrive over setTimeout, so
// the runtime must pump it to the client chunk by chunk.
import { assert, assertEquals, assertRejects } from "../_assert.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stream producing `parts` one per timer tick. */
function slowStream(parts, onCancel) {
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      await sleep(1);
      if (i < parts.length) controller.enqueue(enc.encode(parts[i++]));
      else controller.close();
    },
    cancel(reason) {
      onCancel?.(reason);
    },
  });
}

// An inner handler: upper-cases the request body as it streams through.
const upperHandler = {
  async fetch(request) {
    const upper = new TransformStream({
      transform(chunk, controller) {
        controller.enqueue(enc.encode(dec.decode(chunk).toUpperCase()));
      },
    });
    return new Response(request.body.pipeThrough(upper), { headers: { "content-type": "text/plain" } });
  },
};

export default {
  async fetch() {
    // Through a handler, both ways.
    const request = new Request("https://inner.test/", { method: "POST", body: slowStream(["ab", "cd", "ef"]), duplex: "half" });
    const response = await upperHandler.fetch(request);
    const reader = response.body.getReader();
    const chunks = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(dec.decode(value));
    }
    assertEquals(chunks, ["AB", "CD", "EF"], "chunks keep their boundaries");
    assert(request.bodyUsed, "the request body was read");

    // Reading a streamed body whole, and cloning it (tee).
    const cloned = new Response(slowStream(["x", "y", "z"]));
    const twin = cloned.clone();
    const [a, b] = await Promise.all([cloned.text(), twin.arrayBuffer()]);
    assertEquals(a, "xyz");
    assertEquals(dec.decode(b), "xyz");

    // Canceling a body stream reaches its source.
    let canceledWith = null;
    const cancelable = new Response(slowStream(["1", "2"], (r) => (canceledWith = r)));
    await cancelable.body.cancel("enough");
    assertEquals(canceledWith, "enough");
    assert(cancelable.bodyUsed, "a canceled body counts as used");

    // A stream that errors rejects the consumer with its error.
    const failing = new Response(
      new ReadableStream({
        pull(controller) {
          controller.error(new RangeError("source failed"));
        },
      }),
    );
    await assertRejects(() => failing.text(), RangeError);

    // A stream of non-bytes cannot be read as a body.
    const strings = new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue("not bytes");
          controller.close();
        },
      }),
    );
    await assertRejects(() => strings.text(), TypeError);

    // A Blob streams in chunks.
    const big = new Blob([new Uint8Array(200000)]);
    let count = 0;
    let total = 0;
    for await (const chunk of big.stream()) {
      count++;
      total += chunk.byteLength;
    }
    assertEquals(total, 200000);
    assert(count > 1, "a large blob streams in several chunks");

    // This spec's answer streams over timers.
    return new Response(slowStream(["o", "k"]), { headers: { "content-type": "text/plain" } });
  },
};
