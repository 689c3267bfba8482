// kvstack's local router: the primary worker of the one `wrangler dev` that runs the reference apps.
//
// Not an app. Every reference app runs as an auxiliary worker of the same wrangler/workerd process, so
// they all share ONE KV store (several `wrangler dev` processes on one --persist-to folder fail with
// SQLITE_BUSY under concurrent writes; see docs/contracts.md). Auxiliary workers have no port of their
// own, so this worker gives each app a path prefix and forwards through a service binding:
//
//   /<app>/<path>             -> the app, which sees /<path> (query string and body unchanged)
//   /<app>/__scheduled?cron=  -> the app's scheduled() handler; JSON {outcome, noRetry}
//   /__kvstack/apps           -> JSON {"apps": {"<app>": "<worker name>"}}
//   anything else             -> the storage worker (kvstack/workers/storage), when it runs here
//   /cdn-cgi/...              -> never reaches this worker: Miniflare serves its explorer API there
//
// runtime.py generates this worker's wrangler file: one service binding per app and the vars
// KVSTACK_ROUTES {"<app>": "<binding>"} and KVSTACK_WORKERS {"<app>": "<worker name>"} (JSON strings).

function json(body, status = 200) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

// The generated wrangler file passes both maps as JSON strings.
function map(value) {
  return typeof value === "string" ? JSON.parse(value) : (value ?? {});
}

export default {
  async fetch(request, env) {
    const routes = map(env.KVSTACK_ROUTES);
    const url = new URL(request.url);
    const slash = url.pathname.indexOf("/", 1);
    const first = url.pathname.slice(1, slash === -1 ? undefined : slash);

    if (first === "__kvstack") {
      return json({ apps: map(env.KVSTACK_WORKERS) });
    }
    if (Object.hasOwn(routes, first)) {
      const target = env[routes[first]];
      if (!target) {
        return json({ error: `kvstack router: no service binding for app ${first}` }, 502);
      }
      const rest = slash === -1 ? "/" : url.pathname.slice(slash);
      if (rest === "/__scheduled") {
        const time = url.searchParams.get("time");
        const result = await target.scheduled({
          cron: url.searchParams.get("cron") ?? "",
          scheduledTime: time ? new Date(Number(time)) : new Date(),
        });
        return json(result, result.outcome === "ok" ? 200 : 500);
      }
      url.pathname = rest;
      return target.fetch(new Request(url, request));
    }
    if (env.STORAGE) {
      return env.STORAGE.fetch(request);
    }
    return json({ error: `kvstack router: no app is mounted at /${first}`, apps: Object.keys(routes) }, 404);
  },
};
