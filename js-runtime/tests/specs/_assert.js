// Assertions for the Web API specs. Each throws an Error describing the
// mismatch; the spec harness prints it with the stack.

function show(v) {
  try {
    if (typeof v === "string") return JSON.stringify(v);
    if (typeof v === "bigint") return `${v}n`;
    if (v instanceof Uint8Array) return `Uint8Array [${Array.from(v).join(", ")}]`;
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function assert(cond, message = "assertion failed") {
  if (!cond) throw new Error(message);
}

function deepEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (ArrayBuffer.isView(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Map || a instanceof Set) return deepEqual([...a], [...b]);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual(a[k], b[k]));
}

export function assertEquals(actual, expected, message = "") {
  if (!deepEqual(actual, expected)) {
    throw new Error(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
  }
}

function checkError(e, ErrorClass, name) {
  if (ErrorClass && !(e instanceof ErrorClass)) {
    throw new Error(`expected ${ErrorClass.name}, got ${e?.constructor?.name}: ${e?.message ?? e}`);
  }
  if (name && e?.name !== name) throw new Error(`expected error name ${name}, got ${e?.name}: ${e?.message}`);
  return e;
}

// assertThrows(fn, TypeError) or assertThrows(fn, DOMException, "AbortError")
export function assertThrows(fn, ErrorClass, name) {
  try {
    fn();
  } catch (e) {
    return checkError(e, ErrorClass, name);
  }
  throw new Error(`expected ${ErrorClass?.name ?? "an error"} to be thrown`);
}

export async function assertRejects(fnOrPromise, ErrorClass, name) {
  try {
    await (typeof fnOrPromise === "function" ? fnOrPromise() : fnOrPromise);
  } catch (e) {
    return checkError(e, ErrorClass, name);
  }
  throw new Error(`expected ${ErrorClass?.name ?? "a rejection"}`);
}
