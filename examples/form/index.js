// Form handling: GET shows an HTML form; POST reads it with
// request.formData() (urlencoded or multipart, files included) and answers
// with what arrived.
//
//   outpost dev examples/form     then open http://127.0.0.1:8787/ in a browser
//   curl -F name=Ada -F file=@README.md http://127.0.0.1:8787/
const page = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Outpost form</title>
<h1>Say hello</h1>
<form method="post" enctype="multipart/form-data">
  <label>Name <input name="name" required></label>
  <label>File <input type="file" name="file"></label>
  <button>Send</button>
</form>
</html>`;

function escape(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export default {
  async fetch(request) {
    if (request.method === "GET") {
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (request.method !== "POST") return new Response("method not allowed\n", { status: 405 });
    let form;
    try {
      form = await request.formData();
    } catch {
      return new Response("the body is not a form\n", { status: 400 });
    }
    const name = form.get("name");
    if (typeof name !== "string" || name === "") return new Response("name is required\n", { status: 400 });
    const file = form.get("file");
    const fields = { name };
    if (file instanceof File && file.name !== "") {
      fields.file = { name: file.name, type: file.type, size: file.size };
    }
    if ((request.headers.get("accept") ?? "").includes("application/json")) {
      return Response.json(fields);
    }
    return new Response(`<!doctype html><meta charset="utf-8"><p>Hello, ${escape(name)}!</p>`, {
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  },
};
