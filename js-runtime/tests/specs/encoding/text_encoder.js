// TextEncoder (https://encoding.spec.whatwg.org/#interface-textencoder).
import { assert, assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    const enc = new TextEncoder();
    assertEquals(enc.encoding, "utf-8");
    assertEquals(enc.encode("a€😀"), new Uint8Array([0x61, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]));
    assertEquals(enc.encode(), new Uint8Array([]));
    assertEquals(enc.encode(undefined), new Uint8Array([]));
    assertEquals(enc.encode(null), new Uint8Array([0x6e, 0x75, 0x6c, 0x6c]));
    // Lone surrogates become U+FFFD.
    assertEquals(enc.encode("\uD800x\uDC00"), new Uint8Array([0xef, 0xbf, 0xbd, 0x78, 0xef, 0xbf, 0xbd]));
    const big = "x".repeat(100000) + "é";
    assertEquals(enc.encode(big).length, 100002);

    // encodeInto writes whole characters only; `read` counts UTF-16 units.
    const dest = new Uint8Array(5);
    assertEquals(enc.encodeInto("a€b", dest), { read: 3, written: 5 });
    assertEquals(dest, new Uint8Array([0x61, 0xe2, 0x82, 0xac, 0x62]));
    const small = new Uint8Array(4);
    assertEquals(enc.encodeInto("a😀", small), { read: 1, written: 1 });
    assertEquals(enc.encodeInto("😀😀", new Uint8Array(4)), { read: 2, written: 4 });
    assertEquals(enc.encodeInto("\uD800", new Uint8Array(3)), { read: 1, written: 3 });
    const view = new Uint8Array(new ArrayBuffer(8), 2, 3);
    assertEquals(enc.encodeInto("xyz!", view), { read: 3, written: 3 });
    assertEquals(new Uint8Array(view.buffer), new Uint8Array([0, 0, 0x78, 0x79, 0x7a, 0, 0, 0]));
    assertEquals(enc.encodeInto("abc", new Uint8Array(0)), { read: 0, written: 0 });
    assertThrows(() => enc.encodeInto("a", new Uint16Array(2)), TypeError);
    assertThrows(() => enc.encodeInto("a"), TypeError);

    assertEquals(Object.prototype.toString.call(enc), "[object TextEncoder]");
    assertThrows(() => TextEncoder.prototype.encode.call({}, "x"), TypeError);
    assert(Object.keys(TextEncoder.prototype).includes("encodeInto"));
    return new Response("ok");
  },
};
