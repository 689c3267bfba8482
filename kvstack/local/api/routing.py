"""How every module of the API writes its route table: one line per resource path, its handlers by method."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["resource"]

Handler = Callable[[Request], Awaitable[Response]]


def resource(path: str, **handlers: Handler) -> list[Route]:
    """The routes of ``path``, one per HTTP method: ``resource(PATH, GET=read, PUT=write)``."""
    return [Route(path, handler, methods=[method]) for method, handler in handlers.items()]
