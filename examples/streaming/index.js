// A streamed response: the body is a ReadableStream that produces one line
// every 50 ms; the client sees each line as it is produced.
//
//   outpost dev examples/streaming
//   curl -N http://127.0.0.1:8787/?lines=5
export default {
  fetch(request) {
    const lines = Math.min(Number(new URL(request.url).searchParams.get("lines") ?? 5), 100);
    const encoder = new TextEncoder();
    let sent = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (sent === lines) {
          controller.close();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        sent++;
        controller.enqueue(encoder.encode(`line ${sent} of ${lines}\n`));
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain; charset=utf-8" } });
  },
};
