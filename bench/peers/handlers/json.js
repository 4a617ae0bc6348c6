// (b) JSON echo: parse the POSTed JSON body and answer it back.
export default {
  async fetch(request, env, ctx) {
    return Response.json(await request.json());
  },
};
