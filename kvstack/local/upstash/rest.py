"""The Upstash REST protocol in front of the local Redis-compatible server.

What Upstash documents and its official clients (``upstash-redis``, ``@upstash/redis``) rely on:

- a command as a JSON array posted to ``/`` (``["SET", "k", "v", "EX", 100]``), or path style
  (``GET /set/k/v``, ``POST /set/k`` with the value as body and later arguments as query parameters);
- ``POST /pipeline`` and ``POST /multi-exec`` with an array of commands; one ``{"result"}`` or
  ``{"error"}`` per command; a discarded transaction is one ``{"error"}``;
- ``Authorization: Bearer <token>`` or ``?_token=``; a missing or unknown token is 401
  ``{"error": "WRONGPASS invalid or missing auth token"}``; a write with the read-only token is 400
  ``{"error": "NOPERM this user has no permissions to run the 'set' command"}``;
- ``Upstash-Encoding: base64``: every string in the result base64-encoded except ``OK``;
- command failures are 400 ``{"error": "<the server's error line>"}``.

The knobs of the local Cloudflare apply here too (latency, seeded 429/500/drop faults), plus a request
and command count under ``/__kvstack/stats`` that benchmarks read to count round trips.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kvstack.local.api.knobs import Faults, parse_faults
from kvstack.local.upstash.resp import Connection, Reply, ReplyError, SimpleString

__all__ = ["FrontKnobs", "Stats", "UpstashFront", "asgi_front", "create_front"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UNAUTHORIZED = "WRONGPASS invalid or missing auth token"
# Commands that would change the state of a pooled connection or hold it; Upstash serves none of them as
# plain REST commands (subscribe and monitor have their own streaming endpoints there).
REFUSED = frozenset(
    {"AUTH", "HELLO", "SELECT", "QUIT", "RESET", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "MONITOR"}
    | {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "SYNC", "PSYNC"}
    | {"CLIENT", "BLPOP", "BRPOP", "BLMOVE", "BZPOPMIN", "BZPOPMAX", "BLMPOP", "BZMPOP", "WAIT", "SHUTDOWN"}
)
_VALKEY_NOPERM = re.compile(r"^NOPERM User \S+ has no permissions to run the '([^']+)' command")


@dataclass
class FrontKnobs:
    """Latency and seeded faults, as ``kvstack local up --latency-ms/--faults/--seed`` set them."""

    latency_ms: int = 0
    faults: Faults = field(default_factory=lambda: Faults(parse_faults(None)))

    def describe(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "faults": dict(self.faults.shares), "seed": self.faults.seed}

    def update(self, changes: dict[str, Any]) -> None:
        if "latency_ms" in changes:
            self.latency_ms = int(changes["latency_ms"])
        if "faults" in changes or "seed" in changes:
            shares = parse_faults(changes["faults"]) if "faults" in changes else self.faults.shares
            self.faults = Faults(shares, int(changes.get("seed", self.faults.seed)))


@dataclass
class Stats:
    """Requests answered and Redis commands run, per endpoint kind: what a round-trip count needs."""

    requests: int = 0
    commands: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, commands: int) -> None:
        self.requests += 1
        self.commands += commands
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1


class _BadRequest(Exception):
    pass


class UpstashFront:
    """Token → ACL user, a connection pool per user, and the commands run as that user."""

    def __init__(self, redis_port: int, users: dict[str, tuple[str, str]], knobs: FrontKnobs) -> None:
        self.redis_port = redis_port
        self.users = users
        self.knobs = knobs
        self.stats = Stats()
        self.idle: dict[str, list[Connection]] = {}

    async def run(self, token: str, commands: Sequence[Sequence[bytes]]) -> list[Reply]:
        user, password = self.users[token]
        pool = self.idle.setdefault(user, [])
        connection = pool.pop() if pool else await Connection.open(self.redis_port, user, password)
        try:
            replies = await connection.run(commands)
        except BaseException:
            connection.close()
            raise
        pool.append(connection)
        return replies


def _argument(value: Any) -> bytes:
    if isinstance(value, bool):  # JSON true/false: the clients never send them; refuse rather than guess
        raise _BadRequest(f"ERR unsupported argument {json.dumps(value)}")
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else repr(value)).encode()
    raise _BadRequest(f"ERR unsupported argument {json.dumps(value)[:60]}; send strings and numbers")


def _command(raw: Any) -> list[bytes]:
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise _BadRequest("ERR a command is a JSON array: [name, arg1, …]")
    command = [_argument(value) for value in raw]
    name = raw[0].upper()
    if name in REFUSED:
        raise _BadRequest(f"ERR Command is not available: '{name}'")
    return command


def _encode(reply: Reply, base64_strings: bool) -> Any:
    if isinstance(reply, SimpleString):
        return str(reply) if not base64_strings or reply == "OK" else base64.b64encode(reply.encode()).decode()
    if isinstance(reply, bytes):
        return base64.b64encode(reply).decode() if base64_strings else reply.decode("utf-8", "replace")
    if isinstance(reply, list):
        return [_encode(item, base64_strings) for item in reply]
    if isinstance(reply, ReplyError):
        return {"error": _error_text(reply)}
    return reply


def _error_text(error: ReplyError) -> str:
    match = _VALKEY_NOPERM.match(error.message)
    if match:  # Upstash words it without the ACL user's name
        return f"NOPERM this user has no permissions to run the '{match.group(1)}' command"
    return error.message


def _item(reply: Reply, base64_strings: bool) -> dict[str, Any]:
    if isinstance(reply, ReplyError):
        return {"error": _error_text(reply)}
    return {"result": _encode(reply, base64_strings)}


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("_token")


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise _BadRequest("ERR failed to parse the request body as JSON") from None


class _Routes:
    """The endpoints, each answering in Upstash's shapes."""

    def __init__(self, front: UpstashFront) -> None:
        self.front = front

    def authorized(self, request: Request) -> str | None:
        token = _token(request)
        return token if token in self.front.users else None

    async def single(self, request: Request, raw: Any) -> Response:
        token = self.authorized(request)
        if token is None:
            return JSONResponse({"error": UNAUTHORIZED}, status_code=401)
        try:
            command = _command(raw)
        except _BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        (reply,) = await self.front.run(token, [command])
        self.front.stats.add("command", 1)
        if isinstance(reply, ReplyError):
            return JSONResponse({"error": _error_text(reply)}, status_code=400)
        return JSONResponse({"result": _encode(reply, _base64_wanted(request))})

    async def root(self, request: Request) -> Response:
        try:
            raw = await _json_body(request)
        except _BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return await self.single(request, raw)

    async def path_style(self, request: Request) -> Response:
        raw: list[Any] = [part for part in request.path_params["path"].split("/") if part != ""]
        if not raw:
            return await self.root(request)
        if request.method in ("POST", "PUT"):
            body = await request.body()
            if body:
                raw.append(body.decode("utf-8", "replace"))
        for name, value in request.query_params.multi_items():
            if name != "_token":
                raw += [name, value] if value else [name]
        return await self.single(request, raw)

    async def pipeline(self, request: Request) -> Response:
        return await self.batch(request, transaction=False)

    async def multi_exec(self, request: Request) -> Response:
        return await self.batch(request, transaction=True)

    async def batch(self, request: Request, transaction: bool) -> Response:
        token = self.authorized(request)
        if token is None:
            return JSONResponse({"error": UNAUTHORIZED}, status_code=401)
        try:
            raw = await _json_body(request)
            if not isinstance(raw, list) or not raw:
                raise _BadRequest("ERR the body is a JSON array of commands: [[name, arg…], …]")
            commands = [_command(item) for item in raw]
        except _BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        wanted = _base64_wanted(request)
        if not transaction:
            replies = await self.front.run(token, commands)
            self.front.stats.add("pipeline", len(commands))
            return JSONResponse([_item(reply, wanted) for reply in replies])
        replies = await self.front.run(token, [[b"MULTI"], *commands, [b"EXEC"]])
        self.front.stats.add("multi-exec", len(commands))
        queued, executed = replies[1:-1], replies[-1]
        refused = next((reply for reply in queued if isinstance(reply, ReplyError)), None)
        if refused is not None or not isinstance(executed, list):
            error = refused or executed
            text = _error_text(error) if isinstance(error, ReplyError) else "ERR transaction discarded"
            return JSONResponse({"error": text}, status_code=400)
        return JSONResponse([_item(reply, wanted) for reply in executed])

    async def stats(self, request: Request) -> Response:
        if self.authorized(request) is None:
            return JSONResponse({"error": UNAUTHORIZED}, status_code=401)
        return JSONResponse({**self.front.stats.__dict__, "knobs": self.front.knobs.describe()})

    async def set_knobs(self, request: Request) -> Response:
        if self.authorized(request) is None:
            return JSONResponse({"error": UNAUTHORIZED}, status_code=401)
        try:
            self.front.knobs.update(await _json_body(request))
        except (_BadRequest, ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": f"ERR bad knobs: {exc}"}, status_code=400)
        return JSONResponse({"result": self.front.knobs.describe()})


def _base64_wanted(request: Request) -> bool:
    return request.headers.get("upstash-encoding", "").lower() == "base64"


def create_front(redis_port: int, users: dict[str, tuple[str, str]], knobs: FrontKnobs | None = None) -> Starlette:
    """The REST front as a Starlette app; ``app.state.front`` holds the pool, knobs and stats."""
    front = UpstashFront(redis_port, users, knobs or FrontKnobs())
    routes = _Routes(front)
    app = Starlette(
        routes=[
            Route("/__kvstack/stats", routes.stats, methods=["GET"]),
            Route("/__kvstack/knobs", routes.set_knobs, methods=["POST"]),
            Route("/pipeline", routes.pipeline, methods=["POST"]),
            Route("/multi-exec", routes.multi_exec, methods=["POST"]),
            Route("/", routes.root, methods=["POST", "PUT"]),
            Route("/{path:path}", routes.path_style, methods=["GET", "HEAD", "POST", "PUT"]),
        ]
    )
    app.state.front = front
    return app


class FrontKnobsMiddleware:
    """Latency and seeded faults before any route runs; outermost, so a drop can close the socket."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.front: UpstashFront = app.state.front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__kvstack/"):
            await self.app(scope, receive, send)
            return
        knobs = self.front.knobs
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        fault = knobs.faults.draw()
        if fault == "429":
            # Upstash answers a rate-limited request with 429 and an error body.
            response = JSONResponse({"error": "ERR max requests limit exceeded"}, status_code=429)
            await response(scope, receive, send)
            return
        if fault == "500":
            await JSONResponse({"error": "ERR internal error"}, status_code=500)(scope, receive, send)
            return
        if fault == "drop":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                transport.abort()
                return
        await self.app(scope, receive, send)


def asgi_front(redis_port: int, users: dict[str, tuple[str, str]], knobs: FrontKnobs | None = None) -> Any:
    """What the process serves: the front behind its knobs."""
    return FrontKnobsMiddleware(create_front(redis_port, users, knobs))
