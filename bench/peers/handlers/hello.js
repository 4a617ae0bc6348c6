// (a) hello: the smallest possible response.
export default {
  fetch(request, env, ctx) {
    return new Response("Hello World!");
  },
};
