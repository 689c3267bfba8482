"""Cloudflare's response envelope (success, failure, page-style lists); the codes live in ``limits``."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = [
    "ApiError",
    "StorageUnavailable",
    "failure",
    "json_body",
    "json_object",
    "refuse_constant",
    "success",
]

from kvstack.local.api.limits import CODE_BAD_REQUEST


class ApiError(Exception):
    """An error answer: HTTP status, Cloudflare code and message (and headers such as Retry-After)."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class StorageUnavailable(ApiError):
    """Miniflare's storage did not answer at all (refused, reset, timed out): a 500 + 10001 to a caller."""


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


def paged(
    items: list[Any],
    page: int,
    per_page: int | None,
    *,
    default: int = 20,
    min_per_page: int = 1,
    max_per_page: int = 100,
) -> JSONResponse:
    """A page-style list answer for ``page``/``per_page``: the SDK pages until a page comes back empty."""
    size = default if per_page is None else per_page
    if not min_per_page <= size <= max_per_page:
        raise ApiError(400, CODE_BAD_REQUEST, f"per_page must be between {min_per_page} and {max_per_page}")
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
        return json.loads(raw, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(400, CODE_BAD_REQUEST, f"request body is not JSON: {exc.msg}") from exc
    except (ValueError, RecursionError) as exc:  # Infinity/NaN, a 4,301-digit number, 100,000 `[`
        raise ApiError(400, CODE_BAD_REQUEST, f"request body is not JSON Cloudflare accepts: {exc}") from None


def refuse_constant(name: str) -> Any:
    """``json.loads``' ``parse_constant``: Python reads NaN and Infinity, which JSON does not have."""
    raise ValueError(f"{name} is not JSON")


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object (an empty body counts as ``{}``)."""
    body = await json_body(request, empty={})
    if not isinstance(body, dict):
        raise ApiError(400, CODE_BAD_REQUEST, "the body must be a JSON object")
    return body
