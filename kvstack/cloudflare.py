"""The adapter over the official Cloudflare SDK: every call kvstack makes to the Cloudflare API (real or local).

One place owns how requests are sent::

    CloudflareApi ── the operations kvstack needs (namespaces, keys, bulk get, Pages, scripts, tokens)
      └─ cloudflare.Cloudflare (the SDK, max_retries=0) ── paths, auth, bodies
           └─ httpx.Client ── ResilientTransport ── RateLimiter (shared) ── Budget (shared) ── network

Why retries live in the transport and the SDK's own are off (``max_retries=0``): the SDK ignores a
``Retry-After`` above 60 s and then backs off for at most 8 s, straight back into the limit; its retries
are invisible to budget accounting and bypass a shared rate limiter; and two retry layers multiply
attempts. In the transport every attempt, first or retried, waits for the one limiter, is counted,
and a 429's ``Retry-After`` pauses every thread at once.

Everything that fails is re-raised as a :class:`~kvstack.errors.CloudflareError` (or its subclasses)
with the method, the path and Cloudflare's codes. Token values never appear in messages.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import cloudflare
import httpx

from kvstack.errors import AuthenticationError, CloudflareError, RateLimitedError
from kvstack.keyspace.limits import BULK_GET_MAX_KEYS, BULK_WRITE_MAX_ITEMS, LIST_KEYS_MAX
from kvstack.keyspace.scan import ListedKey

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RATE_WINDOW",
    "ApiSettings",
    "Budget",
    "CloudflareApi",
    "KvEntry",
    "Namespace",
    "RateLimiter",
    "ResilientTransport",
    "connect",
]

# Cloudflare's global API limit: 1,200 requests per 5 minutes per user or token.
DEFAULT_RATE_LIMIT: Final = 1200
DEFAULT_RATE_WINDOW: Final = 300.0
DEFAULT_CONCURRENCY: Final = 8
# With 10% 429s, 5% 500s and 2% dropped connections, 10 attempts fail together about once in 10^8 requests.
DEFAULT_MAX_ATTEMPTS: Final = 10
# A Retry-After longer than this is not waited out: the run fails with RateLimitedError instead.
DEFAULT_MAX_RETRY_WAIT: Final = 300.0
DEFAULT_TIMEOUT: Final = 30.0

_RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# POSTs that read or delete, so sending them twice is harmless (a GraphQL analytics query only reads).
_SAFE_POST_RE: Final = re.compile(r"(/storage/kv/namespaces/[^/]+/bulk/(get|delete)|/graphql)$")
_KV_PATH_RE: Final = re.compile(r"/accounts/[^/]+/storage/kv/namespaces/[^/]+/(keys|values/.+|metadata/.+|bulk(/.+)?)$")

T = TypeVar("T")


class RateLimiter:
    """At most ``limit`` requests in any ``window`` seconds, shared by every thread; a 429 pauses all.

    A sliding log of send times: a request waits until the oldest send in the window has aged out.
    ``clock`` and ``sleep`` are injectable so tests never wait on the wall clock.
    """

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        window: float = DEFAULT_RATE_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                while self._sent and self._sent[0] <= now - self.window:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.limit:
                    wait = max(wait, self._sent[0] + self.window - now)
                if wait <= 0:
                    self._sent.append(now)
                    self.waited += waited
                    return waited
            self.sleep(wait)
            waited += wait

    def pause(self, seconds: float) -> None:
        """Cloudflare said ``Retry-After: seconds``: nobody sends before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)


