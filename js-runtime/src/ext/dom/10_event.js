// Event, CustomEvent and EventTarget (DOM Standard section 2,
// https://dom.spec.whatwg.org/#events).
//
// There is no node tree here: every target's parent is null, so an event's
// path is just its target and dispatch runs the capture listeners, then the
// others, both in the AT_TARGET phase, as browsers do at a target.

const ReflectApply = Reflect.apply;
const { defineProperty, getOwnPropertyDescriptor } = Object;

const NONE = 0;
const CAPTURING_PHASE = 1;
const AT_TARGET = 2;
const BUBBLING_PHASE = 3;

// Captured now so user code replacing `performance` cannot break events.
const perf = globalThis.performance;
const perfNow = perf && typeof perf.now === "function" ? perf.now : null;
function now() {
  return perfNow ? ReflectApply(perfNow, perf, []) : Date.now();
}

/** WebIDL: makes the listed members enumerable, as interface members are. */
function enumerableMembers(proto, names) {
  for (const name of names) {
    const desc = getOwnPropertyDescriptor(proto, name);
    desc.enumerable = true;
    defineProperty(proto, name, desc);
  }
}

function defineConstants(target, entries) {
  for (const [key, value] of entries) {
    defineProperty(target, key, { value, writable: false, enumerable: true, configurable: false });
  }
}

function toStringTag(ctor, tag) {
  defineProperty(ctor.prototype, Symbol.toStringTag, { value: tag, configurable: true });
}

function requireArgs(count, required, context) {
  if (count < required) {
    const noun = required === 1 ? "argument" : "arguments";
    throw new TypeError(`${context}: ${required} ${noun} required, but only ${count} present.`);
  }
}

/** WebIDL dictionary conversion: undefined/null mean "empty". */
function dictionary(value, context, typeName) {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" && typeof value !== "function") {
    throw new TypeError(`${context}: The provided value is not of type '${typeName}'.`);
  }
  return value;
}

// ---------------------------------------------------------------------------
// Event

// Every event's internal state; reached from EventTarget through `eventState`.
let eventState;
let isEvent;

function isTrustedGetter() {
  return eventState(this, "isTrusted").isTrusted;
}
defineProperty(isTrustedGetter, "name", { value: "get isTrusted" });

class Event {
  #s;

  constructor(type, eventInitDict = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'Event'");
    type = `${type}`;
    const init = dictionary(eventInitDict, "Failed to construct 'Event'", "EventInit");
    // Dictionary members are read in lexicographic order.
    const bubbles = !!init.bubbles;
    const cancelable = !!init.cancelable;
    const composed = !!init.composed;
    this.#s = {
      type,
      bubbles,
      cancelable,
      composed,
      isTrusted: false,
      timeStamp: now(),
      target: null,
      currentTarget: null,
      eventPhase: NONE,
      path: [],
      stopPropagation: false,
      stopImmediatePropagation: false,
      canceled: false,
      inPassiveListener: false,
      initialized: true,
      dispatching: false,
    };
    // [LegacyUnforgeable]: an own, non-configurable accessor on each event.
    defineProperty(this, "isTrusted", { get: isTrustedGetter, enumerable: true, configurable: false });
  }

  static {
    isEvent = (value) => value !== null && (typeof value === "object" || typeof value === "function") && #s in value;
    eventState = (event, member) => {
      if (event === null || (typeof event !== "object" && typeof event !== "function") || !(#s in event)) {
        throw new TypeError(`Failed to read '${member}' on 'Event': Illegal invocation`);
      }
      return event.#s;
    };
  }

  get type() {
    return eventState(this, "type").type;
  }

  get target() {
    return eventState(this, "target").target;
  }

  /** Legacy alias of `target`. */
  get srcElement() {
    return eventState(this, "srcElement").target;
  }

  get currentTarget() {
    return eventState(this, "currentTarget").currentTarget;
  }

  composedPath() {
    const s = eventState(this, "composedPath");
    // With no trees the path is the target alone while dispatching, and
    // empty before and after.
    return s.path.length === 0 ? [] : [s.currentTarget ?? s.path[0]];
  }

  get eventPhase() {
    return eventState(this, "eventPhase").eventPhase;
  }

  stopPropagation() {
    eventState(this, "stopPropagation").stopPropagation = true;
  }

  get cancelBubble() {
    return eventState(this, "cancelBubble").stopPropagation;
  }

  set cancelBubble(value) {
    const s = eventState(this, "cancelBubble");
    if (value) s.stopPropagation = true;
  }

  stopImmediatePropagation() {
    const s = eventState(this, "stopImmediatePropagation");
    s.stopPropagation = true;
    s.stopImmediatePropagation = true;
  }

  get bubbles() {
    return eventState(this, "bubbles").bubbles;
  }

  get cancelable() {
    return eventState(this, "cancelable").cancelable;
  }

  get returnValue() {
    return !eventState(this, "returnValue").canceled;
  }

  set returnValue(value) {
    const s = eventState(this, "returnValue");
    if (!value) setCanceledFlag(s);
  }

  preventDefault() {
    setCanceledFlag(eventState(this, "preventDefault"));
  }

  get defaultPrevented() {
    return eventState(this, "defaultPrevented").canceled;
  }

  get composed() {
    return eventState(this, "composed").composed;
  }

  get timeStamp() {
    return eventState(this, "timeStamp").timeStamp;
  }

  initEvent(type, bubbles = false, cancelable = false) {
    const s = eventState(this, "initEvent");
    requireArgs(arguments.length, 1, "Failed to execute 'initEvent' on 'Event'");
    type = `${type}`;
    if (s.dispatching) return;
    initializeEvent(s, type, !!bubbles, !!cancelable);
  }
}

