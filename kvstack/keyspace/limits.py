"""Cloudflare Workers KV limits that a key, a value, its metadata or a request can break, defined once.

From developers.cloudflare.com/kv/platform/limits and the API schema (see shared/cloudflare/FACTS.md).
"""

from __future__ import annotations

import json
from typing import Final

from kvstack.keyspace.findings import Finding

__all__ = [
    "BULK_GET_MAX_KEYS",
    "BULK_WRITE_MAX_ITEMS",
    "FORBIDDEN_KEY_NAMES",
    "LIST_KEYS_MAX",
    "MAX_KEY_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_VALUE_BYTES",
    "MIN_EXPIRATION_TTL",
    "check_key_limits",
]

MAX_KEY_BYTES: Final = 512
MAX_VALUE_BYTES: Final = 25 * 1024 * 1024
MAX_METADATA_BYTES: Final = 1024
# The smallest expiration_ttl a write may ask for; a listed key's *remaining* TTL can of course be lower.
MIN_EXPIRATION_TTL: Final = 60
# Keys that cannot be addressed in a URL path.
FORBIDDEN_KEY_NAMES: Final = frozenset({".", ".."})
# Requests: list keys returns at most 1,000 per page; bulk get reads at most 100 keys; bulk write/delete 10,000.
LIST_KEYS_MAX: Final = 1000
BULK_GET_MAX_KEYS: Final = 100
BULK_WRITE_MAX_ITEMS: Final = 10_000

_NO_METADATA: Final = object()


def check_key_limits(key: str, metadata: object = _NO_METADATA, pattern: str | None = None) -> list[Finding]:
    """Findings for a key name or its metadata beyond Cloudflare's limits."""
    findings = []
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        findings.append(
            Finding("key-too-long", key, pattern, f"expected a key of at most {MAX_KEY_BYTES} bytes; found {size}")
        )
    if key in FORBIDDEN_KEY_NAMES or not key:
        findings.append(Finding("bad-key-name", key, pattern, "expected a key other than '', '.' and '..'"))
    if metadata is not _NO_METADATA and metadata is not None:
        meta_size = len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if meta_size > MAX_METADATA_BYTES:
            findings.append(
                Finding(
                    "metadata-too-large",
                    key,
                    pattern,
                    f"expected metadata of at most {MAX_METADATA_BYTES} bytes; found {meta_size}",
                )
            )
    return findings
