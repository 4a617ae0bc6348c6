// (c) 1 MiB streamed response: a ReadableStream of 16 chunks of 64 KiB,
// produced on demand (pull), a fresh chunk each time.
const CHUNK_SIZE = 64 * 1024;
const CHUNKS = 16;

export default {
  fetch(request, env, ctx) {
    let sent = 0;
    const body = new ReadableStream({
      pull(controller) {
        if (sent === CHUNKS) {
          controller.close();
          return;
        }
        sent++;
        controller.enqueue(new Uint8Array(CHUNK_SIZE).fill(120)); // "xxxx…"
      },
    });
    return new Response(body, { headers: { "content-type": "application/octet-stream" } });
  },
};
