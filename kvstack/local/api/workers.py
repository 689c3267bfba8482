"""Workers scripts: list them and read a script's settings with its bindings.

Scripts are registered by `kvstack local up` (admin route) from the wrangler files the runtime runs.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kvstack.local.api.context import context_of
from kvstack.local.api.envelope import CODE_SCRIPT_NOT_FOUND, ApiError, success

__all__ = ["routes"]

BASE = "/client/v4/accounts/{account_id}/workers/scripts"


def _script(request: Request) -> dict[str, Any]:
    found = context_of(request).store.scripts.get(request.path_params["script_name"])
    if found is None:
        raise ApiError(404, CODE_SCRIPT_NOT_FOUND, "This Worker does not exist on your account.")
    return found


async def list_scripts(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "scripts.read")
    return success(
        [
            {
                "id": s["id"],
                "etag": s["etag"],
                "created_on": s["created_on"],
                "modified_on": s["modified_on"],
                "logpush": False,
                "placement_mode": "",
                "tail_consumers": [],
                "usage_model": "standard",
            }
            for s in sorted(context.store.scripts.values(), key=lambda s: s["id"])
        ]
    )


async def script_settings(request: Request) -> Response:
    context_of(request).authorize(request, "scripts.read")
    script = _script(request)
    return success(
        {
            "bindings": script["bindings"],
            "compatibility_date": script.get("compatibility_date", ""),
            "compatibility_flags": script.get("compatibility_flags", []),
            "limits": {},
            "logpush": False,
            "placement": {},
            "tags": [],
            "tail_consumers": [],
            "usage_model": "standard",
        }
    )


async def script_only_settings(request: Request) -> Response:
    context_of(request).authorize(request, "scripts.read")
    _script(request)
    return success({"logpush": False, "tail_consumers": []})


routes = [
    Route(BASE, list_scripts, methods=["GET"]),
    Route(BASE + "/{script_name}/settings", script_settings, methods=["GET"]),
    Route(BASE + "/{script_name}/script-settings", script_only_settings, methods=["GET"]),
]
