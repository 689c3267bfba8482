"""A user's own Pages project for `local up`: static output plus Pages Functions writing through a KV binding.

Nothing of the seed: its own catalog (Pulumi.yaml + Pulumi.dev.yaml), its own keyspace, and ``apps/site/``
holding ``wrangler.toml`` (``pages_build_output_dir = "public"``), ``public/index.html``, and ``functions/``:
``api/[key].js`` (PUT/GET a note through ``SITE_KV``, importing ``../../src/notes.js``, a relative import
from outside ``functions/`` that only resolves where the project is), ``encode.js`` (Node's ``buffer``, under
the project's ``nodejs_compat``) and ``health.js`` (``GET /health``, which ``kvstack check`` asks every non-REST
app for).
"""

from __future__ import annotations

from pathlib import Path

from tests.local.own_project import ACCOUNT, CATALOG_HEAD, KEYSPACE, STACK

__all__ = ["ACCOUNT", "BROKEN_KEY_JS", "INDEX_HTML", "KEY_JS", "write_pages_project"]

_CATALOG = (
    "name: site-stack\n"
    + CATALOG_HEAD
    + """\
        site:
          kind: pages
          description: The user's own Pages app; its Functions keep notes in KV.
          bindings:
            SITE_KV:
              keyspace: notes
          wrangler:
            path: apps/site/wrangler.toml
            format: toml
      tokens:
        deploy:
          role: deploy
          permissions: [Pages Write, Workers KV Storage Write]
        audit:
          role: audit
          permissions: [Workers KV Storage Read, Pages Read]
"""
)

_STACK = (
    STACK
    + """\
  kvstack:apps:
    site:
      url: https://site-dev.pages.dev
      production_branch: main
      pages_project: site-dev
      sections: [top]
"""
)

WRANGLER = """\
name = "site"
pages_build_output_dir = "public"
compatibility_date = "2025-09-01"
compatibility_flags = ["nodejs_compat"]

[[kv_namespaces]]
binding = "SITE_KV"
id = "REPLACE_ME"
"""

INDEX_HTML = "<!doctype html><title>site</title><h1>the site's static output</h1>\n"

_NOTES_JS = """\
export const PREFIX = "note:";
export const WHERE = "apps/site/src/notes.js";
"""

KEY_JS = """\
import { PREFIX, WHERE } from "../../src/notes.js";

export async function onRequestPut({ params, request, env }) {
  await env.SITE_KV.put(PREFIX + params.key, JSON.stringify({ text: await request.text() }));
  return Response.json({ saved: PREFIX + params.key, by: WHERE }, { status: 201 });
}

export async function onRequestGet({ params, env }) {
  const value = await env.SITE_KV.get(PREFIX + params.key);
  return value === null ? Response.json({ error: "no such note" }, { status: 404 }) : new Response(value);
}
"""

# A user's slip: a call left unclosed.
BROKEN_KEY_JS = KEY_JS.replace("JSON.stringify({ text: await request.text() }));", "JSON.stringify(")

# Node's `buffer` under a bare name: wrangler resolves it only when the build knows of nodejs_compat.
_ENCODE_JS = """\
import { Buffer } from "buffer";

export function onRequestGet({ request }) {
  const text = new URL(request.url).searchParams.get("text") ?? "";
  return Response.json({ base64: Buffer.from(text).toString("base64") });
}
"""

_HEALTH_JS = """\
export function onRequestGet({ env }) {
  const ok = Boolean(env.SITE_KV);
  const body = { app: "site", ok, bindings: { SITE_KV: ok }, missing: ok ? [] : ["SITE_KV"] };
  return Response.json(body, { status: ok ? 200 : 503 });
}
"""


def write_pages_project(root: Path, *, key_js: str = KEY_JS, functions: bool = True) -> Path:
    """Write the project into ``root``; ``functions=False`` leaves the Pages app with its static output only."""
    (root / "keyspaces").mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(_CATALOG)
    (root / "Pulumi.dev.yaml").write_text(_STACK)
    (root / "keyspaces" / "notes.yaml").write_text(KEYSPACE)
    app = root / "apps" / "site"
    (app / "public").mkdir(parents=True, exist_ok=True)
    (app / "src").mkdir(exist_ok=True)
    (app / "wrangler.toml").write_text(WRANGLER)
    (app / "public" / "index.html").write_text(INDEX_HTML)
    (app / "src" / "notes.js").write_text(_NOTES_JS)
    if functions:
        (app / "functions" / "api").mkdir(parents=True, exist_ok=True)
        (app / "functions" / "api" / "[key].js").write_text(key_js)
        (app / "functions" / "health.js").write_text(_HEALTH_JS)
        (app / "functions" / "encode.js").write_text(_ENCODE_JS)
    return root
