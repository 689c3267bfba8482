// codex (kvstack reference app): login sessions in AUTH_SESSION_KV with a per-client login rate limit,
// and a read-through cache in CACHE_KV. The contract is docs/contracts.md, sections "session" and "cache".

import { hasKv, health, json } from "./_shared/app.js";

const RL_LIMIT = 5; // failed logins allowed per client and window
const RL_WINDOW_SECONDS = 900;
const DEFAULT_SESSION_TTL = 3600;
const DEFAULT_CACHE_TTL = 300;
const MIN_TTL = 60; // KV's minimum expirationTtl
const MAX_CACHE_TTL = 86400;
const SMOKE_PREFIX = "kvstack-smoke";
const TOKEN_RE = /^(kvstack-smoke-)?[0-9a-f]{64}$/;
const CLIENT_RE = /^[A-Za-z0-9.:_-]{1,64}$/;
const FEATURE_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const CACHE_KEY_RE = /^[A-Za-z0-9._~:-]{1,256}$/;

const encoder = new TextEncoder();

function notAvailable(binding) {
  return json({ error: `${binding} not available` }, 503);
}

function positiveInt(raw, fallback, min, max) {
  const value = Number.parseInt(raw ?? "", 10);
  return Number.isInteger(value) && value >= min && value <= max ? value : fallback;
}

