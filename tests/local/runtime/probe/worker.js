// Shared-storage probe: a thin HTTP face over one KV binding, so that two `wrangler dev` processes
// with the same --persist-to can be compared. Used by test_shared_storage.py only.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = url.searchParams.get("key");
    if (url.pathname === "/put") {
      const ttl = url.searchParams.get("ttl");
      await env.KV.put(key, await request.text(), ttl ? { expirationTtl: Number(ttl) } : undefined);
      return new Response("ok");
    }
    if (url.pathname === "/get") {
      const value = await env.KV.get(key);
      return value === null ? new Response("", { status: 404 }) : new Response(value);
    }
    if (url.pathname === "/delete") {
      await env.KV.delete(key);
      return new Response("ok");
    }
    if (url.pathname === "/list") {
      const keys = [];
      let cursor;
      do {
        const page = await env.KV.list({ prefix: url.searchParams.get("prefix") ?? undefined, cursor });
        keys.push(...page.keys.map((k) => ({ name: k.name, expiration: k.expiration ?? null })));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      return Response.json(keys);
    }
    if (url.pathname === "/health") {
      return Response.json({ app: "probe", ok: true, bindings: { KV: Boolean(env.KV) } });
    }
    return new Response("probe\n");
  },
};
