// A Hono app, bundled by esbuild, running unmodified on Outpost: routing,
// JSON, middleware, streaming and WebCrypto (hono/jwt signs with HMAC).
//
//   npm ci && npm run build        (make test does this)
//   outpost dev examples/hono
import { Hono } from "hono";
import { sign, verify } from "hono/jwt";
import { stream } from "hono/streaming";

const app = new Hono();

// Middleware: time every request and say who served it.
app.use("*", async (c, next) => {
  const started = performance.now();
  await next();
  c.header("x-served-by", "outpost");
  c.header("x-elapsed-ms", (performance.now() - started).toFixed(3));
});

app.get("/", (c) => c.text("Hello Hono!"));

app.get("/users/:id", (c) => c.json({ id: Number(c.req.param("id")), name: `user ${c.req.param("id")}` }));

app.post("/echo", async (c) => c.json({ received: await c.req.json() }, 201));

app.get("/stream", (c) =>
  stream(c, async (s) => {
    for (let i = 1; i <= 3; i++) {
      await s.write(`part ${i}\n`);
      await s.sleep(10);
    }
  }),
);

app.get("/token", async (c) => {
  const token = await sign({ sub: "ada", exp: Math.floor(Date.now() / 1000) + 60 }, c.env.JWT_SECRET);
  const payload = await verify(token, c.env.JWT_SECRET, "HS256");
  return c.json({ token, sub: payload.sub });
});

app.notFound((c) => c.json({ error: "not found" }, 404));

export default app;
