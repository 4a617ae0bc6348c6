// WPT fetch/data-urls/processing.any.js over data-urls.json: fetch(input)
// answers with the expected Content-Type and body bytes, or rejects with a
// TypeError.
import cases from "./data-urls.json";

async function runCase([input, mimeType, bytes]) {
  if (mimeType === null) {
    try {
      await fetch(input);
    } catch (e) {
      if (e instanceof TypeError) return null;
      return `rejected with ${e}`;
    }
    return "did not reject";
  }
  const response = await fetch(input);
  const type = response.headers.get("content-type");
  if (type !== mimeType) return `content-type ${JSON.stringify(type)}, expected ${JSON.stringify(mimeType)}`;
  const body = [...new Uint8Array(await response.arrayBuffer())];
  if (JSON.stringify(body) !== JSON.stringify(bytes)) return `body ${JSON.stringify(body)}, expected ${JSON.stringify(bytes)}`;
  return null;
}

export default {
  async fetch() {
    let passed = 0;
    let failed = 0;
    const failures = [];
    for (const c of cases) {
      let result;
      try {
        result = await runCase(c);
      } catch (e) {
        result = `threw ${e}`;
      }
      if (result === null) {
        passed++;
      } else {
        failed++;
        failures.push(`${JSON.stringify(c[0])}: ${result}`);
      }
    }
    return Response.json({ passed, failed, failures });
  },
};
