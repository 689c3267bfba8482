// energy (kvstack reference app): the seed's cache manager on Upstash Redis through the official
// @upstash/redis client. One database serves every environment; each key is written through kvKey() as
// `<KV_NAMESPACE>:<key>`. The contract is docs/contracts.md, section "energy".
//
//   latest:system:<id>          hash: point path -> JSON {value, measurementTimeMs, receivedTimeMs, metricUnit}
//   subscriptions:system:<id>   string: JSON array of the composite system ids subscribed to source <id>
//   username:<name>             string: the Clerk user id of <name>, cached lazily, dropped on a change

import { Redis } from "@upstash/redis/cloudflare";
import { health, json } from "./_shared/app.js";

const NAMESPACE_HEADER = "x-kv-namespace";
const SCAN_COUNT = 1000;
const MAX_TTL = 86400;
const SYSTEM_ID_RE = /^(0|[1-9][0-9]{0,14})$/;
const USERNAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
// A point path: e.g. source.solar.local/power; printable, no spaces, bounded.
const POINT_RE = /^[A-Za-z0-9_.:/-]{1,256}$/;
const UNIT_RE = /^[^\u0000-\u001f]{1,32}$/;

const encoder = new TextEncoder();

class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function missingConfig(env) {
  return ["KV_REST_API_URL", "KV_REST_API_TOKEN", "KV_NAMESPACE"].filter((name) => !env[name]);
}

function appHealth(env) {
  return health("energy", env, {
    required: ["KV_REST_API_URL", "KV_REST_API_TOKEN", "KV_NAMESPACE"],
    missing: missingConfig(env),
    // Never the URL or the token: only whether they are set, and the prefixes.
    config: {
      namespace: env.KV_NAMESPACE ?? null,
      testNamespace: env.KV_TEST_NAMESPACE ?? null,
      restUrlSet: Boolean(env.KV_REST_API_URL),
      tokenSet: Boolean(env.KV_REST_API_TOKEN),
    },
  });
}

// The namespace of one request: the app's own, or its test namespace when the request asks for exactly
// that one (integration tests and kvstack's energy flow write under it). Any other is refused.
function namespaceOf(request, env) {
  const asked = request.headers.get(NAMESPACE_HEADER);
  if (asked === null || asked === env.KV_NAMESPACE) return { namespace: env.KV_NAMESPACE, test: false };
  if (env.KV_TEST_NAMESPACE && asked === env.KV_TEST_NAMESPACE) return { namespace: asked, test: true };
  throw new Refused(400, `${NAMESPACE_HEADER} may only name the test namespace`);
}

function kvKey(namespace, key) {
  return `${namespace}:${key}`;
}

function client(env) {
  return new Redis({
    url: env.KV_REST_API_URL,
    token: env.KV_REST_API_TOKEN,
    // Values stay the strings stored: the app parses and validates them itself.
    automaticDeserialization: false,
    enableTelemetry: false,
  });
}

function systemId(text) {
  if (!SYSTEM_ID_RE.test(text)) throw new Refused(400, "systemId must be a non-negative integer");
  return Number(text);
}

// A TTL is for test data only: the real environments' latest hashes and registries never expire.
function ttlOf(body, scope) {
  if (body.ttlSeconds === undefined) return null;
  const ttl = body.ttlSeconds;
  if (!scope.test) throw new Refused(400, "ttlSeconds is accepted under the test namespace only");
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL) throw new Refused(400, `ttlSeconds must be 1–${MAX_TTL}`);
  return ttl;
}

async function bodyOf(request) {
  let body;
  try {
    body = await request.json();
  } catch {
    throw new Refused(400, "the body must be a JSON object");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new Refused(400, "the body must be a JSON object");
  return body;
}

function compositesOf(key, raw) {
  if (raw === null || raw === undefined) return [];
  let ids;
  try {
    ids = JSON.parse(raw);
  } catch {
    ids = null;
  }
  if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id) && id >= 0)) {
    throw new Refused(500, `subscription registry ${key} is not a JSON array of system ids`);
  }
  return [...new Set(ids)];
}

