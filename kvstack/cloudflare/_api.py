"""The Cloudflare operations kvstack needs, over the official SDK, and the SDK clients of every caller.

    CloudflareApi ── the operations kvstack needs (namespaces, keys, bulk get, Pages, scripts, tokens)
      └─ cloudflare.Cloudflare (the SDK, max_retries=0) ── paths, auth, bodies
           └─ RunSession (_session): httpx.Client ── ResilientTransport ── RunGuard, RateLimiter, Budget ── network

:func:`connect` builds one for the checks, the audit and the local apply; code that needs the SDK's typed
models uses its ``sdk`` (same client, transport and error map).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from kvstack.cloudflare._budget import Budget
from kvstack.cloudflare._errors import envelope_error, mapped_errors
from kvstack.cloudflare._limiter import RateLimiter
from kvstack.cloudflare._session import ApiSettings, RunSession
from kvstack.errors import CloudflareError
from kvstack.keyspace.limits import BULK_GET_MAX_KEYS, BULK_WRITE_MAX_ITEMS, LIST_KEYS_MAX
from kvstack.keyspace.scan import ListedKey

__all__ = ["CloudflareApi", "KvEntry", "Namespace", "connect"]

T = TypeVar("T")


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


def connect(
    token: str,
    settings: ApiSettings,
    *,
    limiter: RateLimiter | None = None,
    budget: Budget | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> CloudflareApi:
    """The adapter for ``token`` at ``settings.base_url``; close it (or use ``with``) when done.

    ``token`` is the run's own: the API refusing it at the first answer ends the run (see RunGuard).
    ``limiter`` and ``budget`` may be shared with other adapters of the same run; ``sleep``, ``clock``
    and ``rng`` are for tests (virtual time, seeded jitter).
    """
    session = RunSession(settings, token, limiter=limiter, budget=budget, sleep=sleep, clock=clock, rng=rng)
    return CloudflareApi(token, session, owner=True)


class CloudflareApi:
    """The Cloudflare operations kvstack uses, each mapped to typed errors. Thread-safe.

    Also the :class:`~kvstack.keyspace.scan.KeySource` of keyspace scans.
    """

    def __init__(self, token: str, session: RunSession, *, owner: bool = False) -> None:
        self._session = session
        self._owner = owner
        self.account_id = session.settings.account_id
        self.sdk = session.sdk(token)

    def __repr__(self) -> str:
        return f"CloudflareApi(account_id={self.account_id!r}, base_url={self._session.settings.base_url!r})"

    def __enter__(self) -> CloudflareApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owner:
            self._session.close()

    @property
    def budget(self) -> Budget:
        return self._session.budget

    @property
    def fatal(self) -> CloudflareError | None:
        """The error that ended the run early (token refused, API unreachable, deadline), if one did."""
        return self._session.guard.fatal

    def run_ended(self) -> CloudflareError | None:
        """:attr:`fatal`, or the deadline's error once it has passed (recorded as fatal); None: go on."""
        return self._session.guard.ended()

    @property
    def settings(self) -> ApiSettings:
        return self._session.settings

    def with_token(self, token: str) -> CloudflareApi:
        """The same adapter speaking with another token (same limiter, budget and pool)."""
        return CloudflareApi(token, self._session)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on the bounded worker pool."""
        return self._session.pool.submit(fn, *args)

    # -- plumbing ---------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], Any], *, missing_ok: bool = False) -> Any:
        """Run an SDK raw-response call; the envelope's ``result`` as JSON data, None if 404 and ``missing_ok``."""
        try:
            with self.errors(what):
                raw = call()
        except CloudflareError as error:
            if missing_ok and error.status == 404:
                return None
            raise
        http: httpx.Response = raw.http_response
        try:
            envelope = http.json()
        except ValueError as exc:
            raise envelope_error(what, http.status_code, None) from exc
        if not isinstance(envelope, dict) or envelope.get("success") is False:
            raise envelope_error(what, http.status_code, envelope)
        return envelope

    def errors(self, what: str) -> AbstractContextManager[None]:
        """A block whose SDK and httpx errors become kvstack's typed errors, naming ``what`` was being done."""
        return mapped_errors(what, where=str(self.sdk.base_url), attempts=self.settings.max_attempts)

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
        return self._session.pool.submit(self.bulk_get, namespace_id, list(keys))

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

    def list_pages_projects(self) -> list[dict[str, Any]]:
        """Every Pages project of the account as JSON data, page by page."""
        projects: list[dict[str, Any]] = []
        page = 1
        while True:
            envelope = self._call(
                f"list Pages projects (page {page})",
                lambda page=page: self.sdk.pages.projects.with_raw_response.list(  # type: ignore[misc]
                    account_id=self.account_id, page=page, per_page=10
                ),
            )
            items = envelope.get("result") or []
            projects.extend(dict(item) for item in items)
            total = (envelope.get("result_info") or {}).get("total_count")
            if not items or (isinstance(total, int) and len(projects) >= total):
                return projects
            page += 1

    def list_scripts(self) -> list[str]:
        """The names of every Worker script deployed in the account."""
        envelope = self._call(
            "list Worker scripts", lambda: self.sdk.workers.scripts.with_raw_response.list(account_id=self.account_id)
        )
        return [str(script.get("id")) for script in envelope.get("result") or []]

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
