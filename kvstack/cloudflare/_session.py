"""What every adapter of one run shares: its settings, the HTTP client and transport, the guard, the pool.

ApiSettings ── where the API is, how hard kvstack may use it, the run's deadline
RunSession  ── httpx.Client ── ResilientTransport ── RunGuard, RateLimiter, Budget (one each per run)
            ── the worker pool; the official SDK client of any token of the run (``sdk``)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import cloudflare
import httpx

from kvstack.cloudflare._budget import Budget
from kvstack.cloudflare._guard import FIRST_ANSWER_TIMEOUT, RunGuard
from kvstack.cloudflare._limiter import DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW, RateLimiter
from kvstack.cloudflare._transport import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RETRY_WAIT, ResilientTransport

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_TIMEOUT", "ApiSettings", "RunSession"]

DEFAULT_CONCURRENCY: Final = 8
DEFAULT_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class ApiSettings:
    """Where the API is and how hard kvstack may use it."""

    account_id: str  # of CloudflareApi's operations; "" for an SDK user naming the account per call
    base_url: str | None = None  # None: https://api.cloudflare.com/client/v4
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_window: float = DEFAULT_RATE_WINDOW
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    timeout: float = DEFAULT_TIMEOUT
    # Retry a POST that may have changed state after a 5xx or a dropped connection (see ResilientTransport).
    retry_writes: bool = False
    # The whole run's deadline in seconds (None: no deadline), and how long its first request may wait; see RunGuard.
    deadline: float | None = None
    first_answer_timeout: float = FIRST_ANSWER_TIMEOUT
    # Where the run's token comes from (an environment variable, a state file), named when the API refuses it.
    token_source: str = "the API token"
    # What to do when the API refuses it (None: set token_source to a valid token); see RunGuard.
    token_hint: str | None = None


class RunSession:
    """What every CloudflareApi of one run shares: the HTTP client, guard, limiter, budget and worker pool."""

    def __init__(
        self,
        settings: ApiSettings,
        token: str,
        *,
        limiter: RateLimiter | None = None,
        budget: Budget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter or RateLimiter(settings.rate_limit, settings.rate_window, sleep=sleep)
        self.budget = budget or Budget()
        self.guard = RunGuard(
            deadline_seconds=settings.deadline,
            token=token,
            token_source=settings.token_source,
            token_hint=settings.token_hint,
            first_answer_timeout=settings.first_answer_timeout,
            clock=clock,
        )
        pool_size = settings.concurrency + 4
        limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self.transport = ResilientTransport(
            httpx.HTTPTransport(limits=limits),
            limiter=self.limiter,
            budget=self.budget,
            max_attempts=settings.max_attempts,
            max_retry_wait=settings.max_retry_wait,
            sleep=sleep,
            rng=rng,
            retry_writes=settings.retry_writes,
            guard=self.guard,
        )
        self.http = httpx.Client(transport=self.transport, timeout=settings.timeout, follow_redirects=True)
        self.pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="kvstack-cf")

    def sdk(self, token: str) -> cloudflare.Cloudflare:
        """The official SDK speaking with ``token`` through this run's transport."""
        return cloudflare.Cloudflare(
            api_token=token,
            base_url=self.settings.base_url,
            max_retries=0,  # retries are the transport's; see _transport.py
            http_client=self.http,
            timeout=self.settings.timeout,
        )

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()
