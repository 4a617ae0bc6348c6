// URLSearchParams (https://url.spec.whatwg.org/#interface-urlsearchparams).
import { assert, assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    // Constructors: string (leading "?" dropped), sequence, record, copy.
    assertEquals([...new URLSearchParams("?a=1&a=2&b")], [["a", "1"], ["a", "2"], ["b", ""]]);
    assertEquals([...new URLSearchParams([["x", "1"], ["y", 2]])], [["x", "1"], ["y", "2"]]);
    assertEquals([...new URLSearchParams({ k: "v", n: 1 })], [["k", "v"], ["n", "1"]]);
    const src = new URLSearchParams("a=1");
    assertEquals(new URLSearchParams(src).toString(), "a=1");
    assertEquals(new URLSearchParams(new Map([["m", "1"]])).toString(), "m=1");
    assertThrows(() => new URLSearchParams([["a"]]), TypeError);
    assertThrows(() => new URLSearchParams([["a", "b", "c"]]), TypeError);
    assertThrows(() => new URLSearchParams([1]), TypeError);

    // Parsing: "+" is a space, percent-decoding is UTF-8, bad bytes become U+FFFD.
    const p = new URLSearchParams("q=a+b%2Bc&e=%C3%A9&bad=%FF&lit=%zz&&=v&=");
    assertEquals(p.get("q"), "a b+c");
    assertEquals(p.get("e"), "é");
    assertEquals(p.get("bad"), "\uFFFD");
    assertEquals(p.get("lit"), "%zz");
    assertEquals(p.get(""), "v");
    assertEquals(p.size, 6);

    // Serializing: application/x-www-form-urlencoded.
    const s = new URLSearchParams();
    s.append("a b", "c&d=e");
    s.append("sym", "*-._!'()~");
    s.append("é", "\u{1F600}");
    s.append("lone", "\uD800");
    assertEquals(s.toString(), "a+b=c%26d%3De&sym=*-._%21%27%28%29%7E&%C3%A9=%F0%9F%98%80&lone=%EF%BF%BD");

    // Methods.
    const m = new URLSearchParams("b=2&a=1&b=1&c=3");
    assertEquals(m.get("b"), "2");
    assertEquals(m.get("zz"), null);
    assertEquals(m.getAll("b"), ["2", "1"]);
    assertEquals(m.has("b"), true);
    assertEquals(m.has("b", "1"), true);
    assertEquals(m.has("b", "9"), false);
    m.delete("b", "2");
    assertEquals(m.toString(), "a=1&b=1&c=3");
    m.set("a", "x");
    m.set("new", "n");
    assertEquals(m.toString(), "a=x&b=1&c=3&new=n");
    m.append("a", "y");
    m.set("a", "z");
    assertEquals(m.getAll("a"), ["z"]);
    const sorted = new URLSearchParams("z=1&b=2&a=3&b=1&\uFFFD=x&\u{1F600}=y");
    sorted.sort();
    assertEquals([...sorted.keys()], ["a", "b", "b", "z", "\u{1F600}", "\uFFFD"]);
    assertEquals([...sorted.values()].slice(0, 3), ["3", "2", "1"]);
    m.delete("a");
    assertEquals(m.has("a"), false);

    // Iteration: live, with the right prototype chain.
    const it = new URLSearchParams("a=1&b=2").entries();
    assertEquals(Object.prototype.toString.call(it), "[object URLSearchParams Iterator]");
    assertEquals(it.next(), { value: ["a", "1"], done: false });
    assertEquals(typeof it[Symbol.iterator], "function");
    const seen = [];
    new URLSearchParams("x=1&y=2").forEach((v, k, obj) => seen.push(k + v, obj instanceof URLSearchParams));
    assertEquals(seen, ["x1", true, "y2", true]);
    const entries = [];
    for (const [k, v] of new URLSearchParams("k=v")) entries.push(k, v);
    assertEquals(entries, ["k", "v"]);

    // Shape.
    assertEquals(URLSearchParams.length, 0);
    assertEquals(URLSearchParams.prototype.append.length, 2);
    assertEquals(URLSearchParams.prototype.delete.length, 1);
    assertEquals(Object.prototype.toString.call(m), "[object URLSearchParams]");
    assertThrows(() => URLSearchParams.prototype.get.call({}, "a"), TypeError);
    assertThrows(() => m.append("only-one"), TypeError);
    assert(URLSearchParams.prototype[Symbol.iterator] === URLSearchParams.prototype.entries);

    // USVString conversion does not go through methods user code can replace.
    const { exec } = RegExp.prototype;
    const { toWellFormed } = String.prototype;
    RegExp.prototype.exec = () => null;
    String.prototype.toWellFormed = () => "patched";
    try {
      assertEquals(new URLSearchParams([["a\uD800", "\uD83D\uDE00"]]).toString(), "a%EF%BF%BD=%F0%9F%98%80");
      assertEquals(await new Response("\uDC00").text(), "\uFFFD");
    } finally {
      RegExp.prototype.exec = exec;
      String.prototype.toWellFormed = toWellFormed;
    }
    return new Response("ok");
  },
};
