"""Workers KV routes: namespaces (titles unique), keys, values, metadata, bulk write/delete/get.

Limits as Cloudflare enforces them: key ≤ 512 bytes and not ``.``/``..``, value ≤ 25 MiB, metadata
≤ 1024 bytes, ``expiration_ttl`` ≥ 60, list ``limit`` 10–1000, bulk write/delete ≤ 10,000 items,
bulk get ≤ 100 keys. Data goes to Miniflare's storage through its explorer API; a single write goes
through the explorer's bulk write because only that one carries expiry and metadata.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kvstack.local.api.context import Context, context_of, key_path
from kvstack.local.api.envelope import (
    CODE_BAD_EXPIRATION,
    CODE_BAD_EXPIRATION_TTL,
    CODE_BAD_LIMIT,
    CODE_BAD_REQUEST,
    CODE_DUPLICATE_TITLE,
    CODE_INVALID_KEY,
    CODE_KEY_NOT_FOUND,
    CODE_KEY_TOO_LONG,
    CODE_METADATA_TOO_LARGE,
    CODE_TOO_MANY_ITEMS,
    CODE_VALUE_TOO_LARGE,
    ApiError,
    json_body,
    paged,
    success,
)
from kvstack.local.api.store import new_id

__all__ = ["routes"]

MAX_KEY_BYTES = 512
MAX_VALUE_BYTES = 25 * 1024 * 1024
MAX_METADATA_BYTES = 1024
MIN_TTL = 60
MAX_TITLE_BYTES = 512
BULK_WRITE_MAX = 10_000
BULK_GET_MAX = 100
BASE = "/client/v4/accounts/{account_id}/storage/kv/namespaces"


def _namespace_view(namespace: dict[str, Any]) -> dict[str, Any]:
    return {"id": namespace["id"], "title": namespace["title"], "supports_url_encoding": True}


def _title_of(body: Any) -> str:
    title = body.get("title") if isinstance(body, dict) else None
    if not isinstance(title, str) or not title.strip():
        raise ApiError(400, CODE_BAD_REQUEST, "title is required")
    if len(title.encode()) > MAX_TITLE_BYTES:
        raise ApiError(400, CODE_BAD_REQUEST, f"title is longer than {MAX_TITLE_BYTES} bytes")
    return title


def _check_unique(context: Context, title: str, except_id: str | None = None) -> None:
    existing = context.store.namespace_by_title(title)
    if existing is not None and existing["id"] != except_id:
        raise ApiError(400, CODE_DUPLICATE_TITLE, "a namespace with this account ID and title already exists")


def check_key(key: str) -> None:
    if key in (".", ".."):
        raise ApiError(400, CODE_INVALID_KEY, f"Illegal key name {key!r}: keys cannot be '.' or '..'")
    if not key:
        raise ApiError(400, CODE_INVALID_KEY, "key name is empty")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ApiError(414, CODE_KEY_TOO_LONG, f"key is {len(key.encode())} bytes; the limit is {MAX_KEY_BYTES}")


def _check_expiry(expiration: Any, ttl: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if ttl not in (None, ""):
        try:
            seconds = int(ttl)
        except (TypeError, ValueError):
            raise ApiError(400, CODE_BAD_EXPIRATION_TTL, f"Invalid expiration_ttl of {ttl}") from None
        if seconds < MIN_TTL:
            raise ApiError(
                400,
                CODE_BAD_EXPIRATION_TTL,
                f"Invalid expiration_ttl of {seconds}. Expiration TTL must be at least {MIN_TTL}.",
            )
        out["expiration_ttl"] = seconds
        return out  # both given: expiration_ttl wins, as on Cloudflare
    if expiration not in (None, ""):
        try:
            moment = int(expiration)
        except (TypeError, ValueError):
            raise ApiError(400, CODE_BAD_EXPIRATION, f"Invalid expiration of {expiration}") from None
        if moment < time.time() + MIN_TTL:
            raise ApiError(
                400,
                CODE_BAD_EXPIRATION,
                f"Invalid expiration of {moment}. Expiration times must be at least {MIN_TTL} seconds in the future.",
            )
        out["expiration"] = moment
    return out


def _check_metadata(metadata: Any) -> None:
    if metadata is not None and len(json.dumps(metadata).encode()) > MAX_METADATA_BYTES:
        raise ApiError(413, CODE_METADATA_TOO_LARGE, f"metadata is larger than {MAX_METADATA_BYTES} bytes")


def _check_value(size: int) -> None:
    if size > MAX_VALUE_BYTES:
        raise ApiError(413, CODE_VALUE_TOO_LARGE, f"value is {size} bytes; the limit is {MAX_VALUE_BYTES}")


async def list_namespaces(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    order = request.query_params.get("order", "id")
    if order not in ("id", "title"):
        raise ApiError(400, CODE_BAD_REQUEST, "order must be id or title")
    items = sorted(
        context.store.namespaces.values(),
        key=lambda ns: ns[order],
        reverse=request.query_params.get("direction") == "desc",
    )
    return paged([_namespace_view(ns) for ns in items], request.query_params, max_per_page=1000)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, CODE_BAD_REQUEST, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(
            400, CODE_BAD_LIMIT if name == "limit" else CODE_BAD_REQUEST, f"{name} must be between {low} and {high}"
        )
    return value


async def create_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    title = _title_of(await json_body(request))
    _check_unique(context, title)
    namespace = {"id": new_id(), "title": title}
    context.store.namespaces[namespace["id"]] = namespace
    context.store.save()
    return success(_namespace_view(namespace))


async def get_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    return success(_namespace_view(context.namespace(request.path_params["namespace_id"])))


async def rename_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    title = _title_of(await json_body(request))
    _check_unique(context, title, except_id=namespace["id"])
    namespace["title"] = title
    context.store.save()
    return success(None)


async def delete_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    # The namespace's data goes with it: list every key and delete them in bulk.
    while True:
        listed = await context.explorer("GET", namespace["id"], "/keys", params={"limit": 1000})
        keys = [k["name"] for k in listed.json().get("result") or []] if listed.status_code == 200 else []
        if not keys:
            break
        await context.explorer("POST", namespace["id"], "/bulk/delete", json=keys)
    del context.store.namespaces[namespace["id"]]
    context.store.save()
    return success(None)


async def list_keys(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    namespace = context.namespace(request.path_params["namespace_id"])
    limit = _int_param(request, "limit", 1000, 10, 1000)
    params: dict[str, Any] = {"limit": limit}
    for name in ("prefix", "cursor"):
        if request.query_params.get(name):
            params[name] = request.query_params[name]
    answer = await context.explorer("GET", namespace["id"], "/keys", params=params)
    body = answer.json()
    if answer.status_code != 200:
        raise ApiError(answer.status_code, CODE_BAD_REQUEST, _explorer_message(body))
    visibility = context.knobs.visibility
    keys = [k for k in body.get("result") or [] if visibility.visible(namespace["id"], k["name"])]
    info = body.get("result_info") or {}
    return success(keys, {"count": len(keys), "cursor": info.get("cursor", "")})


def _explorer_message(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    return str(errors[0].get("message")) if errors else "storage error"


async def _listed(context: Context, namespace: str, key: str) -> dict[str, Any] | None:
    """The key as a listing shows it (expiration, metadata), or None."""
    cursor = ""
    while True:
        params: dict[str, Any] = {"prefix": key, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        body = (await context.explorer("GET", namespace, "/keys", params=params)).json()
        for entry in body.get("result") or []:
            if entry["name"] == key:
                found: dict[str, Any] = entry
                return found
        cursor = (body.get("result_info") or {}).get("cursor") or ""
        if not cursor:
            return None


async def read_value(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    namespace = context.namespace(request.path_params["namespace_id"])
    key = request.path_params["key"]
    check_key(key)
    answer = await context.explorer("GET", namespace["id"], f"/values/{key_path(key)}")
    if answer.status_code == 404:
        raise ApiError(404, CODE_KEY_NOT_FOUND, "key not found")
    headers = {}
    listed = await _listed(context, namespace["id"], key)
    if listed and listed.get("expiration"):
        headers["expiration"] = str(listed["expiration"])
    return Response(answer.content, media_type="application/octet-stream", headers=headers)


async def read_metadata(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    namespace = context.namespace(request.path_params["namespace_id"])
    key = request.path_params["key"]
    check_key(key)
    listed = await _listed(context, namespace["id"], key)
    if listed is None:
        raise ApiError(404, CODE_KEY_NOT_FOUND, "key not found")
    return success(listed.get("metadata"))


async def write_value(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    key = request.path_params["key"]
    check_key(key)
    expiry = _check_expiry(request.query_params.get("expiration"), request.query_params.get("expiration_ttl"))
    metadata: Any = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_part_size=MAX_VALUE_BYTES + 1)
        raw = form.get("value")
        if raw is None:
            raise ApiError(400, CODE_BAD_REQUEST, "multipart body needs a 'value' part")
        value = await raw.read() if hasattr(raw, "read") else str(raw).encode()
        if form.get("metadata") not in (None, ""):
            text = form["metadata"]
            text = (await text.read()).decode() if hasattr(text, "read") else str(text)
            try:
                metadata = json.loads(text)
            except json.JSONDecodeError:
                raise ApiError(400, CODE_BAD_REQUEST, "metadata is not valid JSON") from None
    else:
        value = await request.body()
    _check_value(len(value))
    _check_metadata(metadata)
    item: dict[str, Any] = {"key": key, "value": base64.b64encode(value).decode(), "base64": True, **expiry}
    if metadata is not None:
        item["metadata"] = metadata
    await _bulk_write(context, namespace["id"], [item])
    return success(None)


async def _bulk_write(context: Context, namespace: str, items: list[dict[str, Any]]) -> None:
    answer = await context.explorer("PUT", namespace, "/bulk", json=items)
    if answer.status_code != 200:
        raise ApiError(answer.status_code, CODE_BAD_REQUEST, _explorer_message(answer.json()))
    for item in items:
        context.knobs.visibility.written(namespace, item["key"])


async def delete_value(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    key = request.path_params["key"]
    check_key(key)
    await context.explorer("DELETE", namespace["id"], f"/values/{key_path(key)}")
    return success(None)


async def bulk_write(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    body = await json_body(request)
    if not isinstance(body, list):
        raise ApiError(400, CODE_BAD_REQUEST, "bulk write takes a JSON array of {key, value, …}")
    if len(body) > BULK_WRITE_MAX:
        raise ApiError(400, CODE_TOO_MANY_ITEMS, f"bulk write takes at most {BULK_WRITE_MAX} items")
    items = []
    for entry in body:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or "value" not in entry:
            raise ApiError(400, CODE_BAD_REQUEST, "every bulk item needs a string key and a value")
        check_key(entry["key"])
        value = str(entry["value"])
        raw = base64.b64decode(value) if entry.get("base64") else value.encode()
        _check_value(len(raw))
        _check_metadata(entry.get("metadata"))
        item = {
            "key": entry["key"],
            "value": base64.b64encode(raw).decode(),
            "base64": True,
            **_check_expiry(entry.get("expiration"), entry.get("expiration_ttl")),
        }
        if entry.get("metadata") is not None:
            item["metadata"] = entry["metadata"]
        items.append(item)
    if items:
        await _bulk_write(context, namespace["id"], items)
    return success({"successful_key_count": len(items), "unsuccessful_keys": []})


async def bulk_delete(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    body = await json_body(request)
    if not isinstance(body, list) or not all(isinstance(k, str) for k in body):
        raise ApiError(400, CODE_BAD_REQUEST, "bulk delete takes a JSON array of key names")
    if len(body) > BULK_WRITE_MAX:
        raise ApiError(400, CODE_TOO_MANY_ITEMS, f"bulk delete takes at most {BULK_WRITE_MAX} keys")
    for key in body:
        check_key(key)
    if body:
        await context.explorer("POST", namespace["id"], "/bulk/delete", json=body)
    return success({"successful_key_count": len(body), "unsuccessful_keys": []})


async def bulk_get(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    namespace = context.namespace(request.path_params["namespace_id"])
    body = await json_body(request)
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise ApiError(400, CODE_BAD_REQUEST, 'bulk get takes {"keys": [names]}')
    if len(keys) > BULK_GET_MAX:
        raise ApiError(400, CODE_TOO_MANY_ITEMS, f"bulk get takes at most {BULK_GET_MAX} keys")
    for key in keys:
        check_key(key)
    kind = body.get("type", "text")
    if kind not in ("text", "json"):
        raise ApiError(400, CODE_BAD_REQUEST, "type must be text or json")
    answer = await context.explorer("POST", namespace["id"], "/bulk/get", json={"keys": keys})
    values: dict[str, Any] = (answer.json().get("result") or {}).get("values") or {}
    if kind == "json":
        for key, value in values.items():
            if value is not None:
                try:
                    values[key] = json.loads(value)
                except json.JSONDecodeError:
                    raise ApiError(400, CODE_BAD_REQUEST, f"the value of {key!r} is not JSON") from None
    if body.get("withMetadata"):
        present = [k for k in keys if values.get(k) is not None]
        listed = await asyncio.gather(*(_listed(context, namespace["id"], k) for k in present))
        entries: dict[str, Any] = dict.fromkeys(keys)
        for key, entry in zip(present, listed, strict=True):
            item = {"value": values[key], "metadata": (entry or {}).get("metadata")}
            if entry and entry.get("expiration"):
                item["expiration"] = entry["expiration"]
            entries[key] = item
        return success({"values": entries})
    return success({"values": {k: values.get(k) for k in keys}})


routes = [
    Route(BASE, list_namespaces, methods=["GET"]),
    Route(BASE, create_namespace, methods=["POST"]),
    Route(BASE + "/{namespace_id}", get_namespace, methods=["GET"]),
    Route(BASE + "/{namespace_id}", rename_namespace, methods=["PUT"]),
    Route(BASE + "/{namespace_id}", delete_namespace, methods=["DELETE"]),
    Route(BASE + "/{namespace_id}/keys", list_keys, methods=["GET"]),
    Route(BASE + "/{namespace_id}/values/{key:path}", read_value, methods=["GET"]),
    Route(BASE + "/{namespace_id}/values/{key:path}", write_value, methods=["PUT"]),
    Route(BASE + "/{namespace_id}/values/{key:path}", delete_value, methods=["DELETE"]),
    Route(BASE + "/{namespace_id}/metadata/{key:path}", read_metadata, methods=["GET"]),
    Route(BASE + "/{namespace_id}/bulk", bulk_write, methods=["PUT"]),
    Route(BASE + "/{namespace_id}/bulk", bulk_delete, methods=["DELETE"]),
    Route(BASE + "/{namespace_id}/bulk/delete", bulk_delete, methods=["POST"]),
    Route(BASE + "/{namespace_id}/bulk/get", bulk_get, methods=["POST"]),
]
