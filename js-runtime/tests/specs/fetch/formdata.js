// FormData, multipart/form-data and application/x-www-form-urlencoded bodies.
import { assert, assertEquals, assertThrows, assertRejects } from "../_assert.js";

function multipart(boundary, body) {
  return new Request("https://example.com/", {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    body,
  });
}

export default {
  async fetch() {
    // The FormData API.
    const fd = new FormData();
    fd.append("a", "1");
    fd.append("b", new Blob(["blob-body"], { type: "text/x-b" }));
    fd.append("c", new Blob(["named"]), "c.txt");
    fd.append("a", "2");
    fd.set("d", new File(["file-body"], "d.bin", { type: "application/x-d", lastModified: 7 }));
    assertEquals(fd.get("a"), "1");
    assertEquals(fd.getAll("a"), ["1", "2"]);
    assertEquals(fd.get("zzz"), null);
    assertEquals(fd.getAll("zzz"), []);
    assert(fd.has("b") && !fd.has("zzz"));
    const b = fd.get("b");
    assert(b instanceof File, "a Blob value becomes a File");
    assertEquals(b.name, "blob");
    assertEquals(b.type, "text/x-b");
    assertEquals(await b.text(), "blob-body");
    assertEquals(fd.get("c").name, "c.txt");
    const d = fd.get("d");
    assertEquals([d.name, d.lastModified, d.type], ["d.bin", 7, "application/x-d"]);
    const original = new File(["x"], "orig.txt", { lastModified: 5 });
    fd.append("e", original);
    assertEquals(fd.get("e"), original, "a File without a filename is kept as is");
    fd.append("e2", original, "renamed.txt");
    assertEquals([fd.get("e2").name, fd.get("e2").lastModified], ["renamed.txt", 5]);
    fd.delete("e");
    fd.delete("e2");
    assertEquals([...fd.keys()], ["a", "b", "c", "a", "d"]);
    fd.set("a", "only");
    assertEquals([...fd.keys()], ["a", "b", "c", "d"], "set replaces the first and drops the rest");
    assertEquals(fd.getAll("a"), ["only"]);
    assertEquals([...fd.entries()][0], ["a", "only"]);
    assertEquals([...fd.values()].length, 4);
    const seen = [];
    fd.forEach((v, k) => seen.push(k));
    assertEquals(seen, ["a", "b", "c", "d"]);
    fd.append(1, 2);
    assertEquals(fd.get("1"), "2", "names and values are strings");
    fd.delete("1");
    fd.append("lone", "\ud800");
    assertEquals(fd.get("lone"), "\ufffd");
    fd.delete("lone");
    assertThrows(() => fd.append("x"), TypeError);
    assertThrows(() => fd.append("x", "string", "filename"), TypeError);
    assertThrows(() => fd.get(), TypeError);
    assertThrows(() => new FormData({}), TypeError);
    assertThrows(() => FormData.prototype.append.call({}, "a", "b"), TypeError);
    assertEquals(Object.prototype.toString.call(fd), "[object FormData]");
    assertEquals(Object.prototype.toString.call(fd.entries()), "[object FormData Iterator]");
    assertEquals(FormData.prototype.append.length, 2);

    // Serialised as multipart/form-data, with the boundary in the content type.
    const req = new Request("https://example.com/", { method: "POST", body: fd });
    const type = req.headers.get("content-type");
    const m = /^multipart\/form-data; boundary=(.+)$/.exec(type);
    assert(m !== null, `content type: ${type}`);
    const boundary = m[1];
    const text = await req.clone().text();
    assert(text.startsWith(`--${boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\nonly\r\n`), text);
    assert(text.includes(`Content-Disposition: form-data; name="b"; filename="blob"\r\nContent-Type: text/x-b\r\n\r\nblob-body\r\n`), text);
    assert(text.includes(`name="c"; filename="c.txt"\r\nContent-Type: application/octet-stream\r\n\r\nnamed\r\n`), text);
    assert(text.endsWith(`--${boundary}--\r\n`), text);

    // Round trip through formData().
    const back = await req.formData();
    assertEquals([...back.keys()], ["a", "b", "c", "d"]);
    assertEquals(back.get("a"), "only");
    const d2 = back.get("d");
    assert(d2 instanceof File);
    assertEquals([d2.name, d2.type, await d2.text()], ["d.bin", "application/x-d", "file-body"]);
    assertEquals(back.get("c").type, "application/octet-stream");

    // Names with quotes and newlines, values with lone newlines, binary files.
    const tricky = new FormData();
    tricky.append('na"me\n', "line1\nline2\rline3");
    const bin = new Uint8Array(256).map((_, i) => i);
    tricky.append("bin", new Blob([bin]), 'fi"le\r.dat');
    tricky.append("utf8-ñ", "välue ✓");
    const trickyReq = new Response(tricky);
    const raw = await trickyReq.clone().text();
    assert(raw.includes('name="na%22me%0D%0A"'), raw);
    assert(raw.includes("line1\r\nline2\r\nline3"), "newlines in values become CRLF");
    assert(raw.includes('filename="fi%22le%0D.dat"'), "filenames are escaped but not newline-normalized");
    const tb = await trickyReq.formData();
    // Escaping is one-way ("%" is never escaped, so it cannot be undone).
    assertEquals(tb.get("na%22me%0D%0A"), "line1\r\nline2\r\nline3");
    assertEquals(await tb.get("bin").bytes(), bin);
    assertEquals(tb.get("bin").name, "fi%22le%0D.dat");
    assertEquals(tb.get("utf8-ñ"), "välue ✓");
    // An empty FormData is just the close delimiter.
    const emptyForm = new Response(new FormData());
    const emptyBoundary = emptyForm.headers.get("content-type").split("boundary=")[1];
    assert(/^[0-9A-Za-z-]{27,70}$/.test(emptyBoundary), `boundary ${emptyBoundary}`);
    assertEquals(await emptyForm.text(), `--${emptyBoundary}--\r\n`);
    assert(new Response(new FormData()).headers.get("content-type") !== emptyForm.headers.get("content-type"), "boundaries are random");

    // Hand-written bodies: epilogue, padding, missing Content-Type, empty parts.
    const crlf = (...lines) => lines.join("\r\n");
    const hand = multipart("XyZ", crlf(
      "--XyZ \t",
      "content-disposition: form-data; name=field",
      "X-Ignored: yes",
      "",
      "value",
      "--XyZ",
      ' Content-Disposition : form-data; name="f"; filename="a.txt"',
      "",
      "file",
      "--XyZ",
      'Content-Disposition: form-data; name="empty"',
      "",
      "",
      "--XyZ",
      'Content-Disposition: form-data; name="x--XyZ"',
      "",
      "a--XyZ",
      "--XyZ-- \t",
      "epilogue",
    ));
    const hf = await hand.formData();
    assertEquals([...hf.keys()], ["field", "f", "empty", "x--XyZ"]);
    assertEquals(hf.get("field"), "value");
    assertEquals(hf.get("f").type, "text/plain", "a file part without Content-Type is text/plain");
    assertEquals(hf.get("f").lastModified, 0);
    assertEquals(await hf.get("f").text(), "file");
    assertEquals(hf.get("empty"), "");
    assertEquals(hf.get("x--XyZ"), "a--XyZ");
    const typed = async (...types) => {
      const body = crlf("--B", 'Content-Disposition: form-data; name="a"; filename="f"', ...types.map((t) => `Content-Type:${t}`), "", "v", "--B--");
      return (await multipart("B", body).formData()).get("a").type;
    };
    assertEquals(await typed(" TEXT/HTML "), "text/html");
    assertEquals(await typed("text/html", "text/plain"), "text/plain", "the last Content-Type wins");
    assertEquals(await typed("text/html, text/plain"), "text/plain");
    assertEquals(await typed("text/html;;x=\"y\""), "text/html;x=y");
    assertEquals(await typed("text"), "", "an invalid Content-Type gives an empty type");
    assertEquals(await typed(""), "");
    const quoted = multipart('"q b"', '--q b\r\nContent-Disposition: form-data; name="x"\r\n\r\ny\r\n--q b--');
    assertEquals((await quoted.formData()).get("x"), "y", "quoted boundary parameter");
    const nonAscii = multipart('"bé"', '--bé\r\nContent-Disposition: form-data; name="é"\r\n\r\n中文\r\n--bé--');
    assertEquals((await nonAscii.formData()).get("é"), "中文", "the boundary is looked for UTF-8 encoded");
    const invalidUtf8 = new Uint8Array([...new TextEncoder().encode('--B\r\nContent-Disposition: form-data; name="a'), 0xff, ...new TextEncoder().encode('"\r\n\r\nv\r\n--B--')]);
    assertEquals([...(await multipart("B", invalidUtf8).formData()).keys()], ["a\ufffd"]);

    // Malformed bodies reject with a TypeError (and never hang).
    const part = 'Content-Disposition: form-data; name="a"';
    const bad = [
      "no delimiter at all",
      crlf("preamble", "--XyZ", part, "", "v", "--XyZ--"),
      crlf("--XyZ", part, "", "unterminated"),
      crlf("--XyZ", part),
      "--XyZ",
      crlf("--XyZ", "Content-Type: text/plain", "", "no disposition", "--XyZ--"),
      crlf("--XyZ", 'Content-Disposition: attachment; name="a"', "", "v", "--XyZ--"),
      crlf("--XyZ", "broken header line", "", "v", "--XyZ--"),
      crlf("--XyZ", part, "Cont ent-Type: text/plain", "", "v", "--XyZ--"),
      crlf("--XyZ", "Content-Disposition: form-data;", ' name="a"', "", "v", "--XyZ--"),
      crlf("--XyZ", 'Content-Disposition: form-data; name="a\nb"', "", "v", "--XyZ--"),
      crlf("--XyZ", 'Content-Disposition: form-data; name="a\0b"', "", "v", "--XyZ--"),
      crlf("--XyZ", "", "v", "--XyZ--"),
      crlf("--XyZ", part, "", "v", "--XyZ--junk"),
      crlf("--XyZ", part, "", "v--XyZ--"),
      "--XyZjunk\r\n",
      "",
      crlf("--XyZ", 'Content-Disposition: form-data; name="a', "", "v", "--XyZ--"),
    ];
    for (const body of bad) {
      await assertRejects(() => multipart("XyZ", body).formData(), TypeError);
    }
    await assertRejects(() => multipart('""', "--\r\n" + part + "\r\n\r\nv\r\n----").formData(), TypeError);
    // application/x-www-form-urlencoded, both ways.
    const params = new URLSearchParams([["q", "a b&c"], ["é", "✓"]]);
    const ur = new Request("https://example.com/", { method: "POST", body: params });
    assertEquals(ur.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
    assertEquals(await ur.clone().text(), "q=a+b%26c&%C3%A9=%E2%9C%93");
    const uf = await ur.formData();
    assertEquals([...uf], [["q", "a b&c"], ["é", "✓"]]);
    const manual = await new Response("x=1&y=%20&&z", { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
    assertEquals([...manual], [["x", "1"], ["y", " "], ["z", ""]]);
    const empty = await new Response(null, { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
    assertEquals([...empty], []);

    // URLSearchParams accepts a FormData of strings.
    const sp = new FormData();
    sp.append("k", "v");
    assertEquals(new URLSearchParams(sp).toString(), "k=v");
    return new Response("ok");
  },
};
