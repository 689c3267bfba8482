"""kvstack's own routes under ``/__kvstack/`` (bootstrap token only): scripts, knobs, the request log.

- ``PUT /__kvstack/scripts/{name}``  body ``{"bindings": [{type, name, namespace_id}], "compatibility_date"?}``
- ``GET /__kvstack/knobs`` / ``PUT /__kvstack/knobs``  body ``{latency_ms?, faults?, seed?, rate_limit?,
  consistency_delay?}`` (faults as ``"429=0.1,500=0.05,drop=0.02"``, rate limit as ``"1200/300"``)
- ``GET /__kvstack/requests`` (``?since=N`` for entries after the N-th) / ``DELETE /__kvstack/requests``
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kvstack.local.api.auth import authenticate
from kvstack.local.api.context import Context, context_of
from kvstack.local.api.envelope import CODE_AUTH, CODE_BAD_REQUEST, ApiError, json_object, success
from kvstack.local.api.store import now_rfc3339

__all__ = ["BOOTSTRAP_TOKEN_NAME", "routes"]

BOOTSTRAP_TOKEN_NAME = "kvstack-local-bootstrap"


def _admin(request: Request) -> Context:
    context = context_of(request)
    token = authenticate(request, context.store)
    if token["name"] != BOOTSTRAP_TOKEN_NAME or token["owner"] != "user":
        raise ApiError(403, CODE_AUTH, "kvstack admin routes need the bootstrap token")
    return context


async def put_script(request: Request) -> Response:
    context = _admin(request)
    body = await json_object(request)
    name = request.path_params["name"]
    previous = context.store.scripts.get(name, {})
    context.store.scripts[name] = {
        "id": name,
        "etag": f"{abs(hash(json.dumps(body, sort_keys=True))):x}",
        "created_on": previous.get("created_on", now_rfc3339()),
        "modified_on": now_rfc3339(),
        "bindings": list(body.get("bindings") or []),
        "compatibility_date": body.get("compatibility_date", ""),
        "compatibility_flags": list(body.get("compatibility_flags") or []),
    }
    context.store.save()
    return success(context.store.scripts[name])


async def delete_script(request: Request) -> Response:
    context = _admin(request)
    context.store.scripts.pop(request.path_params["name"], None)
    context.store.save()
    return success(None)


async def get_knobs(request: Request) -> Response:
    return success(_admin(request).knobs.describe())


async def put_knobs(request: Request) -> Response:
    context = _admin(request)
    try:
        context.knobs.update(await json_object(request))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, CODE_BAD_REQUEST, str(exc)) from exc
    return success(context.knobs.describe())


async def get_requests(request: Request) -> Response:
    context = _admin(request)
    since = int(request.query_params.get("since", "0"))
    entries = list(context.log.entries)
    return success(entries[since:], {"count": len(entries) - min(since, len(entries)), "total_count": len(entries)})


async def clear_requests(request: Request) -> Response:
    context = _admin(request)
    context.log.entries.clear()
    return success(None)


routes = [
    Route("/__kvstack/scripts/{name}", put_script, methods=["PUT"]),
    Route("/__kvstack/scripts/{name}", delete_script, methods=["DELETE"]),
    Route("/__kvstack/knobs", get_knobs, methods=["GET"]),
    Route("/__kvstack/knobs", put_knobs, methods=["PUT"]),
    Route("/__kvstack/requests", get_requests, methods=["GET"]),
    Route("/__kvstack/requests", clear_requests, methods=["DELETE"]),
]