@dataclass
class Budget:
    """What a run spent, counted at the transport: every attempt is an API request.

    KV operations are counted as Cloudflare bills them and only when they succeeded: a bulk get of
    100 keys is 100 reads, a list page is 1 list, a bulk delete of n keys is n deletes.
    """

    api_requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    connection_errors: int = 0
    kv_reads: int = 0
    kv_writes: int = 0
    kv_deletes: int = 0
    kv_lists: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "api_requests": self.api_requests,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "server_errors": self.server_errors,
                "connection_errors": self.connection_errors,
                "kv_reads": self.kv_reads,
                "kv_writes": self.kv_writes,
                "kv_deletes": self.kv_deletes,
                "kv_lists": self.kv_lists,
            }

    def count_kv(self, request: httpx.Request, body: bytes) -> None:
        """Count the KV operations of a request that succeeded."""
        found = _KV_PATH_RE.search(request.url.path)
        if found is None:
            return
        kind, method = found.group(1), request.method
        if kind == "keys" and method == "GET":
            self.add(kv_lists=1)
        elif kind.startswith(("values/", "metadata/")):
            name = {"GET": "kv_reads", "PUT": "kv_writes", "DELETE": "kv_deletes"}.get(method)
            if name:
                self.add(**{name: 1})
        elif kind == "bulk/get":
            self.add(kv_reads=len(_json_field(body, "keys")))
        elif kind == "bulk" and method == "PUT":
            self.add(kv_writes=len(_json_list(body)))
        elif kind == "bulk/delete" or (kind == "bulk" and method == "DELETE"):
            self.add(kv_deletes=len(_json_list(body)))


def _json_list(body: bytes) -> list[Any]:
    try:
        data = json.loads(body or b"[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def _json_field(body: bytes, name: str) -> list[Any]:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return []
    value = data.get(name) if isinstance(data, dict) else None
    return value if isinstance(value, list) else []


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
    connection or a 5xx only if it never reached the server.
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
    ) -> None:
        self.inner = inner
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
        safe = request.method in _IDEMPOTENT_METHODS or (
            request.method == "POST" and _SAFE_POST_RE.search(request.url.path) is not None
        )
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            self.limiter.acquire()
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
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if last or not (safe or never_sent):
                    raise
                self.budget.add(retries=1)
                self.sleep(self.backoff(attempt))
                continue
            status = response.status_code
            if status in _RETRY_STATUSES:
                if status == 429:
                    self.budget.add(rate_limited=1)
                else:
                    self.budget.add(server_errors=1)
                if not last and (status == 429 or safe):
                    wait = retry_after_seconds(response.headers)
                    if wait is not None and wait > self.max_retry_wait:
                        return response  # the SDK raises; the adapter maps it to RateLimitedError
                    response.close()
                    self.budget.add(retries=1)
                    if status == 429:
                        # Everyone waits: the limit is per token, not per thread.
                        self.limiter.pause(wait if wait is not None else self.backoff(attempt))
                    else:
                        self.sleep(wait if wait is not None else self.backoff(attempt))
                    continue
            if 200 <= status < 300:
                self.budget.count_kv(request, body)
            return response

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True)
class ApiSettings:
    """Where the API is and how hard kvstack may use it."""

    account_id: str
    base_url: str | None = None  # None: https://api.cloudflare.com/client/v4
    rate_limit: int = DEFAULT_RATE_LIMIT
    rate_window: float = DEFAULT_RATE_WINDOW
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Namespace:
    id: str
    title: str


@dataclass(frozen=True)
class KvEntry:
    """A value read with its expiration (unix seconds, None if it never expires) and metadata."""

    value: str
    expiration: float | None
    metadata: object


class _Shared:
    """What every CloudflareApi of one run shares: the HTTP client, limiter, budget and worker pool."""

    def __init__(
        self,
        settings: ApiSettings,
        limiter: RateLimiter | None,
        budget: Budget | None,
        sleep: Callable[[float], None],
        rng: random.Random | None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter or RateLimiter(settings.rate_limit, settings.rate_window, sleep=sleep)
        self.budget = budget or Budget()
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
        )
        self.http = httpx.Client(transport=self.transport, timeout=settings.timeout, follow_redirects=True)
        self.pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="kvstack-cf")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.http.close()


