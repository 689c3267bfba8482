"""The ASGI application: routes, Cloudflare's error envelope, and the knobs in front of everything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from kvstack.local.api import admin, graphql, kv, pages, storage, tokens, values, workers
from kvstack.local.api.auth import token_status
from kvstack.local.api.context import Context, Settings
from kvstack.local.api.envelope import ApiError, failure
from kvstack.local.api.knobs import Knobs
from kvstack.local.api.limits import (
    CODE_BAD_REQUEST,
    CODE_HEADERS_TOO_LARGE,
    CODE_INTERNAL,
    CODE_NO_ROUTE,
    CODE_RATE_LIMITED,
    MAX_HEADER_BYTES,
)
from kvstack.local.api.store import Store
from kvstack.local.api.writebehind import Journal, WriteBehind
from kvstack.local.state import atomic_write_text
from kvstack.permissions import EVERY_ACCOUNT, PERMISSION_GROUPS

__all__ = ["KnobsMiddleware", "all_routes", "asgi_app", "create_app", "ensure_bootstrap_token", "server_config"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return failure(exc)


async def _http_error(_request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status in (404, 405):
        return failure(ApiError(404 if status == 404 else 405, CODE_NO_ROUTE, "No route for that URI"))
    if 400 <= status < 500:
        detail = exc.detail if isinstance(exc, HTTPException) else "bad request"
        return failure(ApiError(status, CODE_BAD_REQUEST, str(detail)))
    return failure(ApiError(status, CODE_INTERNAL, "Internal error"))


async def _internal_error(_request: Request, _exc: Exception) -> Response:
    return failure(ApiError(500, CODE_INTERNAL, "Internal error"))


def _still_all_powerful(token: dict[str, Any]) -> bool:
    return (
        token_status(token) == "active"
        and not token.get("condition")
        and any(EVERY_ACCOUNT in (policy.get("resources") or {}) for policy in token["policies"])
    )


def ensure_bootstrap_token(context: Context) -> Path:
    """Create the all-powerful local token once; its value goes only to ``<state>/bootstrap-token`` (0600).

    It grants every account: one state serves every stack, and stacks may name different accounts.
    """
    path = context.settings.state / "bootstrap-token"
    existing = context.store.token_by_value(path.read_text(encoding="utf-8").strip()) if path.is_file() else None
    if existing is not None and _still_all_powerful(existing):
        context.bootstrap_id = existing["id"]
        return path
    if existing is not None:  # disabled, expired or IP-bound by a user, or made before it granted every account
        del context.store.tokens[existing["id"]]
    account_groups = [{"id": g.id} for g in PERMISSION_GROUPS if g.scope == "com.cloudflare.api.account"]
    user_groups = [{"id": g.id} for g in PERMISSION_GROUPS if g.scope == "com.cloudflare.api.user"]
    token, value = tokens.create_token(
        context,
        "user",
        {
            "name": admin.BOOTSTRAP_TOKEN_NAME,
            "policies": [
                {
                    "effect": "allow",
                    "permission_groups": account_groups,
                    "resources": {EVERY_ACCOUNT: "*"},
                },
                {
                    "effect": "allow",
                    "permission_groups": user_groups,
                    "resources": {f"com.cloudflare.api.user.{tokens.USER_ID}": "*"},
                },
            ],
        },
    )
    atomic_write_text(path, value + "\n", mode=0o600)
    context.bootstrap_id = token["id"]
    return path


def all_routes() -> list[BaseRoute]:
    """Every route of the API, in matching order; a new area adds its module's ``routes`` here."""
    return [*kv.routes, *values.routes, *pages.routes, *workers.routes, *tokens.routes, *admin.routes]


