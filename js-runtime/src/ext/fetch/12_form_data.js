// FormData (https://xhr.spec.whatwg.org/#interface-formdata), its
// multipart/form-data serializer
// (https://html.spec.whatwg.org/multipage/form-control-infrastructure.html#multipart-form-data)
// and the body parsers behind `formData()`
// (https://fetch.spec.whatwg.org/#dom-body-formdata; the multipart parser
// follows https://andreubotella.github.io/multipart-form-data/).

const fetchInternals = internals.fetch;
const { webidl } = fetchInternals;

const DateNow = Date.now;
const MathRandom = Math.random;

class FormData {
  // [name, value] with value a string or a File.
  #entries = [];

  constructor(form = undefined, submitter = undefined) {
    if (form !== undefined) {
      throw new TypeError("Failed to construct 'FormData': parameter 1 is not of type 'HTMLFormElement'.");
    }
    void submitter;
  }

  static #list(f, member) {
    if (f === null || typeof f !== "object" || !(#entries in f)) {
      throw new TypeError(`Failed to execute '${member}' on 'FormData': Illegal invocation`);
    }
    return f.#entries;
  }

  append(name, value, filename = undefined) {
    const list = FormData.#list(this, "append");
    list.push(makeEntry(arguments.length, name, value, filename, "append"));
  }

  delete(name) {
    const list = FormData.#list(this, "delete");
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'delete' on 'FormData'");
    name = webidl.usvString(name);
    let j = 0;
    for (let i = 0; i < list.length; i++) if (list[i][0] !== name) list[j++] = list[i];
    list.length = j;
  }

  get(name) {
    const list = FormData.#list(this, "get");
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'get' on 'FormData'");
    name = webidl.usvString(name);
    for (const entry of list) if (entry[0] === name) return entry[1];
    return null;
  }

  getAll(name) {
    const list = FormData.#list(this, "getAll");
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'getAll' on 'FormData'");
    name = webidl.usvString(name);
    const out = [];
    for (const entry of list) if (entry[0] === name) out.push(entry[1]);
    return out;
  }

  has(name) {
    const list = FormData.#list(this, "has");
    webidl.requireArgs(arguments.length, 1, "Failed to execute 'has' on 'FormData'");
    name = webidl.usvString(name);
    for (const entry of list) if (entry[0] === name) return true;
    return false;
  }

  set(name, value, filename = undefined) {
    const list = FormData.#list(this, "set");
    const entry = makeEntry(arguments.length, name, value, filename, "set");
    let found = false;
    let j = 0;
    for (let i = 0; i < list.length; i++) {
      if (list[i][0] === entry[0]) {
        if (found) continue;
        found = true;
        list[j++] = entry;
      } else {
        list[j++] = list[i];
      }
    }
    list.length = j;
    if (!found) list.push(entry);
  }

  static {
    fetchInternals.isFormData = (f) => f !== null && typeof f === "object" && #entries in f;
    fetchInternals.formDataEntries = (f) => FormData.#list(f, "iterate");
    fetchInternals.formDataFromEntries = (entries) => {
      const f = new FormData();
      f.#entries = entries;
      return f;
    };
  }
}

// https://xhr.spec.whatwg.org/#create-an-entry (with the overload checks of
// append/set: a third argument needs a Blob value).
function makeEntry(argc, name, value, filename, member) {
  const context = `Failed to execute '${member}' on 'FormData'`;
  webidl.requireArgs(argc, 2, context);
  name = webidl.usvString(name);
  if (fetchInternals.isBlob(value)) {
    if (argc > 2) filename = filename === undefined ? undefined : webidl.usvString(filename);
    const isFile = fetchInternals.isFile(value);
    if (isFile && filename === undefined) return [name, value];
    const fileName = filename ?? (isFile ? value.name : "blob");
    const lastModified = isFile ? value.lastModified : DateNow();
    return [name, fetchInternals.fileFromParts([value], fileName, value.type, lastModified)];
  }
  if (argc > 2) throw new TypeError(`${context}: parameter 2 is not of type 'Blob'.`);
  return [name, webidl.usvString(value)];
}

