// TextEncoderStream / TextDecoderStream (https://encoding.spec.whatwg.org/#interface-textdecoderstream).
import { assertEquals } from "../_assert.js";

async function collect(readable) {
  const out = [];
  const reader = readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

export default {
  async fetch() {
    const ds = new TextDecoderStream();
    assertEquals(ds.encoding, "utf-8");
    const writer = ds.writable.getWriter();
    writer.write(new Uint8Array([0x61, 0xe2, 0x82]));
    writer.write(new Uint8Array([0xac]));
    writer.write(new Uint8Array([0xf0]));
    writer.close();
    assertEquals((await collect(ds.readable)).join(""), "a€\uFFFD");

    const es = new TextEncoderStream();
    const w = es.writable.getWriter();
    w.write("a\uD83D");
    w.write("\uDE00b");
    w.close();
    const chunks = await collect(es.readable);
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      joined.set(c, at);
      at += c.length;
    }
    assertEquals(joined, new Uint8Array([0x61, 0xf0, 0x9f, 0x98, 0x80, 0x62]));
    return new Response("ok");
  },
};
