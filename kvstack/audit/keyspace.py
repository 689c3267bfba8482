"""Keyspace statistics of one namespace: what it really holds, read with list + bulk get.

Every key is listed (1,000 per request), so key counts, patterns, unknown keys, TTLs and metadata use are
exact. Values cost one bulk get per 100 keys: by default ``sample`` keys are read, chosen by a hash of the
key (the same keys every run, spread over the key space); ``deep`` reads every value. Value sizes of a
sample are reported as such, with the total bytes estimated from the sample's mean.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final

from kvstack.audit.findings import AuditFinding
from kvstack.cloudflare import CloudflareApi
from kvstack.keyspace import BULK_GET_MAX_KEYS, Keyspace, ListedKey, check_expiration, check_value

__all__ = ["TTL_BUCKETS", "KeyspaceStats", "scan_statistics"]

TTL_BUCKETS: Final = ("none", "under_1h", "under_1d", "longer")
MAX_EXAMPLES: Final = 10
LARGEST: Final = 10


@dataclass
class KeyspaceStats:
    """What one namespace holds."""

    namespace_id: str
    title: str
    keyspace: str | None
    keys: int = 0
    patterns: dict[str, int] = field(default_factory=dict)
    unknown: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    ttl: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TTL_BUCKETS, 0))
    expiring_24h: int = 0
    with_metadata: int = 0
    values_read: int = 0
    sizes: list[int] = field(default_factory=list)
    largest: list[tuple[int, str]] = field(default_factory=list)
    violations: Counter[str] = field(default_factory=Counter)
    violation_examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def deep(self) -> bool:
        return self.values_read >= self.keys

    def size_summary(self) -> dict[str, Any]:
        ordered = sorted(self.sizes)
        if not ordered:
            return {"p50": None, "p95": None, "max": None, "total_bytes": 0, "estimated": self.keys > 0}
        total = sum(ordered)
        estimated = len(ordered) < self.keys
        return {
            "p50": _percentile(ordered, 0.50),
            "p95": _percentile(ordered, 0.95),
            "max": ordered[-1],
            "total_bytes": round(total / len(ordered) * self.keys) if estimated else total,
            "estimated": estimated,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace_id": self.namespace_id,
            "title": self.title,
            "keyspace": self.keyspace,
            "keys": self.keys,
            "patterns": dict(sorted(self.patterns.items())),
            "unknown_keys": self.unknown,
            "unknown_examples": list(self.unknown_examples),
            "ttl": dict(self.ttl),
            "expiring_within_24h": self.expiring_24h,
            "with_metadata": self.with_metadata,
            "values_read": self.values_read,
            "value_bytes": self.size_summary(),
            "largest": [{"key": key, "bytes": size} for size, key in sorted(self.largest, reverse=True)],
            "violations": dict(sorted(self.violations.items())),
        }

    def findings(self) -> list[AuditFinding]:
        found = []
        if self.keyspace and self.unknown:
            found.append(
                AuditFinding(
                    "unknown-keys",
                    self.title,
                    f"{self.unknown} of {self.keys} keys match no pattern of keyspace {self.keyspace}; "
                    f"e.g. {', '.join(repr(k) for k in self.unknown_examples[:3])}",
                    self.namespace_id,
                    {"count": self.unknown, "examples": list(self.unknown_examples)},
                )
            )
        for kind, count in sorted(self.violations.items()):
            examples = self.violation_examples.get(kind, [])
            found.append(
                AuditFinding(
                    "keyspace-violation",
                    self.title,
                    f"{count} keys break keyspace {self.keyspace} ({kind}); e.g. {', '.join(examples[:3])}",
                    self.namespace_id,
                    {"rule": kind, "count": count, "examples": examples},
                )
            )
        return found


def _percentile(ordered: Sequence[int], share: float) -> int:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def _hash(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()


def scan_statistics(
    api: CloudflareApi,
    namespace_id: str,
    title: str,
    keyspace: Keyspace | None,
    *,
    sample: int | None,
    now: float | None = None,
) -> KeyspaceStats:
    """List every key of the namespace and read ``sample`` values (``None``: every value)."""
    clock = time.time() if now is None else now
    stats = KeyspaceStats(namespace_id, title, keyspace.name if keyspace else None)
    if keyspace is not None:
        stats.patterns = {p.name: 0 for p in keyspace.patterns}
    chosen: list[tuple[bytes, str]] = []  # max-heap by inverted hash: the `sample` smallest hashes
    matched: dict[str, str] = {}  # key -> pattern name, for value checks
    pending: list[Future[Mapping[str, str | None]]] = []
    batch: list[str] = []
    for page in api.list_key_pages(namespace_id):
        for listed in page:
            _count(stats, listed, keyspace, clock, matched)
            if sample is None:
                batch.append(listed.name)
                if len(batch) == BULK_GET_MAX_KEYS:
                    pending.append(api.submit_bulk_get(namespace_id, batch))
                    batch = []
            elif sample > 0:
                entry = (bytes(255 - b for b in _hash(listed.name)), listed.name)
                if len(chosen) < sample:
                    heapq.heappush(chosen, entry)
                elif entry > chosen[0]:
                    heapq.heapreplace(chosen, entry)
    if sample is not None:
        keys = sorted(k for _, k in chosen)
        for start in range(0, len(keys), BULK_GET_MAX_KEYS):
            pending.append(api.submit_bulk_get(namespace_id, keys[start : start + BULK_GET_MAX_KEYS]))
    elif batch:
        pending.append(api.submit_bulk_get(namespace_id, batch))
    for future in pending:
        for key, value in sorted(future.result().items()):
            if value is not None:
                _measure(stats, key, value, keyspace, matched)
    return stats


def _count(
    stats: KeyspaceStats, listed: ListedKey, keyspace: Keyspace | None, now: float, matched: dict[str, str]
) -> None:
    stats.keys += 1
    if listed.has_metadata and listed.metadata is not None:
        stats.with_metadata += 1
    remaining = None if listed.expiration is None else listed.expiration - now
    if remaining is None:
        stats.ttl["none"] += 1
    elif remaining < 3600:
        stats.ttl["under_1h"] += 1
    elif remaining < 86400:
        stats.ttl["under_1d"] += 1
    else:
        stats.ttl["longer"] += 1
    if remaining is not None and remaining < 86400:
        stats.expiring_24h += 1
    if keyspace is None:
        return
    match = keyspace.match(listed.name)
    if match is None:
        stats.unknown += 1
        if len(stats.unknown_examples) < MAX_EXAMPLES:
            stats.unknown_examples.append(listed.name)
        return
    stats.patterns[match.pattern.name] += 1
    if match.smoke:
        return  # a check run's smoke key: the flows own it
    matched[listed.name] = match.pattern.name
    if not match.ok:
        _violation(stats, "bad-placeholder", listed.name)
        return
    problem = check_expiration(match.pattern, listed.name, listed.expiration, now)
    if problem is not None:
        _violation(stats, problem.kind, listed.name)


def _measure(stats: KeyspaceStats, key: str, value: str, keyspace: Keyspace | None, matched: dict[str, str]) -> None:
    size = len(value.encode("utf-8"))
    stats.values_read += 1
    stats.sizes.append(size)
    if len(stats.largest) < LARGEST:
        heapq.heappush(stats.largest, (size, key))
    elif (size, key) > stats.largest[0]:
        heapq.heapreplace(stats.largest, (size, key))
    pattern = matched.get(key)
    if keyspace is not None and pattern is not None:
        for problem in check_value(keyspace.pattern(pattern), key, value):
            _violation(stats, problem.kind, key)


def _violation(stats: KeyspaceStats, kind: str, key: str) -> None:
    stats.violations[kind] += 1
    examples = stats.violation_examples.setdefault(kind, [])
    if len(examples) < MAX_EXAMPLES:
        examples.append(key)