function setCanceledFlag(s) {
  if (s.cancelable && !s.inPassiveListener) s.canceled = true;
}

function initializeEvent(s, type, bubbles, cancelable) {
  s.initialized = true;
  s.stopPropagation = false;
  s.stopImmediatePropagation = false;
  s.canceled = false;
  s.isTrusted = false;
  s.target = null;
  s.type = type;
  s.bubbles = bubbles;
  s.cancelable = cancelable;
}

const PHASES = [
  ["NONE", NONE],
  ["CAPTURING_PHASE", CAPTURING_PHASE],
  ["AT_TARGET", AT_TARGET],
  ["BUBBLING_PHASE", BUBBLING_PHASE],
];
defineConstants(Event, PHASES);
defineConstants(Event.prototype, PHASES);
enumerableMembers(Event.prototype, [
  "type",
  "target",
  "srcElement",
  "currentTarget",
  "composedPath",
  "eventPhase",
  "stopPropagation",
  "cancelBubble",
  "stopImmediatePropagation",
  "bubbles",
  "cancelable",
  "returnValue",
  "preventDefault",
  "defaultPrevented",
  "composed",
  "timeStamp",
  "initEvent",
]);
toStringTag(Event, "Event");

// ---------------------------------------------------------------------------
// CustomEvent

class CustomEvent extends Event {
  #detail;

  constructor(type, eventInitDict = undefined) {
    requireArgs(arguments.length, 1, "Failed to construct 'CustomEvent'");
    type = `${type}`;
    const init = dictionary(eventInitDict, "Failed to construct 'CustomEvent'", "CustomEventInit");
    super(type, init);
    const detail = init.detail;
    this.#detail = detail === undefined ? null : detail;
  }

