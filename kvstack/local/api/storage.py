"""KV data in Miniflare's storage, through the explorer API of the storage worker's wrangler process.

What the explorer API gives, and how kvstack uses it:
- bulk write (``PUT /bulk``, JSON items) is the only write carrying expiry; it takes a value of at most
  25 MiB of characters, so text values go as text and binary values as base64 up to 18.75 MiB; a larger binary
  value goes through the single-value PUT (raw bytes, metadata as a form part), which drops an expiry: the API
  keeps that expiry itself (expiries.py). The bulk route's base64 check, a backtracking regex, overflowed
  V8's regexp stack past ~2 MiB: the runtime runs V8's linear-time regexp engine (``wrangler.LINEAR_REGEXP_FLAG``);
- each bulk call writes or deletes its items one by one, all at once, at a cost that grows faster than the
  item count: calls are cut into batches of ``BATCH`` items sent a few at a time (linear cost, and no
  single storage call long enough to time out). The floor is Miniflare's own: one Durable Object request,
  one SQLite transaction and one blob file per key, 3–4 ms of workerd CPU per key whatever the batching
  (``bench/bulk_bench.py``; the API side is ~0.15 ms per key), so 10,000 keys take 30–40 s of one core:
  writes and deletes go through the write-behind (writebehind.py), and every read here shows them first;
- its listing cursor is the last key in base64, so any text "works" (as an empty page): cursors are tagged
  here and one without a valid tag is a 400;
- a value read carries no expiry: the key's listing entry comes from one listing page with the key itself
  as prefix (a key sorts first among the keys it prefixes), fetched at the same time as the value.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

from kvstack.local.api.context import Context, key_path
from kvstack.local.api.envelope import ApiError
from kvstack.local.api.limits import (
    CODE_BAD_CURSOR,
    CODE_BAD_REQUEST,
    CODE_INTERNAL,
    MIN_TTL,
)
from kvstack.local.api.writebehind import SYNC_WINDOW, Pending

__all__ = [
    "BASE64_MAX_BYTES",
    "Item",
    "delete_keys",
    "list_page",
    "listing_entry",
    "read_value",
    "read_values",
    "store_chunk",
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


def _is_text(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def absolute_expiry(expiry: dict[str, int], now: float) -> int | None:
    """``{"expiration"}`` or ``{"expiration_ttl"}`` (validated) as an absolute time: a TTL counts from now."""
    if "expiration_ttl" in expiry:
        return int(now) + expiry["expiration_ttl"]
    return expiry.get("expiration")


def _bulk_item(write: Pending, now: float) -> Item | None:
    """The explorer's bulk item for ``write`` as of ``now``, or None when only the single-value PUT carries it."""
    item: Item = {"key": write.key}
    if write.expiration is not None:
        remaining = write.expiration - int(now)
        # Miniflare takes no expiry sooner than 60 s from its own now: a write stored that late gets that floor.
        if remaining > MIN_TTL + 1:
            item["expiration"] = write.expiration
        else:  # the API keeps the expiry asked for, and the key goes then (expiries.py)
            item["expiration_ttl"] = MIN_TTL
            write.kept_expiry = True
    if write.metadata is not None:
        item["metadata"] = write.metadata
    assert write.value is not None
    if _is_text(write.value):
        item["value"] = write.value.decode("utf-8")
    elif len(write.value) <= BASE64_MAX_BYTES:
        item.update(value=base64.b64encode(write.value).decode(), base64=True)
    else:
        write.kept_expiry = write.expiration is not None  # the single-value PUT drops it: see expiries.py
        return None
    return item


async def _write_single(context: Context, write: Pending) -> None:
    """A value the bulk route cannot carry (binary above 18.75 MiB): the explorer's single-value PUT."""
    assert write.value is not None
    files: dict[str, Any] = {"value": ("value", write.value, "application/octet-stream")}
    if write.metadata is not None:
        files["metadata"] = (None, json.dumps(write.metadata, separators=(",", ":")))
    answer = await context.explorer("PUT", write.namespace, f"/values/{key_path(write.key)}", files=files)
    if answer.status_code != 200:
        raise _failed(answer)


