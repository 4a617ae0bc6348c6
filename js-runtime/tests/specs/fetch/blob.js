// Blob and File: https://w3c.github.io/FileAPI/
import { assert, assertEquals, assertThrows, assertRejects } from "../_assert.js";

const enc = new TextEncoder();

async function readStream(stream) {
  const reader = stream.getReader();
  const chunks = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    assert(value instanceof Uint8Array, "stream chunks are Uint8Arrays");
    chunks.push(...value);
  }
  return new Uint8Array(chunks);
}

export default {
  async fetch() {
    // Parts: strings (UTF-8), buffers, views, blobs.
    const buf = new Uint8Array([104, 105]).buffer;
    const view = new DataView(new Uint8Array([0, 33, 0]).buffer, 1, 1);
    const inner = new Blob(["-é-"]);
    const b = new Blob(["a", buf, view, inner, new Uint16Array([0x4241])], { type: "Text/Plain" });
    assertEquals(b.size, 1 + 2 + 1 + 4 + 2);
    assertEquals(b.type, "text/plain", "type is lower-cased");
    assertEquals(await b.text(), "ahi!-é-AB");
    assertEquals(await b.bytes(), new Uint8Array([97, 104, 105, 33, 45, 0xc3, 0xa9, 45, 0x41, 0x42]));
    const ab = await b.arrayBuffer();
    assert(ab instanceof ArrayBuffer);
    assertEquals(ab.byteLength, 10);
    new Uint8Array(ab)[0] = 0;
    assertEquals((await b.bytes())[0], 97, "arrayBuffer() returns a copy");

    // Parts are copied at construction.
    const src = new Uint8Array([1, 2, 3]);
    const copied = new Blob([src]);
    src[0] = 9;
    assertEquals(await copied.bytes(), new Uint8Array([1, 2, 3]));

    // Type normalisation.
    assertEquals(new Blob([], { type: "A/B;C=D" }).type, "a/b;c=d");
    assertEquals(new Blob([], { type: "a/b\u00e9" }).type, "", "non-ASCII type is dropped");
    assertEquals(new Blob([], { type: "a/b\n" }).type, "");
    assertEquals(new Blob().size, 0);
    assertEquals(new Blob().type, "");

    // Other values become strings (WebIDL USVString); lone surrogates turn into U+FFFD.
    assertEquals(await new Blob([12, null, { toString: () => "x" }]).text(), "12nullx");
    assertEquals(await new Blob(["\ud800"]).bytes(), new Uint8Array([0xef, 0xbf, 0xbd]));
    assertThrows(() => new Blob("abc"), TypeError);
    assertThrows(() => new Blob(null), TypeError);
    assertThrows(() => new Blob({}), TypeError);
    assertThrows(() => new Blob([], { endings: "bogus" }), TypeError);
    assertEquals(await new Blob(["a\r\nb\rc\n"], { endings: "native" }).text(), "a\nb\nc\n");
    assertEquals(await new Blob(["a\r\nb"], { endings: "transparent" }).text(), "a\r\nb");
    // Iterables work as sequences.
    assertEquals(await new Blob(new Set(["x", "y"])).text(), "xy");

    // slice, with negative and out-of-range indices.
    const s = new Blob(["abc", "def", "ghi"]);
    assertEquals(await s.slice().text(), "abcdefghi");
    assertEquals(await s.slice(2, 7).text(), "cdefg");
    assertEquals(await s.slice(-4).text(), "fghi");
    assertEquals(await s.slice(-4, -1).text(), "fgh");
    assertEquals(await s.slice(5, 2).text(), "");
    assertEquals(await s.slice(-100, 100).text(), "abcdefghi");
    assertEquals(await s.slice(3, 6).text(), "def");
    assertEquals(s.slice(1, 4).size, 3);
    assertEquals(s.slice(0, 1, "X/Y").type, "x/y");
    assertEquals(s.slice(0, 1).type, "", "a slice has no type unless given");
    assertEquals(await s.slice(1, 8).slice(1, -1).text(), "cdefg", "slices of slices");
    assertEquals(await s.slice(1.5, 3.5).text(), "cd", "[Clamp] rounds half to even");

    // stream()
    const streamed = await readStream(new Blob(["hello ", new Uint8Array(70000).fill(120)]).stream());
    assertEquals(streamed.length, 70006);
    assertEquals(streamed[0], 104);
    assertEquals(streamed[70005], 120);
    assertEquals((await readStream(new Blob([]).stream())).length, 0);

    // File
    const f = new File(["content"], "name.txt", { type: "text/plain", lastModified: 42 });
    assert(f instanceof Blob, "a File is a Blob");
    assertEquals(f.name, "name.txt");
    assertEquals(f.lastModified, 42);
    assertEquals(f.type, "text/plain");
    assertEquals(f.size, 7);
    assertEquals(await f.text(), "content");
    const now = Date.now();
    const g = new File([f, "!"], "g");
    assert(Math.abs(g.lastModified - now) < 5000, "lastModified defaults to now");
    assertEquals(await g.text(), "content!");
    assertEquals(g.type, "");
    assertThrows(() => new File(["x"]), TypeError);
    assertEquals(new File([], "a\ud800").name, "a\ufffd");
    assert(!(f.slice(0, 1) instanceof File), "slice() gives a Blob");

    // Interface shape and brand checks.
    assertEquals(Object.prototype.toString.call(b), "[object Blob]");
    assertEquals(Object.prototype.toString.call(f), "[object File]");
    assertEquals(Blob.length, 0);
    assertEquals(File.length, 2);
    assert(Object.getOwnPropertyDescriptor(Blob.prototype, "size").enumerable);
    assertThrows(() => Blob.prototype.size, TypeError);
    assertThrows(() => File.prototype.name, TypeError);
    assertThrows(() => Blob.prototype.slice.call({}), TypeError);
    await assertRejects(() => Blob.prototype.text.call({}), TypeError);
    assertThrows(() => Object.getOwnPropertyDescriptor(File.prototype, "name").get.call(new Blob()), TypeError);

    // Blobs as bodies keep their type.
    const r = new Response(new Blob(["{\"a\":1}"], { type: "application/json" }));
    assertEquals(r.headers.get("content-type"), "application/json");
    assertEquals(await r.json(), { a: 1 });
    const untyped = new Response(new Blob(["x"]));
    assertEquals(untyped.headers.get("content-type"), null);
    const blob = await new Response("body", { headers: { "content-type": "Text/HTML; Charset=\"utf-8\"" } }).blob();
    assertEquals(blob.type, "text/html;charset=utf-8", "blob() type is the parsed and serialized MIME type");
    assertEquals(await blob.text(), "body");
    assertEquals((await new Response("x", { headers: { "content-type": "nonsense" } }).blob()).type, "");
    assertEquals(enc.encode("x").length, 1);
    return new Response("ok");
  },
};
