// WebCrypto: signs and verifies messages with HMAC-SHA-256 and hashes the
// request body with SHA-256.
//
//   outpost dev examples/webcrypto
//   curl -X POST -d 'hello' http://127.0.0.1:8787/sign      → {"signature":"…"}
//   curl -X POST -d 'hello' 'http://127.0.0.1:8787/verify?signature=…'
//   curl -X POST -d 'hello' http://127.0.0.1:8787/digest    → {"sha256":"…"}
const encoder = new TextEncoder();

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) return null;
  return new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

async function key(secret) {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
    "verify",
  ]);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method !== "POST") {
      return Response.json({ error: "POST a body to /sign, /verify or /digest" }, { status: 405 });
    }
    const body = new Uint8Array(await request.arrayBuffer());
    switch (url.pathname) {
      case "/sign": {
        const signature = await crypto.subtle.sign("HMAC", await key(env.SIGNING_KEY), body);
        return Response.json({ signature: hex(signature) });
      }
      case "/verify": {
        const signature = unhex(url.searchParams.get("signature") ?? "");
        if (signature === null) return Response.json({ error: "signature must be hex" }, { status: 400 });
        const valid = await crypto.subtle.verify("HMAC", await key(env.SIGNING_KEY), signature, body);
        return Response.json({ valid });
      }
      case "/digest":
        return Response.json({ sha256: hex(await crypto.subtle.digest("SHA-256", body)) });
      default:
        return Response.json({ error: "not found" }, { status: 404 });
    }
  },
};
