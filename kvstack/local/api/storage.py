"""KV data in Miniflare's storage, through the explorer API of the storage worker's wrangler process.

What the explorer API gives, and how kvstack uses it:
- bulk write (``PUT /bulk``, JSON items) is the only write carrying expiry; it takes a value of at most
  25 MiB of characters, so text values go as text and binary values as base64 up to 18.75 MiB; a larger binary
  value without expiry goes through the single-value PUT (raw bytes, metadata as a form part). Its base64
  check, a backtracking regex, overflowed V8's regexp stack past ~2 MiB: the runtime runs V8's linear-time
  regexp engine (``wrangler.LINEAR_REGEXP_FLAG``);
- each bulk call writes or deletes its items one by one, all at once, at a cost that grows faster than the
  item count: calls are cut into batches of ``BATCH`` items sent a few at a time (linear cost, and no
  single storage call long enough to time out). The floor is Miniflare's own: one Durable Object request,
  one SQLite transaction and one blob file per key, 3–4 ms of workerd CPU per key whatever the batching
  (``bench/bulk_bench.py``; the API side is ~0.15 ms per key), so 10,000 keys take 30–40 s of one core;
- its listing cursor is the last key in base64, so any text "works" (as an empty page): cursors are tagged
  here and one without a valid tag is a 400;
- a value read carries no expiry: the key's listing entry comes from one listing page with the key itself
  as prefix (a key sorts first among the keys it prefixes), fetched at the same time as the value.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kvstack.local.api.context import Context, key_path
from kvstack.local.api.envelope import ApiError
from kvstack.local.api.limits import CODE_BAD_CURSOR, CODE_BAD_REQUEST, CODE_INTERNAL, CODE_VALUE_TOO_LARGE

__all__ = [
    "BASE64_MAX_BYTES",
    "Item",
    "Write",
    "delete_keys",
    "list_page",
    "listing_entry",
    "prepare_write",
    "read_value",
    "write_values",
]

CURSOR_KEY = b"kvstack-local-key-listing-cursor"
# Miniflare writes or deletes a bulk call's items all at once, and its cost grows faster than the item count
# (measured: 2,000 deletes in one call took 123 s, 500 took 9 s). 25×4, 50×8 and 400×1 cost the same CPU per
# key as 100×4 (2,000 keys, bench/bulk_bench.py).
BATCH = 100
PARALLEL = 4
# The explorer's bulk item schema: a value string of at most 25 MiB characters (base64 of 18.75 MiB).
EXPLORER_VALUE_CHARS = 25 * 1024 * 1024
BASE64_MAX_BYTES = EXPLORER_VALUE_CHARS // 4 * 3

Item = dict[str, Any]


def _message(answer: Any) -> str:
    try:
        body = answer.json()
    except ValueError:
        return f"storage answered HTTP {answer.status_code}"
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message"))
    return f"storage answered HTTP {answer.status_code}"


def _failed(answer: Any) -> ApiError:
    status = answer.status_code if 400 <= answer.status_code < 500 else 500
    return ApiError(status, CODE_BAD_REQUEST if status < 500 else CODE_INTERNAL, _message(answer))


@dataclass(frozen=True)
class Write:
    """One value to store, in the shape the explorer takes it: a bulk item, or (``item`` None) raw bytes."""

    key: str
    value: bytes
    metadata: Any
    item: Item | None


def prepare_write(key: str, value: bytes, expiry: dict[str, int], metadata: Any, where: str = "") -> Write:
    """How ``value`` will be stored; a 413 (before anything is stored) when the explorer has no way to."""
    item: Item = {"key": key, **expiry}
    if metadata is not None:
        item["metadata"] = metadata
    try:
        item["value"] = value.decode("utf-8")
        return Write(key, value, metadata, item)
    except UnicodeDecodeError:
        pass
    if len(value) <= BASE64_MAX_BYTES:
        item.update(value=base64.b64encode(value).decode(), base64=True)
        return Write(key, value, metadata, item)
    if expiry:
        raise ApiError(
            413,
            CODE_VALUE_TOO_LARGE,
            f"{where}a binary value above {BASE64_MAX_BYTES} bytes (18.75 MiB) cannot carry an expiry in the "
            "local Cloudflare: Miniflare's explorer takes expiry only on base64 of at most 25 MiB",
        )
    return Write(key, value, metadata, None)


async def _write_single(context: Context, namespace: str, write: Write) -> None:
    """A value the bulk route cannot carry (large binary, no expiry): the explorer's single-value PUT."""
    files: dict[str, Any] = {"value": ("value", write.value, "application/octet-stream")}
    if write.metadata is not None:
        files["metadata"] = (None, _json(write.metadata))
    answer = await context.explorer("PUT", namespace, f"/values/{key_path(write.key)}", files=files)
    if answer.status_code != 200:
        raise _failed(answer)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


