// pipeTo and pipeThrough: data flow, backpressure, close/error propagation
// in both directions, prevent* options, AbortSignal
// (https://streams.spec.whatwg.org/#rs-pipeTo).
import { assert, assertEquals, assertRejects } from "../_assert.js";

const tick = () => new Promise((r) => setTimeout(r, 0));

function recordingSink(log, opts = {}) {
  return new WritableStream(
    {
      write(chunk) {
        log.push(["write", chunk]);
        return opts.write?.(chunk);
      },
      close() {
        log.push(["close"]);
      },
      abort(reason) {
        log.push(["abort", reason]);
      },
    },
    opts.strategy,
  );
}

export default {
  async fetch() {
    // Everything is written, then the destination is closed; both unlock.
    {
      const log = [];
      const rs = ReadableStream.from(["a", "b", "c"]);
      const ws = recordingSink(log);
      const p = rs.pipeTo(ws);
      assert(rs.locked && ws.locked);
      assertEquals(await p, undefined);
      assertEquals(log, [["write", "a"], ["write", "b"], ["write", "c"], ["close"]]);
      assert(!rs.locked && !ws.locked);
    }

    // preventClose leaves the destination open.
    {
      const log = [];
      const ws = recordingSink(log);
      await ReadableStream.from([1]).pipeTo(ws, { preventClose: true });
      assertEquals(log, [["write", 1]]);
      const writer = ws.getWriter();
      await writer.write(2);
      assertEquals(log.length, 2);
    }

    // Errors propagate forward: the destination is aborted with the source's error.
    {
      const log = [];
      const err = new Error("source failed");
      const rs = new ReadableStream({ start(c) { c.enqueue(1); setTimeout(() => c.error(err), 5); } });
      const ws = recordingSink(log);
      assertEquals(await assertRejects(rs.pipeTo(ws)), err);
      assertEquals(log, [["write", 1], ["abort", err]]);
    }
    // ...unless preventAbort.
    {
      const log = [];
      const err = new Error("source failed");
      const rs = new ReadableStream({ start: (c) => c.error(err) });
      const ws = recordingSink(log);
      assertEquals(await assertRejects(rs.pipeTo(ws, { preventAbort: true })), err);
      assertEquals(log, []);
      assert(!ws.locked);
    }

    // Errors propagate backward: the source is canceled with the destination's error.
    {
      let canceled;
      const err = new Error("sink failed");
      const rs = new ReadableStream({ pull: (c) => c.enqueue("x"), cancel: (r) => { canceled = r; } });
      const ws = new WritableStream({ write: () => Promise.reject(err) });
      assertEquals(await assertRejects(rs.pipeTo(ws)), err);
      assertEquals(canceled, err);
    }
    // ...unless preventCancel.
    {
      let canceled = false;
      const err = new Error("sink failed");
      const rs = new ReadableStream({ pull: (c) => c.enqueue("x"), cancel: () => { canceled = true; } });
      const ws = new WritableStream({ write: () => Promise.reject(err) });
      assertEquals(await assertRejects(rs.pipeTo(ws, { preventCancel: true })), err);
      assert(!canceled);
      assert(!rs.locked);
    }

    // Closing propagates backward: piping into a closed stream cancels the source.
    {
      let canceled;
      const ws = new WritableStream();
      await ws.close();
      const rs = new ReadableStream({ cancel: (r) => { canceled = r; } });
      await assertRejects(rs.pipeTo(ws), TypeError);
      assert(canceled instanceof TypeError);
    }

    // Backpressure: a slow sink with highWaterMark 1 keeps the source from being drained.
    {
      let pulls = 0;
      const releases = [];
      const rs = new ReadableStream({ pull: (c) => c.enqueue(++pulls) }, { highWaterMark: 0 });
      const ws = new WritableStream({ write: () => new Promise((r) => releases.push(r)) });
      rs.pipeTo(ws);
      await tick();
      await tick();
      assert(pulls <= 3, `source pulled ${pulls} times while the sink is stuck`);
      const before = pulls;
      releases.shift()();
      await tick();
      await tick();
      assert(pulls > before, "pulling resumes when the sink drains");
      rs.cancel().catch(() => {});
    }

    // AbortSignal (from the dom family).
    if (typeof AbortController === "function") {
      // AbortSignal: aborting stops the pipe, aborts the destination and cancels the source.
      {
        const log = [];
        let canceled;
        const controller = new AbortController();
        const rs = new ReadableStream({ pull: (c) => c.enqueue("x"), cancel: (r) => { canceled = r; } }, { highWaterMark: 0 });
        const ws = recordingSink(log, { write: () => tick() });
        const p = rs.pipeTo(ws, { signal: controller.signal });
        await tick();
        const reason = new Error("stop it");
        controller.abort(reason);
        assertEquals(await assertRejects(p), reason);
        assertEquals(canceled, reason);
        assertEquals(log.at(-1), ["abort", reason]);
      }
      // An already-aborted signal rejects at once with its reason (an AbortError by default).
      {
        const rs = new ReadableStream();
        const ws = new WritableStream();
        const e = await assertRejects(rs.pipeTo(ws, { signal: AbortSignal.abort() }), DOMException);
        assertEquals(e.name, "AbortError");
      }
      // preventAbort + preventCancel with a signal: both streams stay usable.
      {
        const controller = new AbortController();
        const rs = new ReadableStream();
        const ws = new WritableStream();
        const p = rs.pipeTo(ws, { signal: controller.signal, preventAbort: true, preventCancel: true });
        controller.abort("r");
        assertEquals(await assertRejects(p), "r");
        assert(!rs.locked && !ws.locked);
        rs.getReader();
        ws.getWriter();
      }
    }

    // Bad arguments reject (never throw) and leave the streams unlocked.
    {
      const rs = new ReadableStream();
      await assertRejects(rs.pipeTo({}), TypeError);
      await assertRejects(rs.pipeTo(new WritableStream(), { signal: {} }), TypeError);
      await assertRejects(rs.pipeTo(new WritableStream(), { signal: "x" }), TypeError);
      assert(!rs.locked);
      const locked = new WritableStream();
      locked.getWriter();
      await assertRejects(rs.pipeTo(locked), TypeError);
      assert(!rs.locked);
    }

    // pipeThrough returns the readable side and pipes into the writable side.
    {
      const ts = new TransformStream({ transform: (chunk, c) => c.enqueue(chunk * 2) });
      const out = ReadableStream.from([1, 2, 3]).pipeThrough(ts);
      assert(out === ts.readable);
      const got = [];
      for await (const x of out) got.push(x);
      assertEquals(got, [2, 4, 6]);
      let threw;
      try {
        new ReadableStream().pipeThrough({ readable: new ReadableStream() });
      } catch (e) {
        threw = e;
      }
      assert(threw instanceof TypeError, "pipeThrough throws for a bad pair");
    }

    // A chain of transforms with a byte source.
    {
      const src = new ReadableStream({
        type: "bytes",
        start(c) {
          c.enqueue(new TextEncoder().encode("hello "));
          c.enqueue(new TextEncoder().encode("world"));
          c.close();
        },
      });
      const upper = new TransformStream({ transform: (s, c) => c.enqueue(s.toUpperCase()) });
      let text = "";
      for await (const s of src.pipeThrough(new TextDecoderStream()).pipeThrough(upper)) text += s;
      assertEquals(text, "HELLO WORLD");
    }

    return new Response("ok");
  },
};
