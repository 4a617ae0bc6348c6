// AbortController and AbortSignal (DOM Standard section 3.1-3.2,
// https://dom.spec.whatwg.org/#aborting-ongoing-activities).
//
// Other families react to aborts through `internals.dom.addAbortAlgorithm`
// rather than user-visible listeners. Signals made by `AbortSignal.any` hold
// their sources weakly; a source holds a dependent weakly too, and strongly
// only once the dependent has something to run on abort (a listener or an
// algorithm), so short-lived `any()` results do not pile up on a long-lived
// source.

const { requireArgs, enumerableMembers, toStringTag, defineEventHandler, DOMException: DOMExceptionCtor } =
  internals.dom;
const EventTargetBase = internals.dom.EventTarget;
const EventCtor = internals.dom.Event;

// Guards the AbortSignal constructor: only this file can make signals.
const illegalConstructorKey = Symbol("AbortSignal");
const MAX_TIMER_DELAY = 2147483647;

let signalState;
let isAbortSignal;

class AbortSignal extends EventTargetBase {
  #s = {
    // undefined while not aborted (the spec's definition of "aborted").
    reason: undefined,
    algorithms: new Set(),
    dependent: false,
    // WeakRefs to the (non-dependent) signals this one follows.
    sources: [],
    // WeakRefs to the dependents following this signal.
    dependents: new Set(),
    // Dependents that must outlive their last user reference (they have
    // listeners or algorithms and can still be aborted through this signal).
    strongDependents: new Set(),
    // A WeakRef to this signal, made when it first follows a source.
    selfRef: null,
  };

  constructor(key = undefined) {
    if (key !== illegalConstructorKey) throw new TypeError("Illegal constructor");
    super();
  }

  static {
    isAbortSignal = (value) =>
      value !== null && (typeof value === "object" || typeof value === "function") && #s in value;
    signalState = (signal, member) => {
      if (!isAbortSignal(signal)) {
        throw new TypeError(`Failed to execute '${member}' on 'AbortSignal': Illegal invocation`);
      }
      return signal.#s;
    };
  }

  static abort(reason = undefined) {
    const signal = createSignal();
    signal.#s.reason = reason === undefined ? defaultReason() : reason;
    return signal;
  }

  static timeout(milliseconds) {
    requireArgs(arguments.length, 1, "Failed to execute 'timeout' on 'AbortSignal'");
    const ms = enforceRangeU64(milliseconds, "Failed to execute 'timeout' on 'AbortSignal'");
    const signal = createSignal();
    // The global setTimeout, looked up now (not at snapshot time).
    const setTimeoutFn = globalThis.setTimeout;
    const deadline = Date.now() + ms;
    const arm = (delay) => {
      setTimeoutFn(() => {
        const remaining = deadline - Date.now();
        if (remaining > 0 && delay === MAX_TIMER_DELAY) {
          arm(Math.min(remaining, MAX_TIMER_DELAY));
          return;
        }
        signalAbort(signal, new DOMExceptionCtor("signal timed out", "TimeoutError"));
      }, delay);
    };
    arm(Math.min(ms, MAX_TIMER_DELAY));
    return signal;
  }

  static any(signals) {
    requireArgs(arguments.length, 1, "Failed to execute 'any' on 'AbortSignal'");
    const list = toSignalSequence(signals, "Failed to execute 'any' on 'AbortSignal'");
    return createDependentSignal(list);
  }

  get aborted() {
    return signalState(this, "aborted").reason !== undefined;
  }

  get reason() {
    return signalState(this, "reason").reason;
  }

  throwIfAborted() {
    const { reason } = signalState(this, "throwIfAborted");
    if (reason !== undefined) throw reason;
  }
}
defineEventHandler(AbortSignal.prototype, "abort", "AbortSignal");
enumerableMembers(AbortSignal.prototype, ["aborted", "reason", "throwIfAborted"]);
enumerableMembers(AbortSignal, ["abort", "timeout", "any"]);
toStringTag(AbortSignal, "AbortSignal");

function defaultReason() {
  return new DOMExceptionCtor("signal is aborted without reason", "AbortError");
}

function createSignal() {
  return new AbortSignal(illegalConstructorKey);
}

/** WebIDL `[EnforceRange] unsigned long long`. */
function enforceRangeU64(value, context) {
  const n = Number(value);
  if (!Number.isFinite(n)) {
    throw new TypeError(`${context}: Value is not of type 'unsigned long long'.`);
  }
  const x = Math.trunc(n);
  if (x < 0 || x > Number.MAX_SAFE_INTEGER) {
    throw new TypeError(`${context}: Value is outside the 'unsigned long long' value range.`);
  }
  return x === 0 ? 0 : x;
}

/** WebIDL `sequence<AbortSignal>`. */
function toSignalSequence(value, context) {
  return internals.sequence(value, context, (item) => {
    if (!isAbortSignal(item)) {
      throw new TypeError(`${context}: Failed to convert value to 'AbortSignal'.`);
    }
    return item;
  });
}

