// WritableStream, its writer and controller: ordering, backpressure
// (desiredSize, ready), close, abort, errors (https://streams.spec.whatwg.org/#ws).
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

const tick = () => new Promise((r) => setTimeout(r, 0));

export default {
  async fetch() {
    assertEquals(WritableStream.length, 0);
    assertEquals(WritableStreamDefaultWriter.length, 1);
    assertThrows(() => new WritableStreamDefaultController(), TypeError);
    assertThrows(() => new WritableStream({ type: "bytes" }), RangeError);
    assertThrows(() => new WritableStream({ write: 5 }), TypeError);

    // Writes reach the sink one at a time, in order; close waits for them.
    {
      const log = [];
      let inFlight = 0;
      const ws = new WritableStream({
        async write(chunk, controller) {
          assert(controller instanceof WritableStreamDefaultController);
          assertEquals(++inFlight, 1, "one write at a time");
          await tick();
          log.push(chunk);
          inFlight--;
        },
        close() {
          log.push("close");
        },
      });
      const writer = ws.getWriter();
      const writes = [writer.write("a"), writer.write("b"), writer.write("c")];
      await writer.close();
      await Promise.all(writes);
      assertEquals(log, ["a", "b", "c", "close"]);
      await writer.closed;
      await assertRejects(writer.write("late"), TypeError);
    }

    // Backpressure: desiredSize counts down; ready is pending until the queue drains.
    {
      const releases = [];
      const ws = new WritableStream(
        { write: () => new Promise((r) => releases.push(r)) },
        new CountQueuingStrategy({ highWaterMark: 2 }),
      );
      const writer = ws.getWriter();
      await writer.ready;
      assertEquals(writer.desiredSize, 2);
      writer.write(1);
      assertEquals(writer.desiredSize, 1);
      writer.write(2);
      assertEquals(writer.desiredSize, 0);
      let ready = false;
      writer.ready.then(() => (ready = true));
      await tick();
      assert(!ready, "ready pending under backpressure");
      releases.shift()();
      await tick();
      assert(ready, "ready resolves once below highWaterMark");
      assertEquals(writer.desiredSize, 1);
      releases.shift()();
    }

    // ByteLengthQueuingStrategy.
    {
      const ws = new WritableStream({ write: () => new Promise(() => {}) }, new ByteLengthQueuingStrategy({ highWaterMark: 10 }));
      const writer = ws.getWriter();
      await tick();
      writer.write(new Uint8Array(4));
      writer.write(new Uint8Array(4));
      assertEquals(writer.desiredSize, 2);
    }

    // Locking and released writers.
    {
      const ws = new WritableStream();
      const writer = ws.getWriter();
      assert(ws.locked);
      assertThrows(() => ws.getWriter(), TypeError);
      await assertRejects(ws.close(), TypeError);
      await assertRejects(ws.abort(), TypeError);
      writer.releaseLock();
      assert(!ws.locked);
      await assertRejects(writer.closed, TypeError);
      await assertRejects(writer.write("x"), TypeError);
      assertThrows(() => writer.desiredSize, TypeError);
    }

    // abort(): the sink's abort gets the reason, the controller's signal fires.
    if (typeof AbortSignal === "function") {
      let abortReason;
      let signal;
      const ws = new WritableStream({
        start(c) {
          signal = c.signal;
        },
        write: () => new Promise(() => {}),
        abort(r) {
          abortReason = r;
        },
      });
      assert(signal instanceof AbortSignal);
      const writer = ws.getWriter();
      await tick();
      const w1 = writer.write(1);
      const w2 = writer.write(2);
      let fired = false;
      signal.addEventListener("abort", () => (fired = true));
      const aborting = writer.abort("stop");
      assert(fired && signal.aborted && signal.reason === "stop", "controller.signal aborted synchronously");
      // The stream is erroring: ready rejects now; queued writes reject once
      // the in-flight write settles (it never does here).
      assertEquals(await assertRejects(writer.ready), "stop");
      assertEquals(writer.desiredSize, null);
      await tick();
      assertEquals(abortReason, undefined, "sink abort waits for the in-flight write");
      void w1;
      void w2;
      void aborting;
    }
    {
      let abortReason;
      const ws = new WritableStream({ abort: (r) => { abortReason = r; } });
      const writer = ws.getWriter();
      await writer.abort("why");
      assertEquals(abortReason, "why");
      assertEquals(await assertRejects(writer.closed), "why");
      assertEquals(writer.desiredSize, null);
    }

    // controller.error() errors the stream; the sink's write rejecting does too.
    {
      let controller;
      const ws = new WritableStream({ start: (c) => (controller = c) });
      const writer = ws.getWriter();
      const err = new Error("sink broke");
      controller.error(err);
      assertEquals(await assertRejects(writer.ready), err);
      assertEquals(await assertRejects(writer.write("x")), err);
    }
    {
      const err = new Error("write failed");
      const ws = new WritableStream({ write: () => Promise.reject(err) });
      const writer = ws.getWriter();
      assertEquals(await assertRejects(writer.write("x")), err);
      assertEquals(await assertRejects(writer.closed), err);
      await assertRejects(writer.close(), TypeError);
    }

    // start() is awaited before the first write.
    {
      const log = [];
      const ws = new WritableStream({
        async start() {
          await tick();
          log.push("started");
        },
        write(c) {
          log.push(c);
        },
      });
      const writer = ws.getWriter();
      await writer.write("w");
      assertEquals(log, ["started", "w"]);
    }

    // close() on the stream itself, and a close that the sink rejects.
    {
      const ws = new WritableStream();
      await ws.close();
      await assertRejects(ws.close(), TypeError);
      const bad = new WritableStream({ close: () => { throw new RangeError("no close"); } });
      await assertRejects(bad.close(), RangeError);
    }

    return new Response("ok");
  },
};
