import { assert, assertEquals } from "../_assert.js";

export default {
  async fetch() {
    const order = [];
    await new Promise((resolve) => {
      setTimeout(() => order.push("t20"), 20);
      setTimeout(() => order.push("t0"), 0);
      const cancelled = setTimeout(() => order.push("never"), 5);
      clearTimeout(cancelled);
      queueMicrotask(() => order.push("micro"));
      let n = 0;
      const iv = setInterval(() => {
        order.push(`i${++n}`);
        if (n === 3) {
          clearInterval(iv);
          setTimeout(resolve, 30);
        }
      }, 1);
    });
    assertEquals(order[0], "micro");
    assert(order.includes("t20"), "20 ms timer fired");
    assert(!order.includes("never"), "cleared timer did not fire");
    assertEquals(order.filter((x) => x.startsWith("i")), ["i1", "i2", "i3"]);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 15));
    const waited = performance.now() - t0;
    assert(waited >= 14, `setTimeout(15) waited ${waited} ms`);
    assert(performance.timeOrigin > 1.6e12, "timeOrigin is wall-clock ms");
    assertEquals(typeof navigator.userAgent, "string");
    return new Response("ok");
  },
};
