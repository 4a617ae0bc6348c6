// TransformStream and its controller: transform/flush/start, enqueue,
// terminate, errors both ways, backpressure, cancel (https://streams.spec.whatwg.org/#ts).
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

const tick = () => new Promise((r) => setTimeout(r, 0));

async function collect(readable) {
  const out = [];
  for await (const c of readable) out.push(c);
  return out;
}

export default {
  async fetch() {
    assertEquals(TransformStream.length, 0);
    assertThrows(() => new TransformStreamDefaultController(), TypeError);
    assertThrows(() => new TransformStream({ readableType: "bytes" }), RangeError);
    assertThrows(() => new TransformStream({ writableType: "bytes" }), RangeError);
    assertThrows(() => new TransformStream({ transform: {} }), TypeError);

    // Identity transform by default.
    {
      const ts = new TransformStream();
      const writer = ts.writable.getWriter();
      writer.write("a");
      writer.write("b");
      writer.close();
      assertEquals(await collect(ts.readable), ["a", "b"]);
    }

    // transform can enqueue several chunks; flush adds a tail; start runs first.
    {
      const log = [];
      const ts = new TransformStream({
        start(c) {
          assert(c instanceof TransformStreamDefaultController);
          log.push("start");
        },
        transform(chunk, c) {
          for (const ch of chunk) c.enqueue(ch);
        },
        flush(c) {
          c.enqueue("!");
          log.push("flush");
        },
      });
      const writer = ts.writable.getWriter();
      writer.write("ab");
      writer.write("c");
      writer.close();
      assertEquals(await collect(ts.readable), ["a", "b", "c", "!"]);
      assertEquals(log, ["start", "flush"]);
    }

    // Async transform: writes wait for it.
    {
      const ts = new TransformStream({
        async transform(chunk, c) {
          await tick();
          c.enqueue(chunk + 1);
        },
      });
      const writer = ts.writable.getWriter();
      const reader = ts.readable.getReader();
      const w = writer.write(1);
      assertEquals((await reader.read()).value, 2);
      await w;
    }

    // Backpressure: with the default readable highWaterMark 0, nothing is
    // transformed until the readable side is read.
    {
      let transformed = 0;
      const ts = new TransformStream({ transform: (chunk, c) => { transformed++; c.enqueue(chunk); } });
      const writer = ts.writable.getWriter();
      await tick();
      assertEquals(writer.desiredSize, 1);
      writer.write("x");
      writer.write("y");
      await tick();
      assertEquals(transformed, 0, "the readable side starts with backpressure");
      assertEquals(writer.desiredSize, -1);
      const reader = ts.readable.getReader();
      assertEquals((await reader.read()).value, "x");
      assertEquals(transformed, 1);
      await tick();
      assertEquals(transformed, 1, "y waits for the next read");
      assertEquals((await reader.read()).value, "y");
      assertEquals(transformed, 2);
    }

    // An error thrown by transform errors both sides.
    {
      const err = new Error("transform failed");
      const ts = new TransformStream({ transform() { throw err; } });
      const writer = ts.writable.getWriter();
      // A pending read lifts the readable side's backpressure, so the write is transformed.
      const read = ts.readable.getReader().read();
      assertEquals(await assertRejects(writer.write("x")), err);
      assertEquals(await assertRejects(read), err);
      assertEquals(await assertRejects(writer.closed), err);
    }

    // controller.error() errors both sides; desiredSize becomes null.
    {
      let controller;
      const ts = new TransformStream({ start: (c) => (controller = c) });
      const err = new Error("errored");
      controller.error(err);
      assertEquals(controller.desiredSize, null);
      assertEquals(await assertRejects(ts.writable.getWriter().closed), err);
      assertEquals(await assertRejects(ts.readable.getReader().closed), err);
    }

    // terminate(): readable closes, writable errors with a TypeError.
    {
      let controller;
      const ts = new TransformStream({ start: (c) => (controller = c) });
      controller.enqueue("last");
      controller.terminate();
      assertEquals(await collect(ts.readable), ["last"]);
      await assertRejects(ts.writable.getWriter().write("x"), TypeError);
    }

    // Canceling the readable side errors the writable side and calls cancel().
    {
      let cancelReason;
      const ts = new TransformStream({ cancel: (r) => { cancelReason = r; } });
      await ts.readable.cancel("no more");
      assertEquals(cancelReason, "no more");
      assertEquals(await assertRejects(ts.writable.getWriter().closed), "no more");
    }

    // Aborting the writable side errors the readable side.
    {
      let cancelReason;
      const ts = new TransformStream({ cancel: (r) => { cancelReason = r; } });
      await ts.writable.abort("aborted");
      assertEquals(cancelReason, "aborted");
      assertEquals(await assertRejects(ts.readable.getReader().read()), "aborted");
    }

    // Strategies: writableStrategy and readableStrategy are honored.
    {
      const ts = new TransformStream({}, { highWaterMark: 4 }, { highWaterMark: 2 });
      const writer = ts.writable.getWriter();
      await tick();
      assertEquals(writer.desiredSize, 4);
      writer.write(1);
      writer.write(2);
      await tick();
      // Both chunks passed through into the readable queue (readable HWM 2).
      assertEquals(writer.desiredSize, 4);
      writer.write(3);
      await tick();
      assertEquals(writer.desiredSize, 3, "third chunk held back by readable backpressure");
    }

    return new Response("ok");
  },
};
