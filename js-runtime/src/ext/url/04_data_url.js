// The data: URL processor (https://fetch.spec.whatwg.org/#data-url-processor),
// for the fetch family: internals.dataUrl.process(url) returns
// { mimeType: string, mime: record, body: Uint8Array } or null.

const BASE64_SUFFIX = /; *base64$/i;
const ASCII_WHITESPACE_EDGES = /^[\t\n\f\r ]+|[\t\n\f\r ]+$/g;

/** Percent-decodes a string into bytes (non-ASCII as UTF-8). */
function percentDecodeBytes(input) {
  const out = new Uint8Array(input.length * 3);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    let c = input.charCodeAt(i);
    if (c === 0x25 && i + 2 < input.length) {
      const h = hex(input.charCodeAt(i + 1));
      const l = hex(input.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out[n++] = (h << 4) | l;
        i += 2;
        continue;
      }
    }
    if (c < 0x80) {
      out[n++] = c;
    } else {
      // Cannot happen for a URL serialization (it is ASCII); kept correct.
      const bytes = internals.encoding.utf8Encode(String.fromCodePoint(input.codePointAt(i)));
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < input.length) i++;
      out.set(bytes, n);
      n += bytes.length;
    }
  }
  return out.slice(0, n);
}

function hex(c) {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Runs the data: URL processor on a URL (string or URL object). */
function processDataUrl(url) {
  const parsed = internals.url.parse(`${url}`, undefined);
  if (parsed === null) return null;
  // The URL serialized without its fragment, less the leading "data:".
  const href = internals.url.hrefWithoutFragment(parsed);
  if (!href.startsWith("data:")) return null;
  let input = href.slice(5);
  const comma = input.indexOf(",");
  if (comma === -1) return null;
  let mimeType = input.slice(0, comma).replace(ASCII_WHITESPACE_EDGES, "");
  let body = percentDecodeBytes(input.slice(comma + 1));
  const suffix = BASE64_SUFFIX.exec(mimeType);
  if (suffix !== null) {
    let stringBody = "";
    for (let i = 0; i < body.length; i += 8192) {
      stringBody += String.fromCharCode.apply(null, body.subarray(i, i + 8192));
    }
    body = internals.base64.decode(stringBody);
    if (body === null) return null;
    mimeType = mimeType.slice(0, suffix.index);
  }
  if (mimeType.startsWith(";")) mimeType = "text/plain" + mimeType;
  let record = internals.mime.parse(mimeType);
  if (record === null) record = internals.mime.parse("text/plain;charset=US-ASCII");
  return { mimeType: internals.mime.serialize(record), mime: record, body };
}

internals.dataUrl = { process: processDataUrl };
