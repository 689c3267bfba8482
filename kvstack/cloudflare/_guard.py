"""Fail fast, then be patient: one run's guard over every request it sends to the Cloudflare API.

The run ends at once (the guard keeps that one typed error) when

- its first request cannot connect, or gets no answer within :data:`FIRST_ANSWER_TIMEOUT`;
- the first answer to the run's own token refuses it: 401, or 403 with code 10000/9109;
- its deadline passes (``deadline_seconds``, counted from the run's first request, so that a slow start on a
  loaded machine does not eat it): no attempt outlives it, no retry waits past it.

After that every request of the run raises :class:`RunAborted` without touching the network, so the
remaining work ends in milliseconds and the command reports that one error (exit 2). Before it, 429s,
5xx and drops are retried by :class:`~kvstack.cloudflare._transport.ResilientTransport`.

Only the run's own token is judged: another token of the run being refused (a revoked runtime token a
check verifies) is that check's finding, not the end of the run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Final

import httpx

from kvstack.errors import AuthenticationError, CloudflareError

__all__ = ["DEFAULT_RUN_DEADLINE", "FATAL_AUTH_CODES", "FIRST_ANSWER_TIMEOUT", "RunAborted", "RunGuard"]

# Cloudflare's "Authentication error" and "Invalid access token": the token itself is refused.
FATAL_AUTH_CODES: Final = frozenset({10000, 9109})
# How long the run's first request may wait to connect or for an answer. Cloudflare answers a first small GET
# in well under a second; an API that has not answered in this long is taken as unreachable.
FIRST_ANSWER_TIMEOUT: Final = 10.0
# A whole check run's deadline: a run against the real Cloudflare, its flows waiting out eventual consistency,
# fits well inside it; an unreachable API or a refused token ends the run long before (see above).
DEFAULT_RUN_DEADLINE: Final = 300.0


def _api_base(request: httpx.Request) -> str:
    """The API's base URL as users give it (``…/client/v4``), from a request's URL."""
    url = str(request.url)
    cut = url.find("/client/v4")
    return url[: cut + len("/client/v4")] if cut >= 0 else f"{request.url.scheme}://{request.url.netloc.decode()}"


def _digest(authorization: str) -> bytes:
    return hashlib.sha256(authorization.encode()).digest()


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
        token: str | None = None,
        token_source: str = "the API token",
        token_hint: str | None = None,
        first_answer_timeout: float = FIRST_ANSWER_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.seconds = deadline_seconds
        self.deadline: float | None = None  # set at the run's first request
        self.token_source = token_source
        self.token_hint = token_hint or (
            f"set {token_source} to a valid token of this account that can read KV, Pages, Workers and API tokens "
            "(or point --api-url at the API that issued it)"
        )
        self.first_answer_timeout = first_answer_timeout
        # Only a digest of the header the SDK sends with the run's token (None: every token is the run's).
        self._own_authorization = None if token is None else _digest(f"Bearer {token}")
        self.reached = False  # the API has answered once: it is reachable
        self.judged = False  # the run's own token has had its first answer
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

    def ended(self) -> CloudflareError | None:
        """The run's fatal error, recording the deadline's passing as one; None while the run may go on."""
        if self.fatal is None and self.deadline is not None and self.clock() >= self.deadline:
            self.abort(self._deadline_error("before the run's remaining work could start"))
        return self.fatal

    def bound(self, request: httpx.Request) -> None:
        """Cut an attempt's timeouts to the time left (none left: abort), and to the first-answer timeout."""
        limit = None if self.reached else self.first_answer_timeout
        if self.seconds is not None:
            with self._lock:
                if self.deadline is None:
                    self.deadline = self.clock() + self.seconds
                deadline = self.deadline
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise self.abort(self._deadline_error(f"before {request.method} {request.url}"))
            limit = remaining if limit is None else min(limit, remaining)
        if limit is None:
            return
        timeouts = request.extensions.get("timeout") or dict.fromkeys(("connect", "read", "write", "pool"))
        request.extensions["timeout"] = {k: limit if v is None else min(v, limit) for k, v in timeouts.items()}

    def answered(self, request: httpx.Request, response: httpx.Response) -> None:
        """Every answer: the first one to the run's own token ends the run if it refuses that token.

        A token verification is not judged: a user token is refused at the account's endpoint and verified at
        the user's (CloudflareApi.verify_token asks both); the run's next request judges the token.
        """
        self.reached = True
        if self.judged or not self._is_own(request) or request.url.path.endswith("/tokens/verify"):
            return
        self.judged = True
        refused = self._refused(request, response)
        if refused is not None:
            response.close()
            raise refused

    def failed_to_answer(self, request: httpx.Request, exc: httpx.TransportError) -> RunAborted | None:
        """The run's error when its first request could not connect or got no answer; None otherwise.

        A connection dropped after the API answered once is no such error: that is retried.
        """
        if self.reached or not isinstance(exc, httpx.ConnectError | httpx.TimeoutException):
            return None
        return self.abort(
            CloudflareError(
                f"could not reach the Cloudflare API at {_api_base(request)}: the run's first request "
                f"{request.method} {request.url.path} failed ({type(exc).__name__}: {str(exc) or 'no answer'}); "
                "nothing was checked",
                hint="check the API URL (--api-url, CLOUDFLARE_API_BASE_URL) and the network, then run again "
                f"({self.token_source} is used once the API answers); for the local Cloudflare start "
                "`kvstack local up` and pass --local",
            )
        )

    def past_deadline(self, request: httpx.Request, wait: float, reason: str) -> RunAborted | None:
        """The run's error when waiting ``wait`` seconds to retry would pass the deadline; None otherwise."""
        if self.deadline is None or self.clock() + wait <= self.deadline:
            return None
        return self.abort(self._deadline_error(f"while {request.method} {request.url} kept failing ({reason})"))

    def _deadline_error(self, when: str) -> CloudflareError:
        return CloudflareError(
            f"the run's deadline of {self.seconds:g} s passed {when}",
            hint="the API is unreachable, slow or overloaded; try again later, or allow more time with --timeout "
            "(KVSTACK_TIMEOUT)",
        )

    def _is_own(self, request: httpx.Request) -> bool:
        if self._own_authorization is None:
            return True
        return hmac.compare_digest(_digest(request.headers.get("authorization", "")), self._own_authorization)

    def _refused(self, request: httpx.Request, response: httpx.Response) -> RunAborted | None:
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
                f"the Cloudflare API at {_api_base(request)} refused the token from {self.token_source}: "
                f"{request.method} {request.url.path} answered HTTP {response.status_code}{shown}; nothing was checked",
                status=response.status_code,
                codes=tuple(sorted(codes)),
                hint=self.token_hint,
            )
        )
