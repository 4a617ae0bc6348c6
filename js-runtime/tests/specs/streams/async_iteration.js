// Async iteration and ReadableStream.from
// (https://streams.spec.whatwg.org/#rs-asynciterator, #rs-from).
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    // for await reads every chunk and releases the lock at the end.
    {
      const rs = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close(); } });
      const out = [];
      for await (const x of rs) out.push(x);
      assertEquals(out, [1, 2]);
      assert(!rs.locked, "released after the end");
    }

    // The iterator object looks like browsers'.
    {
      const it = new ReadableStream().values();
      const proto = Object.getPrototypeOf(it);
      assertEquals(Object.prototype.toString.call(it), "[object ReadableStream AsyncIterator]");
      const asyncIteratorProto = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);
      assertEquals(Object.getPrototypeOf(proto), asyncIteratorProto);
      assertEquals(typeof proto.next, "function");
      assertEquals(typeof proto.return, "function");
      await assertRejects(proto.next.call({}), TypeError);
      await it.return();
    }

    // break cancels the stream (with undefined); preventCancel keeps it open.
    {
      let canceled = 0;
      const make = () => new ReadableStream({ pull: (c) => c.enqueue("x"), cancel: () => { canceled++; } });
      const rs = make();
      for await (const _ of rs) break;
      assertEquals(canceled, 1);
      assert(!rs.locked);
      const rs2 = make();
      for await (const _ of rs2.values({ preventCancel: true })) break;
      assertEquals(canceled, 1);
      assert(!rs2.locked);
      assertEquals((await rs2.getReader().read()).value, "x");
    }

    // An error in the stream is thrown out of the loop.
    {
      const err = new Error("iter failed");
      const rs = new ReadableStream({ start(c) { c.enqueue(1); c.error(err); } });
      let caught;
      try {
        for await (const _ of rs) {
          // The error overtakes the queued chunk.
        }
      } catch (e) {
        caught = e;
      }
      assertEquals(caught, err);
    }

    // A locked stream cannot be iterated.
    {
      const rs = new ReadableStream();
      rs.getReader();
      assertThrows(() => rs.values(), TypeError);
    }

    // next() calls made back to back resolve in order; return() after the end.
    {
      const rs = new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); c.close(); } });
      const it = rs[Symbol.asyncIterator]();
      const results = await Promise.all([it.next(), it.next(), it.next(), it.next()]);
      assertEquals(results, [
        { value: "a", done: false },
        { value: "b", done: false },
        { value: undefined, done: true },
        { value: undefined, done: true },
      ]);
      assertEquals(await it.return("v"), { value: "v", done: true });
    }

    // Chunks that arrive later are awaited.
    {
      let c;
      const rs = new ReadableStream({ start: (ctrl) => (c = ctrl) });
      const it = rs.values();
      const p = it.next();
      setTimeout(() => c.enqueue("late"), 1);
      assertEquals(await p, { value: "late", done: false });
      await it.return();
    }

    // ReadableStream.from: arrays, sync iterables of promises, async generators.
    {
      assertEquals(ReadableStream.from.length, 1);
      const out = [];
      for await (const x of ReadableStream.from([1, Promise.resolve(2), 3])) out.push(x);
      assertEquals(out, [1, 2, 3]);
      async function* gen() {
        yield "a";
        await null;
        yield "b";
      }
      const out2 = [];
      for await (const x of ReadableStream.from(gen())) out2.push(x);
      assertEquals(out2, ["a", "b"]);
      assertThrows(() => ReadableStream.from(42), TypeError);
      assertThrows(() => ReadableStream.from({ [Symbol.asyncIterator]: 1 }), TypeError);
    }

    // Canceling a from() stream calls the iterator's return().
    {
      let returned;
      const iterable = {
        [Symbol.asyncIterator]() {
          return {
            next: () => Promise.resolve({ value: "x", done: false }),
            return: (reason) => {
              returned = reason;
              return Promise.resolve({ done: true });
            },
          };
        },
      };
      const rs = ReadableStream.from(iterable);
      const reader = rs.getReader();
      assertEquals((await reader.read()).value, "x");
      await reader.cancel("enough");
      assertEquals(returned, "enough");
    }

    // next() results that are not objects error the stream.
    {
      const rs = ReadableStream.from({ [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve(1) }) });
      await assertRejects(rs.getReader().read(), TypeError);
    }

    return new Response("ok");
  },
};