def _cut(items: Sequence[Any]) -> list[list[Any]]:
    return [list(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]


async def store_chunk(context: Context, chunk: Sequence[Pending], now: float) -> dict[Pending, ApiError]:
    """Store pending writes of distinct keys as of ``now``: the write-behind's storage step.

    A batch the storage refuses (4xx) is returned, write by write; a storage that fails (5xx, unreachable)
    raises, and the whole chunk is tried again (every step is idempotent).
    """
    calls: list[tuple[str, str, str, list[Pending], Any]] = []  # method, namespace, path, writes, body
    singles: list[Pending] = []
    by_namespace: dict[str, list[Pending]] = {}
    for write in chunk:
        by_namespace.setdefault(write.namespace, []).append(write)
    for namespace, writes in by_namespace.items():
        deletes = [w for w in writes if w.gone(now)]
        puts: list[tuple[Pending, Item]] = []
        for write in writes:
            if write.gone(now):
                continue
            item = _bulk_item(write, now)
            if item is None:
                singles.append(write)
            else:
                puts.append((write, item))
        for batch in _cut(puts):
            calls.append(("PUT", namespace, "/bulk", [w for w, _ in batch], [item for _, item in batch]))
        for part in _cut(deletes):
            calls.append(("POST", namespace, "/bulk/delete", part, [w.key for w in part]))
    refused: dict[Pending, ApiError] = {}
    gate = asyncio.Semaphore(PARALLEL)

    async def send(method: str, namespace: str, path: str, writes: list[Pending], body: list[Any]) -> None:
        async with gate:
            answer = await context.explorer(method, namespace, path, json=body)
        if answer.status_code == 200:
            return
        error = _failed(answer)
        if error.status >= 500:
            raise error
        if len(writes) == 1:
            refused[writes[0]] = error
            return
        # Miniflare refuses a whole batch for one item it will not take: find that item, store the others.
        await asyncio.gather(
            *(send(method, namespace, path, [w], [item]) for w, item in zip(writes, body, strict=True))
        )

    # Every call ends before this returns, failed or not: their keys leave "in flight" only then.
    failures = [
        outcome
        for outcome in await asyncio.gather(*(send(*call) for call in calls), return_exceptions=True)
        if isinstance(outcome, BaseException)
    ]
    if failures:
        raise failures[0]
    for write in singles:
        try:
            await _write_single(context, write)
        except ApiError as error:
            if error.status >= 500:
                raise
            refused[write] = error
    return refused


Accepted = tuple[str, bytes, dict[str, int], Any]  # key, value, expiry ({} or one of expiration/_ttl), metadata


async def write_values(
    context: Context, namespace: str, writes: Sequence[Accepted], *, wait: float = SYNC_WINDOW
) -> None:
    """Accept validated ``(key, value, expiry, metadata)`` writes through the write-behind."""
    now = time.time()
    accepted = [
        context.writes.new(namespace, key, value, absolute_expiry(expiry, now), metadata)
        for key, value, expiry, metadata in writes
    ]
    for write in accepted:
        context.knobs.visibility.written(namespace, write.key)
    await context.writes.submit(accepted, wait=wait)


async def delete_keys(context: Context, namespace: str, keys: Sequence[str], *, wait: float = SYNC_WINDOW) -> None:
    await context.writes.submit([context.writes.new(namespace, key, None) for key in dict.fromkeys(keys)], wait=wait)


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


def _entry(write: Pending) -> Item:
    """A pending write's listing entry, in the explorer's shape."""
    entry: Item = {"name": write.key}
    if write.expiration is not None:
        entry["expiration"] = write.expiration
    if write.metadata is not None:
        entry["metadata"] = write.metadata
    return entry


def _cursor_of(key: str) -> str:
    """Miniflare's listing cursor: the last key listed, base64 of its UTF-8."""
    return base64.b64encode(key.encode("utf-8", "surrogatepass")).decode()


def _key_of(cursor: str) -> str:
    try:
        return base64.b64decode(cursor, validate=True).decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):
        return ""  # a cursor this API sealed is always base64; Miniflare reads anything else as the start


