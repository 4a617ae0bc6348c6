// WPT mimesniff/mime-types/parsing.any.js over mime-types.json: a body's
// blob type (from its Content-Type header) is the parsed and re-serialized
// MIME type, or "" when it does not parse. Inputs a header value cannot hold
// (code points above U+00FF, NUL, CR, LF, leading/trailing whitespace) are
// skipped there and here.
import cases from "./mime-types.json";

function headerCompatible(s) {
  if (/^[\t\n\r ]|[\t\n\r ]$/.test(s)) return false;
  return !/[\u0000\n\r]|[^\u0000-\u00ff]/.test(s);
}

export default {
  async fetch() {
    let passed = 0;
    let failed = 0;
    const failures = [];
    for (const c of cases) {
      if (typeof c === "string" || !headerCompatible(c.input)) continue;
      const expected = c.output ?? "";
      let result;
      try {
        const response = new Response(null, { headers: [["Content-Type", c.input]] });
        const request = new Request("http://wpt.test/", { method: "POST", headers: [["Content-Type", c.input]] });
        const types = [(await response.blob()).type, (await request.blob()).type];
        result = types.every((t) => t === expected) ? null : `got ${JSON.stringify(types)}, expected ${JSON.stringify(expected)}`;
      } catch (e) {
        result = `threw ${e}`;
      }
      if (result === null) {
        passed++;
      } else {
        failed++;
        failures.push(`${JSON.stringify(c.input)}: ${result}`);
      }
    }
    return Response.json({ passed, failed, failures });
  },
};
