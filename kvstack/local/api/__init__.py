"""The local Cloudflare's API: a Cloudflare v4 subset at ``http://127.0.0.1:<port>/client/v4``.

Built to be held to real clients (the official SDK with ``base_url``; wrangler with
``CLOUDFLARE_API_BASE_URL``): Cloudflare's envelope and error codes, bearer tokens with policies
enforced per route, KV data in Miniflare's storage (through its explorer API; writes journaled in
``<state>/pending-writes.sqlite`` and stored in the background), and kvstack's own state (titles, Pages
projects, scripts, tokens) in ``<state>/account.json``.

Modules: ``envelope`` (shape and codes), ``store`` (state), ``auth`` (tokens → capabilities),
``knobs`` (latency, faults, rate limit, eventual consistency, request log), ``storage`` (Miniflare's
explorer), ``writebehind`` (accepted writes, their journal and drain), ``kv``, ``values``, ``pages``,
``workers``, ``tokens`` (routes), ``admin`` (``/__kvstack/`` routes), ``app`` (assembly),
``client`` (what `kvstack local` uses to call the admin routes).
"""

from kvstack.local.api.app import asgi_app, create_app
from kvstack.local.api.context import Settings

__all__ = ["Settings", "asgi_app", "create_app"]
