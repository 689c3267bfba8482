"""Real KV operation counts and storage snapshots of the local Cloudflare, per namespace and day.

What the GraphQL Analytics subset (:mod:`kvstack.local.api.graphql`) serves:

- every successful KV operation made through this API, counted here per key as Cloudflare bills them
  (a bulk get of 100 keys is 100 reads, a list page is 1 list);
- every KV operation the runtime's apps make: the runtime hands each app its bindings wrapped in a counter,
  which leaves one record per operation in the storage's internal usage namespace (kvstack/local/kvcount.py);
  :func:`drain_runtime_counts` moves them into the ledger before every query;
- storage (keys and bytes per namespace), measured from Miniflare's storage when asked (again only where a
  write or delete was counted since, or the snapshot is older than 5 minutes), kept per day.

``PUT /__kvstack/usage/backfill`` (bootstrap token; body ``{"operations": [{"namespaceId", "actionType",
"requests", "date"?}]}``) adds operations to past days: a knob for forecast tests, never used by ``kvstack audit``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kvstack.local.api.admin import require_admin
from kvstack.local.api.context import Context, context_of
from kvstack.local.api.envelope import ApiError, json_object, success
from kvstack.local.api.limits import CODE_BAD_REQUEST
from kvstack.local.kvcount import RUNTIME_USAGE_NAMESPACE
from kvstack.local.state import atomic_write_text

__all__ = [
    "ACTIONS",
    "RUNTIME_USAGE_NAMESPACE",
    "CountKvOperations",
    "UsageLedger",
    "drain_runtime_counts",
    "measure_storage",
    "usage_routes",
]

ACTIONS: Final = ("read", "write", "delete", "list")
# A namespace's storage snapshot is measured again after this many seconds even with no write or delete seen.
STORAGE_MAX_AGE: Final = 300.0
# Namespaces measured at once (each a list and bulk gets on the storage).
MEASURE_PARALLEL: Final = 8

Counts = dict[str, dict[str, dict[str, int]]]  # date -> namespace id -> action (or keyCount/byteCount) -> n


@dataclass
class UsageLedger:
    """Operations and storage snapshots per day and namespace, saved (at most once a second) to ``usage.json``."""

    path: Path
    operations: Counts = field(default_factory=dict)
    storage: Counts = field(default_factory=dict)
    # Not saved: namespaces written or deleted in since their last snapshot, and when each was last measured.
    changed: set[str] = field(default_factory=set)
    measured_at: dict[str, float] = field(default_factory=dict)
    _save_pending: bool = False

    @classmethod
    def open(cls, folder: Path) -> UsageLedger:
        path = folder / "usage.json"
        if not path.is_file():
            return cls(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(path, data.get("operations", {}), data.get("storage", {}))

    def count(self, namespace_id: str, action: str, n: int, day: str | None = None) -> None:
        if n <= 0:
            return
        when = day or datetime.now(UTC).date().isoformat()
        per_ns = self.operations.setdefault(when, {}).setdefault(namespace_id, {})
        per_ns[action] = per_ns.get(action, 0) + n
        if action in ("write", "delete"):
            self.changed.add(namespace_id)
        self._schedule_save()

    def snapshot(self, namespace_id: str, key_count: int, byte_count: int, day: str | None = None) -> None:
        when = day or datetime.now(UTC).date().isoformat()
        self.storage.setdefault(when, {})[namespace_id] = {"keyCount": key_count, "byteCount": byte_count}
        self._schedule_save()

    def save(self) -> None:
        self._save_pending = False
        data = {"operations": self.operations, "storage": self.storage}
        atomic_write_text(self.path, json.dumps(data, sort_keys=True) + "\n")

    def _schedule_save(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        if not self._save_pending:
            self._save_pending = True
            loop.call_later(1.0, self.save)


# -- counting the API's own KV operations ------------------------------------------------------------

_KV_RE: Final = re.compile(
    r"^/client/v4/accounts/[^/]+/storage/kv/namespaces/(?P<ns>[^/]+)/(?P<what>keys|values/.+|metadata/.+|bulk(/get|/delete)?)$"
)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _operation(method: str, what: str, body: bytes) -> tuple[str, int] | None:
    """The action and how many keys a successful KV request operated on, as Cloudflare bills them."""
    if what == "keys":
        return ("list", 1) if method == "GET" else None
    if what.startswith(("values/", "metadata/")):
        action = {"GET": "read", "PUT": "write", "DELETE": "delete"}.get(method)
        return (action, 1) if action else None
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    if what == "bulk/get" and isinstance(data, dict) and isinstance(data.get("keys"), list):
        return "read", len(data["keys"])
    if isinstance(data, list):
        if what == "bulk" and method == "PUT":
            return "write", len(data)
        if what == "bulk/delete" or (what == "bulk" and method == "DELETE"):
            return "delete", len(data)
    return None


class CountKvOperations:
    """ASGI middleware: after a KV route answered 200, count its operations in the ledger."""

    def __init__(self, app: Any, ledger: UsageLedger) -> None:
        self.app = app
        self.ledger = ledger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _KV_RE.match(scope.get("path", "")) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        status: list[int] = []

        async def reading() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, reading, sending)
        if status and status[0] == 200:
            counted = _operation(scope["method"], found["what"], b"".join(chunks))
            if counted is not None:
                self.ledger.count(found["ns"], *counted)


async def drain_runtime_counts(context: Context, ledger: UsageLedger) -> int:
    """Move the runtime's usage records into the ledger (then delete them); how many records were moved."""
    moved = 0
    while True:
        listed = await context.explorer("GET", RUNTIME_USAGE_NAMESPACE, "/keys", params={"limit": 1000})
        names = [k["name"] for k in (listed.json().get("result") or [])] if listed.status_code == 200 else []
        if not names:
            return moved
        for start in range(0, len(names), 100):
            batch = names[start : start + 100]
            answer = await context.explorer("POST", RUNTIME_USAGE_NAMESPACE, "/bulk/get", json={"keys": batch})
            values = (answer.json().get("result") or {}).get("values") or {}
            for name in batch:
                day, _, rest = name.partition("/")
                namespace_id, _, rest = rest.partition("/")
                action = rest.partition("/")[0]
                try:
                    count = int(values.get(name) or 0)
                except ValueError:
                    count = 0
                if action in ACTIONS:
                    ledger.count(namespace_id, action, count, day)
            await context.explorer("POST", RUNTIME_USAGE_NAMESPACE, "/bulk/delete", json=batch)
            moved += len(batch)