// POST /api/readings: the point goes into the source's latest hash and, in the same transaction, into the
// latest hash of every composite its registry lists.
async function postReading(request, env, scope) {
  const body = await bodyOf(request);
  const id = Number.isSafeInteger(body.systemId) && body.systemId >= 0 ? body.systemId : null;
  if (id === null) throw new Refused(400, "systemId must be a non-negative integer");
  if (typeof body.point !== "string" || !POINT_RE.test(body.point)) {
    throw new Refused(400, "point must be a path like source.solar.local/power");
  }
  if (typeof body.value !== "number" || !Number.isFinite(body.value)) throw new Refused(400, "value must be a number");
  if (!Number.isSafeInteger(body.measurementTimeMs) || body.measurementTimeMs < 0) {
    throw new Refused(400, "measurementTimeMs must be a non-negative integer");
  }
  if (typeof body.metricUnit !== "string" || !UNIT_RE.test(body.metricUnit)) {
    throw new Refused(400, "metricUnit must be a non-empty string of at most 32 characters");
  }
  const ttl = ttlOf(body, scope);
  const redis = client(env);
  const registryKey = kvKey(scope.namespace, `subscriptions:system:${id}`);
  const composites = compositesOf(registryKey, await redis.get(registryKey));
  const point = JSON.stringify({
    value: body.value,
    measurementTimeMs: body.measurementTimeMs,
    receivedTimeMs: Date.now(),
    metricUnit: body.metricUnit,
  });
  const keys = [id, ...composites].map((system) => kvKey(scope.namespace, `latest:system:${system}`));
  const transaction = redis.multi();
  for (const key of keys) {
    transaction.hset(key, { [body.point]: point });
    if (ttl !== null) transaction.expire(key, ttl);
  }
  await transaction.exec();
  return json({ systemId: id, point: body.point, composites, keys, reading: JSON.parse(point) }, 201);
}

// HGETALL as the client answers it without automatic deserialization: [field, value, field, value, …].
function fieldsOf(reply) {
  if (!Array.isArray(reply)) return Object.entries(reply ?? {});
  const fields = [];
  for (let index = 0; index + 1 < reply.length; index += 2) fields.push([reply[index], reply[index + 1]]);
  return fields;
}

function parsedPoints(key, reply) {
  const points = {};
  for (const [field, raw] of fieldsOf(reply)) {
    try {
      points[field] = JSON.parse(raw);
    } catch {
      throw new Refused(500, `latest hash ${key} holds a field ${field} that is not JSON`);
    }
  }
  return points;
}

// GET /api/latest/<systemId>: every latest point of a system (source or composite).
async function latest(id, env, scope) {
  const key = kvKey(scope.namespace, `latest:system:${id}`);
  const points = parsedPoints(key, await client(env).hgetall(key));
  return json({ systemId: id, key, points });
}

