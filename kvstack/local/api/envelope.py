"""Cloudflare's response envelope and error codes, in one place."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = [
    "CODE_AUTH",
    "CODE_BAD_REQUEST",
    "CODE_DUPLICATE_TITLE",
    "CODE_INTERNAL",
    "CODE_KEY_NOT_FOUND",
    "CODE_NAMESPACE_NOT_FOUND",
    "CODE_NO_ROUTE",
    "CODE_RATE_LIMITED",
    "ApiError",
    "failure",
    "json_body",
    "json_object",
    "success",
]

# Cloudflare's codes, as the API answers them (see docs/local-api.md for the full table).
CODE_AUTH = 10000
CODE_INTERNAL = 10001
CODE_KEY_NOT_FOUND = 10009
CODE_VALUE_TOO_LARGE = 10011
CODE_METADATA_TOO_LARGE = 10012
CODE_NAMESPACE_NOT_FOUND = 10013
CODE_DUPLICATE_TITLE = 10014
CODE_BAD_EXPIRATION = 10015
CODE_BAD_EXPIRATION_TTL = 10016
CODE_INVALID_KEY = 10019
CODE_BAD_LIMIT = 10020
CODE_KEY_TOO_LONG = 10033
CODE_TOO_MANY_ITEMS = 10026
CODE_SCRIPT_NOT_FOUND = 10007
CODE_PROJECT_NOT_FOUND = 8000007
CODE_TOKEN_NOT_FOUND = 1003
CODE_BAD_REQUEST = 10002
CODE_NO_ROUTE = 7003
CODE_RATE_LIMITED = 971


class ApiError(Exception):
    """An error answer: HTTP status, Cloudflare code and message (and headers such as Retry-After)."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def success(result: Any = None, result_info: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body, status_code=status)


def failure(error: ApiError) -> JSONResponse:
    body = {
        "success": False,
        "errors": [{"code": error.code, "message": error.message}],
        "messages": [],
        "result": None,
    }
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def paged(items: list[Any], query: Any, *, per_page: int = 20, max_per_page: int = 100) -> JSONResponse:
    """A page-style list answer honouring ``page``/``per_page``: the SDK pages until a page comes back empty."""
    try:
        page = max(1, int(query.get("page", 1)))
        size = int(query.get("per_page", per_page))
    except ValueError:
        raise ApiError(400, CODE_BAD_REQUEST, "page and per_page must be integers") from None
    if not 1 <= size <= max_per_page:
        raise ApiError(400, CODE_BAD_REQUEST, f"per_page must be between 1 and {max_per_page}")
    chunk = items[(page - 1) * size : page * size]
    return success(
        chunk,
        {
            "page": page,
            "per_page": size,
            "count": len(chunk),
            "total_count": len(items),
            "total_pages": max(1, -(-len(items) // size)),
        },
    )


async def json_body(request: Request, *, empty: Any = None) -> Any:
    """The request's JSON body (``empty`` when there is none); 400 when it is not JSON."""
    raw = await request.body()
    if not raw:
        return empty
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, CODE_BAD_REQUEST, f"request body is not JSON: {exc.msg}") from exc


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object (an empty body counts as ``{}``)."""
    body = await json_body(request, empty={})
    if not isinstance(body, dict):
        raise ApiError(400, CODE_BAD_REQUEST, "the body must be a JSON object")
    return body
