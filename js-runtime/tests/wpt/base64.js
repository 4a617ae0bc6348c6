// WPT html/webappapis/atob/base64.any.js over base64.json: atob(input) gives
// the expected bytes, or throws an InvalidCharacterError DOMException.
import cases from "./base64.json";

export default {
  fetch() {
    let passed = 0;
    let failed = 0;
    const failures = [];
    for (const [input, expected] of cases) {
      let result;
      try {
        const s = atob(input);
        const bytes = [];
        for (let i = 0; i < s.length; i++) bytes.push(s.charCodeAt(i));
        result = expected !== null && JSON.stringify(bytes) === JSON.stringify(expected) ? null : `got ${JSON.stringify(bytes)}`;
      } catch (e) {
        const isDOMException = typeof DOMException === "function" && e instanceof DOMException;
        result = expected === null && isDOMException && e.name === "InvalidCharacterError" ? null : `threw ${e}`;
      }
      if (result === null) {
        passed++;
      } else {
        failed++;
        failures.push(`atob(${JSON.stringify(input)}): ${result}, expected ${JSON.stringify(expected)}`);
      }
    }
    return Response.json({ passed, failed, failures });
  },
};