def connect(
    token: str,
    settings: ApiSettings,
    *,
    limiter: RateLimiter | None = None,
    budget: Budget | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> CloudflareApi:
    """The adapter for ``token`` at ``settings.base_url``; close it (or use ``with``) when done.

    ``limiter`` and ``budget`` may be shared with other adapters of the same run; ``sleep`` and ``rng``
    are for tests (virtual time, seeded jitter).
    """
    return CloudflareApi(token, _Shared(settings, limiter, budget, sleep, rng), owner=True)


class CloudflareApi:
    """The Cloudflare operations kvstack uses, each mapped to typed errors. Thread-safe.

    Also the :class:`~kvstack.keyspace.scan.KeySource` of keyspace scans.
    """

    def __init__(self, token: str, shared: _Shared, *, owner: bool = False) -> None:
        self._shared = shared
        self._owner = owner
        self.account_id = shared.settings.account_id
        self.sdk = cloudflare.Cloudflare(
            api_token=token,
            base_url=shared.settings.base_url,
            max_retries=0,  # retries are the transport's; see the module docstring
            http_client=shared.http,
            timeout=shared.settings.timeout,
        )

    def __repr__(self) -> str:
        return f"CloudflareApi(account_id={self.account_id!r}, base_url={self._shared.settings.base_url!r})"

    def __enter__(self) -> CloudflareApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owner:
            self._shared.close()

    @property
    def budget(self) -> Budget:
        return self._shared.budget

    @property
    def settings(self) -> ApiSettings:
        return self._shared.settings

    def with_token(self, token: str) -> CloudflareApi:
        """The same adapter speaking with another token (same limiter, budget and pool)."""
        return CloudflareApi(token, self._shared)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on the bounded worker pool."""
        return self._shared.pool.submit(fn, *args)

    # -- plumbing ---------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], Any], *, missing_ok: bool = False) -> Any:
        """Run an SDK raw-response call; the envelope's ``result`` as JSON data, None if 404 and ``missing_ok``."""
        try:
            raw = call()
        except cloudflare.APIStatusError as exc:
            if missing_ok and exc.status_code == 404:
                return None
            raise _status_error(what, exc) from exc
        except cloudflare.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise CloudflareError(
                f"{what}: could not reach the Cloudflare API at {self.sdk.base_url} "
                f"after {self.settings.max_attempts} attempts ({type(cause).__name__}: {cause})",
                hint="check the network or that `kvstack local up` is running",
            ) from exc
        http: httpx.Response = raw.http_response
        try:
            envelope = http.json()
        except ValueError as exc:
            raise CloudflareError(f"{what}: the API answered HTTP {http.status_code} with non-JSON") from exc
        if not isinstance(envelope, dict) or envelope.get("success") is False:
            raise CloudflareError(f"{what}: the API answered an error envelope: {_errors_text(envelope)}")
        return envelope

    # -- namespaces -------------------------------------------------------------------------------

    def get_namespace(self, namespace_id: str) -> Namespace | None:
        """The namespace, or None if the account has no namespace with this id."""
        envelope = self._call(
            f"get namespace {namespace_id}",
            lambda: self.sdk.kv.namespaces.with_raw_response.get(namespace_id, account_id=self.account_id),
            missing_ok=True,
        )
        if envelope is None:
            return None
        result = envelope["result"]
        return Namespace(id=result["id"], title=result["title"])

    def list_namespaces(self) -> list[Namespace]:
        """Every namespace of the account (100 per request)."""
        found: list[Namespace] = []
        page = 1
        while True:
            envelope = self._call(
                "list namespaces",
                lambda page=page: self.sdk.kv.namespaces.with_raw_response.list(  # type: ignore[misc]
                    account_id=self.account_id, page=page, per_page=100
                ),
            )
            items = envelope.get("result") or []
            found.extend(Namespace(id=n["id"], title=n["title"]) for n in items)
            info = envelope.get("result_info") or {}
            total = info.get("total_count")
            if not items or (isinstance(total, int) and len(found) >= total):
                return found
            page += 1

    # -- keys and values --------------------------------------------------------------------------

    def list_key_pages(self, namespace_id: str, prefix: str | None = None) -> Iterator[Sequence[ListedKey]]:
        """Every key, 1,000 per request, page by page.

        Not the SDK's auto-pagination: it stops at the first empty page, and Cloudflare may return
        an empty page (with a cursor) before the list is complete. The cursor alone says when it is.
        """
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"account_id": self.account_id, "limit": LIST_KEYS_MAX}
            if cursor:
                params["cursor"] = cursor
            if prefix:
                params["prefix"] = prefix
            envelope = self._call(
                f"list keys of namespace {namespace_id}",
                lambda params=params: self.sdk.kv.namespaces.keys.with_raw_response.list(  # type: ignore[misc]
                    namespace_id, **params
                ),
            )
            yield [_listed(item) for item in envelope.get("result") or []]
            cursor = (envelope.get("result_info") or {}).get("cursor") or None
            if cursor is None:
                return
            if cursor in seen:
                raise CloudflareError(f"list keys of namespace {namespace_id}: the API repeated cursor {cursor!r}")
            seen.add(cursor)

    def list_keys(self, namespace_id: str, prefix: str | None = None) -> list[ListedKey]:
        return [key for page in self.list_key_pages(namespace_id, prefix) for key in page]

    def bulk_get(self, namespace_id: str, keys: Sequence[str]) -> dict[str, str | None]:
        """Up to 100 values as text in one request; None for a key that does not exist."""
        entries = self._bulk_get(namespace_id, keys, with_metadata=False)
        return {k: (v if isinstance(v, str) or v is None else json.dumps(v)) for k, v in entries.items()}

    def submit_bulk_get(self, namespace_id: str, keys: Sequence[str]) -> Future[Mapping[str, str | None]]:
        """:meth:`bulk_get` on the worker pool (the scan's KeySource)."""
        return self._shared.pool.submit(self.bulk_get, namespace_id, list(keys))

    def get_entries(self, namespace_id: str, keys: Sequence[str]) -> dict[str, KvEntry | None]:
        """Up to 100 values with expiration and metadata in one request."""
        entries = self._bulk_get(namespace_id, keys, with_metadata=True)
        result: dict[str, KvEntry | None] = {}
        for key, item in entries.items():
            if not isinstance(item, dict):
                result[key] = None
                continue
            value = item.get("value")
            expiration = item.get("expiration")
            result[key] = KvEntry(
                value=value if isinstance(value, str) else json.dumps(value),
                expiration=float(expiration) if isinstance(expiration, int | float) and expiration else None,
                metadata=item.get("metadata"),
            )
        return result

    def get_entry(self, namespace_id: str, key: str) -> KvEntry | None:
        return self.get_entries(namespace_id, [key]).get(key)

    def _bulk_get(self, namespace_id: str, keys: Sequence[str], *, with_metadata: bool) -> dict[str, Any]:
        if len(keys) > BULK_GET_MAX_KEYS:
            raise ValueError(f"a bulk get reads at most {BULK_GET_MAX_KEYS} keys; got {len(keys)}")
        if not keys:
            return {}
        envelope = self._call(
            f"bulk get {len(keys)} keys of namespace {namespace_id}",
            lambda: self.sdk.kv.namespaces.with_raw_response.bulk_get(
                namespace_id, account_id=self.account_id, keys=list(keys), type="text", with_metadata=with_metadata
            ),
        )
        values = (envelope.get("result") or {}).get("values") or {}
        return {key: values.get(key) for key in keys}

    def put_value(
        self,
        namespace_id: str,
        key: str,
        value: str,
        *,
        ttl: int | None = None,
        metadata: object | None = None,
    ) -> None:
        """Write one value (expiring after ``ttl`` seconds if given)."""
        extra: dict[str, Any] = {}
        if ttl is not None:
            extra["expiration_ttl"] = ttl
        if metadata is not None:
            extra["metadata"] = json.dumps(metadata)
        self._call(
            f"write key {key!r} of namespace {namespace_id}",
            lambda: self.sdk.kv.namespaces.values.with_raw_response.update(
                key, account_id=self.account_id, namespace_id=namespace_id, value=value.encode("utf-8"), **extra
            ),
        )

    def delete_keys(self, namespace_id: str, keys: Sequence[str]) -> None:
        """Delete keys, 10,000 per request; keys that do not exist are fine."""
        for start in range(0, len(keys), BULK_WRITE_MAX_ITEMS):
            chunk = list(keys[start : start + BULK_WRITE_MAX_ITEMS])
            self._call(
                f"delete {len(chunk)} keys of namespace {namespace_id}",
                lambda chunk=chunk: self.sdk.kv.namespaces.with_raw_response.bulk_delete(  # type: ignore[misc]
                    namespace_id, account_id=self.account_id, body=chunk
                ),
            )

    # -- Pages, Workers, tokens -------------------------------------------------------------------

    def get_pages_project(self, name: str) -> dict[str, Any] | None:
        """The Pages project as JSON data, or None if it does not exist."""
        envelope = self._call(
            f"get Pages project {name}",
            lambda: self.sdk.pages.projects.with_raw_response.get(name, account_id=self.account_id),
            missing_ok=True,
        )
        return None if envelope is None else dict(envelope["result"])

    def get_script_settings(self, script: str) -> dict[str, Any] | None:
        """A Worker's settings (bindings, compatibility date…), or None if no such script is deployed."""
        envelope = self._call(
            f"get settings of Worker {script}",
            lambda: self.sdk.workers.scripts.script_and_version_settings.with_raw_response.get(
                script, account_id=self.account_id
            ),
            missing_ok=True,
        )
        return None if envelope is None else dict(envelope["result"])

    def verify_token(self) -> dict[str, Any]:
        """Verify this adapter's own token: its id, status and expiry.

        kvstack's tokens are account-owned (``/accounts/<id>/tokens/verify``); a user token only verifies
        at ``/user/tokens/verify``, so that is asked when the account endpoint refuses the token.
        """
        try:
            envelope = self._call(
                "verify account token",
                lambda: self.sdk.accounts.tokens.with_raw_response.verify(account_id=self.account_id),
            )
        except CloudflareError as account_error:
            if account_error.status not in (401, 403, 404):
                raise
            try:
                envelope = self._call("verify user token", self.sdk.user.tokens.with_raw_response.verify)
            except CloudflareError:
                raise account_error from None
        return dict(envelope["result"])

    def get_token(self, token_id: str) -> dict[str, Any] | None:
        """A token's details (status, expiry, policies): an account-owned token, else a user token."""
        envelope = self._call(
            f"get account token {token_id}",
            lambda: self.sdk.accounts.tokens.with_raw_response.get(token_id, account_id=self.account_id),
            missing_ok=True,
        )
        if envelope is None:
            envelope = self._call(
                f"get user token {token_id}",
                lambda: self.sdk.user.tokens.with_raw_response.get(token_id),
                missing_ok=True,
            )
        return None if envelope is None else dict(envelope["result"])


