// dubai-app-front (kvstack reference app): a signed webhook posts chart messages for a viewing session,
// CHART_KV keeps the newest 50 per session, and an SSE stream pushes them to the viewer.
// The contract (routes, bodies, status codes, keys, TTLs) is docs/contracts.md, section "chart".

import { hasKv, health, json } from "./_shared/app.js";

const CHART_CAP = 50; // messages kept per session, newest last
const WEBHOOK_LOG_CAP = 50; // deliveries kept in webhook:messages
const WEBHOOK_LOG_KEY = "webhook:messages";
const SMOKE_PREFIX = "kvstack-smoke-"; // sessions of `kvstack check`: kept out of the shared log
const DEFAULT_CHART_TTL = 604800; // 7 days; CHART_TTL_SECONDS overrides (KV minimum 60)
const MAX_BODY_BYTES = 64 * 1024;
const SESSION_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const MESSAGE_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
const SIGNATURE_RE = /^sha256=([0-9a-f]{64})$/;
const STREAM_DEFAULT_SECONDS = 30;
const STREAM_MAX_SECONDS = 300;
const DEFAULT_POLL_MS = 250;
const KEEPALIVE_MS = 10000;

const encoder = new TextEncoder();

function appHealth(env) {
  return health("dubai-app-front", env, {
    bindings: { CHART_KV: hasKv(env.CHART_KV), WEBHOOK_KV: hasKv(env.WEBHOOK_KV) },
    required: ["CHART_KV"],
    config: { WEBHOOK_SECRET: Boolean(env.WEBHOOK_SECRET) },
  });
}

function chartKey(sessionId) {
  return `charts:session:${sessionId}`;
}

function chartTtl(env) {
  const ttl = Number.parseInt(env.CHART_TTL_SECONDS ?? "", 10);
  return Number.isInteger(ttl) && ttl >= 60 ? ttl : DEFAULT_CHART_TTL;
}

async function readList(kv, key) {
  const value = await kv.get(key, "json");
  return Array.isArray(value) ? value : [];
}

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

async function signatureValid(secret, header, body) {
  const match = SIGNATURE_RE.exec((header ?? "").trim().toLowerCase());
  if (!match) return false;
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
  // subtle.verify compares in constant time.
  return crypto.subtle.verify("HMAC", key, hexToBytes(match[1]), body);
}

function validSessionId(value) {
  return typeof value === "string" && SESSION_ID_RE.test(value);
}

async function webhook(request, env) {
  if (!env.WEBHOOK_SECRET) {
    return json({ error: "WEBHOOK_SECRET not configured" }, 503);
  }
  const body = await request.arrayBuffer();
  if (body.byteLength > MAX_BODY_BYTES) {
    return json({ error: `body larger than ${MAX_BODY_BYTES} bytes` }, 413);
  }
  if (!(await signatureValid(env.WEBHOOK_SECRET, request.headers.get("x-webhook-signature"), body))) {
    return json({ error: "invalid signature" }, 401);
  }
  let payload;
  try {
    payload = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return json({ error: "body is not JSON" }, 400);
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return json({ error: "body must be a JSON object" }, 400);
  }
  if (!validSessionId(payload.sessionId)) {
    return json({ error: "sessionId must match ^[A-Za-z0-9_-]{1,128}$" }, 400);
  }
  const chart = payload.chart;
  if (chart === null || typeof chart !== "object" || Array.isArray(chart) || typeof chart.type !== "string" || !chart.type) {
    return json({ error: "chart must be an object with a non-empty string `type`" }, 400);
  }
  if (payload.id !== undefined && !(typeof payload.id === "string" && MESSAGE_ID_RE.test(payload.id))) {
    return json({ error: "id must match ^[A-Za-z0-9_.:-]{1,128}$" }, 400);
  }
  if (!hasKv(env.CHART_KV)) {
    return json({ error: "CHART_KV not available" }, 503);
  }

  const sessionId = payload.sessionId;
  const id = payload.id ?? crypto.randomUUID();
  const key = chartKey(sessionId);
  // Read-modify-write: KV has no transactions, so concurrent deliveries to one session may lose one
  // (last writer wins). Redelivery of the same id is idempotent.
  const messages = await readList(env.CHART_KV, key);
  const existing = messages.find((m) => m && m.id === id);
  if (existing) {
    return json({ ok: true, duplicate: true, sessionId, id, receivedAt: existing.receivedAt, count: messages.length });
  }
  const receivedAt = new Date().toISOString();
  messages.push({ id, receivedAt, chart });
  const kept = messages.slice(-CHART_CAP);
  await env.CHART_KV.put(key, JSON.stringify(kept), { expirationTtl: chartTtl(env) });

  // A smoke session's delivery stays in its own key (TTL, deleted by the check): the shared log has no
  // TTL and is not the checker's to clean.
  if (hasKv(env.WEBHOOK_KV) && !sessionId.startsWith(SMOKE_PREFIX)) {
    const log = await readList(env.WEBHOOK_KV, WEBHOOK_LOG_KEY);
    log.push({ id, sessionId, receivedAt });
    await env.WEBHOOK_KV.put(WEBHOOK_LOG_KEY, JSON.stringify(log.slice(-WEBHOOK_LOG_CAP)));
  }
  return json({ ok: true, duplicate: false, sessionId, id, receivedAt, count: kept.length }, 201);
}