async def measure_storage(request: Request, ledger: UsageLedger) -> dict[str, dict[str, dict[str, int]]]:
    """Today's key count and bytes of every namespace, read from the storage (and kept in the ledger).

    Reading every value is the costly part, so a namespace is measured again only when an operation that
    changes it (a write or delete, through the API or the apps) was counted since, or its snapshot is older than
    :data:`STORAGE_MAX_AGE` seconds (keys also leave by expiring); several namespaces are read at once.
    """
    context = context_of(request)
    today = datetime.now(UTC).date().isoformat()
    now = time.monotonic()
    measured_today = ledger.storage.get(today, {})
    due = [
        namespace_id
        for namespace_id in list(context.store.namespaces)
        if namespace_id in ledger.changed
        or namespace_id not in measured_today
        or now - ledger.measured_at.get(namespace_id, -STORAGE_MAX_AGE) >= STORAGE_MAX_AGE
    ]
    slots = asyncio.Semaphore(MEASURE_PARALLEL)

    async def measure(namespace_id: str) -> None:
        async with slots:
            ledger.changed.discard(namespace_id)  # before reading: a change meanwhile marks it again
            keys, size = await _measure_one(context, namespace_id)
            ledger.snapshot(namespace_id, keys, size, today)
            ledger.measured_at[namespace_id] = now

    await asyncio.gather(*(measure(namespace_id) for namespace_id in due))
    snapshots = ledger.storage.get(today, {})
    return {today: {n: snapshots[n] for n in context.store.namespaces if n in snapshots}}


async def _measure_one(context: Context, namespace_id: str) -> tuple[int, int]:
    """One namespace's key count and bytes (key names and values), listed and read from the storage."""
    keys, size, cursor = 0, 0, ""
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        listed = (await context.explorer("GET", namespace_id, "/keys", params=params)).json()
        names = [k["name"] for k in listed.get("result") or []]
        keys += len(names)
        for start in range(0, len(names), 100):
            batch = {"keys": names[start : start + 100]}
            answer = await context.explorer("POST", namespace_id, "/bulk/get", json=batch)
            values = (answer.json().get("result") or {}).get("values") or {}
            size += sum(len(n.encode()) + len(str(v).encode()) for n, v in values.items() if v is not None)
        cursor = (listed.get("result_info") or {}).get("cursor") or ""
        if not cursor:
            return keys, size


def usage_routes(ledger: UsageLedger) -> list[Route]:
    def admin(request: Request) -> None:
        require_admin(request)  # the bootstrap token by id, as every /__kvstack/ route

    async def add_operations(request: Request) -> Response:
        """Body ``{"operations": [{"namespaceId", "actionType", "requests", "date"?}]}``: counts to add."""
        admin(request)
        body = await json_object(request)
        items = body.get("operations")
        if not isinstance(items, list):
            raise ApiError(400, CODE_BAD_REQUEST, 'the body needs "operations": [{namespaceId, actionType, requests}]')
        for item in items:
            if not isinstance(item, dict) or item.get("actionType") not in ACTIONS:
                raise ApiError(400, CODE_BAD_REQUEST, f"every operation needs actionType in {', '.join(ACTIONS)}")
            day = item.get("date")
            if day is not None:
                try:
                    day = date.fromisoformat(str(day)).isoformat()
                except ValueError:
                    raise ApiError(400, CODE_BAD_REQUEST, f"date {day!r} is not YYYY-MM-DD") from None
            requests = item.get("requests", 0)
            if isinstance(requests, bool) or not isinstance(requests, int) or not 0 <= requests <= 2**53:
                raise ApiError(400, CODE_BAD_REQUEST, f"requests {requests!r} is not a whole number of requests")
            ledger.count(str(item.get("namespaceId")), item["actionType"], requests, day)
        return success({"counted": len(items)})

    return [
        Route("/__kvstack/usage/backfill", add_operations, methods=["PUT"]),
    ]
