"""A user's own project for `local up`: a worker app with its own code and wrangler file, and a REST client app.

Nothing of the seed: its own catalog (Pulumi.yaml + Pulumi.dev.yaml), its own keyspace, and ``apps/notes/``
holding ``wrangler.toml`` and ``src/index.js``, which imports ``./store.js`` (a relative import that only
resolves where the app's sources are), which imports ``notes-lib`` from the app's own ``node_modules``;
it writes through its ``NOTES_KV`` binding.
"""

from __future__ import annotations

from pathlib import Path

ACCOUNT = "0123456789abcdef0123456789abcdef"

CATALOG_HEAD = """\
runtime:
  name: python
main: infra/
config:
  kvstack:catalog:
    value:
      apps:
"""

_NOTES_APP = """\
        notes:
          kind: worker
          description: The user's own Worker keeping notes in KV.
          bindings:
            NOTES_KV:
              keyspace: notes
          wrangler:
            path: apps/notes/wrangler.toml
            format: toml
"""

_LEDGER_APP = """\
        ledger:
          kind: rest
          description: A backend writing through the KV REST API.
          bindings:
            CACHE_KV:
              keyspace: notes
          env_file: apps/ledger/.env
"""

_TOKENS = """\
      tokens:
        deploy:
          role: deploy
          permissions: [Workers Scripts Write, Workers KV Storage Write]
        ledger-runtime:
          role: runtime
          app: ledger
          permissions: [Workers KV Storage Write]
        audit:
          role: audit
          permissions: [Workers KV Storage Read, Workers Scripts Read]
"""

STACK = f"""\
config:
  kvstack:environment: dev
  kvstack:account_id: {ACCOUNT}
  kvstack:protect: false
  kvstack:token_expiry: "2027-11-30T00:00:00Z"
"""

_NOTES_STACK = """\
  kvstack:apps:
    notes:
      url: https://notes-dev.example.workers.dev
      sections: [top]
"""

KEYSPACE = """\
description: Notes by id.
unknown_keys: forbidden
patterns:
  note:
    key: "note:{id:slug}"
    description: One note.
    ttl: {policy: forbidden}
    value:
      format: json
      schema: {type: object, required: [text], properties: {text: {type: string}}}
"""

WRANGLER = """\
name = "notes"
main = "{main}"
compatibility_date = "2025-09-01"

[[kv_namespaces]]
binding = "NOTES_KV"
id = "REPLACE_ME"
"""

_STORE_JS = """\
import { LIBRARY } from "notes-lib";

export const PREFIX = "note:";
export const WHERE = `apps/notes/src/store.js with ${LIBRARY}`;

export async function save(kv, id, text) {
  await kv.put(PREFIX + id, JSON.stringify({ text }));
}
"""

INDEX_JS = """\
import { PREFIX, WHERE, save } from "./store.js";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") {
      const ok = Boolean(env.NOTES_KV);
      const body = { app: "notes", ok, bindings: { NOTES_KV: ok }, missing: ok ? [] : ["NOTES_KV"] };
      return Response.json(body, { status: ok ? 200 : 503 });
    }
    const match = url.pathname.match(/^\\/notes\\/([a-z0-9-]+)$/);
    if (match && request.method === "PUT") {
      await save(env.NOTES_KV, match[1], await request.text());
      return Response.json({ saved: PREFIX + match[1], by: WHERE }, { status: 201 });
    }
    if (match && request.method === "GET") {
      const value = await env.NOTES_KV.get(PREFIX + match[1]);
      return value === null ? Response.json({ error: "no such note" }, { status: 404 }) : new Response(value);
    }
    return Response.json({ error: "not found" }, { status: 404 });
  },
};
"""


def write_project(root: Path, *, notes: bool = True, main: str = "src/index.js", flows: tuple[str, ...] = ()) -> Path:
    """Write the project into ``root``: the REST app always, the worker app ``notes`` unless ``notes=False``.

    ``main`` is what the worker's wrangler file names; its sources are always ``src/index.js`` and ``src/store.js``.
    ``flows`` are the worker's declared flows (its code serves none of them).
    """
    root.mkdir(parents=True, exist_ok=True)
    app = _NOTES_APP + (f"          flows: [{', '.join(flows)}]\n" if flows else "")
    (root / "Pulumi.yaml").write_text(
        "name: notes-stack\n" + CATALOG_HEAD + (app if notes else "") + _LEDGER_APP + _TOKENS
    )
    (root / "Pulumi.dev.yaml").write_text(STACK + (_NOTES_STACK if notes else ""))
    (root / "keyspaces").mkdir(exist_ok=True)
    (root / "keyspaces" / "notes.yaml").write_text(KEYSPACE)
    (root / "apps" / "ledger").mkdir(parents=True, exist_ok=True)
    if notes:
        app = root / "apps" / "notes"
        (app / "src").mkdir(parents=True, exist_ok=True)
        (app / "wrangler.toml").write_text(WRANGLER.replace("{main}", main))
        (app / "src" / "index.js").write_text(INDEX_JS)
        (app / "src" / "store.js").write_text(_STORE_JS)
        library = app / "node_modules" / "notes-lib"  # a package only the app's own node_modules holds
        library.mkdir(parents=True, exist_ok=True)
        (library / "package.json").write_text('{"name": "notes-lib", "version": "1.0.0", "main": "index.js"}\n')
        (library / "index.js").write_text('export const LIBRARY = "notes-lib from node_modules";\n')
    return root
