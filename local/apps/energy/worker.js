// energy (kvstack reference app): the seed's cache manager on an Upstash Redis shared by environments.
// Every key goes through kvKey(): `<KV_NAMESPACE>:<key>`. The contract is docs/contracts.md, "energy".
// It talks to Upstash with the official @upstash/redis client (REST), as the real app does.
import { Redis } from "@upstash/redis/cloudflare";

const USERNAME_TTL = 86400; // the planned 24 h TTL of username lookups
const SYSTEM_ID_RE = /^[0-9]{1,12}$/;
const USERNAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const REQUIRED = ["KV_REST_API_URL", "KV_REST_API_TOKEN", "KV_NAMESPACE"];

function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

function kvKey(env, key) {
  return `${env.KV_NAMESPACE}:${key}`;
}

function redisOf(env) {
  // Values are JSON text the app parses itself: the client must hand strings back as stored.
  return new Redis({ url: env.KV_REST_API_URL, token: env.KV_REST_API_TOKEN, automaticDeserialization: false });
}

function health(env) {
  const missing = REQUIRED.filter((name) => !env[name]);
  return json(
    {
      app: "energy",
      ok: missing.length === 0,
      environment: env.KV_NAMESPACE ?? null,
      view: env.KVSTACK_VIEW ?? null,
      bindings: {},
      required: REQUIRED,
      missing,
      config: { namespace: env.KV_NAMESPACE ?? null },
    },
    missing.length === 0 ? 200 : 503,
  );
}

function parseRegistry(text) {
  if (text === null || text === undefined) return [];
  try {
    const ids = JSON.parse(text);
    return Array.isArray(ids) ? ids.filter((id) => Number.isInteger(id)) : [];
  } catch {
    return [];
  }
}

function validPoint(point) {
  return (
    point &&
    typeof point === "object" &&
    typeof point.value === "number" &&
    Number.isFinite(point.value) &&
    Number.isInteger(point.measurementTimeMs) &&
    point.measurementTimeMs >= 0 &&
    typeof point.metricUnit === "string" &&
    point.metricUnit.length > 0
  );
}

async function postReading(request, env, redis) {
  let body;
  try {
    body = await request.json();
  } catch {
    return json({ error: "the body must be JSON" }, 400);
  }
  const systemId = String(body?.systemId ?? "");
  if (!SYSTEM_ID_RE.test(systemId)) return json({ error: "systemId must be a non-negative integer" }, 400);
  const points = body?.points;
  if (!points || typeof points !== "object" || Object.keys(points).length === 0) {
    return json({ error: "points must map point paths to {value, measurementTimeMs, metricUnit}" }, 400);
  }
  const receivedTimeMs = Date.now();
  const fields = {};
  for (const [path, point] of Object.entries(points)) {
    if (!path || path.includes(":") || !validPoint(point)) {
      return json({ error: `point ${JSON.stringify(path)} is not {value, measurementTimeMs, metricUnit}` }, 400);
    }
    fields[path] = JSON.stringify({
      value: point.value,
      measurementTimeMs: point.measurementTimeMs,
      receivedTimeMs,
      metricUnit: point.metricUnit,
    });
  }
  const composites = parseRegistry(await redis.get(kvKey(env, `subscriptions:system:${systemId}`)));
  // The source and every subscribing composite get the point in one transaction: no reader sees half.
  const transaction = redis.multi();
  for (const target of [systemId, ...composites]) {
    transaction.hset(kvKey(env, `latest:system:${target}`), fields);
  }
  await transaction.exec();
  return json({ systemId: Number(systemId), points: Object.keys(fields).length, fannedOutTo: composites });
}

async function latest(systemId, env, redis) {
  if (!SYSTEM_ID_RE.test(systemId)) return json({ error: "systemId must be a non-negative integer" }, 400);
  const hash = (await redis.hgetall(kvKey(env, `latest:system:${systemId}`))) ?? {};
  const points = {};
  for (const [path, text] of Object.entries(hash)) {
    try {
      points[path] = JSON.parse(text);
    } catch {
      points[path] = null;
    }
  }
  return json({ systemId: Number(systemId), points });
}