def _listed(item: Mapping[str, Any]) -> ListedKey:
    expiration = item.get("expiration")
    exp = float(expiration) if isinstance(expiration, int | float) and expiration else None
    if "metadata" in item:
        return ListedKey(item["name"], exp, item["metadata"])
    return ListedKey(item["name"], exp)


def _errors_text(body: object) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return "no error details"
    return "; ".join(
        f"{e.get('code', '?')} {e.get('message', '')}".strip() if isinstance(e, dict) else str(e) for e in errors
    )


def _codes(body: object) -> tuple[int, ...]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return tuple(e["code"] for e in errors or [] if isinstance(e, dict) and isinstance(e.get("code"), int))


def _status_error(what: str, exc: cloudflare.APIStatusError) -> CloudflareError:
    """The typed error for an HTTP error the SDK raised (after the transport's retries)."""
    status = exc.status_code
    request = exc.response.request
    where = f"{request.method} {request.url.path}"
    try:
        body: object = exc.response.json()
    except ValueError:
        body = None
    detail = _errors_text(body)
    codes = _codes(body)
    message = f"{what}: {where} answered HTTP {status}: {detail}"
    if status in (401, 403):
        return AuthenticationError(
            message,
            status=status,
            codes=codes,
            hint="the token is wrong, expired, or lacks the permission this request needs",
        )
    if status == 429:
        wait = retry_after_seconds(exc.response.headers)
        return RateLimitedError(
            message + (f" (Retry-After {wait:.0f} s)" if wait is not None else ""),
            status=status,
            codes=codes,
            hint="the API rate limit (1,200 requests per 5 minutes) is exhausted; wait, or lower --concurrency",
        )
    return CloudflareError(message, status=status, codes=codes)
