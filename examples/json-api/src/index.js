// A JSON API with routing: a small in-memory todo list.
// Globals persist across requests served by one isolate, as on Workers, so
// the list lives as long as the isolate does (use KV for durable data).
//
//   outpost dev examples/json-api
//   curl http://127.0.0.1:8787/v1/todos
//   curl -X POST -d '{"title":"write docs"}' http://127.0.0.1:8787/v1/todos
//   curl http://127.0.0.1:8787/v1/todos/1
import { json, notFound, badRequest } from "./respond.js";

const todos = new Map();
let nextId = 1;

const routes = [
  ["GET", new URLPattern({ pathname: "/:version/todos" }), list],
  ["POST", new URLPattern({ pathname: "/:version/todos" }), create],
  ["GET", new URLPattern({ pathname: "/:version/todos/:id(\\d+)" }), show],
  ["DELETE", new URLPattern({ pathname: "/:version/todos/:id(\\d+)" }), remove],
];

function list() {
  return json([...todos.values()]);
}

async function create(request) {
  let body;
  try {
    body = await request.json();
  } catch {
    return badRequest("body must be JSON");
  }
  if (typeof body?.title !== "string" || body.title.length === 0) {
    return badRequest("title must be a non-empty string");
  }
  const todo = { id: nextId++, title: body.title, done: false };
  todos.set(todo.id, todo);
  return json(todo, 201);
}

function show(_request, params) {
  const todo = todos.get(Number(params.id));
  return todo ? json(todo) : notFound();
}

function remove(_request, params) {
  return todos.delete(Number(params.id)) ? new Response(null, { status: 204 }) : notFound();
}

export default {
  async fetch(request, env) {
    for (const [method, pattern, handler] of routes) {
      const match = pattern.exec(request.url);
      if (!match) continue;
      const params = match.pathname.groups;
      if (params.version !== env.API_VERSION) return notFound();
      if (request.method !== method) continue;
      return handler(request, params);
    }
    return notFound();
  },
};
