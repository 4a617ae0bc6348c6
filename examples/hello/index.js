// The smallest Outpost handler: answers every request with a greeting.
// Run it: outpost dev examples/hello  (then: curl http://127.0.0.1:8787/)
export default {
  fetch(request, env, ctx) {
    return new Response(`Hello from Outpost! You asked for ${new URL(request.url).pathname}\n`, {
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  },
};
