export default {
  async fetch(request) {
    const N = 100000;
    const input = "https://example.com/api/v1/users/12345?include=profile&sort=desc";
    let t = Date.now();
    let x = 0;
    for (let i = 0; i < N; i++) x += new URL(input).pathname.length;
    const canonical = Date.now() - t;
    t = Date.now();
    for (let i = 0; i < N; i++) x += new URL("HTTPS://Example.com/a/../api/v1/users/12345?include=profile").pathname.length;
    const dirty = Date.now() - t;
    t = Date.now();
    for (let i = 0; i < N; i++) x += new URL(input).searchParams.get("sort").length;
    const sp = Date.now() - t;
    t = Date.now();
    const enc = new TextEncoder(), dec = new TextDecoder();
    const b = enc.encode("hello world, this is a test ".repeat(4));
    for (let i = 0; i < N; i++) x += dec.decode(b).length;
    const td = Date.now() - t;
    t = Date.now();
    const pat = new URLPattern({ pathname: "/api/v1/users/:id" });
    for (let i = 0; i < N; i++) x += pat.exec(input) ? 1 : 0;
    const up = Date.now() - t;
    throw new Error(`per op ns: canonical ${canonical * 1e6 / N} dirty ${dirty * 1e6 / N} searchParams ${sp * 1e6 / N} decode ${td * 1e6 / N} urlpattern.exec ${up * 1e6 / N} (${x})`);
  },
};