async def list_page(context: Context, namespace: str, params: dict[str, Any]) -> tuple[list[Item], str]:
    """One page of the key listing, pending writes included: entries and the next cursor ("" when complete).

    Pending keys are merged into the stored page up to its last key (a key beyond it belongs to a later page),
    or all of them on the last stored page; pending deletes are taken out, so a page may be short.
    """
    if params.get("cursor"):
        params = {**params, "cursor": _unseal(namespace, str(params["cursor"]))}
    # Taken before the storage is asked: a write stored meanwhile is then in one of the two, never in neither.
    pending = context.writes.pending_in(
        namespace, str(params.get("prefix") or ""), _key_of(str(params.get("cursor") or ""))
    )
    answer = await context.explorer("GET", namespace, "/keys", params=params)
    if answer.status_code != 200:
        raise _failed(answer)
    body = answer.json()
    now = time.time()
    listed = [entry for entry in body.get("result") or [] if isinstance(entry, dict)]
    cursor = str((body.get("result_info") or {}).get("cursor") or "")
    bound = str(listed[-1].get("name")) if cursor and listed else None
    entries = [kept for entry in listed if (kept := context.writes.kept.apply(namespace, entry, now)) is not None]
    if not pending:
        return entries, _seal(namespace, cursor)
    merged = {str(entry.get("name")): entry for entry in entries if entry.get("name") not in pending}
    for key, write in pending.items():
        if (bound is None or key <= bound) and not write.gone(now):
            merged[key] = _entry(write)
    limit = int(params.get("limit") or 1000)
    keys = sorted(merged)
    page = keys[:limit]
    if len(keys) > limit:
        cursor = _cursor_of(page[-1])
    return [merged[key] for key in page], _seal(namespace, cursor)


async def listing_entry(context: Context, namespace: str, key: str) -> Item | None:
    """The key's listing entry (expiration, metadata), or None: one page, the key as prefix sorts first."""
    write = context.writes.pending(namespace, key)
    if write is not None:
        return None if write.gone(time.time()) else _entry(write)
    entries, _ = await list_page(context, namespace, {"prefix": key, "limit": 10})
    return next((entry for entry in entries if entry.get("name") == key), None)


async def read_value(context: Context, namespace: str, key: str) -> tuple[bytes, Item] | None:
    """The value and its listing entry (fetched at the same time); None when the key does not exist."""
    write, now = context.writes.pending(namespace, key), time.time()
    if write is not None:
        return None if write.gone(now) or write.value is None else (write.value, _entry(write))
    if context.writes.kept.expired(namespace, key, now):
        return None
    answer, entry = await asyncio.gather(
        context.explorer("GET", namespace, f"/values/{key_path(key)}"), listing_entry(context, namespace, key)
    )
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise _failed(answer)
    return answer.content, entry or {}


async def read_values(context: Context, namespace: str, keys: Sequence[str]) -> dict[str, str]:
    """The values of ``keys`` that exist, as text (a bulk get): pending writes first, the rest from storage."""
    now, found, stored = time.time(), {}, []
    for key in keys:
        write = context.writes.pending(namespace, key)
        if write is None:
            if not context.writes.kept.expired(namespace, key, now):
                stored.append(key)
        elif not write.gone(now) and write.value is not None:
            # As Miniflare's bulk get reads a value: text, a leading BOM dropped (TextDecoder).
            found[key] = write.value.decode("utf-8-sig", "replace")
    if stored:
        answer = await context.explorer("POST", namespace, "/bulk/get", json={"keys": stored})
        if answer.status_code != 200:
            raise ApiError(400, CODE_BAD_REQUEST, "the storage refused the bulk get")
        values = (answer.json().get("result") or {}).get("values") or {}
        found.update({key: value for key, value in values.items() if isinstance(value, str)})
    return {key: found[key] for key in keys if key in found}
