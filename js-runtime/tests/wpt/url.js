// WPT url/url-constructor.any.js, url-origin.any.js and url-setters.any.js
// over urltestdata.json and setters_tests.json (one case per entry; URL.parse
// and URL.canParse must agree with the constructor).
import urlTests from "./urltestdata.json";
import setterTests from "./setters_tests.json";

const ATTRIBUTES = ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];

function show(v) {
  return JSON.stringify(v);
}

function runConstructorCase(t) {
  const args = t.base === null ? [t.input] : [t.input, t.base];
  if (t.failure) {
    let error = null;
    try {
      new URL(...args);
    } catch (e) {
      error = e;
    }
    if (!(error instanceof TypeError)) throw new Error(`expected TypeError, got ${error === null ? "no error" : error}`);
    if (URL.canParse(...args)) throw new Error("URL.canParse returned true");
    if (URL.parse(...args) !== null) throw new Error("URL.parse did not return null");
    return;
  }
  const url = new URL(...args);
  for (const a of ATTRIBUTES) {
    if (url[a] !== t[a]) throw new Error(`${a}: got ${show(url[a])}, expected ${show(t[a])}`);
  }
  if ("origin" in t && url.origin !== t.origin) throw new Error(`origin: got ${show(url.origin)}, expected ${show(t.origin)}`);
  if ("searchParams" in t && url.searchParams.toString() !== t.searchParams) {
    throw new Error(`searchParams: got ${show(url.searchParams.toString())}, expected ${show(t.searchParams)}`);
  }
  if (!URL.canParse(...args)) throw new Error("URL.canParse returned false");
  if (URL.parse(...args)?.href !== t.href) throw new Error("URL.parse disagrees");
}

function runSetterCase(attribute, t) {
  const url = new URL(t.href);
  url[attribute] = t.new_value;
  for (const key in t.expected) {
    if (url[key] !== t.expected[key]) throw new Error(`${key}: got ${show(url[key])}, expected ${show(t.expected[key])}`);
  }
}

export default {
  fetch() {
    let passed = 0;
    let failed = 0;
    const failures = [];
    for (const t of urlTests) {
      if (typeof t === "string") continue;
      try {
        runConstructorCase(t);
        passed++;
      } catch (e) {
        failed++;
        failures.push(`Parsing <${t.input}>${t.base === null ? "" : ` against <${t.base}>`}: ${e.message}`);
      }
    }
    for (const attribute of Object.keys(setterTests)) {
      if (attribute === "comment") continue;
      for (const t of setterTests[attribute]) {
        try {
          runSetterCase(attribute, t);
          passed++;
        } catch (e) {
          failed++;
          failures.push(`Setting <${t.href}>.${attribute} = ${show(t.new_value)}: ${e.message}`);
        }
      }
    }
    return Response.json({ passed, failed, failures });
  },
};
