"""kvstack's client of the Upstash REST API (real or local): commands and pipelines, patient and counted.

The official ``upstash-redis`` client is what the apps use and what the local front is tested with; the
checks, audit and bench need two things it does not give: the HTTP status of a failure (a 429 or 5xx is
retried with backoff inside the run's deadline, a 401 ends the run at once) and a count of round trips
(the budget: one SCAN page and one pipeline per 1,000 keys). Replies are requested base64-encoded, as the
official clients do, so binary values survive; they are decoded to text here.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from kvstack.errors import AuthenticationError, CloudflareError, RateLimitedError

__all__ = ["ReplyError", "UpstashError", "UpstashRest"]

Arg = str | int | float


class UpstashError(CloudflareError):
    """The Upstash REST API refused a request or could not be reached (exit 2)."""


@dataclass(frozen=True)
class ReplyError:
    """One command's error inside a pipeline (``WRONGTYPE …``, ``NOPERM …``)."""

    message: str


class UpstashRest:
    """One REST endpoint and token. Never prints or logs the token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        retries: int = 6,
        deadline: float | None = None,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Upstash-Encoding": "base64"}
        self.retries = retries
        self.deadline = deadline
        self.sleep = sleep
        self.round_trips = 0
        self.retried = 0
        self.http = httpx.Client(timeout=timeout, trust_env=not self.url.startswith("http://127.0.0.1"))

    def __repr__(self) -> str:
        return f"UpstashRest(url={self.url!r}, token=<hidden>)"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> UpstashRest:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def command(self, *args: Arg) -> Any:
        """Run one command; its result, or UpstashError with the server's error line."""
        body = self._post("", list(args))
        if "error" in body:
            raise UpstashError(f"{args[0]} failed: {body['error']}", status=400)
        return _decode(body.get("result"))

    def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Run ``commands`` in one round trip; each result, or a :class:`ReplyError` in its place."""
        if not commands:
            return []
        answers = self._post("/pipeline", [list(command) for command in commands])
        if not isinstance(answers, list) or len(answers) != len(commands):
            raise UpstashError(f"the pipeline answered {type(answers).__name__} for {len(commands)} commands")
        return [ReplyError(a["error"]) if "error" in a else _decode(a.get("result")) for a in answers]

    def _post(self, path: str, body: Any) -> Any:
        attempt = 0
        while True:
            self.round_trips += 1
            try:
                response = self.http.post(self.url + path, json=body, headers=self._headers)
            except httpx.TransportError as exc:
                self._wait(attempt, None, f"the Upstash REST API at {self.url} did not answer ({type(exc).__name__})")
                attempt += 1
                continue
            if response.status_code == 401:
                raise AuthenticationError(
                    f"the Upstash REST API at {self.url} refused the token: {_error_of(response)}",
                    status=401,
                    hint="check the store's token in the stack's config secrets (or `kvstack local status`)",
                )
            if response.status_code == 429 or response.status_code >= 500:
                why = f"HTTP {response.status_code}: {_error_of(response)}"
                self._wait(attempt, response.headers.get("retry-after"), why, rate_limited=response.status_code == 429)
                attempt += 1
                continue
            try:
                return response.json()
            except ValueError as exc:
                raise UpstashError(f"the Upstash REST API answered HTTP {response.status_code} without JSON") from exc

    def _wait(self, attempt: int, retry_after: str | None, why: str, *, rate_limited: bool = False) -> None:
        pause = min(8.0, 0.2 * 2**attempt)
        if retry_after and retry_after.isdigit():
            pause = max(pause, float(retry_after))
        late = self.deadline is not None and time.monotonic() + pause > self.deadline
        if attempt >= self.retries or late:
            error = RateLimitedError if rate_limited else UpstashError
            raise error(f"{why}; gave up after {attempt + 1} attempt(s)", hint="retry later, or raise the deadline")
        self.retried += 1
        self.sleep(pause)


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("error", body))[:200] if isinstance(body, dict) else str(body)[:200]


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return value if value == "OK" else base64.b64decode(value).decode("utf-8", "replace")
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value