function directory(env) {
  // A stand-in for Clerk's user lookup: the local runtime gives the app a JSON map username -> user id.
  try {
    return JSON.parse(env.USER_DIRECTORY ?? "{}");
  } catch {
    return {};
  }
}

async function username(name, env, redis) {
  if (!USERNAME_RE.test(name)) return json({ error: "username must match ^[A-Za-z0-9_.-]{1,64}$" }, 400);
  const key = kvKey(env, `username:${name}`);
  const cached = await redis.get(key);
  if (cached !== null && cached !== undefined) return json({ username: name, userId: cached }, 200, { "x-cache": "hit" });
  const userId = directory(env)[name];
  if (typeof userId !== "string") return json({ error: `no user named ${name}` }, 404, { "x-cache": "miss" });
  await redis.set(key, userId, { ex: USERNAME_TTL });
  return json({ username: name, userId }, 200, { "x-cache": "miss" });
}

async function invalidate(name, env, redis) {
  if (!USERNAME_RE.test(name)) return json({ error: "username must match ^[A-Za-z0-9_.-]{1,64}$" }, 400);
  const removed = await redis.del(kvKey(env, `username:${name}`));
  return json({ username: name, invalidated: removed > 0 });
}

async function subscriptions(env, redis) {
  const match = kvKey(env, "subscriptions:system:*");
  const keys = [];
  let cursor = "0";
  do {
    const [next, page] = await redis.scan(cursor, { match, count: 1000 });
    cursor = String(next);
    keys.push(...page);
  } while (cursor !== "0");
  keys.sort();
  const values = keys.length ? await redis.mget(...keys) : [];
  const prefix = kvKey(env, "subscriptions:system:");
  return json({
    subscriptions: keys.map((key, index) => ({
      systemId: Number(key.slice(prefix.length)),
      composites: parseRegistry(values[index]),
    })),
  });
}

async function setSubscriptions(systemId, request, env, redis) {
  if (!SYSTEM_ID_RE.test(systemId)) return json({ error: "systemId must be a non-negative integer" }, 400);
  let body;
  try {
    body = await request.json();
  } catch {
    return json({ error: "the body must be JSON" }, 400);
  }
  const composites = body?.composites;
  if (!Array.isArray(composites) || !composites.every((id) => Number.isInteger(id) && id >= 0)) {
    return json({ error: "composites must be an array of system ids (integers)" }, 400);
  }
  await redis.set(kvKey(env, `subscriptions:system:${systemId}`), JSON.stringify([...new Set(composites)]));
  return json({ systemId: Number(systemId), composites: [...new Set(composites)] });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === "/health") return health(env);
    if (REQUIRED.some((name) => !env[name])) return json({ error: "the Upstash settings are missing" }, 503);
    const redis = redisOf(env);
    try {
      if (path === "/api/readings" && request.method === "POST") return await postReading(request, env, redis);
      let match = path.match(/^\/api\/systems\/([^/]+)\/latest$/);
      if (match && request.method === "GET") return await latest(decodeURIComponent(match[1]), env, redis);
      match = path.match(/^\/api\/users\/([^/]+)$/);
      if (match && request.method === "GET") return await username(decodeURIComponent(match[1]), env, redis);
      match = path.match(/^\/api\/users\/([^/]+)\/cache$/);
      if (match && request.method === "DELETE") return await invalidate(decodeURIComponent(match[1]), env, redis);
      if (path === "/admin/subscriptions" && request.method === "GET") return await subscriptions(env, redis);
      match = path.match(/^\/admin\/subscriptions\/([^/]+)$/);
      if (match && request.method === "PUT") {
        return await setSubscriptions(decodeURIComponent(match[1]), request, env, redis);
      }
    } catch (error) {
      return json({ error: `Upstash failed: ${error.message}` }, 502);
    }
    return json({ error: "not found" }, 404);
  },
};