/** The DOM's "create a dependent abort signal". */
function createDependentSignal(signals) {
  const result = createSignal();
  const r = signalState(result, "");
  for (const signal of signals) {
    const reason = signalState(signal, "").reason;
    if (reason !== undefined) {
      r.reason = reason;
      return result;
    }
  }
  r.dependent = true;
  const seen = new Set();
  const follow = (source) => {
    if (seen.has(source)) return;
    seen.add(source);
    const s = signalState(source, "");
    r.sources.push((s.selfRef ??= new WeakRef(source)));
    s.dependents.add((r.selfRef ??= new WeakRef(result)));
  };
  for (const signal of signals) {
    const s = signalState(signal, "");
    if (!s.dependent) {
      follow(signal);
    } else {
      for (const ref of s.sources) {
        const source = ref.deref();
        if (source !== undefined) follow(source);
      }
    }
  }
  return result;
}

/** Keeps a dependent signal alive through its sources once it has work to do on abort. */
function holdDependent(signal) {
  const s = signalState(signal, "");
  if (!s.dependent || s.reason !== undefined) return;
  for (const ref of s.sources) {
    const source = ref.deref();
    if (source !== undefined) signalState(source, "").strongDependents.add(signal);
  }
}

/** Forgets a dependent that has been aborted: nothing can happen to it any more. */
function releaseDependent(signal, s) {
  for (const ref of s.sources) {
    const source = ref.deref();
    if (source === undefined) continue;
    const src = signalState(source, "");
    src.strongDependents.delete(signal);
    src.dependents.delete(s.selfRef);
  }
  s.sources.length = 0;
}

/** The DOM's "signal abort". */
function signalAbort(signal, reason = undefined) {
  const s = signalState(signal, "");
  if (s.reason !== undefined) return;
  s.reason = reason === undefined ? defaultReason() : reason;
  const toAbort = [];
  for (const ref of s.dependents) {
    const dependent = ref.deref();
    if (dependent === undefined) continue;
    const d = signalState(dependent, "");
    if (d.reason === undefined) {
      d.reason = s.reason;
      toAbort.push(dependent);
    }
  }
  s.dependents.clear();
  s.strongDependents.clear();
  runAbortSteps(signal, s);
  for (const dependent of toAbort) {
    const d = signalState(dependent, "");
    releaseDependent(dependent, d);
    runAbortSteps(dependent, d);
  }
}

function runAbortSteps(signal, s) {
  const algorithms = [...s.algorithms];
  s.algorithms.clear();
  for (const algorithm of algorithms) {
    try {
      algorithm(s.reason);
    } catch (err) {
      internals.reportError(err);
    }
  }
  internals.dom.fireEvent(signal, new EventCtor("abort"));
}

let isAbortController;

class AbortController {
  #signal = createSignal();

  static {
    isAbortController = (value) =>
      value !== null && (typeof value === "object" || typeof value === "function") && #signal in value;
  }

  get signal() {
    if (this === null || (typeof this !== "object" && typeof this !== "function") || !(#signal in this)) {
      throw new TypeError("Failed to read 'signal' on 'AbortController': Illegal invocation");
    }
    return this.#signal;
  }

  abort(reason = undefined) {
    if (this === null || (typeof this !== "object" && typeof this !== "function") || !(#signal in this)) {
      throw new TypeError("Failed to execute 'abort' on 'AbortController': Illegal invocation");
    }
    signalAbort(this.#signal, reason);
  }
}
enumerableMembers(AbortController.prototype, ["signal", "abort"]);
toStringTag(AbortController, "AbortController");

internals.defineGlobal("AbortSignal", AbortSignal);
internals.defineGlobal("AbortController", AbortController);

Object.assign(internals.dom, {
  AbortSignal,
  AbortController,
  isAbortSignal,
  isAbortController,
  /** A new, not yet aborted signal. */
  createAbortSignal: createSignal,
  /** A signal that aborts when any of `signals` does (DOM "create a dependent abort signal"). */
  createDependentAbortSignal: createDependentSignal,
  /** Aborts `signal` with `reason` (default: an "AbortError" DOMException). */
  signalAbort,
  signalAborted: (signal) => signalState(signal, "").reason !== undefined,
  signalReason: (signal) => signalState(signal, "").reason,
  /** Runs `fn(reason)` when `signal` aborts (no-op if it already has). */
  addAbortAlgorithm(signal, fn) {
    const s = signalState(signal, "");
    if (s.reason !== undefined) return;
    s.algorithms.add(fn);
    holdDependent(signal);
  },
  removeAbortAlgorithm(signal, fn) {
    signalState(signal, "").algorithms.delete(fn);
  },
  onListenerAdded(target, type) {
    if (type === "abort" && isAbortSignal(target)) holdDependent(target);
  },
});
