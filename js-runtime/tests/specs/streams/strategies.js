// ByteLengthQueuingStrategy and CountQueuingStrategy (https://streams.spec.whatwg.org/#qs).
import { assert, assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    for (const Strategy of [ByteLengthQueuingStrategy, CountQueuingStrategy]) {
      assertEquals(Strategy.length, 1);
      assertThrows(() => new Strategy(), TypeError);
      assertThrows(() => new Strategy({}), TypeError);
      assertThrows(() => Strategy(), TypeError);
      const s = new Strategy({ highWaterMark: "7" });
      assertEquals(s.highWaterMark, 7);
      assertEquals(Object.prototype.toString.call(s), `[object ${Strategy.name}]`);
      assertEquals(s.size, new Strategy({ highWaterMark: 1 }).size, "one shared size function");
      assertEquals(s.size.name, "size");
      assertThrows(() => new s.size(), TypeError);
      assertThrows(() => Object.getOwnPropertyDescriptor(Strategy.prototype, "highWaterMark").get.call({}), TypeError);
      const desc = Object.getOwnPropertyDescriptor(Strategy.prototype, "size");
      assert(desc.enumerable && typeof desc.get === "function", "size is an enumerable getter");
    }
    assertEquals(new ByteLengthQueuingStrategy({ highWaterMark: 1 }).size(new Uint8Array(5)), 5);
    assertEquals(new ByteLengthQueuingStrategy({ highWaterMark: 1 }).size.length, 1);
    assertEquals(new CountQueuingStrategy({ highWaterMark: 1 }).size("anything"), 1);
    assertEquals(new CountQueuingStrategy({ highWaterMark: 1 }).size.length, 0);

    // Used as a stream's strategy.
    let controller;
    new ReadableStream({ start: (c) => (controller = c) }, new ByteLengthQueuingStrategy({ highWaterMark: 16 }));
    controller.enqueue(new Uint8Array(10));
    assertEquals(controller.desiredSize, 6);

    // NaN or negative highWaterMark is a RangeError when a stream uses it.
    assertThrows(() => new ReadableStream({}, new CountQueuingStrategy({ highWaterMark: -1 })), RangeError);
    assertThrows(() => new WritableStream({}, { highWaterMark: NaN }), RangeError);

    return new Response("ok");
  },
};
