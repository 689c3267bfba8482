"""Workers KV value routes: read, write (raw or multipart, with expiry and metadata), delete, metadata, bulk.

Limits as Cloudflare enforces them: key ≤ 512 bytes and not ``.``/``..``, value ≤ 25 MiB, metadata
≤ 1024 bytes, ``expiration_ttl`` ≥ 60, ``expiration`` ≥ now + 60, bulk write/delete ≤ 10,000 items, bulk
get ≤ 100 keys. Every check runs before anything is stored: a bulk write with one bad item stores none.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from kvstack.local.api import storage
from kvstack.local.api.context import Context, context_of
from kvstack.local.api.envelope import ApiError, refuse_constant, success
from kvstack.local.api.jsjson import stringify
from kvstack.local.api.kv import BASE
from kvstack.local.api.limits import (
    BULK_WRITE_MAX,
    CODE_BAD_EXPIRATION,
    CODE_BAD_EXPIRATION_TTL,
    CODE_BAD_REQUEST,
    CODE_INVALID_KEY,
    CODE_KEY_NOT_FOUND,
    CODE_KEY_TOO_LONG,
    CODE_METADATA_TOO_LARGE,
    CODE_TOO_MANY_ITEMS,
    CODE_VALUE_TOO_LARGE,
    MAX_KEY_BYTES,
    MAX_METADATA_BYTES,
    MAX_VALUE_BYTES,
    MIN_TTL,
)
from kvstack.local.api.routing import resource
from kvstack.local.api.shapes import BulkGet, BulkItem, ValueWriteQuery
from kvstack.local.api.validation import parse_body, parse_query, validated
from kvstack.permissions import Capability

__all__ = ["check_key", "routes"]

EXPIRY_CODES = {"expiration": CODE_BAD_EXPIRATION, "expiration_ttl": CODE_BAD_EXPIRATION_TTL}


def check_key(key: str) -> None:
    if key in (".", ".."):
        raise ApiError(400, CODE_INVALID_KEY, f"Illegal key name {key!r}: keys cannot be '.' or '..'")
    if not key:
        raise ApiError(400, CODE_INVALID_KEY, "key name is empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(400, CODE_INVALID_KEY, "key name is not valid Unicode (a lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise ApiError(414, CODE_KEY_TOO_LONG, f"key is {size} bytes; the limit is {MAX_KEY_BYTES}")


def _expiry(expiration: int | None, ttl: int | None) -> dict[str, int]:
    if ttl is not None:  # both given: expiration_ttl wins, as on Cloudflare
        if ttl < MIN_TTL:
            raise ApiError(
                400,
                CODE_BAD_EXPIRATION_TTL,
                f"Invalid expiration_ttl of {ttl}. Expiration TTL must be at least {MIN_TTL}.",
            )
        return {"expiration_ttl": ttl}
    if expiration is not None:
        if expiration < time.time() + MIN_TTL:
            raise ApiError(
                400,
                CODE_BAD_EXPIRATION,
                f"Invalid expiration of {expiration}. "
                f"Expiration times must be at least {MIN_TTL} seconds in the future.",
            )
        return {"expiration": expiration}
    return {}


def _check_metadata(metadata: Any) -> None:
    """Measured as Cloudflare (and Miniflare) measure it: the UTF-8 bytes of ``JSON.stringify(metadata)``."""
    if metadata is None:
        return
    try:
        size = len(stringify(metadata).encode("utf-8"))
    except UnicodeEncodeError:
        raise ApiError(
            400, CODE_BAD_REQUEST, "metadata holds text that is not valid Unicode (a lone surrogate)"
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ApiError(400, CODE_BAD_REQUEST, f"metadata is not JSON Cloudflare accepts: {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise ApiError(413, CODE_METADATA_TOO_LARGE, f"metadata is {size} bytes; the limit is {MAX_METADATA_BYTES}")


def _check_value(size: int) -> None:
    if size > MAX_VALUE_BYTES:
        raise ApiError(413, CODE_VALUE_TOO_LARGE, f"value is {size} bytes; the limit is {MAX_VALUE_BYTES}")


def _namespace(request: Request, capability: Capability) -> tuple[Context, str]:
    """The context and the id of the request's namespace, once the caller may ``capability`` there."""
    context = context_of(request)
    context.authorize(request, capability)
    return context, context.namespace(request.path_params["namespace_id"])["id"]


def _target(request: Request, capability: Capability) -> tuple[Context, str, str]:
    context, namespace = _namespace(request, capability)
    key = request.path_params["key"]
    check_key(key)
    return context, namespace, key


async def read_value(request: Request) -> Response:
    context, namespace, key = _target(request, "kv.read")
    found = await storage.read_value(context, namespace, key)
    if found is None:
        raise ApiError(404, CODE_KEY_NOT_FOUND, "key not found")
    value, entry = found
    headers = {"expiration": str(entry["expiration"])} if entry.get("expiration") else {}
    return Response(value, media_type="application/octet-stream", headers=headers)


async def read_metadata(request: Request) -> Response:
    context, namespace, key = _target(request, "kv.read")
    entry = await storage.listing_entry(context, namespace, key)
    if entry is None:
        raise ApiError(404, CODE_KEY_NOT_FOUND, "key not found")
    return success(entry.get("metadata"))


def _detail(exc: Exception) -> str:
    return str(exc.detail) if isinstance(exc, HTTPException) else str(exc)


