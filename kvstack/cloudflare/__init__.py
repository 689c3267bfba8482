"""The adapter over the official Cloudflare SDK: every call kvstack makes to the Cloudflare API (real or local).

One place owns how requests are sent and how their failures read::

    CloudflareApi (_api) ── the operations kvstack needs (namespaces, keys, bulk get, Pages, scripts, tokens)
      └─ cloudflare.Cloudflare (the SDK, max_retries=0) ── paths, auth, bodies
           └─ RunSession (_session): httpx.Client ── ResilientTransport (_transport)
                ── RunGuard (_guard: fail fast, the run's deadline) ── RateLimiter (_limiter) ── Budget (_budget)
    mapped_errors (_errors) ── the one map from SDK/httpx errors to kvstack's typed errors

Every SDK client in kvstack (the checks, the audit, the local apply) is built here (:func:`connect`,
:attr:`CloudflareApi.sdk`), and everything that fails is re-raised as a :class:`~kvstack.errors.CloudflareError`
(or a subclass) with the method, the path and Cloudflare's codes. Token values never appear in messages.
"""

from __future__ import annotations

from kvstack.cloudflare._api import CloudflareApi, KvEntry, Namespace, connect
from kvstack.cloudflare._budget import Budget
from kvstack.cloudflare._errors import (
    UNREACHABLE_HINT,
    envelope_error,
    mapped_errors,
    status_error,
    unreachable_error,
)
from kvstack.cloudflare._guard import DEFAULT_RUN_DEADLINE, FIRST_ANSWER_TIMEOUT, RunAborted, RunGuard
from kvstack.cloudflare._limiter import DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW, RateLimiter
from kvstack.cloudflare._session import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT, ApiSettings, RunSession
from kvstack.cloudflare._transport import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RETRY_WAIT,
    ResilientTransport,
    retry_after_seconds,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_MAX_RETRY_WAIT",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RATE_WINDOW",
    "DEFAULT_RUN_DEADLINE",
    "DEFAULT_TIMEOUT",
    "FIRST_ANSWER_TIMEOUT",
    "UNREACHABLE_HINT",
    "ApiSettings",
    "Budget",
    "CloudflareApi",
    "KvEntry",
    "Namespace",
    "RateLimiter",
    "ResilientTransport",
    "RunAborted",
    "RunGuard",
    "RunSession",
    "connect",
    "envelope_error",
    "mapped_errors",
    "retry_after_seconds",
    "status_error",
    "unreachable_error",
]
