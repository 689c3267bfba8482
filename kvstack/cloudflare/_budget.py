"""What a run spent at the Cloudflare API: requests, retries, and KV operations as Cloudflare bills them."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

__all__ = ["Budget"]

_KV_PATH_RE: Final = re.compile(r"/accounts/[^/]+/storage/kv/namespaces/[^/]+/(keys|values/.+|metadata/.+|bulk(/.+)?)$")


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
