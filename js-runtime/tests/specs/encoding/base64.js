// atob / btoa (https://html.spec.whatwg.org/multipage/webappapis.html#atob).
import { assertEquals, assertThrows } from "../_assert.js";

export default {
  async fetch() {
    assertEquals(btoa(""), "");
    assertEquals(btoa("f"), "Zg==");
    assertEquals(btoa("fo"), "Zm8=");
    assertEquals(btoa("foo"), "Zm9v");
    assertEquals(btoa("\x00\xff\xfe"), "AP/+");
    assertEquals(btoa(null), "bnVsbA==");
    assertThrows(() => btoa("€"), DOMException, "InvalidCharacterError");
    assertThrows(() => btoa(), TypeError);

    assertEquals(atob("Zm9v"), "foo");
    assertEquals(atob(" Zm 9v\n"), "foo");
    assertEquals(atob("Zg"), "f");
    assertEquals(atob("Zg=="), "f");
    assertEquals(atob("AP/+"), "\x00\xff\xfe");
    assertThrows(() => atob("Zg="), DOMException, "InvalidCharacterError");
    assertThrows(() => atob("Z"), DOMException, "InvalidCharacterError");
    assertThrows(() => atob("Zm9v!"), DOMException, "InvalidCharacterError");
    assertThrows(() => atob("Zm9v\u00a0"), DOMException, "InvalidCharacterError");
    assertThrows(() => atob(), TypeError);

    // Round trip of every byte value, and a large input.
    let all = "";
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    assertEquals(atob(btoa(all)), all);
    const big = "ab".repeat(50000);
    assertEquals(atob(btoa(big)), big);
    return new Response("ok");
  },
};
