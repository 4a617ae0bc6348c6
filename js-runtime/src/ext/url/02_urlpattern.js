// URLPattern (https://urlpattern.spec.whatwg.org/).
//
// The `urlpattern` crate turns constructor input into one ECMAScript regexp
// source per component (op_urlpattern_parse); this file compiles them with
// the engine's RegExp and matches in JS. String match input goes through
// this runtime's URL parser; URLPatternInit match input is canonicalized by
// the crate (op_urlpattern_process_match_input).

const { defineGlobal } = internals;
const { parse: urlParse, matchComponents, configureInterface } = internals.url;
const RegExpCtor = RegExp;
const RegExpPrototypeExec = RegExp.prototype.exec;
const JSONStringify = JSON.stringify;
const JSONParse = JSON.parse;

const COMPONENTS = ["protocol", "username", "password", "hostname", "port", "pathname", "search", "hash"];
// WebIDL reads dictionary members in lexicographic order.
const INIT_MEMBERS = ["baseURL", "hash", "hostname", "password", "pathname", "port", "protocol", "search", "username"];

function usv(value) {
  return internals.toUSVString(`${value}`);
}

function isObjectLike(v) {
  return v !== null && (typeof v === "object" || typeof v === "function");
}

/** URLPatternInit dictionary conversion (undefined/null -> {}). */
function toInit(value) {
  const init = {};
  if (value === undefined || value === null) return init;
  if (!isObjectLike(value)) throw new TypeError("URLPatternInit must be an object");
  for (const key of INIT_MEMBERS) {
    const v = value[key];
    if (v !== undefined) init[key] = usv(v);
  }
  return init;
}

function toOptions(value) {
  if (value === undefined || value === null) return { ignoreCase: false };
  if (!isObjectLike(value)) throw new TypeError("URLPatternOptions must be an object");
  return { ignoreCase: !!value.ignoreCase };
}

function compile(source, ignoreCase) {
  // The standard compiles with the "v" flag; sources that only the older
  // "u" grammar accepts (e.g. `[a-z-]`) are still allowed.
  try {
    return new RegExpCtor(source, ignoreCase ? "vi" : "v");
  } catch {
    try {
      return new RegExpCtor(source, ignoreCase ? "ui" : "u");
    } catch (e) {
      throw new TypeError(`Invalid URLPattern: invalid regular expression /${source}/: ${e.message}`);
    }
  }
}

/** The components a match runs against, or null if the input is no URL. */
function matchValues(input, baseURL, hasBase) {
  if (input === undefined || input === null || isObjectLike(input)) {
    if (hasBase) throw new TypeError("A base URL cannot be given with a URLPatternInit input");
    const json = ops.op_urlpattern_process_match_input(JSONStringify(toInit(input)), undefined);
    return json === null ? null : JSONParse(json);
  }
  // With a base, the base must parse too (the op fails on either).
  const url = urlParse(usv(input), hasBase ? usv(baseURL) : undefined);
  return url === null ? null : matchComponents(url);
}

class URLPattern {
  #patterns; // component name -> pattern string
  #regexps; // component name -> RegExp
  #groups; // component name -> group names
  #hasRegExpGroups;

  constructor(input = undefined, baseURL = undefined, options = undefined) {
    let base;
    let opts;
    if (arguments.length >= 3 || (baseURL !== undefined && baseURL !== null && !isObjectLike(baseURL))) {
      base = usv(baseURL);
      opts = options;
    } else {
      opts = baseURL;
    }
    const { ignoreCase } = toOptions(opts);
    let inputJson;
    if (input === undefined || input === null || isObjectLike(input)) {
      inputJson = JSONStringify(toInit(input));
    } else {
      inputJson = JSONStringify(usv(input));
    }
    const parsed = JSONParse(ops.op_urlpattern_parse(inputJson, base, ignoreCase));
    const patterns = { __proto__: null };
    const regexps = { __proto__: null };
    const groups = { __proto__: null };
    for (const name of COMPONENTS) {
      const c = parsed[name];
      patterns[name] = c.patternString;
      regexps[name] = compile(c.regexpString, ignoreCase);
      groups[name] = c.groupNameList;
    }
    this.#patterns = patterns;
    this.#regexps = regexps;
    this.#groups = groups;
    this.#hasRegExpGroups = parsed.hasRegexpGroups;
  }

  test(input = undefined, baseURL = undefined) {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    const values = matchValues(input, baseURL, baseURL !== undefined);
    if (values === null) return false;
    for (const name of COMPONENTS) {
      if (RegExpPrototypeExec.call(this.#regexps[name], values[name]) === null) return false;
    }
    return true;
  }

  exec(input = undefined, baseURL = undefined) {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    const values = matchValues(input, baseURL, baseURL !== undefined);
    if (values === null) return null;
    let inputs;
    if (input === undefined || input === null || isObjectLike(input)) {
      inputs = [input ?? {}];
    } else {
      inputs = baseURL === undefined ? [usv(input)] : [usv(input), usv(baseURL)];
    }
    const result = { inputs };
    for (const name of COMPONENTS) {
      const m = RegExpPrototypeExec.call(this.#regexps[name], values[name]);
      if (m === null) return null;
      const groupNames = this.#groups[name];
      const groups = {};
      for (let i = 0; i < groupNames.length; i++) groups[groupNames[i]] = m[i + 1];
      result[name] = { input: values[name], groups };
    }
    return result;
  }

  get hasRegExpGroups() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#hasRegExpGroups;
  }

  get protocol() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.protocol;
  }

  get username() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.username;
  }

  get password() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.password;
  }

  get hostname() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.hostname;
  }

  get port() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.port;
  }

  get pathname() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.pathname;
  }

  get search() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.search;
  }

  get hash() {
    if (!(#patterns in this)) throw new TypeError("Illegal invocation");
    return this.#patterns.hash;
  }
}

configureInterface(URLPattern);
defineGlobal("URLPattern", URLPattern);