// The identity provider's answer (Clerk in the seed): deterministic per username, so checks can predict it.
async function lookUpUserId(username) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`username:${username}`)));
  return `user_${[...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// GET /api/users/by-username/<name>: cache-aside; DELETE drops the cached id (the username changed).
async function username(request, name, env, scope) {
  if (!USERNAME_RE.test(name)) throw new Refused(400, "username must match ^[A-Za-z0-9_.-]{1,64}$");
  const redis = client(env);
  const key = kvKey(scope.namespace, `username:${name}`);
  if (request.method === "DELETE") {
    const deleted = await redis.del(key);
    return json({ username: name, key, invalidated: deleted === 1 });
  }
  const cached = await redis.get(key);
  if (typeof cached === "string" && cached.startsWith("user_")) {
    return json({ username: name, userId: cached, key }, 200, { "x-cache": "hit" });
  }
  const userId = await lookUpUserId(name);
  const ttl = scope.test ? 60 : null;
  await (ttl === null ? redis.set(key, userId) : redis.set(key, userId, { ex: ttl }));
  return json({ username: name, userId, key }, 200, { "x-cache": "miss" });
}

// GET /api/admin/subscriptions: every registry of the namespace, by SCAN pages and one MGET per page.
async function listSubscriptions(env, scope) {
  const redis = client(env);
  const prefix = kvKey(scope.namespace, "subscriptions:system:");
  const subscriptions = {};
  let cursor = "0";
  let pages = 0;
  do {
    const [next, keys] = await redis.scan(cursor, { match: `${prefix}*`, count: SCAN_COUNT });
    cursor = String(next);
    pages += 1;
    if (keys.length > 0) {
      const values = await redis.mget(...keys);
      keys.forEach((key, index) => {
        const source = key.slice(prefix.length);
        try {
          subscriptions[source] = compositesOf(key, values[index]);
        } catch (error) {
          subscriptions[source] = { error: error.message };
        }
      });
    }
  } while (cursor !== "0");
  return json({ namespace: scope.namespace, subscriptions, scanPages: pages });
}

// PUT /api/admin/subscriptions/<sourceId> {composites: [ids], ttlSeconds?}; DELETE removes the registry.
async function subscription(request, id, env, scope) {
  const redis = client(env);
  const key = kvKey(scope.namespace, `subscriptions:system:${id}`);
  if (request.method === "GET") return json({ systemId: id, key, composites: compositesOf(key, await redis.get(key)) });
  if (request.method === "DELETE") return json({ systemId: id, key, deleted: (await redis.del(key)) === 1 });
  const body = await bodyOf(request);
  const composites = body.composites;
  if (!Array.isArray(composites) || !composites.every((c) => Number.isSafeInteger(c) && c >= 0)) {
    throw new Refused(400, "composites must be an array of non-negative integers");
  }
  if (new Set(composites).size !== composites.length) throw new Refused(400, "composites must not repeat");
  if (composites.includes(id)) throw new Refused(400, "a system cannot subscribe to itself");
  const ttl = ttlOf(body, scope);
  const value = JSON.stringify(composites);
  await (ttl === null ? redis.set(key, value) : redis.set(key, value, { ex: ttl }));
  return json({ systemId: id, key, composites });
}

function allow(request, methods) {
  if (!methods.includes(request.method)) {
    throw Object.assign(new Refused(405, `${request.method} not allowed`), { allow: methods.join(", ") });
  }
}

async function route(request, env, url) {
  const path = url.pathname;
  if (path === "/health") {
    allow(request, ["GET"]);
    return appHealth(env);
  }
  const missing = missingConfig(env);
  if (missing.length > 0) return json({ error: `not configured: ${missing.join(", ")} unset` }, 503);
  const scope = namespaceOf(request, env);
  let match;
  if (path === "/api/readings") {
    allow(request, ["POST"]);
    return await postReading(request, env, scope);
  }
  if ((match = path.match(/^\/api\/latest\/([^/]+)$/))) {
    allow(request, ["GET"]);
    return await latest(systemId(match[1]), env, scope);
  }
  if ((match = path.match(/^\/api\/users\/by-username\/([^/]+)$/))) {
    allow(request, ["GET", "DELETE"]);
    let name;
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      throw new Refused(400, "username is not valid percent-encoding");
    }
    return await username(request, name, env, scope);
  }
  if (path === "/api/admin/subscriptions") {
    allow(request, ["GET"]);
    return await listSubscriptions(env, scope);
  }
  if ((match = path.match(/^\/api\/admin\/subscriptions\/([^/]+)$/))) {
    allow(request, ["GET", "PUT", "DELETE"]);
    return await subscription(request, systemId(match[1]), env, scope);
  }
  return json({ error: `no route ${path}` }, 404);
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      return await route(request, env, url);
    } catch (error) {
      if (error instanceof Refused) {
        return json({ error: error.message }, error.status, error.allow ? { allow: error.allow } : {});
      }
      // The store's own error (its message is the server's, never the token or the URL).
      return json({ error: "store error", detail: String(error?.message ?? error) }, 502);
    }
  },
};
