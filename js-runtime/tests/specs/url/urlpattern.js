// URLPattern (https://urlpattern.spec.whatwg.org/).
import { assert, assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    // Init object, named groups, test/exec on strings and init objects.
    const books = new URLPattern({ pathname: "/books/:id" });
    assertEquals(books.pathname, "/books/:id");
    assertEquals(books.protocol, "*");
    assertEquals(books.hasRegExpGroups, false);
    assert(books.test("https://example.com/books/123"));
    assert(!books.test("https://example.com/books/"));
    assert(books.test({ pathname: "/books/abc" }));
    const m = books.exec("https://example.com/books/42?x#y");
    assertEquals(m.pathname, { input: "/books/42", groups: { id: "42" } });
    assertEquals(m.protocol, { input: "https", groups: { 0: "https" } });
    assertEquals(m.search.input, "x");
    assertEquals(m.inputs, ["https://example.com/books/42?x#y"]);
    assertEquals(books.exec("https://example.com/other"), null);

    // Constructor string with a base URL; regexp groups; wildcards.
    const p = new URLPattern("/api/:version(v\\d+)/*", "https://api.example.com");
    assertEquals(p.hostname, "api.example.com");
    assertEquals(p.protocol, "https");
    assertEquals(p.hasRegExpGroups, true);
    const r = p.exec("https://api.example.com/api/v2/users/7");
    assertEquals(r.pathname.groups, { version: "v2", 0: "users/7" });
    assert(!p.test("https://api.example.com/api/vX/users"));
    assert(!p.test("http://api.example.com/api/v2/users"));
    assert(p.test("/api/v1/x", "https://api.example.com"));

    // Optional groups give undefined; full-string patterns.
    const opt = new URLPattern({ pathname: "/foo/:bar?" });
    assertEquals(opt.exec({ pathname: "/foo" }).pathname.groups, { bar: undefined });
    const full = new URLPattern("https://*.example.com/:path*");
    assert(full.test("https://a.b.example.com/x/y"));
    assertEquals(full.exec("https://a.example.com/x/y").hostname.groups, { 0: "a" });

    // ignoreCase, in both constructor forms.
    assert(new URLPattern({ pathname: "/CaSe" }, { ignoreCase: true }).test({ pathname: "/case" }));
    assert(!new URLPattern({ pathname: "/CaSe" }).test({ pathname: "/case" }));
    assert(new URLPattern("/CaSe", "https://h", { ignoreCase: true }).test("https://h/CASE"));

    // Lookbehind is ECMAScript-only regexp syntax and must still work.
    const png = new URLPattern({ pathname: "/:file(.*(?<=\\.png))" });
    assert(png.test({ pathname: "/img.png" }));
    assert(!png.test({ pathname: "/img.jpg" }));

    // Errors are TypeErrors.
    assertThrows(() => new URLPattern("/:id(\\d+"), TypeError);
    assertThrows(() => new URLPattern({ pathname: "/(a" }), TypeError);
    assertThrows(() => new URLPattern("relative/path"), TypeError);
    assertThrows(() => new URLPattern({ pathname: "/x" }, "https://base"), TypeError);
    assertThrows(() => books.test({ pathname: "/books/1" }, "https://base"), TypeError);

    // Default: matches anything.
    assert(new URLPattern().test("https://anything/at/all?q#h"));
    assertEquals(Object.prototype.toString.call(books), "[object URLPattern]");
    assertEquals(URLPattern.name, "URLPattern");
    assertThrows(() => URLPattern.prototype.test.call({}, "https://x"), TypeError);
    return new Response("ok");
  },
};
