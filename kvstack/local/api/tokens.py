"""API tokens (user-owned and account-owned), permission groups, the user, memberships and accounts."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kvstack.local.api.auth import authenticate, check_address, token_status
from kvstack.local.api.context import Context, context_of
from kvstack.local.api.envelope import ApiError, paged, success
from kvstack.local.api.limits import (
    CODE_AUTH,
    CODE_BAD_REQUEST,
    CODE_TOKEN_INVALID,
    CODE_TOKEN_NOT_FOUND,
    TOKEN_PER_PAGE,
)
from kvstack.local.api.routing import resource
from kvstack.local.api.shapes import PageQuery, TokenBody
from kvstack.local.api.store import hash_token, new_id, now_rfc3339
from kvstack.local.api.validation import parse_body, parse_query, validated
from kvstack.permissions import PERMISSION_GROUPS, group_by_id

__all__ = ["create_token", "routes"]

USER_ID = "5c0a2f1e9b8d4c3a2f1e0d9c8b7a6f5e"
ACCOUNT_TOKENS = "/client/v4/accounts/{account_id}/tokens"
USER_TOKENS = "/client/v4/user/tokens"


def _owner(request: Request) -> str:
    return "account" if "account_id" in request.path_params else "user"


def _view(token: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in token.items() if k not in ("value_sha256", "owner", "condition")}
    view["status"] = token_status(token)
    rule = (token.get("condition") or {}).get("request.ip")
    # Cloudflare's docs write ``request.ip``; SDK 5.9's models read ``request_ip``: answer both.
    view["condition"] = {"request.ip": rule, "request_ip": rule} if rule else {}
    return view


def _condition(body: TokenBody) -> dict[str, Any]:
    rule = body.condition.request_ip if body.condition else None
    if rule is None:
        return {}
    stored = {k: v for k, v in (("in", rule.in_), ("not_in", rule.not_in)) if v is not None}
    return {"request.ip": stored} if stored else {}


def _policies(body: TokenBody) -> list[dict[str, Any]]:
    stored = []
    for where, policy in enumerate(body.policies):
        groups = []
        for ref in policy.permission_groups:
            group = group_by_id(ref.id)
            if group is None:
                raise ApiError(400, CODE_BAD_REQUEST, f"body.policies[{where}]: unknown permission group {ref.id!r}")
            groups.append({"id": group.id, "name": group.name})
        stored.append(
            {"id": new_id(), "effect": policy.effect, "permission_groups": groups, "resources": policy.resources}
        )
    return stored


def _apply(token: dict[str, Any], body: TokenBody) -> None:
    """What a create or an update (PUT replaces) sets from the body."""
    token.update(
        name=body.name,
        status=body.status or token.get("status") or "active",
        modified_on=now_rfc3339(),
        expires_on=body.expires_on,
        not_before=body.not_before,
        policies=_policies(body),
        condition=_condition(body),
    )


def create_token(context: Context, owner: str, data: Any) -> tuple[dict[str, Any], str]:
    """Validate a token request as Cloudflare does, store it (hash only) and return it with its value."""
    body = validated(TokenBody, data)
    value = secrets.token_urlsafe(30)  # 40 characters: Cloudflare's values are 40–80
    token: dict[str, Any] = {"id": new_id(), "issued_on": now_rfc3339(), "owner": owner}
    _apply(token, body)
    token["value_sha256"] = hash_token(value)
    context.store.tokens[token["id"]] = token
    context.store.save()
    return token, value


def _find(request: Request) -> dict[str, Any]:
    token = context_of(request).store.tokens.get(request.path_params["token_id"])
    if token is None or token["owner"] != _owner(request):
        raise ApiError(404, CODE_TOKEN_NOT_FOUND, "Invalid API Token")
    return token


async def verify(request: Request) -> Response:
    context = context_of(request)
    header = request.headers.get("authorization", "")
    token = context.store.token_by_value(header.partition(" ")[2].strip()) if header else None
    if token is None:
        raise ApiError(401, CODE_TOKEN_INVALID, "Invalid API Token")
    if _owner(request) == "account" and request.path_params["account_id"] != context.settings.account_id:
        raise ApiError(403, CODE_AUTH, "Authentication error")
    check_address(token, request)
    result = {"id": token["id"], "status": token_status(token)}
    for key in ("expires_on", "not_before"):
        if token.get(key):
            result[key] = token[key]
    return success(result)


async def list_tokens(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "tokens.read")
    query = parse_query(request, PageQuery)
    owner = _owner(request)
    tokens = [_view(t) for t in context.store.tokens.values() if t["owner"] == owner]
    low, high = TOKEN_PER_PAGE
    return paged(tokens, query.page, query.per_page, min_per_page=low, max_per_page=high)


async def get_token(request: Request) -> Response:
    context_of(request).authorize(request, "tokens.read")
    return success(_view(_find(request)))


async def post_token(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "tokens.write")
    token, value = create_token(context, _owner(request), await parse_body(request, dict[str, Any], empty={}))
    return success({**_view(token), "value": value})


async def update_token(request: Request) -> Response:
    """PUT replaces the token's name, policies, status, validity and condition; its value stays."""
    context = context_of(request)
    context.authorize(request, "tokens.write")
    token = _find(request)
    body = await parse_body(request, TokenBody, empty={})
    _apply(token, body)
    context.store.save()
    return success(_view(token))


