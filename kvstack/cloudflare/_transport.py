"""The one way kvstack sends a request to the Cloudflare API: retries, the shared limiter, the budget.

Why retries live here and the SDK's own are off (``max_retries=0``): the SDK ignores a ``Retry-After``
above 60 s and then backs off for at most 8 s, straight back into the limit; its retries are invisible
to budget accounting and bypass a shared rate limiter; and two retry layers multiply attempts. Here
every attempt, first or retried, waits for the one limiter, is counted, and a 429's ``Retry-After``
pauses every thread at once.

Fail fast, then be patient: every attempt passes the run's :class:`~kvstack.cloudflare._guard.RunGuard`
first, which ends the run on a first request that cannot connect or a refused token, and stops retries
at the run's deadline.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable
from typing import Final

import httpx

from kvstack.cloudflare._budget import Budget
from kvstack.cloudflare._guard import RunGuard
from kvstack.cloudflare._limiter import RateLimiter

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_RETRY_WAIT",
    "ResilientTransport",
    "retry_after_seconds",
]

# With 10% 429s, 5% 500s and 2% dropped connections, 10 attempts fail together about once in 10^8 requests.
DEFAULT_MAX_ATTEMPTS: Final = 10
# A Retry-After longer than this is not waited out: the run fails with RateLimitedError instead.
DEFAULT_MAX_RETRY_WAIT: Final = 300.0

_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# POSTs that read or delete, so sending them twice is harmless (a GraphQL analytics query only reads).
_SAFE_POST_RE: Final = re.compile(r"(/storage/kv/namespaces/[^/]+/bulk/(get|delete)|/graphql)$")


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date; None when absent or unreadable."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return max(0.0, float(email.utils.mktime_tz(parsed)) - (time.time() if now is None else now))


class ResilientTransport(httpx.BaseTransport):
    """Retries 429, 5xx and dropped connections around a real transport, through one limiter and budget.

    A response body is read inside the retry loop, so a connection dropped mid-body is retried too.
    A request that may change state (a POST other than bulk get/delete) is retried after a dropped
    connection or a 5xx only if it never reached the server, unless ``retry_writes`` says every
    request of this client is safe to send again (the local apply: find-or-create by title).
    """

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        limiter: RateLimiter,
        budget: Budget,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        retry_writes: bool = False,
        guard: RunGuard | None = None,
    ) -> None:
        self.inner = inner
        self.guard = guard or RunGuard()
        self.retry_writes = retry_writes
        self.limiter = limiter
        self.budget = budget
        self.max_attempts = max_attempts
        self.max_retry_wait = max_retry_wait
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep
        self.rng = rng or random.Random()

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: base·2^(attempt-1), capped, times 0.5–1."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + self.rng.random() / 2)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        safe = (
            self.retry_writes
            or request.method in _IDEMPOTENT_METHODS
            or (request.method == "POST" and _SAFE_POST_RE.search(request.url.path) is not None)
        )
        guard = self.guard
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            self.limiter.acquire()
            guard.check()  # the run may have ended while this request waited for the limiter
            guard.bound(request)
            self.budget.add(api_requests=1)
            try:
                response = self.inner.handle_request(request)
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            except httpx.TransportError as exc:
                self.budget.add(connection_errors=1)
                unreachable = guard.failed_to_answer(request, exc)
                if unreachable is not None:
                    raise unreachable from exc
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if last or not (safe or never_sent):
                    raise
                backoff = self.backoff(attempt)
                aborted = guard.past_deadline(request, backoff, f"{type(exc).__name__}: {exc}")
                if aborted is not None:
                    raise aborted from exc
                self.budget.add(retries=1)
                self.sleep(backoff)
                continue
            status = response.status_code
            guard.answered(request, response)
            if status in _RETRY_STATUSES and self._wait_to_retry(request, response, attempt, retry=safe and not last):
                continue
            if 200 <= status < 300:
                self.budget.count_kv(request, body)
            return response

    def _wait_to_retry(self, request: httpx.Request, response: httpx.Response, attempt: int, *, retry: bool) -> bool:
        """For a 429 or 5xx: count it, and wait before trying again (True) or hand it to the SDK (False)."""
        status = response.status_code
        self.budget.add(**{"rate_limited" if status == 429 else "server_errors": 1})
        if not (retry or (status == 429 and attempt < self.max_attempts)):
            return False
        wait = retry_after_seconds(response.headers)
        if wait is not None and wait > self.max_retry_wait:
            return False  # the SDK raises; the adapter maps it to RateLimitedError
        pause = wait if wait is not None else self.backoff(attempt)
        response.close()
        aborted = self.guard.past_deadline(request, pause, f"HTTP {status}")
        if aborted is not None:
            raise aborted
        self.budget.add(retries=1)
        if status == 429:
            # Everyone waits: the limit is per token, not per thread.
            self.limiter.pause(pause)
        else:
            self.sleep(pause)
        return True

    def close(self) -> None:
        self.inner.close()
