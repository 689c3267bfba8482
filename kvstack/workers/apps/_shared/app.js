// What every kvstack reference app shares: JSON answers, the test of a KV binding, and the /health answer.
// Staging copies this folder into each reference app's staged folder as `_shared/` (kvstack/local/apps.py,
// stage_reference_app), so each app imports it as "./_shared/app.js" and wrangler bundles it with the app.

export function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

export function hasKv(binding) {
  return Boolean(binding) && typeof binding.get === "function" && typeof binding.put === "function";
}

// The /health answer (docs/contracts.md): 200 when nothing required is missing, else 503. `missing` defaults
// to the required bindings that are not bound; `config` says only whether settings are set, never a secret.
export function health(app, env, { bindings = {}, required = [], missing, config = {} }) {
  const absent = missing ?? required.filter((name) => !bindings[name]);
  return json(
    {
      app,
      ok: absent.length === 0,
      environment: env.APP_ENV ?? null,
      view: env.KVSTACK_VIEW ?? null,
      bindings,
      required,
      missing: absent,
      config,
    },
    absent.length === 0 ? 200 : 503,
  );
}
