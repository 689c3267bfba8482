"""Calls to the admin routes, for `kvstack local` and tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kvstack.cloudflare import envelope_error, mapped_errors
from kvstack.local.loopback import loopback_client

__all__ = ["clear_requests", "register_script", "request_log", "set_knobs"]


def _call(method: str, url: str, token: str, **kwargs: Any) -> Any:
    """The result of an admin route; errors mapped by :mod:`kvstack.cloudflare` like every API call's."""
    what = f"{method} {url}"
    with mapped_errors(what, where=url), loopback_client(timeout=30.0) as client:
        response = client.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("success"):
        raise envelope_error(what, response.status_code, body)
    return body.get("result")


def register_script(api_url: str, token: str, name: str, bindings: Sequence[dict[str, str]]) -> None:
    _call("PUT", f"{api_url}/__kvstack/scripts/{name}", token, json={"bindings": list(bindings)})


def set_knobs(api_url: str, token: str, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = _call("PUT", f"{api_url}/__kvstack/knobs", token, json=changes)
    return result


def request_log(api_url: str, token: str, since: int = 0) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _call("GET", f"{api_url}/__kvstack/requests", token, params={"since": since})
    return result


def clear_requests(api_url: str, token: str) -> None:
    _call("DELETE", f"{api_url}/__kvstack/requests", token)