async def _form_value(request: Request) -> tuple[bytes, Any]:
    """``value`` and ``metadata`` of a multipart write; any malformed form is a 400."""
    try:
        form = await request.form(max_files=4, max_fields=16, max_part_size=MAX_VALUE_BYTES + 1)
    except (MultiPartException, HTTPException, ValueError, KeyError, AssertionError) as exc:
        raise ApiError(400, CODE_BAD_REQUEST, f"the multipart body is malformed: {_detail(exc)}") from None
    raw = form.get("value")
    if raw is None:
        raise ApiError(400, CODE_BAD_REQUEST, "a multipart write needs a 'value' part")
    value = await raw.read() if isinstance(raw, UploadFile) else raw.encode()
    text = form.get("metadata")
    if isinstance(text, UploadFile):
        text = (await text.read()).decode("utf-8", "replace")
    if not text:
        return value, None
    try:
        return value, json.loads(text, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, CODE_BAD_REQUEST, "the metadata part is not JSON") from None


async def write_value(request: Request) -> Response:
    context, namespace, key = _target(request, "kv.write")
    query = parse_query(request, ValueWriteQuery, field_codes=EXPIRY_CODES)
    expiry = _expiry(query.expiration, query.expiration_ttl)
    metadata: Any = None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        value, metadata = await _form_value(request)
    else:
        declared = request.headers.get("content-length", "")
        if declared.isdigit():
            _check_value(int(declared))
        value = await request.body()
    _check_value(len(value))
    _check_metadata(metadata)
    await storage.write_values(context, namespace, [(key, value, expiry, metadata)])
    return success({})


async def delete_value(request: Request) -> Response:
    context, namespace, key = _target(request, "kv.write")
    await storage.delete_keys(context, namespace, [key])
    return success({})


def _decoded(item: BulkItem, where: int) -> bytes:
    if not item.base64:
        return item.value.encode("utf-8", "surrogatepass")
    try:
        return base64.b64decode(item.value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, CODE_BAD_REQUEST, f"body[{where}].value is not valid base64") from None


async def bulk_write(request: Request) -> Response:
    context, namespace = _namespace(request, "kv.write")
    body = await parse_body(request, list[Any], field_codes=EXPIRY_CODES)
    if len(body) > BULK_WRITE_MAX:
        raise ApiError(400, CODE_TOO_MANY_ITEMS, f"bulk write takes at most {BULK_WRITE_MAX} items")
    entries = validated(list[BulkItem], body, field_codes=EXPIRY_CODES)
    writes = []
    for where, entry in enumerate(entries):
        check_key(entry.key)
        value = _decoded(entry, where)
        _check_value(len(value))
        _check_metadata(entry.metadata)
        expiry = _expiry(entry.expiration, entry.expiration_ttl)
        writes.append((entry.key, value, expiry, entry.metadata))
    if writes:
        await storage.write_values(context, namespace, writes)
    return success({"successful_key_count": len(writes), "unsuccessful_keys": []})


async def bulk_delete(request: Request) -> Response:
    context, namespace = _namespace(request, "kv.write")
    body = await parse_body(request, list[Any])
    if len(body) > BULK_WRITE_MAX:
        raise ApiError(400, CODE_TOO_MANY_ITEMS, f"bulk delete takes at most {BULK_WRITE_MAX} keys")
    keys = validated(list[str], body)
    for key in keys:
        check_key(key)
    if keys:
        await storage.delete_keys(context, namespace, keys)
    return success({"successful_key_count": len(keys), "unsuccessful_keys": []})


async def bulk_get(request: Request) -> Response:
    context, namespace = _namespace(request, "kv.read")
    raw = await parse_body(request, dict[str, Any], empty={})
    if isinstance(raw.get("keys"), list) and len(raw["keys"]) > 100:
        raise ApiError(400, CODE_TOO_MANY_ITEMS, "bulk get takes at most 100 keys")
    body = validated(BulkGet, raw)
    for key in body.keys:
        check_key(key)
    values: dict[str, Any] = dict(await storage.read_values(context, namespace, body.keys))
    if body.type == "json":
        for key, value in values.items():
            if value is not None:
                try:
                    values[key] = json.loads(value)
                except (ValueError, RecursionError):
                    raise ApiError(400, CODE_BAD_REQUEST, f"the value of {key!r} is not JSON") from None
    # A missing key is left out of ``values``: SDK 5.9's models take no null there (docs/contracts.md).
    present = [k for k in body.keys if k in values]
    if not body.withMetadata:
        return success({"values": {k: values[k] for k in present}})
    listed = await asyncio.gather(*(storage.listing_entry(context, namespace, k) for k in present))
    entries: dict[str, Any] = {}
    for key, entry in zip(present, listed, strict=True):
        item = {"value": values[key], "metadata": (entry or {}).get("metadata")}
        if entry and entry.get("expiration"):
            item["expiration"] = entry["expiration"]
        entries[key] = item
    return success({"values": entries})


routes = [
    *resource(BASE + "/{namespace_id}/values/{key:path}", GET=read_value, PUT=write_value, DELETE=delete_value),
    *resource(BASE + "/{namespace_id}/metadata/{key:path}", GET=read_metadata),
    *resource(BASE + "/{namespace_id}/bulk", PUT=bulk_write, DELETE=bulk_delete),
    *resource(BASE + "/{namespace_id}/bulk/delete", POST=bulk_delete),
    *resource(BASE + "/{namespace_id}/bulk/get", POST=bulk_get),
]
