// Bun wrapper: serve a module-form handler (export default { fetch }) with
// Bun.serve.  Usage: bun bun-serve.js HANDLER.js HOST PORT
import { resolve } from "node:path";

const [handlerPath, hostname, port] = process.argv.slice(2);
const handler = (await import(resolve(handlerPath))).default;

Bun.serve({
  hostname,
  port: Number(port),
  fetch: (request) => handler.fetch(request, {}, { waitUntil() {}, passThroughOnException() {} }),
});
console.log(`ready on http://${hostname}:${port}`);
