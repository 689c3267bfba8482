"""The one way kvstack sends a request to the Cloudflare API: retries, the shared limiter, the budget.

Why retries live here and the SDK's own are off (``max_retries=0``): the SDK ignores a ``Retry-After``
above 60 s and then backs off for at most 8 s, straight back into the limit; its retries are invisible
to budget accounting and bypass a shared rate limiter; and two retry layers multiply attempts. Here
every attempt, first or retried, waits for the one limiter, is counted, and a 429's ``Retry-After``
pauses every thread at once.

Fail fast, then be patient (:class:`RunGuard`): a first request that cannot connect (or gets no answer)
or is refused with 401, or 403 code 10000/9109, ends the run at once; after that, 429s and 5xx and drops
are retried, but never past the run's deadline. Once the guard has a fatal error every later request
raises it without touching the network, so the remaining checks end in milliseconds and the command
reports that one error (exit 2).
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Final

import httpx

from kvstack.cloudflare._budget import Budget
from kvstack.cloudflare._limiter import RateLimiter
from kvstack.errors import AuthenticationError, CloudflareError

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_RETRY_WAIT",
    "FATAL_AUTH_CODES",
    "ResilientTransport",
    "RunAborted",
    "RunGuard",
    "retry_after_seconds",
]

# Cloudflare's "Authentication error" and "Invalid access token": the token itself is refused.
FATAL_AUTH_CODES: Final = frozenset({10000, 9109})


def _api_base(request: httpx.Request) -> str:
    """The API's base URL as users give it (``…/client/v4``), from a request's URL."""
    url = str(request.url)
    cut = url.find("/client/v4")
    return url[: cut + len("/client/v4")] if cut >= 0 else f"{request.url.scheme}://{request.url.netloc.decode()}"


class RunAborted(httpx.TransportError):
    """Raised by the transport once the run has a fatal error; ``error`` is the typed one to report."""

    def __init__(self, error: CloudflareError) -> None:
        super().__init__(error.message)
        self.error = error


class RunGuard:
    """One run's fail-fast state, shared by every request of the run: its deadline and its fatal error."""

    def __init__(
        self,
        *,
        deadline_seconds: float | None = None,
        token_source: str = "the API token",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.seconds = deadline_seconds
        self.deadline = None if deadline_seconds is None else clock() + deadline_seconds
        self.token_source = token_source
        self.answered = False
        self.fatal: CloudflareError | None = None
        self._lock = threading.Lock()

    def abort(self, error: CloudflareError) -> RunAborted:
        with self._lock:
            if self.fatal is None:
                self.fatal = error
            return RunAborted(self.fatal)

    def check(self) -> None:
        if self.fatal is not None:
            raise RunAborted(self.fatal)

    def bound(self, request: httpx.Request) -> None:
        """No attempt may outlive the deadline: its timeouts are cut to the time left (none left: abort)."""
        if self.deadline is None:
            return
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise self.abort(
                CloudflareError(
                    f"the run's deadline of {self.seconds:g} s passed before {request.method} {request.url}",
                    hint="the API is slow or overloaded; try again later, or allow more time with --timeout",
                )
            )
        timeouts = request.extensions.get("timeout") or dict.fromkeys(("connect", "read", "write", "pool"))
        request.extensions["timeout"] = {k: remaining if v is None else min(v, remaining) for k, v in timeouts.items()}

    def first_answer(self, request: httpx.Request, response: httpx.Response) -> None:
        """The run's first answer: a refused token ends the run; later 401/403s are the checks' business."""
        if self.answered:
            return
        self.answered = True
        refused = self.refused(request, response)
        if refused is not None:
            response.close()
            raise refused

    def unreachable(self, request: httpx.Request, exc: Exception) -> RunAborted:
        return self.abort(
            CloudflareError(
                f"could not reach the Cloudflare API at {_api_base(request)}: {request.method} {request.url.path} "
                f"failed on the run's first request ({type(exc).__name__}: {exc})",
                hint="check the API URL (--api-url, CLOUDFLARE_API_BASE_URL) and the network; for the local "
                "Cloudflare start `kvstack local up` and pass --local",
            )
        )

    def refused(self, request: httpx.Request, response: httpx.Response) -> RunAborted | None:
        """The run's error when ``response`` refuses the token itself (401, or 403 with code 10000/9109)."""
        details: dict[int, str] = {}
        try:
            errors = json.loads(response.content).get("errors") or []
            details = {
                e["code"]: str(e.get("message", ""))
                for e in errors
                if isinstance(e, dict) and isinstance(e.get("code"), int)
            }
        except (ValueError, AttributeError):
            pass
        codes = set(details)
        if response.status_code != 401 and not (response.status_code == 403 and codes & FATAL_AUTH_CODES):
            return None
        shown = ": " + "; ".join(f"{c} {t}".strip() for c, t in sorted(details.items())) if details else ""
        return self.abort(
            AuthenticationError(
                f"the Cloudflare API at {_api_base(request)} refused the token: {request.method} {request.url.path} "
                f"answered HTTP {response.status_code}{shown}",
                status=response.status_code,
                codes=tuple(sorted(codes)),
                hint=f"the token comes from {self.token_source}: set it to a valid token of this account that can "
                "read KV, Pages, Workers and API tokens",
            )
        )

    def past_deadline(self, request: httpx.Request, wait: float, reason: str) -> RunAborted | None:
        if self.deadline is None or self.clock() + wait <= self.deadline:
            return None
        return self.abort(
            CloudflareError(
                f"the run's deadline of {self.seconds:g} s passed: {request.method} {request.url} kept failing "
                f"({reason})",
                hint="the API is unreachable or overloaded; try again later, or allow more time with --timeout",
            )
        )


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
            guard.check()
            attempt += 1
            last = attempt >= self.max_attempts
            self.limiter.acquire()
            self.budget.add(api_requests=1)
            guard.bound(request)
            try:
                response = self.inner.handle_request(request)
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            except httpx.TransportError as exc:
                self.budget.add(connection_errors=1)
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if never_sent and not guard.answered:
                    raise guard.unreachable(request, exc) from exc
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
            guard.first_answer(request, response)
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