async def _batched(context: Context, method: str, namespace: str, path: str, batches: Sequence[list[Any]]) -> None:
    gate = asyncio.Semaphore(PARALLEL)

    async def send(batch: list[Any]) -> None:
        async with gate:
            answer = await context.explorer(method, namespace, path, json=batch)
        if answer.status_code != 200:
            raise _failed(answer)

    await asyncio.gather(*(send(batch) for batch in batches))


def _cut(items: Sequence[Any]) -> list[list[Any]]:
    return [list(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]


async def write_values(context: Context, namespace: str, writes: Sequence[Write]) -> None:
    """Store prepared writes; every key becomes visible to listings after the consistency delay."""
    items = [write.item for write in writes if write.item is not None]
    await _batched(context, "PUT", namespace, "/bulk", _cut(items))
    for write in writes:
        if write.item is None:
            await _write_single(context, namespace, write)
    for write in writes:
        context.knobs.visibility.written(namespace, write.key)


async def delete_keys(context: Context, namespace: str, keys: Sequence[str]) -> None:
    await _batched(context, "POST", namespace, "/bulk/delete", _cut(list(dict.fromkeys(keys))))


def _seal(namespace: str, cursor: str) -> str:
    """Miniflare's cursor (the last key, base64) with a tag: a cursor this API did not give is recognised."""
    if not cursor:
        return ""
    tag = hashlib.blake2s(f"{namespace}\0{cursor}".encode(), key=CURSOR_KEY, digest_size=8).hexdigest()
    return f"{cursor}.{tag}"


def _unseal(namespace: str, sealed: str) -> str:
    cursor, _, _ = sealed.rpartition(".")
    if not cursor or not hmac.compare_digest(_seal(namespace, cursor), sealed):
        raise ApiError(400, CODE_BAD_CURSOR, "cursor is not one a key listing of this namespace gave")
    return cursor


async def list_page(context: Context, namespace: str, params: dict[str, Any]) -> tuple[list[Item], str]:
    """One page of the key listing: entries and the next cursor ("" when the listing is complete)."""
    if params.get("cursor"):
        params = {**params, "cursor": _unseal(namespace, str(params["cursor"]))}
    answer = await context.explorer("GET", namespace, "/keys", params=params)
    if answer.status_code != 200:
        raise _failed(answer)
    body = answer.json()
    entries = [entry for entry in body.get("result") or [] if isinstance(entry, dict)]
    return entries, _seal(namespace, str((body.get("result_info") or {}).get("cursor") or ""))


async def listing_entry(context: Context, namespace: str, key: str) -> Item | None:
    """The key's listing entry (expiration, metadata), or None: one page, the key as prefix sorts first."""
    entries, _ = await list_page(context, namespace, {"prefix": key, "limit": 10})
    return next((entry for entry in entries if entry.get("name") == key), None)


async def read_value(context: Context, namespace: str, key: str) -> tuple[bytes, Item] | None:
    """The value and its listing entry, fetched at the same time; None when the key does not exist."""
    answer, entry = await asyncio.gather(
        context.explorer("GET", namespace, f"/values/{key_path(key)}"), listing_entry(context, namespace, key)
    )
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise _failed(answer)
    return answer.content, entry or {}
