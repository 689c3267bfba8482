"""Workers KV namespace routes: list, create (titles unique, jurisdiction kept), get, rename, delete; key listing.

Values, metadata and bulk operations are in ``values``; the storage calls in ``storage``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kvstack.local.api import storage
from kvstack.local.api.context import Context, context_of
from kvstack.local.api.envelope import ApiError, paged, success
from kvstack.local.api.limits import CODE_BAD_LIMIT, CODE_DUPLICATE_TITLE, NAMESPACE_PER_PAGE_MAX
from kvstack.local.api.routing import resource
from kvstack.local.api.shapes import KeyListQuery, NamespaceCreate, NamespaceListQuery, NamespaceRename
from kvstack.local.api.store import new_id
from kvstack.local.api.validation import parse_body, parse_query

__all__ = ["BASE", "routes"]

BASE = "/client/v4/accounts/{account_id}/storage/kv/namespaces"


def namespace_view(namespace: dict[str, Any]) -> dict[str, Any]:
    view = {"id": namespace["id"], "title": namespace["title"], "supports_url_encoding": True}
    if namespace.get("jurisdiction"):
        view["jurisdiction"] = namespace["jurisdiction"]
    return view


def _check_unique(context: Context, title: str, except_id: str | None = None) -> None:
    existing = context.store.namespace_by_title(title)
    if existing is not None and existing["id"] != except_id:
        raise ApiError(400, CODE_DUPLICATE_TITLE, "a namespace with this account ID and title already exists")


async def list_namespaces(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    query = parse_query(request, NamespaceListQuery)
    items = sorted(
        context.store.namespaces.values(), key=lambda ns: str(ns[query.order]), reverse=query.direction == "desc"
    )
    views = [namespace_view(ns) for ns in items]
    return paged(views, query.page, query.per_page, max_per_page=NAMESPACE_PER_PAGE_MAX)


async def create_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    body = await parse_body(request, NamespaceCreate, empty={})
    _check_unique(context, body.title)
    namespace = {"id": new_id(), "title": body.title}
    if body.jurisdiction:
        namespace["jurisdiction"] = body.jurisdiction
    context.store.namespaces[namespace["id"]] = namespace
    context.store.save()
    return success(namespace_view(namespace))


async def get_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    return success(namespace_view(context.namespace(request.path_params["namespace_id"])))


async def rename_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    body = await parse_body(request, NamespaceRename, empty={})
    _check_unique(context, body.title, except_id=namespace["id"])
    namespace["title"] = body.title
    context.store.save()
    return success(namespace_view(namespace))


async def delete_namespace(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.write")
    namespace = context.namespace(request.path_params["namespace_id"])
    # The namespace's data goes with it: every key listed once and its delete accepted (stored in the background).
    cursor = ""
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        entries, cursor = await storage.list_page(context, namespace["id"], params)
        await storage.delete_keys(context, namespace["id"], [str(entry["name"]) for entry in entries], wait=0)
        if not cursor:
            break
    del context.store.namespaces[namespace["id"]]
    context.store.save()
    return success({})


async def list_keys(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "kv.read")
    namespace = context.namespace(request.path_params["namespace_id"])
    query = parse_query(request, KeyListQuery, field_codes={"limit": CODE_BAD_LIMIT})
    params: dict[str, Any] = {"limit": query.limit}
    if query.prefix:
        params["prefix"] = query.prefix
    if query.cursor:
        params["cursor"] = query.cursor
    entries, cursor = await storage.list_page(context, namespace["id"], params)
    visibility = context.knobs.visibility
    keys = [entry for entry in entries if visibility.visible(namespace["id"], str(entry.get("name")))]
    return success(keys, {"count": len(keys), "cursor": cursor})


routes = [
    *resource(BASE, GET=list_namespaces, POST=create_namespace),
    *resource(BASE + "/{namespace_id}", GET=get_namespace, PUT=rename_namespace, DELETE=delete_namespace),
    *resource(BASE + "/{namespace_id}/keys", GET=list_keys),
]