  get detail() {
    if (this === null || (typeof this !== "object" && typeof this !== "function") || !(#detail in this)) {
      throw new TypeError("Failed to read 'detail' on 'CustomEvent': Illegal invocation");
    }
    return this.#detail;
  }

  initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
    if (this === null || (typeof this !== "object" && typeof this !== "function") || !(#detail in this)) {
      throw new TypeError("Failed to execute 'initCustomEvent' on 'CustomEvent': Illegal invocation");
    }
    requireArgs(arguments.length, 1, "Failed to execute 'initCustomEvent' on 'CustomEvent'");
    type = `${type}`;
    const s = eventState(this, "initCustomEvent");
    if (s.dispatching) return;
    initializeEvent(s, type, !!bubbles, !!cancelable);
    this.#detail = detail;
  }
}
enumerableMembers(CustomEvent.prototype, ["detail", "initCustomEvent"]);
toStringTag(CustomEvent, "CustomEvent");

// ---------------------------------------------------------------------------
// EventTarget

// target -> Map<type, listener[]>; a listener is
// { type, callback, capture, once, passive, removed, signal, abortStep }.
const targets = new WeakMap();

function listenerMap(target, member) {
  const map = targets.get(target);
  if (map === undefined) {
    throw new TypeError(`Failed to execute '${member}' on 'EventTarget': Illegal invocation`);
  }
  return map;
}

/** Converts a listener argument (`EventListener?`): null, a function or an object. */
function toCallback(callback, member) {
  if (callback === undefined || callback === null) return null;
  if (typeof callback !== "function" && typeof callback !== "object") {
    throw new TypeError(
      `Failed to execute '${member}' on 'EventTarget': parameter 2 is not of type 'EventListener'.`,
    );
  }
  return callback;
}

function flattenCapture(options) {
  if (options === undefined || options === null) return false;
  if (typeof options === "object" || typeof options === "function") return !!options.capture;
  return !!options;
}

function flattenMore(options) {
  const capture = flattenCapture(options);
  let once = false;
  let passive = false;
  let signal = null;
  if (options !== null && (typeof options === "object" || typeof options === "function")) {
    once = !!options.once;
    passive = !!options.passive;
    const s = options.signal;
    if (s !== undefined) {
      if (!internals.dom.isAbortSignal(s)) {
        throw new TypeError(
          "Failed to execute 'addEventListener' on 'EventTarget': Failed to read the 'signal' property from " +
            "'AddEventListenerOptions': Failed to convert value to 'AbortSignal'.",
        );
      }
      signal = s;
    }
  }
  return { capture, once, passive, signal };
}

function addListener(target, map, type, callback, options) {
  const { signal } = options;
  if (signal !== null && internals.dom.signalAborted(signal)) return null;
  if (callback === null) return null;
  let list = map.get(type);
  if (list === undefined) {
    list = [];
    map.set(type, list);
  }
  for (const l of list) {
    if (l.callback === callback && l.capture === options.capture) return null;
  }
  const listener = {
    type,
    callback,
    capture: options.capture,
    once: options.once,
    passive: options.passive,
    removed: false,
    signal,
    abortStep: null,
  };
  list.push(listener);
  if (signal !== null) {
    listener.abortStep = () => removeListener(target, listener);
    internals.dom.addAbortAlgorithm(signal, listener.abortStep);
  }
  internals.dom.onListenerAdded?.(target, type);
  return listener;
}

function removeListener(target, listener) {
  listener.removed = true;
  const list = targets.get(target)?.get(listener.type);
  if (list !== undefined) {
    const i = list.indexOf(listener);
    if (i !== -1) list.splice(i, 1);
  }
  if (listener.abortStep !== null) {
    internals.dom.removeAbortAlgorithm(listener.signal, listener.abortStep);
    listener.abortStep = null;
  }
}

class EventTarget {
  constructor() {
    targets.set(this, new Map());
  }

  addEventListener(type, callback, options = undefined) {
    const map = listenerMap(this, "addEventListener");
    requireArgs(arguments.length, 2, "Failed to execute 'addEventListener' on 'EventTarget'");
    type = `${type}`;
    callback = toCallback(callback, "addEventListener");
    addListener(this, map, type, callback, flattenMore(options));
  }

  removeEventListener(type, callback, options = undefined) {
    const map = listenerMap(this, "removeEventListener");
    requireArgs(arguments.length, 2, "Failed to execute 'removeEventListener' on 'EventTarget'");
    type = `${type}`;
    callback = toCallback(callback, "removeEventListener");
    const capture = flattenCapture(options);
    const list = map.get(type);
    if (list === undefined || callback === null) return;
    for (const l of list) {
      if (l.callback === callback && l.capture === capture) {
        removeListener(this, l);
        return;
      }
    }
  }