async function charts(url, env) {
  const sessionId = url.searchParams.get("sessionId");
  if (!validSessionId(sessionId)) {
    return json({ error: "sessionId must match ^[A-Za-z0-9_-]{1,128}$" }, 400);
  }
  if (!hasKv(env.CHART_KV)) {
    return json({ error: "CHART_KV not available" }, 503);
  }
  return json({ sessionId, messages: await readList(env.CHART_KV, chartKey(sessionId)) });
}

function sseFrame(event, data, id) {
  return encoder.encode(`${id ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function boundedInt(raw, fallback, min, max) {
  const value = Number.parseInt(raw ?? "", 10);
  if (!Number.isInteger(value)) return fallback;
  return Math.min(max, Math.max(min, value));
}

function stream(url, env, ctx) {
  const sessionId = url.searchParams.get("sessionId");
  if (!validSessionId(sessionId)) {
    return json({ error: "sessionId must match ^[A-Za-z0-9_-]{1,128}$" }, 400);
  }
  if (!hasKv(env.CHART_KV)) {
    return json({ error: "CHART_KV not available" }, 503);
  }
  const seconds = boundedInt(url.searchParams.get("timeout"), STREAM_DEFAULT_SECONDS, 1, STREAM_MAX_SECONDS);
  const pollMs = boundedInt(env.SSE_POLL_MS, DEFAULT_POLL_MS, 50, 5000);
  const key = chartKey(sessionId);
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();

  // A Worker cannot be notified by another request's write, so the stream polls KV (bounded in time)
  // and pushes every message it has not sent yet, in stored order.
  const run = async () => {
    const seen = new Set();
    try {
      const initial = await readList(env.CHART_KV, key);
      for (const message of initial) seen.add(message.id);
      await writer.write(sseFrame("snapshot", { sessionId, messages: initial }));
      const deadline = Date.now() + seconds * 1000;
      let lastWrite = Date.now();
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        for (const message of await readList(env.CHART_KV, key)) {
          if (seen.has(message.id)) continue;
          seen.add(message.id);
          await writer.write(sseFrame("chart", message, message.id));
          lastWrite = Date.now();
        }
        if (Date.now() - lastWrite >= KEEPALIVE_MS) {
          await writer.write(encoder.encode(": keepalive\n\n"));
          lastWrite = Date.now();
        }
      }
      await writer.write(sseFrame("end", { sessionId, reason: "timeout" }));
    } catch (error) {
      // The viewer went away (write failed) or KV failed; tell the viewer if it is still there.
      await writer.write(sseFrame("error", { sessionId, error: String(error?.message ?? error) })).catch(() => {});
    } finally {
      await writer.close().catch(() => {});
    }
  };
  ctx.waitUntil(run());
  return new Response(readable, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}

const ROUTES = {
  "/health": { GET: (request, url, env) => appHealth(env) },
  "/api/webhook": { POST: (request, url, env) => webhook(request, env) },
  "/api/charts": { GET: (request, url, env) => charts(url, env) },
  "/api/stream": { GET: (request, url, env, ctx) => stream(url, env, ctx) },
};

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const route = ROUTES[url.pathname];
    if (!route) {
      return json({ error: `no route ${url.pathname}` }, 404);
    }
    const handler = route[request.method];
    if (!handler) {
      return json({ error: `${request.method} not allowed on ${url.pathname}` }, 405, { allow: Object.keys(route).join(", ") });
    }
    try {
      return await handler(request, url, env, ctx);
    } catch (error) {
      return json({ error: "internal error", detail: String(error?.message ?? error) }, 500);
    }
  },
};
