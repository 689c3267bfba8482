"""Calls to the admin routes, for `kvstack local` and tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from kvstack.cloudflare import envelope_error, mapped_errors
from kvstack.errors import KvstackError
from kvstack.local.loopback import loopback_client

__all__ = [
    "clear_requests",
    "pending_writes",
    "register_script",
    "request_log",
    "set_knobs",
    "store_pending_writes",
    "write_counts",
]

# How long `local down` waits for accepted writes to reach the storage; what is left stays in the journal.
STORE_BOUND_S = 120.0


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


def write_counts(api_url: str, token: str) -> dict[str, int]:
    """The write-behind's counts: ``pending`` (answered, not in the storage yet), ``in_flight``, ``stored``,
    ``refused``."""
    result: dict[str, int] = _call("GET", f"{api_url}/__kvstack/writes", token)
    return result


def pending_writes(api_url: str, token: str) -> int:
    """KV writes the API answered that are not in the storage yet (its write-behind)."""
    return int(write_counts(api_url, token)["pending"])


def store_pending_writes(
    api_url: str, token: str, progress: Callable[[str], None], bound: float = STORE_BOUND_S
) -> int:
    """Wait (up to ``bound`` s) until the API has stored every write it answered; the count still pending.

    An API that does not answer cannot be waited for (said): its journal keeps the writes for the next start.
    """
    try:
        pending = pending_writes(api_url, token)
        if pending:
            progress(f"storing {pending:,} accepted KV writes into the local storage …")
        deadline = time.monotonic() + bound
        while pending and time.monotonic() < deadline:
            time.sleep(0.5)
            pending = pending_writes(api_url, token)
    except KvstackError:
        progress(
            "the local API did not answer: any KV writes it answered and had not stored stay in its journal, "
            "and the next `kvstack local up` stores them"
        )
        return 0
    if pending:
        progress(
            f"{pending:,} accepted KV writes are not in the storage yet: the API's journal keeps them, "
            "and the next `kvstack local up` stores them"
        )
    return pending
