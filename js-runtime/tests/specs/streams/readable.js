// ReadableStream with a default controller: reading, queuing, pull and
// backpressure, cancel, errors, locking (https://streams.spec.whatwg.org/#rs).
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

const tick = () => new Promise((r) => setTimeout(r, 0));

/** Calls `fn`, which must return a rejected promise (not throw synchronously). */
async function rejectsAsync(fn, ErrorClass) {
  let p;
  try {
    p = fn();
  } catch (e) {
    throw new Error(`expected a rejected promise, got a synchronous ${e?.name}`);
  }
  assert(p instanceof Promise, "expected a promise");
  return assertRejects(p, ErrorClass);
}

async function readAllChunks(stream) {
  const reader = stream.getReader();
  const out = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

export default {
  async fetch() {
    // Interface shape, as in browsers.
    assertEquals(ReadableStream.length, 0);
    assertEquals(ReadableStream.name, "ReadableStream");
    assertEquals(Object.prototype.toString.call(new ReadableStream()), "[object ReadableStream]");
    assert(Object.getOwnPropertyDescriptor(ReadableStream.prototype, "getReader").enumerable, "methods are enumerable");
    assertEquals(ReadableStream.prototype[Symbol.asyncIterator], ReadableStream.prototype.values);
    assertThrows(() => new ReadableStreamDefaultController(), TypeError);
    assertThrows(() => ReadableStream.prototype.getReader.call({}), TypeError);
    assertThrows(() => Object.getOwnPropertyDescriptor(ReadableStream.prototype, "locked").get.call({}), TypeError);
    await rejectsAsync(() => ReadableStream.prototype.cancel.call({}), TypeError);
    await rejectsAsync(() => ReadableStreamDefaultReader.prototype.read.call({}), TypeError);
    assertThrows(() => new ReadableStream(null), TypeError);
    assertThrows(() => new ReadableStream({ type: "nope" }), TypeError);
    assertThrows(() => new ReadableStream({ pull: 1 }), TypeError);
    assertThrows(() => new ReadableStream({}, { highWaterMark: -1 }), RangeError);
    assertThrows(() => new ReadableStream({}, { size: "x" }), TypeError);

    // Chunks come out in order; close ends the stream.
    {
      const rs = new ReadableStream({
        start(c) {
          assertEquals(c.desiredSize, 1);
          c.enqueue("a");
          c.enqueue("b");
          assertEquals(c.desiredSize, -1);
          c.close();
          assertThrows(() => c.enqueue("c"), TypeError);
          assertThrows(() => c.close(), TypeError);
        },
      });
      assertEquals(await readAllChunks(rs), ["a", "b"]);
    }

    // read() result objects are plain { value, done }.
    {
      const reader = new ReadableStream({ start: (c) => c.enqueue(1) }).getReader();
      const result = await reader.read();
      assertEquals(Object.getPrototypeOf(result), Object.prototype);
      assertEquals(Object.keys(result), ["value", "done"]);
    }

    // pull is called to fill the queue up to highWaterMark, then on demand.
    {
      let pulls = 0;
      const rs = new ReadableStream(
        {
          pull(c) {
            pulls++;
            c.enqueue(pulls);
          },
        },
        { highWaterMark: 3 },
      );
      await tick();
      assertEquals(pulls, 3, "fills to highWaterMark");
      const reader = rs.getReader();
      assertEquals((await reader.read()).value, 1);
      await tick();
      assertEquals(pulls, 4, "one pull per chunk read");
    }

    // A pull that returns a pending promise is not called again until it settles.
    {
      let pulls = 0;
      let release;
      const rs = new ReadableStream({
        pull(c) {
          pulls++;
          c.enqueue(pulls);
          return new Promise((r) => (release = r));
        },
      }, { highWaterMark: 10 });
      await tick();
      assertEquals(pulls, 1);
      release();
      await tick();
      assertEquals(pulls, 2);
      rs.cancel();
    }

    // highWaterMark 0: nothing is pulled until someone reads.
    {
      let pulls = 0;
      const rs = new ReadableStream({ pull: (c) => c.enqueue(++pulls) }, { highWaterMark: 0 });
      await tick();
      assertEquals(pulls, 0);
      const reader = rs.getReader();
      assertEquals((await reader.read()).value, 1);
    }

    // Custom size(): desiredSize counts sizes, RangeError on bad sizes errors the stream.
    {
      let controller;
      new ReadableStream({ start: (c) => (controller = c) }, { highWaterMark: 10, size: (chunk) => chunk.length });
      controller.enqueue("abcd");
      assertEquals(controller.desiredSize, 6);
      let bad;
      const rs = new ReadableStream({ start: (c) => (bad = c) }, { size: () => -1 });
      assertThrows(() => bad.enqueue("x"), RangeError);
      await assertRejects(rs.getReader().closed, RangeError);
    }

    // Locking.
    {
      const rs = new ReadableStream();
      const reader = rs.getReader();
      assert(rs.locked);
      assertThrows(() => rs.getReader(), TypeError);
      assertThrows(() => new ReadableStreamDefaultReader(rs), TypeError);
      await rejectsAsync(() => rs.cancel(), TypeError);
      const pending = reader.read();
      reader.releaseLock();
      await assertRejects(pending, TypeError);
      await assertRejects(reader.closed, TypeError);
      await rejectsAsync(() => reader.read(), TypeError);
      assert(!rs.locked);
      rs.getReader().releaseLock();
    }

    // Cancel: reason reaches the source; pending reads finish with done.
    {
      let reason;
      const rs = new ReadableStream({ cancel: (r) => (reason = r) });
      const reader = rs.getReader();
      const pending = reader.read();
      assertEquals(await reader.cancel("why"), undefined);
      assertEquals(reason, "why");
      assertEquals(await pending, { value: undefined, done: true });
      await reader.closed;
    }
    {
      const rs = new ReadableStream({
        cancel() {
          throw new RangeError("cancel failed");
        },
      });
      await assertRejects(rs.cancel(), RangeError);
    }

    // Errors: controller.error, start throwing/rejecting, pull rejecting.
    {
      let c;
      const rs = new ReadableStream({ start: (ctrl) => (c = ctrl) });
      const reader = rs.getReader();
      const pending = reader.read();
      const err = new Error("boom");
      c.error(err);
      assertEquals(c.desiredSize, null);
      assertEquals(await assertRejects(pending), err);
      assertEquals(await assertRejects(reader.closed), err);
      assertEquals(await assertRejects(reader.cancel()), err);
    }
    assertThrows(() => new ReadableStream({ start() { throw new SyntaxError("x"); } }), SyntaxError);
    {
      const rs = new ReadableStream({ start: () => Promise.reject(new EvalError("late")) });
      await assertRejects(rs.getReader().read(), EvalError);
    }
    {
      const rs = new ReadableStream({ pull: () => Promise.reject(new URIError("pull")) });
      await assertRejects(rs.getReader().read(), URIError);
    }

    // Queued chunks are still delivered after close() before the closed promise resolves.
    {
      const rs = new ReadableStream({ start(c) { c.enqueue(1); c.close(); } });
      const reader = rs.getReader();
      let closed = false;
      reader.closed.then(() => (closed = true));
      await tick();
      assert(!closed, "not closed while a chunk is queued");
      assertEquals(await reader.read(), { value: 1, done: false });
      await reader.closed;
      assertEquals(await reader.read(), { value: undefined, done: true });
    }

    // A big queue drains in order (queue uses a head index, not shift()).
    {
      const n = 5000;
      const rs = new ReadableStream({ start(c) { for (let i = 0; i < n; i++) c.enqueue(i); c.close(); } }, { highWaterMark: Infinity });
      const got = await readAllChunks(rs);
      assertEquals(got.length, n);
      assert(got.every((v, i) => v === i), "order preserved");
    }

    return new Response("ok");
  },
};
