// CompressionStream / DecompressionStream (https://compression.spec.whatwg.org/).
import { assert, assertEquals, assertRejects, assertThrows } from "../_assert.js";

async function collectBytes(readable) {
  const chunks = [];
  for await (const c of readable) {
    assert(c instanceof Uint8Array, "chunks are Uint8Arrays");
    chunks.push(c);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Writes `chunks` through `transform` and collects the output bytes. */
function run(transform, chunks) {
  const writer = transform.writable.getWriter();
  for (const c of chunks) writer.write(c).catch(() => {});
  writer.close().catch(() => {});
  return collectBytes(transform.readable);
}

function split(bytes, size) {
  const out = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

// `printf hello | gzip -n`
const HELLO_GZIP = new Uint8Array([
  0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x86, 0xa6,
  0x10, 0x36, 0x05, 0x00, 0x00, 0x00,
]);

export default {
  async fetch() {
    assertEquals(CompressionStream.length, 1);
    assertThrows(() => new CompressionStream(), TypeError);
    assertThrows(() => new CompressionStream("zip"), TypeError);
    assertThrows(() => new DecompressionStream("brotli-ish"), TypeError);
    assertEquals(Object.prototype.toString.call(new CompressionStream("gzip")), "[object CompressionStream]");

    // A known gzip stream from another tool, whole and byte by byte.
    const hello = new TextDecoder().decode(await run(new DecompressionStream("gzip"), [HELLO_GZIP]));
    assertEquals(hello, "hello");
    assertEquals(new TextDecoder().decode(await run(new DecompressionStream("gzip"), split(HELLO_GZIP, 1))), "hello");

    // Round trips in every format, with assorted chunkings and input types.
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(2000) + "ünïcödé ✓";
    const input = new TextEncoder().encode(text);
    for (const format of ["gzip", "deflate", "deflate-raw"]) {
      const packed = await run(new CompressionStream(format), [input.subarray(0, 100), input.subarray(100).buffer.slice(100)]);
      assert(packed.byteLength < input.byteLength / 10, `${format} compresses`);
      if (format === "gzip") assertEquals([packed[0], packed[1]], [0x1f, 0x8b]);
      if (format === "deflate") assertEquals(packed[0] & 0x0f, 8);
      for (const size of [1, 13, 4096, packed.length]) {
        const unpacked = await run(new DecompressionStream(format), split(packed, size));
        assertEquals(unpacked.length, input.length, `${format} length, chunks of ${size}`);
        assertEquals(new TextDecoder().decode(unpacked), text);
      }
    }

    // Empty input still makes a valid (non-empty) compressed stream.
    {
      const packed = await run(new CompressionStream("gzip"), []);
      assert(packed.length > 0);
      assertEquals((await run(new DecompressionStream("gzip"), [packed])).length, 0);
    }

    // Typed arrays of other kinds and DataViews are accepted.
    {
      const packed = await run(new CompressionStream("deflate"), [new Uint16Array([0x6968]), new DataView(new Uint8Array([0x21]).buffer)]);
      assertEquals(new TextDecoder().decode(await run(new DecompressionStream("deflate"), [packed])), "hi!");
    }

    // Errors are TypeErrors: non-buffer chunks, corrupt data, trailing junk, truncation.
    await assertRejects(run(new CompressionStream("gzip"), ["text"]), TypeError);
    await assertRejects(run(new DecompressionStream("gzip"), [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])]), TypeError);
    await assertRejects(run(new DecompressionStream("deflate"), [new Uint8Array([0x78, 0x9c, 0xff, 0xff])]), TypeError);
    {
      const junk = new Uint8Array(HELLO_GZIP.length + 3);
      junk.set(HELLO_GZIP);
      junk.set([1, 2, 3], HELLO_GZIP.length);
      await assertRejects(run(new DecompressionStream("gzip"), [junk]), TypeError);
      await assertRejects(run(new DecompressionStream("gzip"), [HELLO_GZIP, new Uint8Array([0])]), TypeError);
    }
    await assertRejects(run(new DecompressionStream("gzip"), [HELLO_GZIP.subarray(0, 20)]), TypeError);
    {
      const bad = HELLO_GZIP.slice();
      bad[bad.length - 8] ^= 0xff; // CRC-32
      await assertRejects(run(new DecompressionStream("gzip"), [bad]), TypeError);
    }
    await assertRejects(run(new DecompressionStream("deflate-raw"), []), TypeError);

    // pipeThrough chains: compress then decompress a byte stream.
    {
      const source = new ReadableStream({
        start(c) {
          c.enqueue(input.slice(0, 5000));
          c.enqueue(input.slice(5000));
          c.close();
        },
      });
      const roundTrip = source.pipeThrough(new CompressionStream("gzip")).pipeThrough(new DecompressionStream("gzip"));
      assertEquals((await collectBytes(roundTrip)).length, input.length);
    }

    // Canceling and aborting free the codec without errors.
    {
      const cs = new CompressionStream("gzip");
      await cs.readable.cancel();
      const ds = new DecompressionStream("gzip");
      await ds.writable.abort();
    }

    return new Response("ok");
  },
};
