// Blob and File: https://w3c.github.io/FileAPI/
//
// A blob is a list of immutable byte parts (Uint8Arrays, possibly views of
// a shared buffer) plus its size and type. Parts are never changed after
// construction, so blobs built from other blobs and slices share them
// without copying.

const fetchInternals = internals.fetch;
const { webidl } = fetchInternals;

const TypedArrayPrototypeSlice = Uint8Array.prototype.slice;
const DateNow = Date.now;
// Chunk size of blob.stream().
const STREAM_CHUNK = 65536;
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/;
const LINE_ENDINGS = /\r\n|\r/g;

function normalizeType(type) {
  return NOT_PRINTABLE_ASCII.test(type) ? "" : type.toLowerCase();
}

const kInternal = Symbol("Blob internal");

// WebIDL conversion of `sequence<BlobPart>`: a list of Blobs, BufferSources
// and strings.
function convertBlobParts(blobParts, context) {
  if (blobParts === undefined) return [];
  return internals.sequence(blobParts, context, (element) =>
    fetchInternals.isBlob(element) || ArrayBuffer.isView(element) || webidl.isArrayBuffer(element)
      ? element
      : webidl.usvString(element),
  );
}

// https://w3c.github.io/FileAPI/#process-blob-parts
function processBlobParts(elements, endings) {
  const parts = [];
  let size = 0;
  for (const element of elements) {
    let bytes;
    if (typeof element === "string") {
      bytes = fetchInternals.utf8Encode(endings === "native" ? element.replace(LINE_ENDINGS, "\n") : element);
    } else if (fetchInternals.isBlob(element)) {
      for (const p of fetchInternals.blobParts(element)) parts.push(p);
      size += fetchInternals.blobSize(element);
      continue;
    } else {
      bytes = webidl.copyBufferSource(element);
    }
    if (bytes.byteLength > 0) {
      parts.push(bytes);
      size += bytes.byteLength;
    }
  }
  return { parts, size };
}

function convertEndings(value, context) {
  return value === undefined ? "transparent" : webidl.enumValue(value, ["transparent", "native"], context, "EndingType");
}

class Blob {
  #parts;
  #size;
  #type;

  constructor(blobParts = undefined, options = undefined) {
    if (blobParts === kInternal) {
      // Internal: (kInternal, parts, size, type).
      this.#parts = arguments[1];
      this.#size = arguments[2];
      this.#type = arguments[3];
      return;
    }
    const context = "Failed to construct 'Blob'";
    const elements = convertBlobParts(blobParts, context);
    const opts = webidl.dictionary(options, context, "BlobPropertyBag");
    const endings = convertEndings(opts.endings, context);
    const typeRaw = opts.type;
    const type = typeRaw === undefined ? "" : webidl.domString(typeRaw);
    const { parts, size } = processBlobParts(elements, endings);
    this.#parts = parts;
    this.#size = size;
    this.#type = normalizeType(type);
  }

  static #check(b, member) {
    if (b === null || typeof b !== "object" || !(#parts in b)) {
      throw new TypeError(`Failed to execute '${member}' on 'Blob': Illegal invocation`);
    }
    return b;
  }

  get size() {
    return Blob.#check(this, "size").#size;
  }

  get type() {
    return Blob.#check(this, "type").#type;
  }

  slice(start = undefined, end = undefined, contentType = undefined) {
    Blob.#check(this, "slice");
    const size = this.#size;
    let from = start === undefined ? 0 : webidl.clampLongLong(start);
    let to = end === undefined ? size : webidl.clampLongLong(end);
    const type = contentType === undefined ? "" : normalizeType(webidl.domString(contentType));
    from = from < 0 ? Math.max(size + from, 0) : Math.min(from, size);
    to = to < 0 ? Math.max(size + to, 0) : Math.min(to, size);
    const span = Math.max(to - from, 0);
    const out = [];
    let offset = 0;
    let need = span;
    for (const part of this.#parts) {
      if (need === 0) break;
      const len = part.byteLength;
      if (offset + len <= from) {
        offset += len;
        continue;
      }
      const begin = Math.max(from - offset, 0);
      const take = Math.min(len - begin, need);
      out.push(begin === 0 && take === len ? part : part.subarray(begin, begin + take));
      need -= take;
      offset += len;
    }
    return new Blob(kInternal, out, span, type);
  }

