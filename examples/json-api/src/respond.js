// Response helpers shared by the routes.
export function json(data, status = 200) {
  return Response.json(data, { status });
}

export function notFound() {
  return json({ error: "not found" }, 404);
}

export function badRequest(message) {
  return json({ error: message }, 400);
}