function hex(bytes) {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text) {
  return hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

// Constant-time comparison of two strings through their digests.
async function sameSecret(given, expected) {
  const [a, b] = await Promise.all([sha256Hex(String(given)), sha256Hex(String(expected))]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function appHealth(env) {
  return health("codex", env, {
    bindings: { AUTH_SESSION_KV: hasKv(env.AUTH_SESSION_KV), CACHE_KV: hasKv(env.CACHE_KV) },
    required: ["AUTH_SESSION_KV", "CACHE_KV"],
    config: {
      LOGIN_USER: Boolean(env.LOGIN_USER),
      LOGIN_PASSWORD: Boolean(env.LOGIN_PASSWORD),
      TRUSTED_CLIENT_HEADER: Boolean(env.TRUSTED_CLIENT_HEADER),
    },
  });
}

// Who is logging in: Cloudflare's CF-Connecting-IP, which clients cannot set. Locally every request
// comes from 127.0.0.1, so `kvstack local up` may name a trusted header (TRUSTED_CLIENT_HEADER in
// .dev.vars) whose value, when present, is the client id instead. Never set it in a deployed app.
function clientId(request, env) {
  if (env.TRUSTED_CLIENT_HEADER) {
    const given = request.headers.get(env.TRUSTED_CLIENT_HEADER);
    if (given !== null) return CLIENT_RE.test(given) ? given : null;
  }
  const ip = request.headers.get("cf-connecting-ip") ?? "unknown";
  return CLIENT_RE.test(ip) ? ip : "unknown";
}

async function readJsonBody(request) {
  try {
    const body = await request.json();
    return body !== null && typeof body === "object" && !Array.isArray(body) ? body : null;
  } catch {
    return null;
  }
}

function bearer(request) {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "");
  return match && TOKEN_RE.test(match[1]) ? match[1] : null;
}

async function login(request, env) {
  if (!hasKv(env.AUTH_SESSION_KV)) return notAvailable("AUTH_SESSION_KV");
  if (!env.LOGIN_USER || !env.LOGIN_PASSWORD) {
    return json({ error: "LOGIN_USER and LOGIN_PASSWORD not configured" }, 503);
  }
  const client = clientId(request, env);
  if (client === null) {
    return json({ error: `${env.TRUSTED_CLIENT_HEADER} must match ^[A-Za-z0-9.:_-]{1,64}$` }, 400);
  }
  const kv = env.AUTH_SESSION_KV;
  const rlKey = `rl:login:${client}`;
  const now = Math.floor(Date.now() / 1000);
  const { value, metadata } = await kv.getWithMetadata(rlKey, "json");
  const failures = Number.isInteger(value) ? value : 0;
  const resetAt = Number.isInteger(metadata?.reset_at) ? metadata.reset_at : now + RL_WINDOW_SECONDS;
  if (failures >= RL_LIMIT) {
    const retryAfter = Math.max(1, resetAt - now);
    return json({ error: "too many failed logins", retry_after: retryAfter }, 429, { "retry-after": String(retryAfter) });
  }
  const body = await readJsonBody(request);
  if (!body || typeof body.username !== "string" || typeof body.password !== "string") {
    return json({ error: "body must be a JSON object with string username and password" }, 400);
  }
  const userOk = await sameSecret(body.username, env.LOGIN_USER);
  const passwordOk = await sameSecret(body.password, env.LOGIN_PASSWORD);
  if (!(userOk && passwordOk)) {
    const attempts = failures + 1;
    // The window starts at the first failure and is not extended by later ones.
    await kv.put(rlKey, JSON.stringify(attempts), {
      expirationTtl: Math.max(MIN_TTL, resetAt - now),
      metadata: { reset_at: resetAt },
    });
    return json({ error: "invalid credentials", attempts_left: Math.max(0, RL_LIMIT - attempts) }, 401);
  }
  const ttl = positiveInt(env.SESSION_TTL_SECONDS, DEFAULT_SESSION_TTL, MIN_TTL, 604800);
  const random = hex(crypto.getRandomValues(new Uint8Array(32)));
  // Sessions of smoke-test users carry the marker in their key, so smoke data can be found and removed.
  const token = body.username.startsWith(SMOKE_PREFIX) ? `${SMOKE_PREFIX}-${random}` : random;
  const created = new Date(now * 1000);
  const session = {
    user: body.username,
    created_at: created.toISOString(),
    expires_at: new Date((now + ttl) * 1000).toISOString(),
  };
  await kv.put(`session:${token}`, JSON.stringify(session), { expirationTtl: ttl });
  return json({ token, ...session }, 201);
}

async function currentSession(request, env) {
  if (!hasKv(env.AUTH_SESSION_KV)) return notAvailable("AUTH_SESSION_KV");
  const token = bearer(request);
  const session = token ? await env.AUTH_SESSION_KV.get(`session:${token}`, "json") : null;
  if (!session) return json({ error: "invalid or expired session" }, 401);
  return json(session);
}

async function logout(request, env) {
  if (!hasKv(env.AUTH_SESSION_KV)) return notAvailable("AUTH_SESSION_KV");
  const token = bearer(request);
  if (!token) return json({ error: "missing or malformed bearer token" }, 401);
  const key = `session:${token}`;
  const existed = (await env.AUTH_SESSION_KV.get(key)) !== null;
  await env.AUTH_SESSION_KV.delete(key);
  return json({ ok: true, deleted: existed });
}

// The "expensive" computation behind the cache: deterministic, so a check can predict it.
async function compute(feature, key) {
  return { digest: await sha256Hex(`${feature}:${key}`) };
}

function cacheParts(pathname) {
  const parts = pathname.split("/").slice(3); // "", "api", "cache", feature, key
  try {
    return parts.map(decodeURIComponent);
  } catch {
    return null;
  }
}

async function cacheGet(url, env, feature, key) {
  if (!hasKv(env.CACHE_KV)) return notAvailable("CACHE_KV");
  const kvKey = `cache:${feature}:${key}`;
  const stored = await env.CACHE_KV.get(kvKey, "json").catch(() => null);
  if (stored && typeof stored === "object" && stored.feature === feature && stored.key === key) {
    return json(stored, 200, { "x-cache": "hit", "x-cache-key": kvKey });
  }
  const ttlParam = url.searchParams.get("ttl");
  const ttl = ttlParam === null ? positiveInt(env.CACHE_TTL_SECONDS, DEFAULT_CACHE_TTL, MIN_TTL, MAX_CACHE_TTL) : Number(ttlParam);
  if (!Number.isInteger(ttl) || ttl < MIN_TTL || ttl > MAX_CACHE_TTL) {
    return json({ error: `ttl must be an integer from ${MIN_TTL} to ${MAX_CACHE_TTL}` }, 400);
  }
  const now = Math.floor(Date.now() / 1000);
  const entry = {
    feature,
    key,
    value: await compute(feature, key),
    computed_at: new Date(now * 1000).toISOString(),
    expires_at: new Date((now + ttl) * 1000).toISOString(),
    ttl,
  };
  await env.CACHE_KV.put(kvKey, JSON.stringify(entry), { expirationTtl: ttl });
  return json(entry, 200, { "x-cache": "miss", "x-cache-key": kvKey });
}

async function cacheDelete(env, feature, key) {
  if (!hasKv(env.CACHE_KV)) return notAvailable("CACHE_KV");
  const kvKey = `cache:${feature}:${key}`;
  const existed = (await env.CACHE_KV.get(kvKey)) !== null;
  await env.CACHE_KV.delete(kvKey);
  return json({ key: kvKey, deleted: existed });
}

async function cacheDeleteFeature(env, feature) {
  if (!hasKv(env.CACHE_KV)) return notAvailable("CACHE_KV");
  const prefix = `cache:${feature}:`;
  let deleted = 0;
  let cursor;
  do {
    const page = await env.CACHE_KV.list({ prefix, cursor });
    await Promise.all(page.keys.map((k) => env.CACHE_KV.delete(k.name)));
    deleted += page.keys.length;
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return json({ prefix, deleted });
}

async function cache(request, url, env) {
  const parts = cacheParts(url.pathname);
  if (!parts || parts.length < 1 || parts.length > 2 || !FEATURE_RE.test(parts[0])) {
    return json({ error: "expected /api/cache/<feature>[/<key>], feature matching ^[a-z0-9][a-z0-9-]{0,63}$" }, 400);
  }
  const [feature, key] = parts;
  if (key !== undefined && !CACHE_KEY_RE.test(key)) {
    return json({ error: "key must match ^[A-Za-z0-9._~:-]{1,256}$" }, 400);
  }
  if (key === undefined) {
    if (request.method === "DELETE") return cacheDeleteFeature(env, feature);
    return json({ error: `${request.method} not allowed on /api/cache/<feature>` }, 405, { allow: "DELETE" });
  }
  if (request.method === "GET") return cacheGet(url, env, feature, key);
  if (request.method === "DELETE") return cacheDelete(env, feature, key);
  return json({ error: `${request.method} not allowed on /api/cache/<feature>/<key>` }, 405, { allow: "GET, DELETE" });
}

const ROUTES = {
  "/health": { GET: (request, url, env) => appHealth(env) },
  "/api/login": { POST: (request, url, env) => login(request, env) },
  "/api/session": { GET: (request, url, env) => currentSession(request, env) },
  "/api/logout": { POST: (request, url, env) => logout(request, env) },
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname.startsWith("/api/cache/")) {
        return await cache(request, url, env);
      }
      const route = ROUTES[url.pathname];
      if (!route) return json({ error: `no route ${url.pathname}` }, 404);
      const handler = route[request.method];
      if (!handler) {
        return json({ error: `${request.method} not allowed on ${url.pathname}` }, 405, { allow: Object.keys(route).join(", ") });
      }
      return await handler(request, url, env);
    } catch (error) {
      return json({ error: "internal error", detail: String(error?.message ?? error) }, 500);
    }
  },
};
