// Readable byte streams: BYOB readers, byobRequest, autoAllocateChunkSize,
// read({ min }), buffer transfer (https://streams.spec.whatwg.org/#rbs-controller-class).
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

const tick = () => new Promise((r) => setTimeout(r, 0));

export default {
  async fetch() {
    assertThrows(() => new ReadableByteStreamController(), TypeError);
    assertThrows(() => new ReadableStreamBYOBRequest(), TypeError);
    assertEquals(Object.prototype.toString.call(new ReadableStream({ type: "bytes" }).getReader({ mode: "byob" })), "[object ReadableStreamBYOBReader]");
    assertThrows(() => new ReadableStream().getReader({ mode: "byob" }), TypeError, undefined);
    assertThrows(() => new ReadableStream({ type: "bytes" }).getReader({ mode: "nope" }), TypeError);
    assertThrows(() => new ReadableStream({ type: "bytes" }, { size: () => 1 }), RangeError);
    assertThrows(() => new ReadableStream({ type: "bytes", autoAllocateChunkSize: 0 }), TypeError);

    // The controller is a ReadableByteStreamController; enqueue transfers (detaches) the buffer.
    {
      let controller;
      const rs = new ReadableStream({ type: "bytes", start: (c) => (controller = c) });
      assert(controller instanceof ReadableByteStreamController);
      assertEquals(controller.byobRequest, null);
      const chunk = new Uint8Array([1, 2, 3]);
      controller.enqueue(chunk);
      assertEquals(chunk.byteLength, 0, "enqueued buffer is detached");
      assertThrows(() => controller.enqueue(new Uint8Array(0)), TypeError);
      assertThrows(() => controller.enqueue("str"), TypeError);
      const reader = rs.getReader();
      const { value } = await reader.read();
      assert(value instanceof Uint8Array);
      assertEquals(value, new Uint8Array([1, 2, 3]));
    }

    // BYOB read: the source fills the reader's buffer through byobRequest.
    {
      const rs = new ReadableStream({
        type: "bytes",
        pull(c) {
          const req = c.byobRequest;
          assert(req !== null, "byobRequest present for a BYOB read");
          assertEquals(req.view.byteLength, 8);
          req.view.set([10, 20, 30]);
          req.respond(3);
          assertEquals(c.byobRequest, null, "request invalidated after respond");
        },
      });
      const reader = rs.getReader({ mode: "byob" });
      const buffer = new ArrayBuffer(8);
      const { value, done } = await reader.read(new Uint8Array(buffer));
      assert(!done);
      assertEquals(buffer.byteLength, 0, "the view's buffer was transferred");
      assertEquals(value, new Uint8Array([10, 20, 30]));
      assertEquals(value.buffer.byteLength, 8);
    }

    // Enqueued bytes are copied into a BYOB read; typed arrays other than Uint8Array work.
    {
      const rs = new ReadableStream({
        type: "bytes",
        start(c) {
          c.enqueue(new Uint8Array([1, 0, 2, 0, 3]));
          c.close();
        },
      });
      const reader = rs.getReader({ mode: "byob" });
      const first = await reader.read(new Uint16Array(2));
      assert(first.value instanceof Uint16Array);
      assertEquals(Array.from(first.value), [1, 2]);
      // One byte is left: not enough for a Uint16 element with the stream closing.
      await assertRejects(reader.read(new Uint16Array(1)), TypeError);
    }

    // read(view, { min }) waits until at least min elements are filled.
    {
      let c;
      const rs = new ReadableStream({ type: "bytes", start: (ctrl) => (c = ctrl) });
      const reader = rs.getReader({ mode: "byob" });
      let settled = false;
      const p = reader.read(new Uint8Array(6), { min: 4 }).then((r) => ((settled = true), r));
      c.enqueue(new Uint8Array([1, 2]));
      await tick();
      assert(!settled, "not enough bytes yet");
      c.enqueue(new Uint8Array([3, 4, 5]));
      const { value } = await p;
      assertEquals(value, new Uint8Array([1, 2, 3, 4, 5]));
      await assertRejects(reader.read(new Uint8Array(2), { min: 0 }), TypeError);
      await assertRejects(reader.read(new Uint8Array(2), { min: 3 }), RangeError);
      await assertRejects(reader.read(new Uint8Array(0)), TypeError);
    }

    // respondWithNewView and closing with a pending BYOB read.
    {
      const rs = new ReadableStream({
        type: "bytes",
        pull(c) {
          const v = c.byobRequest.view;
          const view = new Uint8Array(v.buffer, v.byteOffset, 2);
          view.set([7, 8]);
          c.byobRequest.respondWithNewView(view);
          c.close();
        },
      });
      const reader = rs.getReader({ mode: "byob" });
      assertEquals((await reader.read(new Uint8Array(4))).value, new Uint8Array([7, 8]));
      const end = await reader.read(new Uint8Array(4));
      assert(end.done);
      assertEquals(end.value.byteLength, 0);
      assertEquals(end.value.buffer.byteLength, 4, "the buffer comes back, empty view");
    }

    // autoAllocateChunkSize gives default readers a byobRequest too.
    {
      const rs = new ReadableStream({
        type: "bytes",
        autoAllocateChunkSize: 16,
        pull(c) {
          const req = c.byobRequest;
          assertEquals(req.view.byteLength, 16);
          req.view[0] = 42;
          req.respond(1);
          c.close();
        },
      });
      const reader = rs.getReader();
      const { value } = await reader.read();
      assertEquals(value, new Uint8Array([42]));
      assert((await reader.read()).done);
    }

    // Default reader on a byte stream gets Uint8Array chunks; errors propagate.
    {
      let c;
      const rs = new ReadableStream({ type: "bytes", start: (ctrl) => (c = ctrl) });
      const reader = rs.getReader();
      const p = reader.read();
      c.enqueue(new Uint16Array([0x0102]));
      const { value } = await p;
      assertEquals(value.constructor, Uint8Array);
      assertEquals(value.byteLength, 2);
      const err = new Error("bytes broke");
      c.error(err);
      assertEquals(await assertRejects(reader.read()), err);
    }

    // Releasing a BYOB reader with a pending read rejects it; cancel reaches the source.
    {
      let reason;
      const rs = new ReadableStream({ type: "bytes", cancel: (r) => (reason = r) });
      const reader = rs.getReader({ mode: "byob" });
      const pending = reader.read(new Uint8Array(1));
      reader.releaseLock();
      await assertRejects(pending, TypeError);
      await rs.cancel("stop");
      assertEquals(reason, "stop");
    }

    // respond() misuse.
    {
      let request;
      const rs = new ReadableStream({ type: "bytes", pull: (c) => { request = c.byobRequest; } });
      const reader = rs.getReader({ mode: "byob" });
      reader.read(new Uint8Array(4));
      await tick();
      assertThrows(() => request.respond(5), RangeError);
      assertThrows(() => request.respond(0), TypeError);
      request.respond(4);
      assertThrows(() => request.respond(1), TypeError, undefined);
    }

    return new Response("ok");
  },
};
