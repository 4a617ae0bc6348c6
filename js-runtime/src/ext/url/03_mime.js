// MIME types (https://mimesniff.spec.whatwg.org/#parsing-a-mime-type),
// for the fetch family: internals.mime.parse(string) and serialize(record).
// A record is { type, subtype, essence, params: Map } with lowercase type,
// subtype and parameter names.

const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const HTTP_WHITESPACE_END = /[\t\n\r ]+$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const QUOTED_STRING_TOKEN = /^[\t\u0020-\u007E\u0080-\u00FF]*$/;

function isHttpWhitespace(c) {
  return c === "\t" || c === "\n" || c === "\r" || c === " ";
}

/**
 * Collects an HTTP quoted string starting at input[position] (a `"`), with
 * extract-value set. Returns [value, newPosition].
 */
function collectQuotedString(input, position) {
  let value = "";
  position++;
  for (;;) {
    let end = position;
    while (end < input.length && input[end] !== '"' && input[end] !== "\\") end++;
    value += input.slice(position, end);
    position = end;
    if (position >= input.length) break;
    const quoteOrBackslash = input[position];
    position++;
    if (quoteOrBackslash === "\\") {
      if (position >= input.length) {
        value += "\\";
        break;
      }
      value += input[position];
      position++;
    } else {
      break;
    }
  }
  return [value, position];
}

/** Parses a MIME type; null on failure. */
function parseMimeType(input) {
  input = `${input}`.replace(HTTP_WHITESPACE, "");
  let position = 0;
  let slash = input.indexOf("/");
  if (slash === -1) return null;
  const type = input.slice(0, slash);
  if (type === "" || !TOKEN.test(type)) return null;
  position = slash + 1;
  let semicolon = input.indexOf(";", position);
  if (semicolon === -1) semicolon = input.length;
  const subtype = input.slice(position, semicolon).replace(HTTP_WHITESPACE_END, "");
  if (subtype === "" || !TOKEN.test(subtype)) return null;
  position = semicolon;
  const record = {
    type: type.toLowerCase(),
    subtype: subtype.toLowerCase(),
    get essence() {
      return `${this.type}/${this.subtype}`;
    },
    params: new Map(),
  };
  while (position < input.length) {
    position++; // the ";"
    while (position < input.length && isHttpWhitespace(input[position])) position++;
    let end = position;
    while (end < input.length && input[end] !== ";" && input[end] !== "=") end++;
    const name = input.slice(position, end).toLowerCase();
    position = end;
    if (position < input.length) {
      if (input[position] === ";") continue;
      position++; // the "="
    }
    if (position >= input.length) break;
    let value;
    if (input[position] === '"') {
      [value, position] = collectQuotedString(input, position);
      while (position < input.length && input[position] !== ";") position++;
    } else {
      end = input.indexOf(";", position);
      if (end === -1) end = input.length;
      value = input.slice(position, end).replace(HTTP_WHITESPACE_END, "");
      position = end;
      if (value === "") continue;
    }
    if (name !== "" && TOKEN.test(name) && QUOTED_STRING_TOKEN.test(value) && !record.params.has(name)) {
      record.params.set(name, value);
    }
  }
  return record;
}

/** Serializes a MIME type record. */
function serializeMimeType(record) {
  let out = `${record.type}/${record.subtype}`;
  for (const [name, value] of record.params) {
    out += ";" + name + "=";
    if (value === "" || !TOKEN.test(value)) {
      out += '"' + value.replace(/["\\]/g, "\\$&") + '"';
    } else {
      out += value;
    }
  }
  return out;
}

internals.mime = {
  parse: parseMimeType,
  serialize: serializeMimeType,
  /** Parses and re-serializes; null when the input is not a MIME type. */
  normalize(input) {
    const record = parseMimeType(input);
    return record === null ? null : serializeMimeType(record);
  },
};
