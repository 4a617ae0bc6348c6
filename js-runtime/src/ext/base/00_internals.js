// Shared helpers for every family's glue.

internals.defineGlobal = function defineGlobal(name, value) {
  Object.defineProperty(globalThis, name, {
    value,
    writable: true,
    enumerable: false,
    configurable: true,
  });
};

// Logs an error nobody caught (listener exceptions, timer callbacks).
internals.reportError = function reportError(err) {
  let text;
  try {
    text = err && typeof err === "object" && typeof err.stack === "string" ? err.stack : String(err);
  } catch {
    text = "[unprintable error]";
  }
  ops.op_log(3, "Uncaught " + text);
};

internals.defineGlobal("reportError", function reportError(err) {
  internals.reportError(err);
});

internals.defineGlobal("self", globalThis);

// Collections that gain and lose entries per request or timer are made
// when an isolate starts (`onStart`), not kept from the snapshot: a Map
// deserialized from the snapshot grows the old generation by about 150
// bytes for every entry it takes, until a full GC.
const startHooks = [];
internals.onStart = function onStart(hook) {
  startHooks.push(hook);
};
internals.start = function start() {
  for (const hook of startHooks) hook();
};

// `uncurryThis(fn)(self, ...args)` is `fn.call(self, ...args)`, immune to
// later changes of `Function.prototype.call` and of the method itself; a
// call through it is a direct call to `fn` once optimised, where
// `Reflect.apply` with an array literal stays a generic one.
internals.uncurryThis = Function.prototype.bind.bind(Function.prototype.call);

// WebIDL's USVString conversion of a string: lone surrogates become U+FFFD.
// String#isWellFormed and #toWellFormed are use-counted: V8 calls into its
// C++ runtime on every use, even from optimised code. A regexp for any
// surrogate rules most strings out without that, and only strings with
// surrogates (pairs included) reach toWellFormed.
const SURROGATE = /[\uD800-\uDFFF]/;
const RegExpPrototypeExec = internals.uncurryThis(RegExp.prototype.exec);
const StringPrototypeToWellFormed = internals.uncurryThis(String.prototype.toWellFormed);
internals.toUSVString = function toUSVString(s) {
  return RegExpPrototypeExec(SURROGATE, s) === null ? s : StringPrototypeToWellFormed(s);
};

const ReflectApply = Reflect.apply;

// WebIDL `sequence<T>`: iterates `value` with its own @@iterator (looked
// up once, as the spec says) and converts each item with `convert`.
internals.sequence = function sequence(value, context, convert) {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    throw new TypeError(`${context}: The provided value cannot be converted to a sequence.`);
  }
  const iteratorMethod = value[Symbol.iterator];
  if (typeof iteratorMethod !== "function") {
    throw new TypeError(`${context}: The object must have a callable @@iterator property.`);
  }
  const out = [];
  for (const item of { [Symbol.iterator]: () => ReflectApply(iteratorMethod, value, []) }) {
    out.push(convert(item));
  }
  return out;
};
