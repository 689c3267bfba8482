"""Request validation: each route parses its body and query through one pydantic model (see ``shapes``).

Whatever arrives — deep nesting, huge numbers, ``Infinity``, the wrong type anywhere — ends as a 4xx with
Cloudflare's envelope: the JSON is parsed by pydantic-core (depth-limited, standard JSON only), and a
validation error becomes ``400`` with the code Cloudflare uses for the field that failed (``field_codes``),
naming where it failed (``body[3].expiration_ttl: …``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request

from kvstack.local.api.envelope import ApiError
from kvstack.local.api.limits import CODE_BAD_REQUEST

__all__ = ["parse_body", "parse_query", "validated"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
NO_CODES: Mapping[str, int] = MappingProxyType({})

# A body larger than this is refused before parsing (Cloudflare: a bulk request is at most 100 MB).
MAX_BODY_BYTES = 100 * 1024 * 1024


def _where(loc: tuple[int | str, ...], root: str) -> str:
    where = root
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where


def _error(exc: ValidationError, root: str, field_codes: Mapping[str, int]) -> ApiError:
    first = exc.errors(include_url=False)[0]
    loc = tuple(first.get("loc", ()))
    named = [part for part in loc if isinstance(part, str)]
    code = next((field_codes[name] for name in reversed(named) if name in field_codes), CODE_BAD_REQUEST)
    message = str(first.get("msg", "invalid"))
    if first.get("type") == "json_invalid":
        return ApiError(400, CODE_BAD_REQUEST, f"request body is not JSON: {first.get('ctx', {}).get('error', '')}")
    return ApiError(400, code, f"{_where(loc, root)}: {message}")


def validated(shape: type[T], data: Any, *, root: str = "body", field_codes: Mapping[str, int] = NO_CODES) -> T:
    """``data`` (Python values) checked against ``shape``; ApiError 400 naming what and where."""
    try:
        result: T = TypeAdapter(shape).validate_python(data)
    except ValidationError as exc:
        raise _error(exc, root, field_codes) from None
    return result


async def parse_body(
    request: Request, shape: type[T], *, empty: Any = None, field_codes: Mapping[str, int] = NO_CODES
) -> T:
    """The request's JSON body parsed straight into ``shape`` (``empty`` stands for a missing body)."""
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, CODE_BAD_REQUEST, f"the request body is larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        empty_result: T = validated(shape, empty, field_codes=field_codes)
        return empty_result
    try:
        result: T = TypeAdapter(shape).validate_json(raw)
    except ValidationError as exc:
        raise _error(exc, "body", field_codes) from None
    return result


def parse_query(request: Request, shape: type[M], *, field_codes: Mapping[str, int] = NO_CODES) -> M:
    """The query string as ``shape`` (a model whose fields are the parameters; unknown ones are ignored)."""
    return validated(shape, dict(request.query_params), root="query", field_codes=field_codes)
