"""The GraphQL Analytics subset of the local Cloudflare: KV operations and storage per namespace and day.

``POST /client/v4/graphql`` (a token with Account Analytics Read) serves two datasets with graphql-core
(real parsing, validation, introspection), in Cloudflare's shapes:

- ``kvOperationsAdaptiveGroups``: ``sum { requests }`` grouped by the selected ``dimensions``
  (``namespaceId``, ``actionType`` — read/write/delete/list — and ``date``);
- ``kvStorageAdaptiveGroups``: ``max { keyCount byteCount }`` by ``namespaceId`` and ``date``.

Filters: ``date_geq``/``date_leq`` (required, at most 31 days), ``date``, ``namespaceId``, ``actionType``;
``limit`` (≤ 10,000); ``orderBy: [date_ASC | date_DESC]``. Anything else is a GraphQL error in the
documented shape (HTTP 200, ``{"data": null, "errors": [{"message", "locations", "path", "extensions"}]}``).

The counts are real: every successful KV operation made through this API (counted here, per key as
Cloudflare bills: a bulk get of 100 keys is 100 reads) and every one the runtime's apps make (reported
by the runtime to ``POST /__kvstack/usage/operations``). Storage is measured from the storage itself when
asked, and kept per day. ``PUT /__kvstack/usage/backfill`` (bootstrap token) adds past days of
operations: a test knob for forecasts, documented as such and never used by ``kvstack audit``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from graphql import GraphQLError, GraphQLResolveInfo, build_schema, parse, validate
from graphql import execute as execute_query
from graphql.language import FieldNode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kvstack.local.api.admin import BOOTSTRAP_TOKEN_NAME
from kvstack.local.api.auth import authenticate
from kvstack.local.api.context import context_of
from kvstack.local.api.envelope import CODE_AUTH, CODE_BAD_REQUEST, ApiError, json_object, success
from kvstack.local.state import atomic_write_text

__all__ = ["ACTIONS", "UsageLedger", "install"]

ACTIONS: Final = ("read", "write", "delete", "list")
MAX_LIMIT: Final = 10_000
MAX_WINDOW_DAYS: Final = 31

SCHEMA: Final = build_schema(
    """
    "A calendar date, YYYY-MM-DD (UTC)."
    scalar Date
    "Cloudflare's string scalar."
    scalar string
    "An unsigned 64-bit count."
    scalar uint64

    type Query { viewer: Viewer }
    type Viewer { accounts(filter: AccountFilter!): [Account!]! }
    input AccountFilter { accountTag: string }
    type Account {
      kvOperationsAdaptiveGroups(filter: KvFilter!, limit: Int!, orderBy: [KvOrderBy!]): [KvOperationsGroup!]!
      kvStorageAdaptiveGroups(filter: KvFilter!, limit: Int!, orderBy: [KvOrderBy!]): [KvStorageGroup!]!
    }
    input KvFilter {
      date: Date
      date_geq: Date
      date_leq: Date
      namespaceId: string
      actionType: string
    }
    enum KvOrderBy { date_ASC date_DESC }
    type KvOperationsGroup { sum: KvOperationsSum, dimensions: KvOperationsDimensions }
    type KvOperationsSum { requests: uint64 }
    type KvOperationsDimensions { namespaceId: string, actionType: string, date: Date }
    type KvStorageGroup { max: KvStorageMax, dimensions: KvStorageDimensions }
    type KvStorageMax { keyCount: uint64, byteCount: uint64 }
    type KvStorageDimensions { namespaceId: string, date: Date }
    """
)

Counts = dict[str, dict[str, dict[str, int]]]  # date -> namespace id -> action (or keyCount/byteCount) -> n


@dataclass
class UsageLedger:
    """Operations and storage snapshots per day and namespace, saved (at most once a second) to ``usage.json``."""

    path: Path
    operations: Counts = field(default_factory=dict)
    storage: Counts = field(default_factory=dict)
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


# -- the GraphQL endpoint -----------------------------------------------------------------------------


def _days(arguments: dict[str, Any]) -> list[str]:
    filters = arguments["filter"]
    if filters.get("date"):
        return [_date(filters["date"], "date")]
    if not filters.get("date_geq") or not filters.get("date_leq"):
        raise GraphQLError("filter needs date_geq and date_leq (or date)")
    start, end = _date(filters["date_geq"], "date_geq"), _date(filters["date_leq"], "date_leq")
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    span = (last - first).days + 1
    if span < 1 or span > MAX_WINDOW_DAYS:
        raise GraphQLError(f"the date range must cover 1 to {MAX_WINDOW_DAYS} days; it covers {span}")
    return [(first + timedelta(days=i)).isoformat() for i in range(span)]


def _date(value: Any, name: str) -> str:
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise GraphQLError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _limit(arguments: dict[str, Any]) -> int:
    limit = int(arguments["limit"])
    if not 1 <= limit <= MAX_LIMIT:
        raise GraphQLError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _selected(info: GraphQLResolveInfo[Any], name: str) -> list[str]:
    """The field names selected under ``name`` of the current field (the group's dimensions)."""
    selected: list[str] = []
    for node in info.field_nodes:
        for child in node.selection_set.selections if node.selection_set else ():
            if isinstance(child, FieldNode) and child.name.value == name and child.selection_set:
                selected += [f.name.value for f in child.selection_set.selections if isinstance(f, FieldNode)]
    return selected


def _ordered(rows: list[dict[str, Any]], arguments: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    descending = "date_DESC" in (arguments.get("orderBy") or [])
    rows.sort(key=lambda r: (r["dimensions"].get("date") or "", json.dumps(r["dimensions"], sort_keys=True)))
    if descending:
        rows.reverse()
    return rows[:limit]


class _Account:
    """The resolvers of one account, over the ledger (operations) and storage measured for the query."""

    def __init__(self, ledger: UsageLedger, storage: dict[str, dict[str, dict[str, int]]]) -> None:
        self.ledger = ledger
        self.measured = storage

    def kvOperationsAdaptiveGroups(self, info: GraphQLResolveInfo[Any], **arguments: Any) -> list[dict[str, Any]]:
        days, limit, filters = _days(arguments), _limit(arguments), arguments["filter"]
        dimensions = _selected(info, "dimensions")
        groups: dict[tuple[Any, ...], int] = defaultdict(int)
        for day in days:
            for namespace_id, actions in self.ledger.operations.get(day, {}).items():
                if filters.get("namespaceId") not in (None, namespace_id):
                    continue
                for action, count in actions.items():
                    if filters.get("actionType") not in (None, action):
                        continue
                    row = {"namespaceId": namespace_id, "actionType": action, "date": day}
                    groups[tuple(row[d] for d in dimensions)] += count
        rows = [
            {"sum": {"requests": count}, "dimensions": dict(zip(dimensions, key, strict=True))}
            for key, count in groups.items()
        ]
        return _ordered(rows, arguments, limit)

    def kvStorageAdaptiveGroups(self, info: GraphQLResolveInfo[Any], **arguments: Any) -> list[dict[str, Any]]:
        days, limit, filters = _days(arguments), _limit(arguments), arguments["filter"]
        dimensions = _selected(info, "dimensions")
        groups: dict[tuple[Any, ...], dict[str, int]] = {}
        for day in days:
            for namespace_id, sizes in {**self.ledger.storage.get(day, {}), **self.measured.get(day, {})}.items():
                if filters.get("namespaceId") not in (None, namespace_id):
                    continue
                row = {"namespaceId": namespace_id, "date": day}
                peak = groups.setdefault(tuple(row[d] for d in dimensions), {"keyCount": 0, "byteCount": 0})
                peak["keyCount"] = max(peak["keyCount"], sizes["keyCount"])
                peak["byteCount"] = max(peak["byteCount"], sizes["byteCount"])
        rows = [{"max": peak, "dimensions": dict(zip(dimensions, key, strict=True))} for key, peak in groups.items()]
        return _ordered(rows, arguments, limit)


class _Viewer:
    def __init__(self, account_id: str, account: _Account) -> None:
        self.account_id = account_id
        self.account = account

    def accounts(self, info: GraphQLResolveInfo[Any], filter: dict[str, Any]) -> list[_Account]:
        tag = filter.get("accountTag")
        if tag != self.account_id:
            raise GraphQLError(f"not authorized for that account: {tag!r}")
        return [self.account]


def _error_body(errors: list[GraphQLError]) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    shaped = []
    for error in errors:
        item = error.formatted
        item["extensions"] = {**(item.get("extensions") or {}), "timestamp": stamp}
        item["extensions"].setdefault("code", "GRAPHQL_VALIDATION_FAILED" if not error.path else "BAD_REQUEST")
        shaped.append(item)
    return {"data": None, "errors": shaped}


async def _measure_storage(request: Request, ledger: UsageLedger) -> dict[str, dict[str, dict[str, int]]]:
    """Today's key count and bytes of every namespace, read from the storage (and kept in the ledger)."""
    context = context_of(request)
    today = datetime.now(UTC).date().isoformat()
    measured: dict[str, dict[str, int]] = {}
    for namespace_id in list(context.store.namespaces):
        keys, size, cursor = 0, 0, ""
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            listed = (await context.explorer("GET", namespace_id, "/keys", params=params)).json()
            names = [k["name"] for k in listed.get("result") or []]
            keys += len(names)
            for start in range(0, len(names), 100):
                answer = await context.explorer(
                    "POST", namespace_id, "/bulk/get", json={"keys": names[start : start + 100]}
                )
                values = (answer.json().get("result") or {}).get("values") or {}
                size += sum(len(n.encode()) + len(str(v).encode()) for n, v in values.items() if v is not None)
            cursor = (listed.get("result_info") or {}).get("cursor") or ""
            if not cursor:
                break
        measured[namespace_id] = {"keyCount": keys, "byteCount": size}
        ledger.snapshot(namespace_id, keys, size, today)
    return {today: measured}


def _graphql_route(ledger: UsageLedger) -> Callable[[Request], Awaitable[Response]]:
    async def graphql_endpoint(request: Request) -> Response:
        context = context_of(request)
        token = context.authorize(request, None)
        from kvstack.local.api.auth import require

        require(token, context.settings.account_id, "analytics.read")
        body = await json_object(request)
        query, variables = body.get("query"), body.get("variables") or {}
        if not isinstance(query, str) or not isinstance(variables, dict):
            return JSONResponse(_error_body([GraphQLError("the body needs a string `query` and object `variables`")]))
        try:
            document = parse(query)
        except GraphQLError as error:
            return JSONResponse(_error_body([error]))
        problems = validate(SCHEMA, document)
        if problems:
            return JSONResponse(_error_body(list(problems)))
        measured = await _measure_storage(request, ledger) if "kvStorageAdaptiveGroups" in query else {}
        root = {"viewer": _Viewer(context.settings.account_id, _Account(ledger, measured))}
        result = execute_query(
            SCHEMA, document, root_value=root, variable_values=variables, operation_name=body.get("operationName")
        )
        if isinstance(result, Awaitable):
            result = await result
        if result.errors:
            return JSONResponse(_error_body(list(result.errors)))
        return JSONResponse({"data": result.data, "errors": None})

    return graphql_endpoint


def _admin_routes(ledger: UsageLedger) -> list[Route]:
    def admin(request: Request) -> None:
        token = authenticate(request, context_of(request).store)
        if token["name"] != BOOTSTRAP_TOKEN_NAME:
            raise ApiError(403, CODE_AUTH, "kvstack admin routes need the bootstrap token")

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
            ledger.count(str(item.get("namespaceId")), item["actionType"], int(item.get("requests", 0)), day)
        return success({"counted": len(items)})

    return [
        Route("/__kvstack/usage/operations", add_operations, methods=["POST"]),
        Route("/__kvstack/usage/backfill", add_operations, methods=["PUT"]),
    ]


def install(app: Starlette, state: Path) -> UsageLedger:
    """Add the GraphQL endpoint, the usage routes and the KV operation counter to the API app."""
    ledger = UsageLedger.open(state)
    app.router.routes.append(Route("/client/v4/graphql", _graphql_route(ledger), methods=["POST"]))
    app.router.routes.extend(_admin_routes(ledger))
    app.add_middleware(CountKvOperations, ledger=ledger)
    app.state.usage = ledger
    return ledger
