// TextDecoder (https://encoding.spec.whatwg.org/#interface-textdecoder):
// labels, BOM handling, fatal mode, streaming and legacy encodings.
import { assert, assertEquals, assertThrows } from "../_assert.js";

const bytes = (...b) => new Uint8Array(b);

export default {
  async fetch() {
    const d = new TextDecoder();
    assertEquals(d.encoding, "utf-8");
    assertEquals(d.fatal, false);
    assertEquals(d.ignoreBOM, false);
    assertEquals(d.decode(bytes(0x68, 0xc3, 0xa9)), "hé");
    assertEquals(d.decode(), "");
    assertEquals(d.decode(new Uint8Array([0x61, 0x62, 0x63]).buffer), "abc");
    assertEquals(d.decode(new DataView(new Uint8Array([0x78, 0x79]).buffer, 1)), "y");
    assertEquals(d.decode(new Uint16Array([0x6968])), "hi");
    assertThrows(() => d.decode("not a buffer"), TypeError);

    // Labels: case- and whitespace-insensitive; unknown and "replacement" labels are RangeErrors.
    assertEquals(new TextDecoder(" UTF8 ").encoding, "utf-8");
    assertEquals(new TextDecoder("latin1").encoding, "windows-1252");
    assertEquals(new TextDecoder("ascii").encoding, "windows-1252");
    assertEquals(new TextDecoder("sjis").encoding, "shift_jis");
    assertEquals(new TextDecoder("utf-16").encoding, "utf-16le");
    assertEquals(new TextDecoder("x-user-defined").encoding, "x-user-defined");
    assertThrows(() => new TextDecoder("nope"), RangeError);
    assertThrows(() => new TextDecoder("iso-2022-kr"), RangeError);
    assertThrows(() => new TextDecoder("utf-8", 5), TypeError);

    // BOM: stripped once unless ignoreBOM.
    assertEquals(d.decode(bytes(0xef, 0xbb, 0xbf, 0x41)), "A");
    assertEquals(d.decode(bytes(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf)), "\uFEFF");
    const keep = new TextDecoder("utf-8", { ignoreBOM: true });
    assertEquals(keep.ignoreBOM, true);
    assertEquals(keep.decode(bytes(0xef, 0xbb, 0xbf, 0x41)), "\uFEFFA");
    assertEquals(new TextDecoder("utf-16le").decode(bytes(0xff, 0xfe, 0x41, 0x00)), "A");
    assertEquals(new TextDecoder("utf-16be").decode(bytes(0xfe, 0xff, 0x00, 0x41)), "A");

    // Replacement vs fatal.
    assertEquals(d.decode(bytes(0x61, 0xff, 0x62, 0xe2, 0x82)), "a\uFFFDb\uFFFD");
    assertEquals(d.decode(bytes(0xf0, 0x80, 0x80, 0x41)), "\uFFFD\uFFFD\uFFFDA");
    const fatal = new TextDecoder("utf-8", { fatal: true });
    assertEquals(fatal.fatal, true);
    assertThrows(() => fatal.decode(bytes(0x61, 0xff)), TypeError);
    assertEquals(fatal.decode(bytes(0x61)), "a");
    assertThrows(() => new TextDecoder("shift_jis", { fatal: true }).decode(bytes(0x82)), TypeError);

    // Streaming: a character split across chunks, in UTF-8 and UTF-16.
    const s = new TextDecoder();
    assertEquals(s.decode(bytes(0x41, 0xe2), { stream: true }), "A");
    assertEquals(s.decode(bytes(0x82), { stream: true }), "");
    assertEquals(s.decode(bytes(0xac, 0x42), { stream: true }), "€B");
    assertEquals(s.decode(bytes(0xf0, 0x9f), { stream: true }), "");
    assertEquals(s.decode(), "\uFFFD");
    assertEquals(s.decode(bytes(0x43)), "C"); // a fresh stream after the flush
    const s2 = new TextDecoder();
    assertEquals(s2.decode(bytes(0xef, 0xbb), { stream: true }), "");
    assertEquals(s2.decode(bytes(0xbf, 0x61)), "a"); // BOM split across chunks
    const u16 = new TextDecoder("utf-16le");
    assertEquals(u16.decode(bytes(0x3d, 0xd8, 0x00), { stream: true }), "");
    assertEquals(u16.decode(bytes(0xde)), "😀");
    const sf = new TextDecoder("utf-8", { fatal: true });
    assertEquals(sf.decode(bytes(0xe2, 0x82), { stream: true }), "");
    assertThrows(() => sf.decode(), TypeError);
    assertEquals(sf.decode(bytes(0x41)), "A");

    // Legacy encodings.
    assertEquals(new TextDecoder("windows-1252").decode(bytes(0x80, 0xe9, 0x9f, 0x41)), "€éŸA");
    assertEquals(new TextDecoder("iso-8859-2").decode(bytes(0xa3)), "Ł");
    assertEquals(new TextDecoder("shift_jis").decode(bytes(0x82, 0xa0, 0x93, 0xfa, 0x96, 0x7b)), "あ日本");
    const sj = new TextDecoder("shift_jis");
    assertEquals(sj.decode(bytes(0x82), { stream: true }), "");
    assertEquals(sj.decode(bytes(0xa0)), "あ");
    assertEquals(new TextDecoder("euc-kr").decode(bytes(0xc7, 0xd1)), "한");
    assertEquals(new TextDecoder("gbk").decode(bytes(0xc4, 0xe3)), "你");
    assertEquals(new TextDecoder("big5").decode(bytes(0xa4, 0xa4)), "中");
    assertEquals(new TextDecoder("x-user-defined").decode(bytes(0x41, 0x80)), "A\uF780");

    assertEquals(Object.prototype.toString.call(d), "[object TextDecoder]");
    assertThrows(() => TextDecoder.prototype.decode.call({}), TypeError);
    assert(TextDecoder.length === 0);
    return new Response("ok");
  },
};
