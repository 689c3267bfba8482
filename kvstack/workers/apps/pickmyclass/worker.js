// pickmyclass (kvstack reference app): class state read cache-aside from KV (1 h), notifications
// deduplicated in KV (24 h), and a cron that refreshes every cached class state.
// The contract is docs/contracts.md, section "class state".

import { hasKv, health, json } from "./_shared/app.js";

const CLASS_TTL = 3600;
const NOTIF_TTL = 86400;
const CRON_REFRESH_LIMIT = 1000; // class states refreshed per scheduled run, at most
const CLASS_NBR_RE = /^[A-Za-z0-9_-]{1,64}$/;
const WATCH_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const TYPE_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const STATUSES = ["open", "closed", "waitlist"];

const encoder = new TextEncoder();

function appHealth(env) {
  return health("pickmyclass", env, { bindings: { KV: hasKv(env.KV) }, required: ["KV"] });
}

// The fake upstream (the university's class search): deterministic per class number, so checks can
// predict it. Only fetched_at and source change between fetches.
async function fetchUpstream(classNbr, source) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`class:${classNbr}`)));
  const status = STATUSES[digest[0] % STATUSES.length];
  return {
    class_nbr: classNbr,
    title: `Class ${classNbr}`,
    status,
    seats_available: status === "open" ? 1 + (digest[1] % 30) : 0,
    fetched_at: new Date().toISOString(),
    source,
  };
}

function classKey(classNbr) {
  return `class_state:${classNbr}`;
}

async function classState(url, env) {
  let classNbr;
  try {
    classNbr = decodeURIComponent(url.pathname.slice("/api/classes/".length));
  } catch {
    classNbr = "";
  }
  if (!CLASS_NBR_RE.test(classNbr)) {
    return json({ error: "class_nbr must match ^[A-Za-z0-9_-]{1,64}$" }, 400);
  }
  if (!hasKv(env.KV)) return json({ error: "KV not available" }, 503);
  const key = classKey(classNbr);
  const cached = await env.KV.get(key, "json").catch(() => null);
  if (cached && typeof cached === "object" && cached.class_nbr === classNbr) {
    return json(cached, 200, { "x-cache": "hit", "x-cache-key": key });
  }
  const state = await fetchUpstream(classNbr, "request");
  await env.KV.put(key, JSON.stringify(state), { expirationTtl: CLASS_TTL });
  return json(state, 200, { "x-cache": "miss", "x-cache-key": key });
}

async function notify(request, env) {
  let body;
  try {
    body = await request.json();
  } catch {
    return json({ error: "body is not JSON" }, 400);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return json({ error: "body must be a JSON object" }, 400);
  }
  if (typeof body.watch_id !== "string" || !WATCH_ID_RE.test(body.watch_id)) {
    return json({ error: "watch_id must match ^[A-Za-z0-9_-]{1,128}$" }, 400);
  }
  if (typeof body.type !== "string" || !TYPE_RE.test(body.type)) {
    return json({ error: "type must match ^[a-z0-9][a-z0-9-]{0,63}$" }, 400);
  }
  const classNbr = body.class_nbr ?? null;
  if (classNbr !== null && !(typeof classNbr === "string" && CLASS_NBR_RE.test(classNbr))) {
    return json({ error: "class_nbr must be null or match ^[A-Za-z0-9_-]{1,64}$" }, 400);
  }
  if (!hasKv(env.KV)) return json({ error: "KV not available" }, 503);
  const key = `notif:${body.watch_id}:${body.type}`;
  // KV has no compare-and-set: two concurrent first sends may both answer "sent".
  const existing = await env.KV.get(key, "json").catch(() => null);
  if (existing && typeof existing === "object") {
    return json({ status: "duplicate", key, notification: existing }, 200);
  }
  const notification = { watch_id: body.watch_id, type: body.type, class_nbr: classNbr, sent_at: new Date().toISOString() };
  await env.KV.put(key, JSON.stringify(notification), { expirationTtl: NOTIF_TTL });
  return json({ status: "sent", key, notification }, 201);
}

async function refreshAll(env) {
  let refreshed = 0;
  let cursor;
  do {
    const page = await env.KV.list({ prefix: "class_state:", cursor });
    for (const { name } of page.keys) {
      if (refreshed >= CRON_REFRESH_LIMIT) return refreshed;
      const classNbr = name.slice("class_state:".length);
      if (!CLASS_NBR_RE.test(classNbr)) continue;
      const state = await fetchUpstream(classNbr, "cron");
      await env.KV.put(name, JSON.stringify(state), { expirationTtl: CLASS_TTL });
      refreshed += 1;
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return refreshed;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/health" && request.method === "GET") return appHealth(env);
      if (url.pathname.startsWith("/api/classes/")) {
        if (request.method !== "GET") return json({ error: `${request.method} not allowed` }, 405, { allow: "GET" });
        return await classState(url, env);
      }
      if (url.pathname === "/api/notifications") {
        if (request.method !== "POST") return json({ error: `${request.method} not allowed` }, 405, { allow: "POST" });
        return await notify(request, env);
      }
      if (url.pathname === "/health") return json({ error: `${request.method} not allowed` }, 405, { allow: "GET" });
      return json({ error: `no route ${url.pathname}` }, 404);
    } catch (error) {
      return json({ error: "internal error", detail: String(error?.message ?? error) }, 500);
    }
  },

  async scheduled(event, env) {
    if (!hasKv(env.KV)) throw new Error("KV not available");
    const refreshed = await refreshAll(env);
    console.log(`pickmyclass cron ${event.cron}: refreshed ${refreshed} class state(s)`);
  },
};
