// kvstack's KV operation counter: how the runtime hands an app its KV bindings.
//
// The runtime runs each app through a generated entry (`kvstack-entry.js`, beside the app's deployed view):
//
//   import app from "./<the app's main>";
//   import { counted } from "./kvstack-count.js";
//   export default counted(app);
//
// counted() gives the app an `env` whose KV bindings (those named in the var KVSTACK_KV_IDS, a JSON map
// {binding: namespace id}) count every operation as Cloudflare bills it: get/getWithMetadata one read per
// key (an array of keys is that many reads), put one write, delete one delete, list one list. Each counted
// operation leaves one record in the storage's internal usage namespace (binding KVSTACK_USAGE), key
// `<date>/<namespace id>/<action>/<unique>`, value the count; the local API moves them into its ledger
// (kvstack/local/api/usage.py). The app's own code, values and errors pass through unchanged.

const ACTIONS = {
  get: "read",
  getWithMetadata: "read",
  put: "write",
  delete: "delete",
  list: "list",
};

function ids(env) {
  const value = env.KVSTACK_KV_IDS;
  if (!value) return {};
  return typeof value === "string" ? JSON.parse(value) : value;
}

function countingBinding(binding, namespaceId, note) {
  return new Proxy(binding, {
    get(target, property) {
      const original = Reflect.get(target, property, target);
      const action = ACTIONS[property];
      if (!action || typeof original !== "function") {
        return typeof original === "function" ? original.bind(target) : original;
      }
      return async (...args) => {
        const result = await original.apply(target, args);
        note(namespaceId, action, action === "read" && Array.isArray(args[0]) ? args[0].length : 1);
        return result;
      };
    },
  });
}

// One record per operation, written while the request (or its stream) lives: exact, also for reads an SSE
// stream makes after the response has started.
function wrapEnv(env, ctx) {
  const day = () => new Date().toISOString().slice(0, 10);
  const note = (namespaceId, action, count) => {
    if (!env.KVSTACK_USAGE) return;
    const key = `${day()}/${namespaceId}/${action}/${crypto.randomUUID()}`;
    ctx.waitUntil(env.KVSTACK_USAGE.put(key, String(count)));
  };
  const wrapped = { ...env };
  for (const [binding, namespaceId] of Object.entries(ids(env))) {
    if (env[binding]) wrapped[binding] = countingBinding(env[binding], namespaceId, note);
  }
  delete wrapped.KVSTACK_USAGE; // the counter's own storage is not the app's
  return wrapped;
}

export function counted(app) {
  const handler = {};
  if (app.fetch) {
    handler.fetch = (request, env, ctx) => app.fetch(request, wrapEnv(env, ctx), ctx);
  }
  if (app.scheduled) {
    handler.scheduled = (event, env, ctx) => app.scheduled(event, wrapEnv(env, ctx), ctx);
  }
  return handler;
}