async def roll_token(request: Request) -> Response:
    """A new secret for the token; the old value stops working at once."""
    context = context_of(request)
    context.authorize(request, "tokens.write")
    token = _find(request)
    value = secrets.token_urlsafe(30)
    token["value_sha256"] = hash_token(value)
    token["modified_on"] = now_rfc3339()
    context.store.save()
    return success(value)


async def delete_token(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, "tokens.write")
    token = _find(request)
    del context.store.tokens[token["id"]]
    context.store.save()
    return success({"id": token["id"]})


async def permission_groups(request: Request) -> Response:
    context_of(request).authorize(request, None)
    name = request.query_params.get("name")
    scope = request.query_params.get("scope")
    groups = [
        {"id": g.id, "name": g.name, "scopes": [g.scope]}
        for g in PERMISSION_GROUPS
        if (name is None or g.name == name) and (scope is None or g.scope == scope)
    ]
    query = parse_query(request, PageQuery)
    return paged(groups, query.page, query.per_page, default=100, max_per_page=1000)


async def user(request: Request) -> Response:
    authenticate(request, context_of(request).store)
    return success(
        {
            "id": USER_ID,
            "email": "local@kvstack.invalid",
            "first_name": "kvstack",
            "last_name": "local",
            "two_factor_authentication_enabled": False,
            "suspended": False,
        }
    )


def _account(context: Context) -> dict[str, Any]:
    return {
        "id": context.settings.account_id,
        "name": context.settings.account_name,
        "type": "standard",
        "created_on": "2026-01-01T00:00:00Z",
        "settings": {"enforce_twofactor": False},
    }


async def accounts(request: Request) -> Response:
    context = context_of(request)
    authenticate(request, context.store)
    query = parse_query(request, PageQuery)
    return paged([_account(context)], query.page, query.per_page, min_per_page=5, max_per_page=50)


async def account(request: Request) -> Response:
    context = context_of(request)
    context.authorize(request, None)
    return success(_account(context))


async def memberships(request: Request) -> Response:
    context = context_of(request)
    authenticate(request, context.store)
    membership = {
        "id": "7e3b0c9d8a6f4e2b1c0d9e8f7a6b5c4d",
        "status": "accepted",
        "api_access_enabled": True,
        "account": _account(context),
        "roles": ["Administrator"],
        "permissions": {},
    }
    query = parse_query(request, PageQuery)
    return paged([membership], query.page, query.per_page, min_per_page=5, max_per_page=50)


def _token_routes(base: str) -> list[Route]:
    """User-owned and account-owned tokens answer the same routes under their own base path."""
    return [
        *resource(base + "/verify", GET=verify),
        *resource(base + "/permission_groups", GET=permission_groups),
        *resource(base, GET=list_tokens, POST=post_token),
        *resource(base + "/{token_id}", GET=get_token, PUT=update_token, DELETE=delete_token),
        *resource(base + "/{token_id}/value", PUT=roll_token),
    ]


routes = [
    *_token_routes(USER_TOKENS),
    *_token_routes(ACCOUNT_TOKENS),
    *resource("/client/v4/user", GET=user),
    *resource("/client/v4/memberships", GET=memberships),
    *resource("/client/v4/accounts", GET=accounts),
    *resource("/client/v4/accounts/{account_id}", GET=account),
]