  dispatchEvent(event) {
    listenerMap(this, "dispatchEvent");
    requireArgs(arguments.length, 1, "Failed to execute 'dispatchEvent' on 'EventTarget'");
    if (!isEvent(event)) {
      throw new TypeError(
        "Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.",
      );
    }
    const s = eventState(event, "dispatchEvent");
    if (s.dispatching || !s.initialized) {
      throw new DOMException("The event is already being dispatched.", "InvalidStateError");
    }
    s.isTrusted = false;
    return dispatch(this, event, s);
  }
}
enumerableMembers(EventTarget.prototype, ["addEventListener", "removeEventListener", "dispatchEvent"]);
toStringTag(EventTarget, "EventTarget");

function dispatch(target, event, s) {
  s.dispatching = true;
  s.target = target;
  s.path = [target];
  // Capture pass, then bubble pass; both are AT_TARGET at the target itself.
  s.eventPhase = AT_TARGET;
  invoke(target, event, s, true);
  s.eventPhase = AT_TARGET;
  invoke(target, event, s, false);
  s.eventPhase = NONE;
  s.currentTarget = null;
  s.path = [];
  s.dispatching = false;
  s.stopPropagation = false;
  s.stopImmediatePropagation = false;
  return !s.canceled;
}

function invoke(target, event, s, capturing) {
  if (s.stopPropagation) return;
  s.currentTarget = target;
  const list = targets.get(target)?.get(s.type);
  if (list === undefined || list.length === 0) return;
  // Listeners added during dispatch do not run; removed ones are skipped.
  const listeners = list.slice();
  for (const listener of listeners) {
    if (listener.removed) continue;
    if (listener.capture !== capturing) continue;
    if (listener.once) removeListener(target, listener);
    if (listener.passive) s.inPassiveListener = true;
    callListener(listener.callback, target, event);
    s.inPassiveListener = false;
    if (s.stopImmediatePropagation) break;
  }
}

function callListener(callback, thisArg, event) {
  try {
    if (typeof callback === "function") {
      ReflectApply(callback, thisArg, [event]);
      return;
    }
    const handleEvent = callback.handleEvent;
    if (typeof handleEvent !== "function") {
      throw new TypeError("The provided callback's 'handleEvent' property is not callable.");
    }
    ReflectApply(handleEvent, callback, [event]);
  } catch (err) {
    internals.reportError(err);
  }
}

// ---------------------------------------------------------------------------
// Event handler IDL attributes (`onabort` and the like)

// target -> Map<name, { value, listener }>
const eventHandlers = new WeakMap();

/**
 * Defines an `on<type>` accessor on `proto` with the HTML event handler
 * semantics: the first non-null value registers a listener (keeping its
 * place among the others), later values replace the callback in place, null
 * removes it; a `false` return cancels the event.
 */
function defineEventHandler(proto, type, interfaceName) {
  const name = `on${type}`;
  function check(self) {
    if (!targets.has(self)) {
      throw new TypeError(`Failed to access '${name}' on '${interfaceName}': Illegal invocation`);
    }
  }
  const desc = {
    get() {
      check(this);
      return eventHandlers.get(this)?.get(name)?.value ?? null;
    },
    set(value) {
      check(this);
      // [LegacyTreatNonObjectAsNull]
      if (value === null || (typeof value !== "object" && typeof value !== "function")) value = null;
      let handlers = eventHandlers.get(this);
      if (handlers === undefined) {
        handlers = new Map();
        eventHandlers.set(this, handlers);
      }
      let record = handlers.get(name);
      if (value === null) {
        if (record !== undefined) {
          removeListener(this, record.listener);
          handlers.delete(name);
        }
        return;
      }
      if (record !== undefined) {
        record.value = value;
        return;
      }
      record = { value, listener: null };
      handlers.set(name, record);
      const callback = function eventHandler(event) {
        const fn = record.value;
        if (typeof fn !== "function") return;
        const result = ReflectApply(fn, this, [event]);
        if (result === false) setCanceledFlag(eventState(event, ""));
      };
      const options = { capture: false, once: false, passive: false, signal: null };
      record.listener = addListener(this, targets.get(this), type, callback, options);
    },
  };
  defineProperty(desc.get, "name", { value: `get ${name}` });
  defineProperty(desc.set, "name", { value: `set ${name}` });
  defineProperty(proto, name, { get: desc.get, set: desc.set, enumerable: true, configurable: true });
}

internals.defineGlobal("Event", Event);
internals.defineGlobal("CustomEvent", CustomEvent);
internals.defineGlobal("EventTarget", EventTarget);

Object.assign(internals.dom, {
  Event,
  CustomEvent,
  EventTarget,
  isEvent,
  isEventTarget: (value) => targets.has(value),
  /** Makes `obj` (already constructed) an EventTarget, e.g. a global scope. */
  makeEventTarget(obj) {
    if (!targets.has(obj)) targets.set(obj, new Map());
  },
  /** Fires a trusted event at `target` (as the user agent does). */
  fireEvent(target, event) {
    const s = eventState(event, "");
    s.isTrusted = true;
    return dispatch(target, event, s);
  },
  /** True if `target` has at least one listener for `type`. */
  hasListeners(target, type) {
    const list = targets.get(target)?.get(type);
    return list !== undefined && list.length > 0;
  },
  defineEventHandler,
  enumerableMembers,
  toStringTag,
  requireArgs,
  dictionary,
});
