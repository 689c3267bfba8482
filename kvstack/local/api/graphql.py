"""The GraphQL Analytics subset of the local Cloudflare: KV operations and storage per namespace and day.

``POST /client/v4/graphql`` (a token with Account Analytics Read) serves two datasets with graphql-core
(real parsing, validation, introspection), in Cloudflare's shapes:

- ``kvOperationsAdaptiveGroups``: ``sum { requests }`` grouped by the selected ``dimensions``
  (``namespaceId``, ``actionType`` — read/write/delete/list — and ``date``);
- ``kvStorageAdaptiveGroups``: ``max { keyCount byteCount }`` by ``namespaceId`` and ``date``.

Filters: ``date_geq``/``date_leq`` (required, at most 31 days), ``date``, ``namespaceId``, ``actionType``;
``limit`` (≤ 10,000); ``orderBy: [date_ASC | date_DESC]``. Anything else is a GraphQL error in the
documented shape (HTTP 200, ``{"data": null, "errors": [{"message", "locations", "path", "extensions"}]}``).

The counts are real (:mod:`kvstack.local.api.usage`): every KV operation made through this API and every
one the runtime's apps make, per namespace, action type and day; storage measured from the storage itself.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
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

from kvstack.local.api.context import context_of
from kvstack.local.api.envelope import json_object
from kvstack.local.api.usage import CountKvOperations, UsageLedger, drain_runtime_counts, measure_storage, usage_routes

__all__ = ["SCHEMA", "install"]

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
        await drain_runtime_counts(context, ledger)
        measured = await measure_storage(request, ledger) if "kvStorageAdaptiveGroups" in query else {}
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


def install(app: Starlette, state: Path) -> UsageLedger:
    """Add the GraphQL endpoint, the usage routes and the KV operation counter to the API app."""
    ledger = UsageLedger.open(state)
    app.router.routes.append(Route("/client/v4/graphql", _graphql_route(ledger), methods=["POST"]))
    app.router.routes.extend(usage_routes(ledger))
    app.add_middleware(CountKvOperations, ledger=ledger)
    app.state.usage = ledger
    return ledger
