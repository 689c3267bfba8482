"""What every route handler shares: settings, the account store, knobs, the storage client and pending writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from starlette.requests import Request

from kvstack.local.api.auth import authenticate, require
from kvstack.local.api.envelope import ApiError, StorageUnavailable
from kvstack.local.api.knobs import Knobs, RequestLog
from kvstack.local.api.limits import CODE_AUTH, CODE_INTERNAL, CODE_NAMESPACE_NOT_FOUND
from kvstack.local.api.store import Store
from kvstack.local.api.writebehind import WriteBehind
from kvstack.permissions import Capability

__all__ = ["Context", "Settings", "context_of"]


@dataclass(frozen=True)
class Settings:
    state: Path
    account_id: str
    storage_url: str
    account_name: str = "kvstack local account"


@dataclass
class Context:
    settings: Settings
    store: Store
    knobs: Knobs
    writes: WriteBehind
    log: RequestLog = field(default_factory=RequestLog)
    storage: httpx.AsyncClient | None = None
    bootstrap_id: str = ""  # the id of the token that may call the admin routes (see app.ensure_bootstrap_token)

    def client(self) -> httpx.AsyncClient:
        if self.storage is None:
            self.storage = httpx.AsyncClient(
                base_url=f"{self.settings.storage_url}/cdn-cgi/explorer/api/storage/kv/namespaces",
                timeout=httpx.Timeout(60.0, connect=5.0),
                limits=httpx.Limits(max_connections=32),
                # Plain HTTP on loopback: no CA bundle to load, no proxy from the environment (see loopback.py).
                verify=False,
                trust_env=False,
            )
        return self.storage

    async def explorer(self, method: str, namespace: str, path: str = "", **kwargs: Any) -> httpx.Response:
        """A call to Miniflare's explorer API for ``namespace``; its failure is a 500 + 10001."""
        try:
            return await self.client().request(method, f"/{namespace}{path}", **kwargs)
        except httpx.HTTPError as exc:
            raise StorageUnavailable(500, CODE_INTERNAL, f"KV storage unavailable: {type(exc).__name__}") from exc

    def authorize(self, request: Request, capability: Capability | None) -> dict[str, Any]:
        """The caller's token, checked for this account and ``capability`` (None: any valid token)."""
        token = authenticate(request, self.store)
        account = request.path_params.get("account_id")
        if account is not None and account != self.settings.account_id:
            raise ApiError(403, CODE_AUTH, f"Authentication error: no access to account {account}")
        if capability is not None:
            require(token, self.settings.account_id, capability)
        return token

    def namespace(self, namespace_id: str) -> dict[str, Any]:
        found = self.store.namespaces.get(namespace_id)
        if found is None:
            raise ApiError(404, CODE_NAMESPACE_NOT_FOUND, "namespace not found")
        return found


def context_of(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


def key_path(key: str) -> str:
    """A key as one URL path segment (``/`` and ``:`` included): Cloudflare wants keys percent-encoded."""
    return quote(key, safe="")
