// console: formats like browsers' devtools text output and hands each line
// to the host's log sink (`outpost dev` prints it; nodes log it).

const MAX_DEPTH = 2;
const MAX_ITEMS = 100;

function quote(s) {
  return JSON.stringify(s);
}

function formatKey(k) {
  return typeof k === "symbol" ? `[${String(k)}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k);
}

function inspect(value, depth, seen) {
  switch (typeof value) {
    case "string":
      return depth === 0 ? value : quote(value);
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "undefined":
    case "boolean":
      return String(value);
    case "symbol":
      return value.toString();
    case "function": {
      const name = value.name ? `: ${value.name}` : " (anonymous)";
      return /^class\s/.test(Function.prototype.toString.call(value)) ? `[class ${value.name || "(anonymous)"}]` : `[Function${name}]`;
    }
  }
  if (value === null) return "null";
  if (seen.includes(value)) return "[Circular *]";
  if (value instanceof Error) {
    const stack = typeof value.stack === "string" ? value.stack : `${value.name}: ${value.message}`;
    return depth === 0 ? stack : `[${stack.split("\n")[0]}]`;
  }
  if (value instanceof Date) return isNaN(value) ? "Invalid Date" : value.toISOString();
  if (value instanceof RegExp) return String(value);
  if (value instanceof Promise) return "Promise { <pending> }";
  if (depth > MAX_DEPTH) return Array.isArray(value) ? "[Array]" : "[Object]";
  seen = [...seen, value];
  const next = (v) => inspect(v, depth + 1, seen);
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map(next);
    if (value.length > MAX_ITEMS) items.push(`... ${value.length - MAX_ITEMS} more items`);
    return `[ ${items.join(", ")} ]`.replace("[  ]", "[]");
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const items = Array.from(value.subarray(0, MAX_ITEMS), String);
    if (value.length > MAX_ITEMS) items.push(`... ${value.length - MAX_ITEMS} more items`);
    return `${value.constructor.name}(${value.length}) [ ${items.join(", ")} ]`;
  }
  if (value instanceof Map) {
    const items = [...value].slice(0, MAX_ITEMS).map(([k, v]) => `${next(k)} => ${next(v)}`);
    return `Map(${value.size}) { ${items.join(", ")} }`;
  }
  if (value instanceof Set) {
    return `Set(${value.size}) { ${[...value].slice(0, MAX_ITEMS).map(next).join(", ")} }`;
  }
  const tag = value[Symbol.toStringTag];
  const ctor = value.constructor && value.constructor !== Object ? value.constructor.name : "";
  const keys = Object.keys(value);
  const body = keys.slice(0, MAX_ITEMS).map((k) => `${formatKey(k)}: ${next(value[k])}`);
  const prefix = ctor || tag ? `${ctor || "Object"}${tag && tag !== ctor ? ` [${tag}]` : ""} ` : "";
  if (body.length === 0) return `${prefix}{}`;
  return `${prefix}{ ${body.join(", ")} }`;
}

function format(args) {
  let out = "";
  let i = 0;
  if (typeof args[0] === "string" && args.length > 1 && args[0].includes("%")) {
    const fmt = args[0];
    i = 1;
    for (let j = 0; j < fmt.length; j++) {
      const c = fmt[j];
      if (c === "%" && j + 1 < fmt.length) {
        const n = fmt[j + 1];
        if (n === "%") { out += "%"; j++; continue; }
        if ("sdifoOjc".includes(n)) {
          j++;
          if (n === "c") { i++; continue; }
          if (i >= args.length) { out += "%" + n; continue; }
          const a = args[i++];
          if (n === "s") out += typeof a === "string" ? a : inspect(a, 1, []);
          else if (n === "d" || n === "i") out += typeof a === "bigint" ? `${a}n` : String(n === "i" ? parseInt(a) : Number(a));
          else if (n === "f") out += String(parseFloat(a));
          else if (n === "j") out += JSON.stringify(a);
          else out += inspect(a, 1, []);
          continue;
        }
      }
      out += c;
    }
  }
  for (; i < args.length; i++) {
    if (out.length > 0) out += " ";
    out += inspect(args[i], 0, []);
  }
  return out;
}
internals.inspect = (v) => inspect(v, 0, []);
internals.formatLog = format;

const counts = new Map();
const timers = new Map();
let groupIndent = "";

function emit(level, args) {
  let line = format(args);
  if (groupIndent) line = line.split("\n").map((l) => groupIndent + l).join("\n");
  ops.op_log(level, line);
}

class Console {
  log(...args) { emit(1, args); }
  info(...args) { emit(1, args); }
  debug(...args) { emit(0, args); }
  trace(...args) { emit(0, [...args, new Error("Trace").stack.split("\n").slice(1).join("\n")]); }
  warn(...args) { emit(2, args); }
  error(...args) { emit(3, args); }
  assert(cond, ...args) { if (!cond) emit(3, ["Assertion failed" + (args.length ? ":" : ""), ...args]); }
  dir(obj) { emit(1, [obj]); }
  dirxml(...args) { emit(1, args); }
  table(data) { emit(1, [data]); }
  count(label = "default") {
    const n = (counts.get(label) || 0) + 1;
    counts.set(label, n);
    emit(1, [`${label}: ${n}`]);
  }
  countReset(label = "default") { counts.delete(label); }
  group(...args) { if (args.length) emit(1, args); groupIndent += "  "; }
  groupCollapsed(...args) { this.group(...args); }
  groupEnd() { groupIndent = groupIndent.slice(2); }
  time(label = "default") { timers.set(label, ops.op_now()); }
  timeLog(label = "default", ...args) {
    const start = timers.get(label);
    if (start === undefined) return emit(2, [`Timer '${label}' does not exist`]);
    emit(1, [`${label}: ${(ops.op_now() - start).toFixed(3)}ms`, ...args]);
  }
  timeEnd(label = "default") {
    this.timeLog(label);
    timers.delete(label);
  }
  clear() {}
}
Object.defineProperty(Console.prototype, Symbol.toStringTag, { value: "console", configurable: true });
const consoleObject = new Console();
for (const k of Object.getOwnPropertyNames(Console.prototype)) {
  if (k !== "constructor") consoleObject[k] = Console.prototype[k].bind(consoleObject);
}
internals.defineGlobal("console", consoleObject);
