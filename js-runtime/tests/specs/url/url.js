// URL: parsing with a base, every getter and setter, statics, toJSON and
// the searchParams link (https://url.spec.whatwg.org/#url-class).
import { assert, assertEquals, assertThrows } from "../_assert.js";

function components(u) {
  const out = {};
  for (const k of ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"]) out[k] = u[k];
  return out;
}

export default {
  async fetch(request) {
    // The request URL round-trips.
    const req = new URL(request.url);
    assertEquals(req.href, "http://spec.test/");

    const u = new URL("HTTPS://user:p%40ss@EXAMPLE.com:8443/a/./b/../c?x=1&y=%20#frag");
    assertEquals(components(u), {
      href: "https://user:p%40ss@example.com:8443/a/c?x=1&y=%20#frag",
      origin: "https://example.com:8443",
      protocol: "https:",
      username: "user",
      password: "p%40ss",
      host: "example.com:8443",
      hostname: "example.com",
      port: "8443",
      pathname: "/a/c",
      search: "?x=1&y=%20",
      hash: "#frag",
    });

    // Relative resolution, default ports, IDNA, IPv4/IPv6, file and opaque URLs.
    assertEquals(new URL("../d?q", "http://h/a/b/c").href, "http://h/a/d?q");
    assertEquals(new URL("//other/x", "https://h/y").href, "https://other/x");
    assertEquals(new URL("http://h:80/").port, "");
    assertEquals(new URL("http://münchen.de/").hostname, "xn--mnchen-3ya.de");
    assertEquals(new URL("http://0x7f.1/").hostname, "127.0.0.1");
    assertEquals(new URL("http://[0:0::1]/").host, "[::1]");
    assertEquals(new URL("file:///C|/dir/../x").href, "file:///C:/x");
    assertEquals(new URL("mailto:someone@example.com").pathname, "someone@example.com");
    assertEquals(new URL("sc:/.//p").pathname, "//p");
    assertEquals(new URL("sc:/.//p").href, "sc:/.//p");
    assertEquals(new URL("blob:https://a.example:443/uuid").origin, "https://a.example");
    assertEquals(new URL("data:text/plain,hi").origin, "null");
    assertEquals(new URL("http://h/ä?ä#ä").href, "http://h/%C3%A4?%C3%A4#%C3%A4");
    assertEquals(new URL("http://h/\uD800").pathname, "/%EF%BF%BD");

    // Failures are TypeErrors; statics agree.
    assertThrows(() => new URL("no scheme"), TypeError);
    assertThrows(() => new URL("/path", "not a base"), TypeError);
    assertThrows(() => new URL("http://exa mple.com/"), TypeError);
    assertThrows(() => new URL("http://h:65536/"), TypeError);
    assertThrows(() => new URL(), TypeError);
    assertEquals(URL.canParse("https://x"), true);
    assertEquals(URL.canParse("x"), false);
    assertEquals(URL.canParse("x", "https://h/"), true);
    assertEquals(URL.parse("x"), null);
    assertEquals(URL.parse("x", "https://h/a/").href, "https://h/a/x");
    assert(URL.parse("https://h") instanceof URL);

    // Setters.
    const s = new URL("http://example.net:8080/path?q#h");
    s.protocol = "https";
    assertEquals(s.href, "https://example.net:8080/path?q#h");
    s.protocol = "foo"; // special → non-special is refused
    assertEquals(s.protocol, "https:");
    s.port = "443";
    assertEquals(s.host, "example.net");
    s.port = "12x";
    assertEquals(s.port, "12");
    s.port = "";
    assertEquals(s.port, "");
    s.hostname = "example.com:99"; // a port in hostname is refused
    assertEquals(s.host, "example.net");
    s.host = "Example.COM:81";
    assertEquals(s.host, "example.com:81");
    s.username = "a b";
    s.password = "p:w";
    assertEquals(s.href, "https://a%20b:p%3Aw@example.com:81/path?q#h");
    s.pathname = "x y/../z";
    assertEquals(s.pathname, "/z");
    s.search = "a=b c";
    assertEquals(s.search, "?a=b%20c");
    s.hash = "#new hash";
    assertEquals(s.hash, "#new%20hash");
    s.search = "";
    s.hash = "";
    assertEquals(s.href, "https://a%20b:p%3Aw@example.com:81/z");
    s.href = "http://other/";
    assertEquals(s.hostname, "other");
    assertThrows(() => {
      s.href = "bad";
    }, TypeError);
    assertEquals(s.href, "http://other/");
    const file = new URL("file:///tmp");
    file.username = "x";
    file.port = "1";
    assertEquals(file.href, "file:///tmp");
    const opaque = new URL("sc:opaque");
    opaque.pathname = "/x";
    opaque.host = "h";
    assertEquals(opaque.href, "sc:opaque");

    // searchParams: lazy, the same object, kept in sync both ways.
    const q = new URL("https://h/p?a=1&b=2#f");
    const params = q.searchParams;
    assert(params === q.searchParams, "searchParams is cached");
    params.append("c", "x y");
    assertEquals(q.href, "https://h/p?a=1&b=2&c=x+y#f");
    params.delete("a");
    params.delete("b");
    params.delete("c");
    assertEquals(q.href, "https://h/p#f");
    q.search = "?z=%26";
    assertEquals(params.get("z"), "&");
    q.href = "https://h/?k=v";
    assertEquals([...params], [["k", "v"]]);

    // Stringification and shape.
    assertEquals(String(q), q.href);
    assertEquals(JSON.stringify({ q }), '{"q":"https://h/?k=v"}');
    assertEquals(`${new URL("http://a")}`, "http://a/");
    assertEquals(Object.prototype.toString.call(q), "[object URL]");
    assertEquals(URL.length, 1);
    assertEquals(URL.name, "URL");
    assert(Object.keys(URL.prototype).includes("href"), "members are enumerable");
    assertThrows(() => Object.getOwnPropertyDescriptor(URL.prototype, "href").get.call({}), TypeError);
    assertThrows(() => URL.prototype.toString.call({}), TypeError);
    return new Response("ok");
  },
};
