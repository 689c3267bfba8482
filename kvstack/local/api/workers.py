"""Workers scripts: list them; read and PATCH a script's settings (bindings, …) and script-level settings.

Scripts are registered by `kvstack local up` (admin route) from the wrangler files the runtime runs.
A PATCH is merged into the stored settings and the result must validate against the pinned SDK's own
response model (``ScriptAndVersionSettingGetResponse`` / ``ScriptSetting``) before it is stored: a shape
the SDK would reject is a 400, never an answer.
"""

from __future__ import annotations

import json
from typing import Any

from cloudflare.types.workers.script_setting import ScriptSetting
from cloudflare.types.workers.scripts.script_and_version_setting_get_response import (
    ScriptAndVersionSettingGetResponse,
)
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from kvstack.local.api.context import context_of
from kvstack.local.api.envelope import ApiError, success
from kvstack.local.api.limits import CODE_BAD_REQUEST, CODE_SCRIPT_NOT_FOUND
from kvstack.local.api.routing import resource
from kvstack.local.api.store import now_rfc3339
from kvstack.local.api.validation import parse_body, validated

__all__ = ["routes"]

BASE = "/client/v4/accounts/{account_id}/workers/scripts"
SETTINGS_KEYS = (
    "bindings",
    "compatibility_date",
    "compatibility_flags",
    "limits",
    "logpush",
    "observability",
    "placement",
    "tags",
    "tail_consumers",
    "usage_model",
)
SCRIPT_SETTINGS_KEYS = ("logpush", "observability", "tags", "tail_consumers")


def _script(request: Request) -> dict[str, Any]:
    found = context_of(request).store.scripts.get(request.path_params["script_name"])
    if found is None:
        raise ApiError(404, CODE_SCRIPT_NOT_FOUND, "This Worker does not exist on your account.")
    return found


def _settings(script: dict[str, Any]) -> dict[str, Any]:
    """Every setting, as SDK 5.9 reads them (no ``placement`` unless one was set: ``{}`` is not a placement)."""
    view: dict[str, Any] = {
        "bindings": script.get("bindings", []),
        "compatibility_date": script.get("compatibility_date", ""),
        "compatibility_flags": script.get("compatibility_flags", []),
        "limits": script.get("limits", {}),
        "logpush": script.get("logpush", False),
        "tags": script.get("tags", []),
        "tail_consumers": script.get("tail_consumers", []),
        "usage_model": script.get("usage_model", "standard"),
    }
    for optional in ("placement", "observability"):
        if script.get(optional):
            view[optional] = script[optional]
    return view


def _script_settings(script: dict[str, Any]) -> dict[str, Any]:
    settings = _settings(script)
    return {key: settings[key] for key in SCRIPT_SETTINGS_KEYS if key in settings}


async def list_scripts(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "scripts.read")
    scripts = []
    for script in sorted(context.store.scripts.values(), key=lambda s: str(s["id"])):
        entry = {
            "id": script["id"],
            "etag": script["etag"],
            "created_on": script["created_on"],
            "modified_on": script["modified_on"],
            "logpush": script.get("logpush", False),
            "tail_consumers": script.get("tail_consumers", []),
            "usage_model": script.get("usage_model", "standard"),
        }
        if (script.get("placement") or {}).get("mode"):
            entry["placement_mode"] = script["placement"]["mode"]
        scripts.append(entry)
    return success(scripts)


async def script_settings(request: Request) -> Response:
    context_of(request).authorize(request, "scripts.read")
    return success(_settings(_script(request)))


async def script_only_settings(request: Request) -> Response:
    context_of(request).authorize(request, "scripts.read")
    return success(_script_settings(_script(request)))


async def _settings_part(request: Request) -> dict[str, Any]:
    """The ``settings`` part of the SDK's multipart PATCH (a JSON body is accepted too)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        body: dict[str, Any] = await parse_body(request, dict[str, Any], empty={})
        return body
    try:
        form = await request.form(max_files=4, max_fields=16)
    except (MultiPartException, HTTPException, ValueError, KeyError, AssertionError) as exc:
        raise ApiError(400, CODE_BAD_REQUEST, "the multipart body is malformed") from exc
    part = form.get("settings")
    text = (await part.read()).decode("utf-8", "replace") if isinstance(part, UploadFile) else part
    if not text:
        raise ApiError(400, CODE_BAD_REQUEST, "a multipart settings PATCH needs a 'settings' part")
    try:
        settings = json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(400, CODE_BAD_REQUEST, "the settings part is not JSON") from None
    return validated(dict[str, Any], settings, root="settings")


def _patch(request: Request, patch: dict[str, Any], keys: tuple[str, ...], model: Any) -> dict[str, Any]:
    script = _script(request)
    merged = {**_settings(script), **{k: v for k, v in patch.items() if k in keys}}
    validated(model, merged, root="settings")
    script.update({k: merged[k] for k in keys if k in merged}, modified_on=now_rfc3339())
    context_of(request).store.save()
    return script


async def patch_settings(request: Request) -> Response:
    context_of(request).authorize(request, "scripts.write")
    patch = await _settings_part(request)
    return success(_settings(_patch(request, patch, SETTINGS_KEYS, ScriptAndVersionSettingGetResponse)))


async def patch_script_settings(request: Request) -> Response:
    context_of(request).authorize(request, "scripts.write")
    patch = await parse_body(request, dict[str, Any], empty={})
    return success(_script_settings(_patch(request, patch, SCRIPT_SETTINGS_KEYS, ScriptSetting)))


routes = [
    *resource(BASE, GET=list_scripts),
    *resource(BASE + "/{script_name}/settings", GET=script_settings, PATCH=patch_settings),
    *resource(BASE + "/{script_name}/script-settings", GET=script_only_settings, PATCH=patch_script_settings),
]