webidl.configureInterface(FormData);
webidl.pairIterable(FormData, "FormData", fetchInternals.formDataEntries);

// ---------------------------------------------------------------------------
// multipart/form-data serializer

const LONE_NEWLINES = /\r(?!\n)|(?<!\r)\n/g;
const NAME_ESCAPES = /[\n\r"]/g;

function normalizeNewlines(s) {
  return s.replace(LONE_NEWLINES, "\r\n");
}

function escapeName(s) {
  return s.replace(NAME_ESCAPES, (c) => (c === "\n" ? "%0A" : c === "\r" ? "%0D" : "%22"));
}

function makeBoundary() {
  let s = "----OutpostFormBoundary";
  for (let i = 0; i < 16; i++) s += ((MathRandom() * 16) | 0).toString(16);
  return s;
}

/**
 * Serializes a FormData as multipart/form-data: { blob, contentType }. The
 * blob shares file contents with the entries' Files (no copy).
 */
fetchInternals.serializeFormData = function serializeFormData(formData) {
  const boundary = makeBoundary();
  const parts = [];
  let head = "";
  for (const [name, value] of fetchInternals.formDataEntries(formData)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(normalizeNewlines(name))}"`;
    if (typeof value === "string") {
      head += `\r\n\r\n${normalizeNewlines(value)}\r\n`;
    } else {
      const type = value.type === "" ? "application/octet-stream" : value.type;
      head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${type}\r\n\r\n`;
      parts.push(fetchInternals.utf8Encode(head));
      parts.push(value);
      head = "\r\n";
    }
  }
  head += `--${boundary}--\r\n`;
  parts.push(fetchInternals.utf8Encode(head));
  return {
    blob: fetchInternals.blobFromParts(parts, ""),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
};

// ---------------------------------------------------------------------------
// Parsers for Body.formData()

function formDataError(message) {
  return new TypeError(`Failed to parse the body as FormData: ${message}`);
}

// Bytes as a string with one char per byte (windows-1252 is single-byte), so
// string searches find byte offsets.
function byteString(bytes) {
  return internals.encoding.decode(bytes, "windows-1252");
}

/** Parses the name/filename parameters of a form-data Content-Disposition value (UTF-8 decoded). */
function parseContentDisposition(value) {
  let pos = 0;
  const skipWs = () => {
    while (pos < value.length && (value[pos] === " " || value[pos] === "\t")) pos++;
  };
  skipWs();
  if (value.slice(pos, pos + 9).toLowerCase() !== "form-data") return null;
  pos += 9;
  const params = new Map();
  for (;;) {
    skipWs();
    if (pos >= value.length) break;
    if (value[pos] !== ";") return null;
    pos++;
    skipWs();
    let end = pos;
    while (end < value.length && value[end] !== "=" && value[end] !== ";") end++;
    const key = value.slice(pos, end).trim().toLowerCase();
    pos = end;
    if (value[pos] !== "=") {
      continue;
    }
    pos++;
    skipWs();
    let v;
    if (value[pos] === '"') {
      pos++;
      let close = value.indexOf('"', pos);
      if (close === -1) return null;
      v = value.slice(pos, close);
      pos = close + 1;
    } else {
      end = pos;
      while (end < value.length && value[end] !== ";") end++;
      v = value.slice(pos, end).trim();
      pos = end;
    }
    // Escapes (%0A, %0D, %22) are not undone: "%" itself is never escaped.
    if (!params.has(key)) params.set(key, v);
  }
  return params;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TAB_OR_SPACE_EDGES = /^[\t ]+|[\t ]+$/g;
const BAD_HEADER_CHAR = /[\0\r\n]/;

/** Skips transport padding (spaces and tabs) from `pos`. */
function skipPadding(text, pos) {
  while (text[pos] === " " || text[pos] === "\t") pos++;
  return pos;
}

/**
 * Parses a multipart/form-data body into a FormData; throws a TypeError
 * when it is malformed. Every search moves forward, so any input ends in
 * linear time.
 */
function parseMultipart(bytes, boundary) {
  if (boundary === undefined || boundary === "") throw formDataError("missing boundary parameter");
  // Offsets in `text` are byte offsets; the boundary is looked for UTF-8 encoded.
  const text = byteString(bytes);
  const delimiter = byteString(fetchInternals.utf8Encode(`--${boundary}`));
  const closeSearch = `\r\n${delimiter}`;
  if (!text.startsWith(delimiter)) throw formDataError("the body does not start with the boundary delimiter");
  let pos = delimiter.length;
  const entries = [];
  for (;;) {
    if (text.startsWith("--", pos)) {
      // The close delimiter: padding, then CRLF and an epilogue, or the end.
      pos = skipPadding(text, pos + 2);
      if (pos === text.length || text.startsWith("\r\n", pos)) break;
      throw formDataError("unexpected data after the close delimiter");
    }
    pos = skipPadding(text, pos);
    if (!text.startsWith("\r\n", pos)) throw formDataError("malformed boundary delimiter line");
    pos += 2;
    if (text.startsWith("\r\n", pos)) throw formDataError("a part has no headers");
    const headersEnd = text.indexOf("\r\n\r\n", pos);
    if (headersEnd === -1) throw formDataError("unterminated part headers");
    // Header values are UTF-8 in practice (browsers send names that way);
    // decoding keeps CR, LF and NUL where they were.
    const headerText = internals.encoding.utf8Decode(bytes.subarray(pos, headersEnd));
    let name = null;
    let filename = null;
    let contentType = null;
    for (const line of headerText.split("\r\n")) {
      if (BAD_HEADER_CHAR.test(line)) throw formDataError("a part header contains CR, LF or NUL");
      const colon = line.indexOf(":");
      if (colon === -1) throw formDataError("a part header has no colon");
      const headerName = line.slice(0, colon).replace(TAB_OR_SPACE_EDGES, "");
      if (!TOKEN.test(headerName)) throw formDataError("invalid part header name");
      const value = line.slice(colon + 1).replace(TAB_OR_SPACE_EDGES, "");
      const lower = headerName.toLowerCase();
      if (lower === "content-disposition") {
        const params = parseContentDisposition(value);
        if (params === null || !params.has("name")) throw formDataError("invalid Content-Disposition header");
        name = params.get("name");
        filename = params.has("filename") ? params.get("filename") : null;
      } else if (lower === "content-type") {
        contentType = contentType === null ? value : `${contentType}, ${value}`;
      }
    }
    if (name === null) throw formDataError("a part has no Content-Disposition header");
    const bodyStart = headersEnd + 4;
    const bodyEnd = text.indexOf(closeSearch, bodyStart);
    if (bodyEnd === -1) throw formDataError("missing closing boundary");
    const content = bytes.subarray(bodyStart, bodyEnd);
    if (filename !== null) {
      let type = "text/plain";
      if (contentType !== null) {
        // As elsewhere in Fetch: the last valid MIME type, serialized; "" if none.
        const mime = fetchInternals.extractMimeType(contentType);
        type = mime === null ? "" : internals.mime.serialize(mime);
      }
      entries.push([name, fetchInternals.fileFromParts([content], filename, type, 0)]);
    } else {
      entries.push([name, internals.encoding.utf8Decode(content)]);
    }
    pos = bodyEnd + closeSearch.length;
  }
  return fetchInternals.formDataFromEntries(entries);
}

/**
 * Body.formData(): parses `bytes` per the body's MIME type (a record from
 * internals.mime.parse, or null).
 */
fetchInternals.parseFormData = function parseFormData(bytes, mime) {
  const essence = mime === null ? "" : mime.essence;
  if (essence === "multipart/form-data") {
    return parseMultipart(bytes, mime.params.get("boundary"));
  }
  if (essence === "application/x-www-form-urlencoded") {
    const text = internals.encoding.utf8Decode(bytes);
    const entries = internals.url.formParse(text).map(([k, v]) => [webidl.usvString(k), webidl.usvString(v)]);
    return fetchInternals.formDataFromEntries(entries);
  }
  throw new TypeError("Failed to parse the body as FormData: the Content-Type is not multipart/form-data or application/x-www-form-urlencoded.");
};

internals.defineGlobal("FormData", FormData);
