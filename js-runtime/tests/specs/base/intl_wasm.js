import { assert, assertEquals } from "../_assert.js";

export default {
  async fetch() {
    // Intl with ICU's full data (the V8 archive carries none of its own).
    assertEquals(new Intl.NumberFormat("de-DE").format(1234567.891), "1.234.567,891");
    assertEquals(new Intl.DateTimeFormat("ja-JP", { timeZone: "UTC" }).format(new Date(Date.UTC(2024, 0, 2))), "2024/1/2");
    assertEquals(["b", "ä", "a"].sort(new Intl.Collator("de").compare), ["a", "ä", "b"]);
    assertEquals("İ".toLocaleLowerCase("tr"), "i");
    assertEquals(new Intl.PluralRules("en-US").select(1), "one");
    assert(Intl.supportedValuesOf("timeZone").includes("Europe/Berlin"));

    // WebAssembly: (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    const bytes = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, 0x03,
      0x02, 0x01, 0x00, 0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20,
      0x00, 0x20, 0x01, 0x6a, 0x0b,
    ]);
    const { instance } = await WebAssembly.instantiate(bytes);
    assertEquals(instance.exports.add(40, 2), 42);
    return new Response("ok");
  },
};