def server_config(app: KnobsMiddleware, port: int, *, log_level: str = "warning") -> uvicorn.Config:
    """How the API server runs, in `kvstack local up` and in tests alike."""
    # Headers up to 2 MiB reach the app, which refuses more than Cloudflare's 32 KiB with an envelope (431);
    # uvicorn's own 16 KiB default answered a plain-text 400 and reset the connection.
    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level=log_level,
        access_log=False,
        h11_max_incomplete_event_size=2 * 1024 * 1024,
        # The client address is the TCP peer, as Cloudflare sees it: never X-Forwarded-For (token IP conditions).
        proxy_headers=False,
    )


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Writes a killed API accepted (its journal) are stored again from the start; the drain stops with the app."""
    writes: WriteBehind = app.state.context.writes
    if writes.has_work():
        writes.start()
    try:
        yield
    finally:
        await writes.stop()


def create_app(settings: Settings, knobs: Knobs | None = None) -> Starlette:
    """The Cloudflare v4 subset as a Starlette app; ``app.state.context`` holds the account and knobs."""
    settings.state.mkdir(parents=True, exist_ok=True)
    writes = WriteBehind(Journal(settings.state / "pending-writes.sqlite"))
    context = Context(settings=settings, store=Store.open(settings.state), knobs=knobs or Knobs(), writes=writes)
    writes.store = partial(storage.store_chunk, context)
    ensure_bootstrap_token(context)
    app = Starlette(
        routes=all_routes(),
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _internal_error},
        lifespan=_lifespan,
    )
    # Cloudflare answers a path with a stray slash (`…/values/`, an empty key) with an error envelope, never a
    # redirect: the fuzzer found Starlette's 307 to the slash-less path.
    app.router.redirect_slashes = False
    app.state.context = context
    graphql.install(app, settings.state)  # the analytics subset and KV operation counts (kvstack audit)
    return app


class KnobsMiddleware:
    """Latency, seeded faults, the rate limit and the request log, before any route runs.

    It must be the outermost layer: a dropped connection needs the server's own ``send`` (uvicorn's
    request cycle, whose transport it closes without a byte of response).
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.context: Context = app.state.context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        knobs = self.context.knobs
        token = self._token(scope)
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": scope["method"],
            "path": scope["path"],
            "route": self._route(scope),
            "token": token["id"] if token else None,
            "status": None,
        }
        self.context.log.add(entry)

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        header_bytes = sum(len(name) + len(value) for name, value in scope.get("headers", []))
        if header_bytes > MAX_HEADER_BYTES:
            error = ApiError(431, CODE_HEADERS_TOO_LARGE, f"request headers are larger than {MAX_HEADER_BYTES} bytes")
            await self._answer(scope, receive, logged_send, error)
            return
        if scope["path"].startswith("/__kvstack/"):
            await self.app(scope, receive, logged_send)
            return
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        wait = knobs.rate_limit.retry_after(token["id"] if token else "anonymous")
        if wait is not None:
            await self._answer(
                scope,
                receive,
                logged_send,
                ApiError(
                    429,
                    CODE_RATE_LIMITED,
                    "Please wait and consider throttling your request speed",
                    {"Retry-After": str(wait)},
                ),
            )
            return
        fault = knobs.faults.draw()
        if fault == "429":
            await self._answer(
                scope,
                receive,
                logged_send,
                ApiError(
                    429,
                    CODE_RATE_LIMITED,
                    "Please wait and consider throttling your request speed",
                    {"Retry-After": "1"},
                ),
            )
            return
        if fault == "500":
            await self._answer(scope, receive, logged_send, ApiError(500, CODE_INTERNAL, "Internal error"))
            return
        if fault == "drop" and self._drop(send):
            entry["status"] = "dropped"
            return
        await self.app(scope, receive, logged_send)

    def _token(self, scope: Scope) -> dict[str, Any] | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                _, _, raw = value.decode("latin-1").partition(" ")
                return self.context.store.token_by_value(raw.strip())
        return None

    def _route(self, scope: Scope) -> str:
        for route in self.app.routes:
            match, _ = route.matches(scope)
            if match.name == "FULL":
                return str(getattr(route, "path", scope["path"]))
        return str(scope["path"])

    @staticmethod
    async def _answer(scope: Scope, receive: Receive, send: Send, error: ApiError) -> None:
        await failure(error)(scope, receive, send)

    @staticmethod
    def _drop(send: Send) -> bool:
        """Close the connection without an answer, as a broken network would. False if the server hides it."""
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            return False
        transport.abort()
        return True


def asgi_app(settings: Settings, knobs: Knobs | None = None) -> KnobsMiddleware:
    """What the server runs: the app behind its knobs."""
    return KnobsMiddleware(create_app(settings, knobs))
