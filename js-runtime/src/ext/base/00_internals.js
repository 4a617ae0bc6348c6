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
