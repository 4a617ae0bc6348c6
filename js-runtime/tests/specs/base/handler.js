import { assert, assertEquals } from "../_assert.js";
import data from "./data.json";

let calls = 0;

export default {
  async fetch(request, env, ctx) {
    calls++;
    assertEquals(request.method, "GET");
    assertEquals(request.url, "http://spec.test/");
    assertEquals(request.headers.get("host"), "spec.test");
    assertEquals(data.answer, 42);
    assertEquals(typeof ctx.waitUntil, "function");
    assertEquals(typeof ctx.passThroughOnException, "function");
    ctx.waitUntil(Promise.resolve());
    assert(typeof env === "object");
    assertEquals(calls, 1);
    console.log("logged %s %d", "from", 1, { a: [1, 2] });
    return new Response("ok");
  },
};
