// TextEncoderStream / TextDecoderStream (https://encoding.spec.whatwg.org/#interface-textdecoderstream).
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

async function collect(readable) {
  const out = [];
  for await (const c of readable) out.push(c);
  return out;
}

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export default {
  async fetch() {
    // Encoder: a surrogate pair split over two chunks is kept together.
    {
      const es = new TextEncoderStream();
      assertEquals(es.encoding, "utf-8");
      assert(es.readable instanceof ReadableStream && es.writable instanceof WritableStream);
      const w = es.writable.getWriter();
      w.write("a\uD83D");
      w.write("\uDE00b");
      w.write("");
      w.close();
      const chunks = await collect(es.readable);
      assert(chunks.every((c) => c instanceof Uint8Array));
      assertEquals(concat(chunks), new Uint8Array([0x61, 0xf0, 0x9f, 0x98, 0x80, 0x62]));
    }
    // A trailing lone high surrogate becomes U+FFFD at the end.
    {
      const es = new TextEncoderStream();
      const w = es.writable.getWriter();
      w.write("x\uD800");
      w.close();
      assertEquals(concat(await collect(es.readable)), new Uint8Array([0x78, 0xef, 0xbf, 0xbd]));
    }
    // Non-strings are stringified.
    {
      const es = new TextEncoderStream();
      const w = es.writable.getWriter();
      w.write(12);
      w.close();
      assertEquals(concat(await collect(es.readable)), new Uint8Array([0x31, 0x32]));
    }

    // Decoder: multi-byte sequences split across chunks.
    {
      const ds = new TextDecoderStream();
      assertEquals(ds.encoding, "utf-8");
      assertEquals(ds.fatal, false);
      assertEquals(ds.ignoreBOM, false);
      const w = ds.writable.getWriter();
      w.write(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0xe2, 0x82]));
      w.write(new Uint8Array([0xac]).buffer);
      w.write(new Uint8Array([0xf0]));
      w.close();
      assertEquals((await collect(ds.readable)).join(""), "h€\uFFFD");
    }
    // Fatal decoding errors the stream with a TypeError; non-buffers are TypeErrors.
    {
      const ds = new TextDecoderStream("utf-8", { fatal: true });
      assertEquals(ds.fatal, true);
      const w = ds.writable.getWriter();
      // Nothing is decoded until the readable side is read (readable highWaterMark 0).
      const read = ds.readable.getReader().read();
      await assertRejects(w.write(new Uint8Array([0xff])), TypeError);
      await assertRejects(read, TypeError);
      const ds2 = new TextDecoderStream();
      const read2 = ds2.readable.getReader().read();
      await assertRejects(ds2.writable.getWriter().write("not bytes"), TypeError);
      await assertRejects(read2, TypeError);
    }
    // Labels are resolved by TextDecoder.
    assertThrows(() => new TextDecoderStream("no-such-encoding"), RangeError);
    assertThrows(() => Object.getOwnPropertyDescriptor(TextDecoderStream.prototype, "readable").get.call({}), TypeError);

    // Piping bytes through a decoder.
    {
      const bytes = new TextEncoder().encode("ünïcödé");
      const src = new ReadableStream({
        start(c) {
          for (const b of bytes) c.enqueue(new Uint8Array([b]));
          c.close();
        },
      });
      assertEquals((await collect(src.pipeThrough(new TextDecoderStream()))).join(""), "ünïcödé");
    }

    return new Response("ok");
  },
};
