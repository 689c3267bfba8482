"""kvstack's own routes under ``/__kvstack/`` (bootstrap token only): scripts, knobs, the request log.

The bootstrap token is recognised by its id (the token whose value `local up` wrote to
``<state>/bootstrap-token``), never by its name: any token may be named like it.

- ``PUT /__kvstack/scripts/{name}``  body ``{"bindings": [{type, name, namespace_id}], "compatibility_date"?}``
- ``GET /__kvstack/knobs`` / ``PUT /__kvstack/knobs``  body ``{latency_ms?, faults?, seed?, rate_limit?,
  consistency_delay?}`` (faults as ``"429=0.1,500=0.05,drop=0.02"``, rate limit as ``"1200/300"``)
- ``GET /__kvstack/requests`` (``?since=N`` for entries after the N-th) / ``DELETE /__kvstack/requests``
- ``GET /__kvstack/writes``: the write-behind's counts (pending, in flight, stored, refused): writes are in
  the storage, where a Worker's binding reads them, once ``pending`` is 0
"""

from __future__ import annotations

import hashlib
import secrets

from starlette.requests import Request
from starlette.responses import Response

from kvstack.local.api.auth import authenticate
from kvstack.local.api.context import Context, context_of
from kvstack.local.api.envelope import ApiError, success
from kvstack.local.api.limits import CODE_AUTH, CODE_BAD_REQUEST
from kvstack.local.api.routing import resource
from kvstack.local.api.shapes import Knobs as KnobChanges
from kvstack.local.api.shapes import ScriptRegistration, SinceQuery
from kvstack.local.api.store import now_rfc3339
from kvstack.local.api.validation import parse_body, parse_query

__all__ = ["BOOTSTRAP_TOKEN_NAME", "require_admin", "routes"]

BOOTSTRAP_TOKEN_NAME = "kvstack-local-bootstrap"


def require_admin(request: Request) -> Context:
    """The context, if the request carries the bootstrap token (by id); else 401/403."""
    context = context_of(request)
    token = authenticate(request, context.store)
    if not context.bootstrap_id or not secrets.compare_digest(token["id"], context.bootstrap_id):
        raise ApiError(403, CODE_AUTH, "kvstack admin routes need the bootstrap token")
    return context


async def put_script(request: Request) -> Response:
    context = require_admin(request)
    body = await parse_body(request, ScriptRegistration, empty={})
    name = request.path_params["name"]
    previous = context.store.scripts.get(name, {})
    bindings = [binding.model_dump() for binding in body.bindings]
    context.store.scripts[name] = {
        **previous,
        "id": name,
        "etag": hashlib.sha256(body.model_dump_json().encode()).hexdigest()[:32],
        "created_on": previous.get("created_on", now_rfc3339()),
        "modified_on": now_rfc3339(),
        "bindings": bindings,
        "compatibility_date": body.compatibility_date,
        "compatibility_flags": list(body.compatibility_flags),
    }
    context.store.save()
    return success(context.store.scripts[name])


async def delete_script(request: Request) -> Response:
    context = require_admin(request)
    context.store.scripts.pop(request.path_params["name"], None)
    context.store.save()
    return success(None)


async def get_knobs(request: Request) -> Response:
    return success(require_admin(request).knobs.describe())


async def put_knobs(request: Request) -> Response:
    context = require_admin(request)
    changes = await parse_body(request, KnobChanges, empty={})
    try:
        context.knobs.update(changes.model_dump(exclude_none=True))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, CODE_BAD_REQUEST, str(exc)) from exc
    return success(context.knobs.describe())


async def get_requests(request: Request) -> Response:
    context = require_admin(request)
    since = parse_query(request, SinceQuery).since
    entries = list(context.log.entries)
    return success(entries[since:], {"count": len(entries) - min(since, len(entries)), "total_count": len(entries)})


async def clear_requests(request: Request) -> Response:
    context = require_admin(request)
    context.log.entries.clear()
    return success(None)


async def get_writes(request: Request) -> Response:
    return success(require_admin(request).writes.describe())


routes = [
    *resource("/__kvstack/scripts/{name}", PUT=put_script, DELETE=delete_script),
    *resource("/__kvstack/knobs", GET=get_knobs, PUT=put_knobs),
    *resource("/__kvstack/requests", GET=get_requests, DELETE=clear_requests),
    *resource("/__kvstack/writes", GET=get_writes),
]
