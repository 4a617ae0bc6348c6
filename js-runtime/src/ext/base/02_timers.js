// setTimeout/setInterval/clearTimeout/clearInterval, queueMicrotask,
// performance, navigator. Timer deadlines live in Rust; callbacks here.

let timerCallbacks;
internals.onStart(() => {
  timerCallbacks = new Map();
});
let nextTimerId = 1;
// Nested timers are clamped to 4 ms after 5 levels, as in browsers.
let nesting = 0;

function startTimer(callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    const code = String(callback);
    callback = () => { throw new EvalError(`timer code strings are not supported: ${code.slice(0, 40)}`); };
  }
  delay = Number(delay);
  if (!(delay >= 0) || !Number.isFinite(delay)) delay = 0;
  if (delay > 2147483647) delay = 1;
  if (nesting >= 5 && delay < 4) delay = 4;
  const id = nextTimerId++;
  // A timer set by a request that has finished never fires.
  if (ops.op_timer_start(id, delay)) timerCallbacks.set(id, { callback, args, repeat, delay, nesting: nesting + 1 });
  return id;
}

function clearTimer(id) {
  id = Number(id);
  if (timerCallbacks.delete(id)) ops.op_timer_cancel(id);
}

// `run` is false when the timer's request has finished: forget it.
internals.fireTimer = function fireTimer(id, run) {
  const t = timerCallbacks.get(id);
  if (t === undefined) return;
  if (!run || !t.repeat || !ops.op_timer_start(id, t.delay < 4 && t.nesting >= 5 ? 4 : t.delay)) {
    timerCallbacks.delete(id);
  }
  if (!run) return;
  const saved = nesting;
  nesting = t.nesting;
  try {
    Reflect.apply(t.callback, globalThis, t.args);
  } catch (e) {
    internals.reportError(e);
  } finally {
    nesting = saved;
  }
};

internals.defineGlobal("setTimeout", function setTimeout(callback, delay = 0, ...args) {
  return startTimer(callback, delay, args, false);
});
internals.defineGlobal("setInterval", function setInterval(callback, delay = 0, ...args) {
  return startTimer(callback, delay, args, true);
});
internals.defineGlobal("clearTimeout", function clearTimeout(id = 0) {
  clearTimer(id);
});
internals.defineGlobal("clearInterval", function clearInterval(id = 0) {
  clearTimer(id);
});

const resolved = Promise.resolve();
internals.defineGlobal("queueMicrotask", function queueMicrotask(callback) {
  if (typeof callback !== "function") {
    throw new TypeError("Failed to execute 'queueMicrotask': parameter 1 is not of type 'Function'.");
  }
  resolved.then(() => {
    try {
      callback();
    } catch (e) {
      internals.reportError(e);
    }
  });
});

// performance: a monotonic clock since the isolate started.
class Performance {
  constructor(key) {
    if (key !== internals) throw new TypeError("Illegal constructor");
  }
  now() {
    return ops.op_now();
  }
  get timeOrigin() {
    return ops.op_time_origin();
  }
  toJSON() {
    return { timeOrigin: this.timeOrigin };
  }
}
Object.defineProperty(Performance.prototype, Symbol.toStringTag, { value: "Performance", configurable: true });
internals.defineGlobal("Performance", Performance);
internals.defineGlobal("performance", new Performance(internals));

class Navigator {
  constructor(key) {
    if (key !== internals) throw new TypeError("Illegal constructor");
  }
  get userAgent() {
    return "Outpost/0.1";
  }
  get hardwareConcurrency() {
    return 1;
  }
  get language() {
    return "en-US";
  }
  get languages() {
    return ["en-US"];
  }
}
Object.defineProperty(Navigator.prototype, Symbol.toStringTag, { value: "Navigator", configurable: true });
internals.defineGlobal("Navigator", Navigator);
internals.defineGlobal("navigator", new Navigator(internals));