  stream() {
    Blob.#check(this, "stream");
    return blobStream(this.#parts);
  }

  text() {
    try {
      Blob.#check(this, "text");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(fetchInternals.utf8Decode(concatParts(this.#parts, this.#size)));
  }

  arrayBuffer() {
    try {
      Blob.#check(this, "arrayBuffer");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(copyParts(this.#parts, this.#size).buffer);
  }

  bytes() {
    try {
      Blob.#check(this, "bytes");
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve(copyParts(this.#parts, this.#size));
  }

  static {
    fetchInternals.isBlob = (b) => b !== null && typeof b === "object" && #parts in b;
    fetchInternals.blobParts = (b) => b.#parts;
    fetchInternals.blobSize = (b) => b.#size;
    fetchInternals.blobType = (b) => b.#type;
    /** The blob's bytes; may share memory with the blob, so callers must not change them. */
    fetchInternals.blobBytes = (b) => concatParts(b.#parts, b.#size);
    /** A blob over `parts` (Uint8Arrays and Blobs; the arrays are adopted, not copied) with `type` as is. */
    fetchInternals.blobFromParts = (items, type = "") => {
      const parts = [];
      let size = 0;
      for (const item of items) {
        if (fetchInternals.isBlob(item)) {
          for (const p of item.#parts) parts.push(p);
          size += item.#size;
        } else if (item.byteLength > 0) {
          parts.push(item);
          size += item.byteLength;
        }
      }
      return new Blob(kInternal, parts, size, type);
    };
  }
}

/** One Uint8Array with all parts' bytes (the part itself when there is only one). */
function concatParts(parts, size) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** A fresh copy of all parts' bytes. */
function copyParts(parts, size) {
  if (parts.length === 1) return Reflect.apply(TypedArrayPrototypeSlice, parts[0], []);
  return concatParts(parts, size);
}

function blobStream(parts) {
  let index = 0;
  let offset = 0;
  return internals.streams.fromPull({
    pull(controller) {
      if (index >= parts.length) {
        controller.close();
        return;
      }
      const part = parts[index];
      const end = Math.min(offset + STREAM_CHUNK, part.byteLength);
      // A copy: the stream hands its chunks over (and may detach them).
      controller.enqueue(Reflect.apply(TypedArrayPrototypeSlice, part, [offset, end]));
      offset = end;
      if (offset >= part.byteLength) {
        index++;
        offset = 0;
      }
      if (index >= parts.length) controller.close();
    },
  });
}

webidl.configureInterface(Blob);

class File extends Blob {
  #name;
  #lastModified;

  constructor(fileBits, fileName, options = undefined) {
    if (fileBits === kInternal) {
      // Internal: (kInternal, blob, name, lastModified).
      const blob = arguments[1];
      super(kInternal, fetchInternals.blobParts(blob), fetchInternals.blobSize(blob), fetchInternals.blobType(blob));
      this.#name = arguments[2];
      this.#lastModified = arguments[3];
      return;
    }
    const context = "Failed to construct 'File'";
    webidl.requireArgs(arguments.length, 2, context);
    const elements = convertBlobParts(fileBits, context);
    const name = webidl.usvString(fileName);
    const opts = webidl.dictionary(options, context, "FilePropertyBag");
    // Members in lexicographic order: endings, lastModified, type.
    const endings = convertEndings(opts.endings, context);
    const lastModifiedRaw = opts.lastModified;
    const lastModified = lastModifiedRaw === undefined ? DateNow() : webidl.longLong(lastModifiedRaw);
    const typeRaw = opts.type;
    const type = typeRaw === undefined ? "" : normalizeType(webidl.domString(typeRaw));
    const { parts, size } = processBlobParts(elements, endings);
    super(kInternal, parts, size, type);
    this.#name = name;
    this.#lastModified = lastModified;
  }

  static #check(f, member) {
    if (f === null || typeof f !== "object" || !(#name in f)) {
      throw new TypeError(`Failed to execute '${member}' on 'File': Illegal invocation`);
    }
    return f;
  }

  get name() {
    return File.#check(this, "name").#name;
  }

  get lastModified() {
    return File.#check(this, "lastModified").#lastModified;
  }

  get webkitRelativePath() {
    File.#check(this, "webkitRelativePath");
    return "";
  }

  static {
    fetchInternals.isFile = (f) => f !== null && typeof f === "object" && #name in f;
    /** A File over `items` (Uint8Arrays, adopted, and Blobs, shared) with `type` taken as is. */
    fetchInternals.fileFromParts = (items, name, type, lastModified = DateNow()) => {
      const blob = fetchInternals.blobFromParts(items, type);
      return new File(kInternal, blob, name, lastModified);
    };
  }
}

webidl.configureInterface(File);

internals.defineGlobal("Blob", Blob);
internals.defineGlobal("File", File);
