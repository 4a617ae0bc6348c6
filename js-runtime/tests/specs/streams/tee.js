// ReadableStream.prototype.tee for default and byte streams
// (https://streams.spec.whatwg.org/#rs-tee).
import { assert, assertEquals, assertRejects } from "../_assert.js";

async function collect(stream) {
  const out = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

export default {
  async fetch() {
    // Both branches see every chunk; the source is locked.
    {
      const rs = new ReadableStream({ start(c) { c.enqueue("a"); c.enqueue("b"); c.close(); } });
      const [a, b] = rs.tee();
      assert(rs.locked);
      assert(a instanceof ReadableStream && b instanceof ReadableStream);
      assertEquals(await collect(a), ["a", "b"]);
      assertEquals(await collect(b), ["a", "b"]);
    }

    // The same chunk object goes to both default branches (no clone in the public tee).
    {
      const obj = { x: 1 };
      const [a, b] = new ReadableStream({ start(c) { c.enqueue(obj); c.close(); } }).tee();
      const [ra, rb] = await Promise.all([a.getReader().read(), b.getReader().read()]);
      assert(ra.value === obj && rb.value === obj);
    }

    // Canceling one branch does not cancel the source; canceling both does, with both reasons.
    {
      let reason;
      const rs = new ReadableStream({ cancel: (r) => (reason = r) });
      const [a, b] = rs.tee();
      const p1 = a.cancel("r1");
      await Promise.resolve();
      assertEquals(reason, undefined);
      const p2 = b.cancel("r2");
      await Promise.all([p1, p2]);
      assertEquals(reason, ["r1", "r2"]);
    }

    // An error in the source errors both branches.
    {
      let c;
      const rs = new ReadableStream({ start: (ctrl) => (c = ctrl) });
      const [a, b] = rs.tee();
      const err = new Error("tee source failed");
      c.error(err);
      assertEquals(await assertRejects(a.getReader().read()), err);
      assertEquals(await assertRejects(b.getReader().closed), err);
    }

    // One branch can be read ahead of the other (the slow one buffers).
    {
      let n = 0;
      const rs = new ReadableStream({ pull(c) { if (++n > 3) c.close(); else c.enqueue(n); } });
      const [a, b] = rs.tee();
      assertEquals(await collect(a), [1, 2, 3]);
      assertEquals(await collect(b), [1, 2, 3]);
    }

    // Byte streams tee into byte streams; branches get independent copies.
    {
      const rs = new ReadableStream({
        type: "bytes",
        start(c) {
          c.enqueue(new Uint8Array([1, 2, 3]));
          c.close();
        },
      });
      const [a, b] = rs.tee();
      const readerA = a.getReader({ mode: "byob" });
      const { value: va } = await readerA.read(new Uint8Array(8));
      assertEquals(va, new Uint8Array([1, 2, 3]));
      va[0] = 99;
      const { value: vb } = await b.getReader().read();
      assertEquals(vb, new Uint8Array([1, 2, 3]), "branch 2 is not affected by writes to branch 1's chunk");
      assert((await readerA.read(new Uint8Array(1))).done);
    }

    return new Response("ok");
  },
};
